//! Office calendars: the days an office is closed, and so the last day to act when a period ends
//! on one of them. A deadline keeps its legal due date; the last day is the first day on or after it
//! on which the office is open.
//!
//! - **USPTO**: "When the day, or the last day, fixed by statute or by or under regulation for
//!   taking any action or paying any fee in the United States Patent and Trademark Office falls on
//!   Saturday, Sunday, or a Federal holiday within the District of Columbia, the action may be taken,
//!   or the fee paid, on the next succeeding business day" (35 U.S.C. 21(b); 37 CFR 1.7(a)). The
//!   federal holidays are those of 5 U.S.C. 6103(a), moved by 6103(b) to the Friday before when they
//!   fall on a Saturday and to the Monday after when they fall on a Sunday, plus Inauguration Day in
//!   the District of Columbia (6103(c): 20 January of every fourth year from 1965, the 21st when the
//!   20th is a Sunday). Computed, so every coming year is covered.
//! - **EPO**: a period expiring on a day on which a filing office is closed extends to the first
//!   day thereafter on which all are open (Rule 134(1) EPC), renewal fees included (Guidelines
//!   E-VIII, 1.6.2.3 and A-X, 5.2.4). The filing offices are closed every Saturday and Sunday; the
//!   other closing days are announced for each year in the Official Journal and are **not** in this
//!   table yet: only weekends extend EPO periods here.
//! - **EUIPO**: the Executive Director fixes before each calendar year the days the Office is not
//!   open for receipt of documents (Art. 101(2) EUTMR, Regulation (EU) 2017/1001), and a time limit
//!   expiring on such a day extends to the first day the Office is open (Art. 69(1) of Delegated
//!   Regulation (EU) 2018/625). Saturdays and Sundays are such days; the yearly decision's other
//!   days are not in this table yet.
//! - Other offices: no calendar yet, so no extension is claimed (the last day is the due date).

use chrono::{Datelike, NaiveDate, Weekday};

/// Where an office's calendar comes from, if Licentia knows it.
pub fn source(office: &str) -> Option<&'static str> {
    match office {
        "US" => Some("35 U.S.C. 21(b); 37 CFR 1.7(a); holidays per 5 U.S.C. 6103"),
        "EP" => Some("Rule 134(1) EPC (weekends; yearly closing days in the OJ EPO not yet tabled)"),
        "EM" => Some("Art. 101(2) EUTMR; Art. 69(1) Delegated Regulation (EU) 2018/625 (weekends; yearly closure days not yet tabled)"),
        _ => None,
    }
}

fn weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The `n`th `weekday` of `month` (1-based), or the last one when `n` is 0.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> Option<NaiveDate> {
    if n == 0 {
        let next_first = if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) }?;
        let mut d = next_first.pred_opt()?;
        while d.weekday() != weekday {
            d = d.pred_opt()?;
        }
        return Some(d);
    }
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, u8::try_from(n).ok()?)
}

/// 6103(b): a holiday on a Saturday is observed the Friday before, on a Sunday the Monday after.
fn observed(d: NaiveDate) -> Option<NaiveDate> {
    match d.weekday() {
        Weekday::Sat => d.pred_opt(),
        Weekday::Sun => d.succ_opt(),
        _ => Some(d),
    }
}

/// The days federal offices in the District of Columbia are closed for a holiday in `year`
/// (5 U.S.C. 6103(a)–(c)), as observed.
pub fn us_federal_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m: u32, d: u32| NaiveDate::from_ymd_opt(year, m, d).and_then(observed);
    let mut days = vec![
        fixed(1, 1),                            // New Year's Day
        nth_weekday(year, 1, Weekday::Mon, 3),  // Birthday of Martin Luther King, Jr.
        nth_weekday(year, 2, Weekday::Mon, 3),  // Washington's Birthday
        nth_weekday(year, 5, Weekday::Mon, 0),  // Memorial Day: the last Monday in May
        fixed(7, 4),                            // Independence Day
        nth_weekday(year, 9, Weekday::Mon, 1),  // Labor Day
        nth_weekday(year, 10, Weekday::Mon, 2), // Columbus Day
        fixed(11, 11),                          // Veterans Day
        nth_weekday(year, 11, Weekday::Thu, 4), // Thanksgiving Day
        fixed(12, 25),                          // Christmas Day
        // New Year's Day of the next year, observed on 31 December when 1 January is a Saturday.
        NaiveDate::from_ymd_opt(year + 1, 1, 1).and_then(observed).filter(|d| d.year() == year),
    ];
    // Juneteenth National Independence Day, a legal public holiday since 17 June 2021.
    if year >= 2021 {
        days.push(fixed(6, 19));
    }
    // Inauguration Day (6103(c)): 20 January of every fourth year after 1965; the 21st when the
    // 20th is a Sunday. Not moved when it falls on a Saturday.
    if year >= 1965 && (year - 1965) % 4 == 0 {
        days.push(NaiveDate::from_ymd_opt(year, 1, 20).map(|d| if d.weekday() == Weekday::Sun { d + chrono::Duration::days(1) } else { d }));
    }
    let mut out: Vec<NaiveDate> = days.into_iter().flatten().filter(|d| d.year() == year).collect();
    out.sort();
    out.dedup();
    out
}

/// Whether `office` is closed on `d`, as far as Licentia knows its calendar.
pub fn is_closed(office: &str, d: NaiveDate) -> bool {
    match office {
        "US" => weekend(d) || us_federal_holidays(d.year()).contains(&d),
        "EP" | "EM" => weekend(d),
        _ => false,
    }
}

/// The last day to act on a period of `office` that ends on `due`: `due` itself, or the first day
/// after it on which the office is open.
pub fn last_day(office: &str, due: NaiveDate) -> NaiveDate {
    let mut d = due;
    // A fortnight bounds any run of closed days (the EPO's longest is about ten).
    for _ in 0..14 {
        if !is_closed(office, d) {
            return d;
        }
        match d.succ_opt() {
            Some(next) => d = next,
            None => return d,
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    /// The example under 35 U.S.C. 21(b) / 37 CFR 1.7: a maintenance-fee period that ends
    /// on Sunday 10 September 2023 may be paid on Monday 11 September 2023.
    #[test]
    fn a_us_period_ending_on_a_sunday_runs_to_the_monday() {
        assert_eq!(d("2023-09-10").weekday(), Weekday::Sun);
        assert_eq!(last_day("US", d("2023-09-10")), d("2023-09-11"));
        assert_eq!(last_day("US", d("2023-09-11")), d("2023-09-11"), "an open day is its own last day");
    }

    /// 5 U.S.C. 6103: Independence Day 2026 is a Saturday, so Friday 3 July is the holiday; a
    /// period ending on either day runs to Monday 6 July. Thanksgiving 2026 is Thursday 26 November;
    /// Inauguration Day 2029 is Saturday 20 January (not moved), so a period ending then runs to
    /// Monday 22 January; New Year's Day 2028 is a Saturday, observed on Friday 31 December 2027.
    #[test]
    fn us_federal_holidays_as_observed() {
        assert!(us_federal_holidays(2026).contains(&d("2026-07-03")));
        assert_eq!(last_day("US", d("2026-07-03")), d("2026-07-06"));
        assert_eq!(last_day("US", d("2026-07-04")), d("2026-07-06"));
        assert_eq!(last_day("US", d("2026-11-26")), d("2026-11-27"));
        assert_eq!(last_day("US", d("2029-01-20")), d("2029-01-22"));
        assert!(us_federal_holidays(2027).contains(&d("2027-12-31")));
        assert_eq!(
            us_federal_holidays(2026),
            [
                "2026-01-01",
                "2026-01-19",
                "2026-02-16",
                "2026-05-25",
                "2026-06-19",
                "2026-07-03",
                "2026-09-07",
                "2026-10-12",
                "2026-11-11",
                "2026-11-26",
                "2026-12-25"
            ]
            .map(d)
            .to_vec()
        );
    }

    /// The EUTM example: a registration expiring on Saturday 15 January 2028 can be renewed
    /// on the next working day, Monday 17 January 2028. Rule 134(1) EPC likewise moves an EPO
    /// renewal due on Saturday 31 October 2026 to Monday 2 November 2026.
    #[test]
    fn euipo_and_epo_periods_ending_on_a_weekend_run_to_the_monday() {
        assert_eq!(last_day("EM", d("2028-01-15")), d("2028-01-17"));
        assert_eq!(last_day("EP", d("2026-10-31")), d("2026-11-02"));
        assert_eq!(last_day("JP", d("2026-10-31")), d("2026-10-31"), "no calendar known: no extension claimed");
    }
}

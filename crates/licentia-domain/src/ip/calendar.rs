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
//! - **EPO**: a period expiring on a day on which a filing office (Munich, The Hague, Berlin) is
//!   closed extends to the first day thereafter on which all are open (Rule 134(1) EPC), renewal
//!   fees included (Guidelines E-VIII, 1.6.2.3 and A-X, 5.2.4). Closed every Saturday and Sunday;
//!   the other closing days are announced for each year in the Official Journal. Tabled: the
//!   closure of 24 December 2025 to 1 January 2026 (OJ EPO 2025, A40: time limits "will be
//!   extended until 2 January 2026"). The notice's other 2026 days and the 2027 notice are not in
//!   this table yet, so only weekends extend EPO periods on those days.
//! - **EUIPO**: the Executive Director fixes before each calendar year the days the Office is not
//!   open for receipt of documents (Art. 101(2) EUTMR, Regulation (EU) 2017/1001), and a time limit
//!   expiring on such a day extends to the first day the Office is open (Art. 69(1) of Delegated
//!   Regulation (EU) 2018/625). Saturdays and Sundays are such days; the yearly decision's other
//!   days are not in this table yet.
//! - **UKIPO**: "where the time for doing anything under this Act expires on an excluded day that
//!   time shall be extended to the next following day not being an excluded day" (Patents Act 1977
//!   s. 120(2)); the excluded days (Comptroller's directions of 15 July 2011) are Saturdays,
//!   Sundays, Good Friday, Christmas Day and the bank holidays of the Banking and Financial Dealings
//!   Act 1971 Sch. 1 for England and Wales, with their substitute days. Computed; a bank holiday
//!   proclaimed for one year only is not.
//! - **DPMA** (Munich): a period ending on a Saturday, a Sunday or a public holiday at the place of
//!   performance ends on the next working day (§ 193 BGB); the Bavarian public holidays (Art. 1
//!   Feiertagsgesetz, with the Assumption, as in Munich) and the Day of German Unity. Computed.
//! - **INPI** (France): "Le délai qui expirerait normalement un samedi, un dimanche ou un jour férié
//!   ou chômé est prorogé jusqu'au premier jour ouvrable suivant" (Art. R. 618-3 Code de la
//!   propriété intellectuelle); the jours fériés of Art. L. 3133-1 Code du travail. Computed.
//! - **IGE** (Switzerland): a period ending on a Saturday, a Sunday or a holiday recognised by
//!   federal or cantonal law ends on the next working day, the canton being that of the party or
//!   its representative (Art. 20(3) VwVG). Tabled: weekends and the federal holiday of 1 August
//!   (Art. 110(3) Federal Constitution); cantonal holidays depend on the party and are not.
//! - **OEPM** (Spain): "Cuando el último día del plazo sea inhábil, se entenderá prorrogado al
//!   primer día hábil siguiente" (Art. 30.5 Ley 39/2015), Saturdays, Sundays and declared holidays
//!   being inhábiles (Art. 30.2). Tabled: weekends and the national holidays of 2026 (Resolution
//!   of the Dirección General de Trabajo, BOE, as published for 2026); 2027 not yet.
//! - **CIPO** (Canada): a period ending on a prescribed day extends to the next day that is not
//!   (Patent Act s. 78(1)); the Office is open Monday to Friday. Weekends only; the statutory
//!   holidays are not tabled.
//! - **IP Australia**: an act due on a day the Office is not open may be done on the next day it is
//!   (Patents Act 1990 s. 222A; Acts Interpretation Act 1901 s. 36). Weekends only; public
//!   holidays and the Christmas shutdown are not tabled.
//! - Other offices (JP, CN, KR, IN, BR, IT, WIPO): no calendar yet, so no extension is claimed (the
//!   last day is the due date), the safe reading where it is unknown.

use chrono::{Datelike, NaiveDate, Weekday};

/// Where an office's calendar comes from, if Licentia knows it.
pub fn source(office: &str) -> Option<&'static str> {
    match office {
        "US" => Some("35 U.S.C. 21(b); 37 CFR 1.7(a); holidays per 5 U.S.C. 6103"),
        "EP" => Some("Rule 134(1) EPC (weekends; OJ EPO 2025, A40 year-end closure; other yearly closing days not yet tabled)"),
        "EM" => Some("Art. 101(2) EUTMR; Art. 69(1) Delegated Regulation (EU) 2018/625 (weekends; yearly closure days not yet tabled)"),
        "GB" => Some("Patents Act 1977 s. 120(2); excluded days per the directions of 15 July 2011"),
        "DE" => Some("§ 193 BGB; Art. 1 Feiertagsgesetz (Bavaria)"),
        "FR" => Some("Art. R. 618-3 CPI; Art. L. 3133-1 Code du travail"),
        "CH" => Some("Art. 20(3) VwVG (weekends and 1 August; cantonal holidays not tabled)"),
        "ES" => Some("Art. 30 Ley 39/2015 (weekends; national holidays of 2026)"),
        "CA" => Some("Patent Act s. 78(1) (weekends; statutory holidays not tabled)"),
        "AU" => Some("Patents Act 1990 s. 222A; Acts Interpretation Act 1901 s. 36 (weekends; holidays not tabled)"),
        _ => None,
    }
}

/// Easter Sunday of `year` in the Gregorian calendar (the anonymous Gregorian algorithm, as in
/// Meeus, Astronomical Algorithms, ch. 8): the movable holidays hang off it.
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

fn from_easter(year: i32, days: i64) -> Option<NaiveDate> {
    easter(year).map(|e| e + chrono::Duration::days(days))
}

/// England and Wales bank holidays (Banking and Financial Dealings Act 1971 s. 1, Sch. 1) with
/// Good Friday and Christmas Day, as observed: New Year's Day on the next Monday when it falls on
/// a weekend; Christmas and Boxing Day on the next weekdays not already taken.
pub fn england_and_wales_holidays(year: i32) -> Vec<NaiveDate> {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    let new_year = ymd(1, 1).map(|d| match d.weekday() {
        Weekday::Sat => d + chrono::Duration::days(2),
        Weekday::Sun => d + chrono::Duration::days(1),
        _ => d,
    });
    let mut days = vec![
        new_year,
        from_easter(year, -2), // Good Friday
        from_easter(year, 1),  // Easter Monday
        nth_weekday(year, 5, Weekday::Mon, 1),
        nth_weekday(year, 5, Weekday::Mon, 0),
        nth_weekday(year, 8, Weekday::Mon, 0),
    ];
    // 25 and 26 December, each moved to the first weekday on or after it not already a holiday.
    let mut taken: Vec<NaiveDate> = Vec::new();
    for day in [25, 26] {
        let Some(mut d) = ymd(12, day) else { continue };
        while weekend(d) || taken.contains(&d) {
            d += chrono::Duration::days(1);
        }
        taken.push(d);
    }
    days.extend(taken.into_iter().map(Some));
    let mut out: Vec<NaiveDate> = days.into_iter().flatten().collect();
    out.sort();
    out
}

/// Public holidays at the DPMA in Munich: Art. 1(1) Feiertagsgesetz (Bavaria), with the
/// Assumption (a holiday in Munich), and the Day of German Unity (Einigungsvertrag Art. 2(2)).
pub fn munich_holidays(year: i32) -> Vec<NaiveDate> {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    sorted([
        ymd(1, 1),
        ymd(1, 6),
        from_easter(year, -2),
        from_easter(year, 1),
        ymd(5, 1),
        from_easter(year, 39), // Ascension
        from_easter(year, 50), // Whit Monday
        from_easter(year, 60), // Corpus Christi
        ymd(8, 15),
        ymd(10, 3),
        ymd(11, 1),
        ymd(12, 25),
        ymd(12, 26),
    ])
}

/// The days that exist, in order.
fn sorted(days: impl IntoIterator<Item = Option<NaiveDate>>) -> Vec<NaiveDate> {
    let mut out: Vec<NaiveDate> = days.into_iter().flatten().collect();
    out.sort();
    out
}

/// The jours fériés of Art. L. 3133-1 Code du travail.
pub fn french_holidays(year: i32) -> Vec<NaiveDate> {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    sorted([
        ymd(1, 1),
        from_easter(year, 1), // lundi de Pâques
        ymd(5, 1),
        ymd(5, 8),
        from_easter(year, 39), // Ascension
        from_easter(year, 50), // lundi de Pentecôte
        ymd(7, 14),
        ymd(8, 15),
        ymd(11, 1),
        ymd(11, 11),
        ymd(12, 25),
    ])
}

/// A year, month and day, as the notices print them.
type Ymd = (i32, u32, u32);

/// Days tabled from an office's yearly notice, as (office, first, last inclusive, notice).
const NOTICES: &[(&str, Ymd, Ymd, &str)] = &[
    ("EP", (2025, 12, 24), (2026, 1, 1), "OJ EPO 2025, A40"),
    // Spain, national holidays of 2026 (BOE resolution of the Dirección General de Trabajo).
    ("ES", (2026, 1, 1), (2026, 1, 1), "BOE 2026"),
    ("ES", (2026, 1, 6), (2026, 1, 6), "BOE 2026"),
    ("ES", (2026, 4, 3), (2026, 4, 3), "BOE 2026"),
    ("ES", (2026, 5, 1), (2026, 5, 1), "BOE 2026"),
    ("ES", (2026, 8, 15), (2026, 8, 15), "BOE 2026"),
    ("ES", (2026, 10, 12), (2026, 10, 12), "BOE 2026"),
    ("ES", (2026, 11, 1), (2026, 11, 1), "BOE 2026"),
    ("ES", (2026, 12, 8), (2026, 12, 8), "BOE 2026"),
    ("ES", (2026, 12, 25), (2026, 12, 25), "BOE 2026"),
];

fn noticed(office: &str, d: NaiveDate) -> bool {
    NOTICES.iter().any(|(o, from, to, _)| {
        *o == office
            && NaiveDate::from_ymd_opt(from.0, from.1, from.2).is_some_and(|f| f <= d)
            && NaiveDate::from_ymd_opt(to.0, to.1, to.2).is_some_and(|t| d <= t)
    })
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
    let year = d.year();
    match office {
        "US" => weekend(d) || us_federal_holidays(year).contains(&d),
        "GB" => weekend(d) || england_and_wales_holidays(year).contains(&d),
        "DE" => weekend(d) || munich_holidays(year).contains(&d),
        "FR" => weekend(d) || french_holidays(year).contains(&d),
        "CH" => weekend(d) || (d.month() == 8 && d.day() == 1),
        "EP" | "EM" | "ES" | "CA" | "AU" => weekend(d) || noticed(office, d),
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

    #[test]
    fn easter_by_the_gregorian_computus() {
        let got: Vec<NaiveDate> = [2019, 2024, 2026, 2027, 2028].iter().filter_map(|y| easter(*y)).collect();
        assert_eq!(got, ["2019-04-21", "2024-03-31", "2026-04-05", "2027-03-28", "2028-04-16"].map(d).to_vec());
    }

    /// UKIPO excluded days (Patents Act 1977 s. 120(2)): weekends, Good Friday, Christmas Day and the
    /// England and Wales bank holidays with their substitute days, as gov.uk lists them for 2026 to
    /// 2028 (Boxing Day 2026 on Monday 28 December; Christmas 2027 on the 27th and Boxing Day on the
    /// 28th; New Year's Day 2028 on Monday 3 January). A renewal period ending on Saturday
    /// 31 January 2026 runs to Monday 2 February; one ending on Good Friday 2026 to Tuesday 7 April.
    #[test]
    fn ukipo_excluded_days_extend_periods() {
        let e = |y| england_and_wales_holidays(y);
        assert_eq!(e(2026), ["2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28"].map(d).to_vec());
        assert_eq!(e(2027), ["2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30", "2027-12-27", "2027-12-28"].map(d).to_vec());
        assert_eq!(e(2028), ["2028-01-03", "2028-04-14", "2028-04-17", "2028-05-01", "2028-05-29", "2028-08-28", "2028-12-25", "2028-12-26"].map(d).to_vec());
        assert_eq!(last_day("GB", d("2026-01-31")), d("2026-02-02"));
        assert_eq!(last_day("GB", d("2026-04-03")), d("2026-04-07"));
    }

    /// § 193 BGB at the DPMA in Munich: Corpus Christi, Thursday 4 June 2026, is a Bavarian public
    /// holiday, so a period ending then ends on Friday 5 June; an annual fee due on Sunday 31 May
    /// 2026 on Monday 1 June; 15 August 2028 (a Tuesday, the Assumption) on the 16th.
    #[test]
    fn dpma_periods_skip_bavarian_holidays() {
        assert_eq!(last_day("DE", d("2026-06-04")), d("2026-06-05"));
        assert_eq!(last_day("DE", d("2026-05-31")), d("2026-06-01"));
        assert_eq!(last_day("DE", d("2028-08-15")), d("2028-08-16"));
        assert_eq!(munich_holidays(2026).len(), 13);
    }

    /// Art. R. 618-3 CPI: a period ending on Whit Monday, 25 May 2026 (a jour férié of Art.
    /// L. 3133-1 Code du travail), runs to Tuesday 26 May; one ending Saturday 14 November 2026 to
    /// Monday 16 November; 11 November 2026 (a Wednesday) is closed.
    #[test]
    fn inpi_periods_run_to_the_next_working_day() {
        assert_eq!(last_day("FR", d("2026-05-25")), d("2026-05-26"));
        assert_eq!(last_day("FR", d("2026-11-14")), d("2026-11-16"));
        assert_eq!(last_day("FR", d("2026-11-11")), d("2026-11-12"));
    }

    /// Art. 20(3) VwVG: the Swiss National Day, Friday 1 August 2025, moves a period to Monday
    /// 4 August. Art. 30.5 Ley 39/2015: Tuesday 8 December 2026, a national holiday in Spain, to
    /// Wednesday 9 December. OJ EPO 2025, A40: "all time limits ... that expire between
    /// 24 December 2025, and 1 January 2026 will be extended until 2 January 2026".
    #[test]
    fn ige_oepm_and_epo_closures() {
        assert_eq!(last_day("CH", d("2025-08-01")), d("2025-08-04"));
        assert_eq!(last_day("ES", d("2026-12-08")), d("2026-12-09"));
        assert_eq!(last_day("EP", d("2025-12-31")), d("2026-01-02"));
        assert_eq!(last_day("EP", d("2025-12-24")), d("2026-01-02"));
        assert_eq!(last_day("CA", d("2026-02-28")), d("2026-03-02"), "weekends at CIPO (s. 78(1))");
        assert_eq!(last_day("IT", d("2026-02-28")), d("2026-02-28"), "no calendar known for the UIBM: no extension claimed");
    }
}

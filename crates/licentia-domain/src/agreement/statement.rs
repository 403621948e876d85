//! Royalty statements: what a licensee owes for a period under its terms, line by line, from the
//! sales it reported, the usage the platform metered, the milestones and fees due, with the
//! minimum annual royalty trued up at the year's end. When every covered patent in a country has
//! lapsed, royalties on sales in that country stop from that date (prorated by days within a
//! report that straddles it). Integer minor units throughout; rounding is half up, per line.

use crate::DomainError;
use chrono::{Datelike as _, NaiveDate};
use serde::Serialize;

use super::{Terms, money, percent};

/// One row of a sales report: net sales in a country over a period, in the agreement's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SalesLine {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub country: String,
    pub net_sales: i64,
    pub sublicence_revenue: i64,
}

/// Settled usage from the ledger, dated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UsageEntry {
    pub at: NaiveDate,
    pub runs: i64,
    pub compute_units: i64,
    pub prediction_rows: i64,
    /// Of `runs`, those that started from a published model version.
    pub fine_tuning_runs: i64,
}

/// From `from` on, no covered patent is in force in `country`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Lapse {
    pub country: String,
    pub from: NaiveDate,
}

pub struct Input<'a> {
    pub terms: &'a Terms,
    /// Inclusive.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every sales line of the agreement (the true-up needs the whole year).
    pub sales: &'a [SalesLine],
    pub usage: &'a [UsageEntry],
    pub lapses: &'a [Lapse],
    /// Official fees of the covered assets due in the period, in the agreement's currency.
    pub patent_costs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Upfront,
    Milestone,
    Royalty,
    Sublicence,
    MeteredRuns,
    MeteredCompute,
    MeteredPredictions,
    MeteredFineTuning,
    PatentCosts,
    MinimumTrueUp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub kind: LineKind,
    pub description: String,
    pub country: Option<String>,
    /// What the rate applies to (net sales, runs, units, ...).
    pub basis: i64,
    pub rate: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Statement {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub currency: String,
    pub lines: Vec<Line>,
    pub total: i64,
    /// Things a reviewer should look at (sales outside the territory, ...).
    pub notes: Vec<String>,
}

/// `value × num / den`, rounded half up, computed in i128; `None` when the result does not fit
/// the money range (i64 minor units).
fn scale(value: i64, num: i64, den: i64) -> Option<i64> {
    if den == 0 {
        return Some(0);
    }
    let v = i128::from(value).checked_mul(i128::from(num))?;
    let d = i128::from(den);
    i64::try_from(v.checked_mul(2)?.checked_add(d)? / (d * 2)).ok()
}

fn overflow(what: impl std::fmt::Display) -> DomainError {
    DomainError::new("sales", format!("{what}: the amount exceeds what a statement can hold (about 92 quadrillion minor units); check the reported figures"))
}

fn days(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days() + 1
}

/// The royalty on one sales line, stopped where the country's patents lapsed.
fn royalty_on(terms: &Terms, line: &SalesLine, lapses: &[Lapse]) -> (Option<i64>, Option<NaiveDate>) {
    let full = i64::from(terms.royalty_bp);
    let lapse = lapses.iter().filter(|l| l.country == line.country).map(|l| l.from).min();
    match lapse {
        Some(d) if d <= line.period_start => (Some(0), Some(d)),
        Some(d) if d <= line.period_end => {
            let covered = days(line.period_start, d.pred_opt().unwrap_or(d));
            (scale(line.net_sales, full * covered, 10_000 * days(line.period_start, line.period_end)), Some(d))
        }
        _ => (scale(line.net_sales, full, 10_000), None),
    }
}

/// Metered usage of the period and its fees: (runs, compute units, prediction rows, fine-tuning
/// runs) and the four amounts.
fn metered(terms: &Terms, usage: &[UsageEntry], from: NaiveDate, to: NaiveDate) -> Result<([i64; 4], [i64; 4]), DomainError> {
    let mut in_period = usage.iter().filter(|u| u.at >= from && u.at <= to);
    let counts = in_period
        .try_fold([0i64; 4], |a, u| {
            Some([a[0].checked_add(u.runs)?, a[1].checked_add(u.compute_units)?, a[2].checked_add(u.prediction_rows)?, a[3].checked_add(u.fine_tuning_runs)?])
        })
        .ok_or_else(|| overflow("metered usage"))?;
    let amounts = [
        counts[0].checked_mul(terms.fee_per_run).ok_or_else(|| overflow("training runs"))?,
        scale(counts[1], terms.fee_per_1000_compute_units, 1000).ok_or_else(|| overflow("compute units"))?,
        scale(counts[2], terms.fee_per_1000_predictions, 1000).ok_or_else(|| overflow("prediction rows"))?,
        counts[3].checked_mul(terms.fee_per_fine_tuning_run).ok_or_else(|| overflow("fine-tuning runs"))?,
    ];
    Ok((counts, amounts))
}

/// Royalties and metered fees of calendar year `year`: what counts toward the minimum (in i128,
/// which no sum of i64 amounts can overflow here).
fn year_earnings(i: &Input<'_>, year: i32) -> Result<i128, DomainError> {
    let (Some(start), Some(end)) = (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31)) else { return Ok(0) };
    let mut earned = 0i128;
    for (n, l) in i.sales.iter().enumerate().filter(|(_, l)| l.period_end >= start && l.period_end <= end) {
        earned += i128::from(royalty_on(i.terms, l, i.lapses).0.ok_or_else(|| overflow(format!("sales line {}", n + 1)))?);
    }
    let (_, m) = metered(i.terms, i.usage, start, end)?;
    Ok(earned + m.iter().map(|a| i128::from(*a)).sum::<i128>())
}

/// The statement of `i.from..=i.to`. Every amount is computed with checked arithmetic: a figure
/// that would overflow is refused naming the line (as the 422 says), never wrapped into a wrong
/// total.
pub fn compute(i: &Input<'_>) -> Result<Statement, DomainError> {
    let t = i.terms;
    let cur = t.currency.as_str();
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    let in_period = |d: NaiveDate| d >= i.from && d <= i.to;

    if t.upfront_fee > 0 && in_period(t.effective_date) {
        lines.push(Line {
            kind: LineKind::Upfront,
            description: "Upfront fee".into(),
            country: None,
            basis: 1,
            rate: money(cur, t.upfront_fee),
            amount: t.upfront_fee,
        });
    }
    for m in t.milestones.iter().filter(|m| in_period(m.due)) {
        lines.push(Line {
            kind: LineKind::Milestone,
            description: format!("Milestone: {}", m.name),
            country: None,
            basis: 1,
            rate: money(cur, m.amount),
            amount: m.amount,
        });
    }
    // Sales lines belong to the statement whose period holds their end.
    for (n, l) in i.sales.iter().enumerate().filter(|(_, l)| in_period(l.period_end)) {
        if !t.territory.covers(&l.country) {
            notes.push(format!("Sales reported in {}, outside the territory ({}).", l.country, t.territory.describe()));
        }
        if t.royalty_bp > 0 {
            let (amount, lapse) = royalty_on(t, l, i.lapses);
            let amount = amount.ok_or_else(|| overflow(format!("sales line {}", n + 1)))?;
            let description = match lapse {
                Some(d) if d <= l.period_start => format!("Running royalty {} to {}: patents lapsed on {d}, no royalty", l.period_start, l.period_end),
                Some(d) if d <= l.period_end => format!("Running royalty {} to {}, until the patents lapsed on {d}", l.period_start, l.period_end),
                _ => format!("Running royalty {} to {}", l.period_start, l.period_end),
            };
            lines.push(Line {
                kind: LineKind::Royalty,
                description,
                country: Some(l.country.clone()),
                basis: l.net_sales,
                rate: percent(t.royalty_bp),
                amount,
            });
        }
        if l.sublicence_revenue > 0 && t.sublicence_share_bp > 0 {
            lines.push(Line {
                kind: LineKind::Sublicence,
                description: "Share of sublicence revenue".into(),
                country: Some(l.country.clone()),
                basis: l.sublicence_revenue,
                rate: percent(t.sublicence_share_bp),
                amount: scale(l.sublicence_revenue, i64::from(t.sublicence_share_bp), 10_000).ok_or_else(|| overflow(format!("sales line {}", n + 1)))?,
            });
        }
    }
    let ([runs, units, preds, fine_tuned], m) = metered(t, i.usage, i.from, i.to)?;
    for (kind, description, basis, rate, amount) in [
        (LineKind::MeteredRuns, "Training runs", runs, format!("{} per run", money(cur, t.fee_per_run)), m[0]),
        (LineKind::MeteredCompute, "Compute units (rows × epochs)", units, format!("{} per 1,000", money(cur, t.fee_per_1000_compute_units)), m[1]),
        (LineKind::MeteredPredictions, "Prediction rows", preds, format!("{} per 1,000", money(cur, t.fee_per_1000_predictions)), m[2]),
        (
            LineKind::MeteredFineTuning,
            "Fine-tuning runs of published model versions",
            fine_tuned,
            format!("{} per run", money(cur, t.fee_per_fine_tuning_run)),
            m[3],
        ),
    ] {
        if basis > 0 && amount > 0 {
            lines.push(Line { kind, description: description.into(), country: None, basis, rate, amount });
        }
    }
    if i.patent_costs > 0 && t.patent_cost_share_bp > 0 {
        lines.push(Line {
            kind: LineKind::PatentCosts,
            description: "Patent cost reimbursement".into(),
            country: None,
            basis: i.patent_costs,
            rate: percent(t.patent_cost_share_bp),
            amount: scale(i.patent_costs, i64::from(t.patent_cost_share_bp), 10_000).ok_or_else(|| overflow("patent costs"))?,
        });
    }
    // The minimum is trued up in the statement that holds the year's last day (or the
    // agreement's last day), prorated for the days of the year the agreement ran.
    if t.minimum_annual_royalty > 0 {
        for year in i.from.year()..=i.to.year() {
            let (Some(jan1), Some(dec31)) = (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31)) else { continue };
            let active_from = t.effective_date.max(jan1);
            let active_to = t.end_date.unwrap_or(dec31).min(dec31);
            if active_from > active_to || !in_period(active_to) {
                continue;
            }
            let minimum = scale(t.minimum_annual_royalty, days(active_from, active_to), days(jan1, dec31)).ok_or_else(|| overflow("minimum royalty"))?;
            let earned = year_earnings(i, year)?;
            if earned < i128::from(minimum) {
                // earned < minimum ≤ i64::MAX, and earned ≥ 0 for valid sales: it fits.
                let earned = i64::try_from(earned).map_err(|_| overflow("earnings"))?;
                lines.push(Line {
                    kind: LineKind::MinimumTrueUp,
                    description: format!("Minimum annual royalty {year}: {} due, {} earned", money(cur, minimum), money(cur, earned)),
                    country: None,
                    basis: minimum,
                    rate: String::new(),
                    amount: minimum.checked_sub(earned).ok_or_else(|| overflow("minimum royalty"))?,
                });
            }
        }
    }
    let mut total = 0i64;
    for l in &lines {
        total = total.checked_add(l.amount).ok_or_else(|| overflow(format!("the total at \u{201c}{}\u{201d}", l.description)))?;
    }
    Ok(Statement { from: i.from, to: i.to, currency: t.currency.clone(), lines, total, notes })
}

/// `total` (minor units) split into `parts` equal shares that add up to it exactly: the
/// remainder goes one minor unit each to the first shares (the largest-remainder method with equal
/// weights). 65,000.00 over three assets is 21,666.67 + 21,666.67 + 21,666.66, not 3 × 21,666.66.
pub fn equal_shares(total: i64, parts: usize) -> Vec<i64> {
    let Ok(n) = i64::try_from(parts) else { return Vec::new() };
    if n == 0 {
        return Vec::new();
    }
    let (base, rest) = (total.div_euclid(n), total.rem_euclid(n));
    (0..n).map(|i| base + i64::from(i < rest)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_shares_add_up_to_the_total() {
        assert_eq!(equal_shares(6_500_000, 3), vec![2_166_667, 2_166_667, 2_166_666]);
        assert_eq!(equal_shares(6_500_000, 3).iter().sum::<i64>(), 6_500_000);
        assert_eq!(equal_shares(-10, 3), vec![-3, -3, -4], "a refund splits the same way and still adds up");
        assert_eq!(equal_shares(-10, 3).iter().sum::<i64>(), -10);
        assert!(equal_shares(100, 0).is_empty());
    }
    use crate::agreement::{MilestoneInput, TermsInput};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn terms() -> Terms {
        TermsInput {
            territory: vec!["DE".into(), "FR".into()],
            effective_date: Some("2027-01-01".into()),
            royalty_bp: Some(500),
            minimum_annual_royalty: Some(10_000_000),
            fee_per_run: Some(5_000),
            fee_per_1000_compute_units: Some(200),
            milestones: vec![MilestoneInput { name: "First commercial sale".into(), amount: 2_500_000, due: "2027-06-30".into() }],
            ..Default::default()
        }
        .parse()
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn sales(start: &str, end: &str, country: &str, net: i64) -> SalesLine {
        SalesLine { period_start: d(start), period_end: d(end), country: country.into(), net_sales: net, sublicence_revenue: 0 }
    }

    /// Fine-tuning runs pay their own fee on top of the per-run fee, and count toward the
    /// minimum like any metered fee; terms without the fee bill nothing for them.
    #[test]
    fn fine_tuning_runs_of_published_versions_are_billed_per_run() -> Result<(), DomainError> {
        let mut t = terms();
        t.fee_per_fine_tuning_run = 20_000;
        t.minimum_annual_royalty = 0;
        let usage = [
            UsageEntry { at: d("2027-02-01"), runs: 2, compute_units: 0, prediction_rows: 0, fine_tuning_runs: 2 },
            UsageEntry { at: d("2027-02-03"), runs: 1, compute_units: 0, prediction_rows: 0, fine_tuning_runs: 0 },
        ];
        let st = compute(&Input { terms: &t, from: d("2027-01-01"), to: d("2027-03-31"), sales: &[], usage: &usage, lapses: &[], patent_costs: 0 })?;
        let metered: Vec<(LineKind, i64, i64)> = st.lines.iter().filter(|l| l.kind != LineKind::Milestone).map(|l| (l.kind, l.basis, l.amount)).collect();
        assert_eq!(metered, vec![(LineKind::MeteredRuns, 3, 15_000), (LineKind::MeteredFineTuning, 2, 40_000)]);
        t.fee_per_fine_tuning_run = 0;
        let st = compute(&Input { terms: &t, from: d("2027-01-01"), to: d("2027-03-31"), sales: &[], usage: &usage, lapses: &[], patent_costs: 0 })?;
        assert!(st.lines.iter().all(|l| l.kind != LineKind::MeteredFineTuning));
        Ok(())
    }

    #[test]
    fn q4_with_a_lapse_metered_fees_and_the_minimum_true_up() -> Result<(), DomainError> {
        let t = terms();
        let s = vec![
            sales("2027-01-01", "2027-03-31", "DE", 20_000_000),
            sales("2027-01-01", "2027-03-31", "FR", 10_000_000),
            sales("2027-10-01", "2027-12-31", "DE", 40_000_000),
            sales("2027-10-01", "2027-12-31", "FR", 30_000_000),
        ];
        let usage = [UsageEntry { at: d("2027-11-02"), runs: 3, compute_units: 250_000, prediction_rows: 0, fine_tuning_runs: 0 }];
        // The French patent lapses on 16 November: 46 of Q4's 92 days carry the royalty.
        let lapses = [Lapse { country: "FR".into(), from: d("2027-11-16") }];
        let st = compute(&Input { terms: &t, from: d("2027-10-01"), to: d("2027-12-31"), sales: &s, usage: &usage, lapses: &lapses, patent_costs: 0 })?;
        let got: Vec<(LineKind, Option<&str>, i64)> = st.lines.iter().map(|l| (l.kind, l.country.as_deref(), l.amount)).collect();
        assert_eq!(
            got,
            vec![
                (LineKind::Royalty, Some("DE"), 2_000_000),
                (LineKind::Royalty, Some("FR"), 750_000),
                (LineKind::MeteredRuns, None, 15_000),
                (LineKind::MeteredCompute, None, 50_000),
                // Year: Q1 1,500,000 + Q4 2,750,000 + metered 65,000 = 4,315,000 against 10,000,000.
                (LineKind::MinimumTrueUp, None, 5_685_000),
            ]
        );
        assert_eq!(st.total, 8_500_000);

        // Q2 holds the milestone and no true-up.
        let q2 = compute(&Input { terms: &t, from: d("2027-04-01"), to: d("2027-06-30"), sales: &s, usage: &usage, lapses: &lapses, patent_costs: 0 })?;
        assert_eq!(q2.lines.iter().map(|l| (l.kind, l.amount)).collect::<Vec<_>>(), vec![(LineKind::Milestone, 2_500_000)]);
        Ok(())
    }

    #[test]
    fn a_lapse_before_the_period_stops_the_royalty_and_a_partial_year_prorates_the_minimum() -> Result<(), DomainError> {
        let mut t = terms();
        t.effective_date = d("2027-07-01");
        t.milestones.clear();
        let s = vec![sales("2027-07-01", "2027-12-31", "FR", 10_000_000), sales("2027-07-01", "2027-12-31", "JP", 1_000)];
        let lapses = [Lapse { country: "FR".into(), from: d("2027-05-01") }];
        let st = compute(&Input { terms: &t, from: d("2027-07-01"), to: d("2027-12-31"), sales: &s, usage: &[], lapses: &lapses, patent_costs: 0 })?;
        assert_eq!(st.lines[0].amount, 0);
        assert_eq!(st.lines[1].amount, 50, "5 % of 1,000 in JP");
        assert!(st.notes.iter().any(|n| n.contains("JP, outside the territory")));
        // 184 of 365 days: 10,000,000 × 184 / 365 = 5,041,095.89 → 5,041,096; minus 50 earned.
        assert_eq!(st.lines.last().map(|l| (l.kind, l.amount)), Some((LineKind::MinimumTrueUp, 5_041_046)));
        Ok(())
    }

    /// 264,000 valid lines of 35 trillion minor units each: the royalties alone exceed i64. The
    /// statement is refused naming where, instead of a wrapped total that showed only the minimum.
    #[test]
    fn a_total_beyond_the_money_range_is_refused_not_wrapped() {
        let mut t = terms();
        t.royalty_bp = 10_000;
        let s: Vec<SalesLine> = (0..264_000).map(|_| sales("2027-10-01", "2027-12-31", "DE", 35_000_000_000_000)).collect();
        let r = compute(&Input { terms: &t, from: d("2027-10-01"), to: d("2027-12-31"), sales: &s, usage: &[], lapses: &[], patent_costs: 0 });
        let e = r.err().map(|e| (e.field, e.message));
        assert!(e.as_ref().is_some_and(|(f, m)| *f == "sales" && m.contains("total")), "{e:?}");
        // One line whose royalty itself does not fit is named.
        let huge = [sales("2027-10-01", "2027-12-31", "DE", i64::MAX)];
        t.royalty_bp = 20_000;
        let r = compute(&Input { terms: &t, from: d("2027-10-01"), to: d("2027-12-31"), sales: &huge, usage: &[], lapses: &[], patent_costs: 0 });
        assert!(r.err().is_some_and(|e| e.message.starts_with("sales line 1")));
    }
}

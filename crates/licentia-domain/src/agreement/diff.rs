//! Redlines between two versions: the prose at word level (insertions and deletions) and, beside
//! it, the change in the structured terms in words a licensing manager reads ("royalty 3 % → 3.5
//! %", "territory + JP").

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::{Terms, money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Equal,
    Insert,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Piece {
    pub op: Op,
    pub text: String,
}

/// Word-level diff (whitespace kept with the words), with neighbouring pieces of the same kind
/// merged so that a replaced phrase reads as one deletion and one insertion.
pub fn words(old: &str, new: &str) -> Vec<Piece> {
    let diff = TextDiff::configure().algorithm(similar::Algorithm::Patience).diff_words(old, new);
    let mut out: Vec<Piece> = Vec::new();
    for change in diff.iter_all_changes() {
        let op = match change.tag() {
            ChangeTag::Equal => Op::Equal,
            ChangeTag::Insert => Op::Insert,
            ChangeTag::Delete => Op::Delete,
        };
        let text = change.value();
        match out.last_mut() {
            Some(last) if last.op == op => last.text.push_str(text),
            _ => out.push(Piece { op, text: text.to_owned() }),
        }
    }
    out
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map_or("none".to_owned(), |d| d.to_string())
}

/// The change in terms, one line per changed term.
pub fn terms(old: &Terms, new: &Terms) -> Vec<String> {
    let mut out = Vec::new();
    let cur = new.currency.as_str();
    if old.territory.worldwide != new.territory.worldwide {
        out.push(format!("territory {} → {}", old.territory.describe(), new.territory.describe()));
    } else {
        let (a, b) =
            if new.territory.worldwide { (&old.territory.excluded, &new.territory.excluded) } else { (&old.territory.countries, &new.territory.countries) };
        // For a worldwide grant a new exclusion shrinks the territory.
        let (plus, minus) = if new.territory.worldwide { ("−", "+") } else { ("+", "−") };
        for c in b.difference(a) {
            out.push(format!("territory {plus} {c}"));
        }
        for c in a.difference(b) {
            out.push(format!("territory {minus} {c}"));
        }
    }
    for f in new.fields.difference(&old.fields) {
        out.push(format!("field of use + {f}"));
    }
    for f in old.fields.difference(&new.fields) {
        out.push(format!("field of use − {f}"));
    }
    if old.sublicensing != new.sublicensing {
        out.push(format!(
            "sublicensing {} → {}",
            if old.sublicensing { "allowed" } else { "not allowed" },
            if new.sublicensing { "allowed" } else { "not allowed" }
        ));
    }
    if old.effective_date != new.effective_date {
        out.push(format!("effective date {} → {}", old.effective_date, new.effective_date));
    }
    if old.end_date != new.end_date {
        out.push(format!("end date {} → {}", date(old.end_date), date(new.end_date)));
    }
    if old.renewal_years != new.renewal_years {
        out.push(format!("renewal {} → {} years", old.renewal_years, new.renewal_years));
    }
    if old.currency != new.currency {
        out.push(format!("currency {} → {}", old.currency, new.currency));
    }
    let bp = [
        ("royalty", old.royalty_bp, new.royalty_bp),
        ("sublicence share", old.sublicence_share_bp, new.sublicence_share_bp),
        ("patent cost share", old.patent_cost_share_bp, new.patent_cost_share_bp),
    ];
    for (name, a, b) in bp {
        if a != b {
            // In the unit the terms form uses: a reviewer reads "3 % → 4.5 %", not basis points.
            out.push(format!("{name} {} → {}", super::percent(a), super::percent(b)));
        }
    }
    let amounts = [
        ("upfront fee", old.upfront_fee, new.upfront_fee),
        ("fee per run", old.fee_per_run, new.fee_per_run),
        ("fee per 1,000 compute units", old.fee_per_1000_compute_units, new.fee_per_1000_compute_units),
        ("fee per 1,000 predictions", old.fee_per_1000_predictions, new.fee_per_1000_predictions),
        ("fee per fine-tuning run", old.fee_per_fine_tuning_run, new.fee_per_fine_tuning_run),
        ("minimum annual royalty", old.minimum_annual_royalty, new.minimum_annual_royalty),
    ];
    for (name, a, b) in amounts {
        if a != b {
            out.push(format!("{name} {} → {}", money(&old.currency, a), money(cur, b)));
        }
    }
    for m in new.milestones.iter().filter(|m| !old.milestones.contains(m)) {
        out.push(format!("milestone + {} ({}, {})", m.name, m.due, money(cur, m.amount)));
    }
    for m in old.milestones.iter().filter(|m| !new.milestones.contains(m)) {
        out.push(format!("milestone − {} ({}, {})", m.name, m.due, money(&old.currency, m.amount)));
    }
    if old.reporting != new.reporting {
        out.push(format!("reporting {:?} → {:?}", old.reporting, new.reporting).to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::TermsInput;

    #[test]
    fn word_redline_marks_exactly_the_changed_words() {
        let d =
            words("The Licensee shall pay a running royalty of 3 % of Net Sales.", "The Licensee shall pay a running royalty of 3.5 % of Net Sales in Japan.");
        let changed: Vec<(Op, &str)> = d.iter().filter(|p| p.op != Op::Equal).map(|p| (p.op, p.text.as_str())).collect();
        assert_eq!(changed, vec![(Op::Delete, "3"), (Op::Insert, "3.5"), (Op::Delete, "Sales."), (Op::Insert, "Sales in Japan.")]);
        let rebuilt_new: String = d.iter().filter(|p| p.op != Op::Delete).map(|p| p.text.as_str()).collect();
        assert_eq!(rebuilt_new, "The Licensee shall pay a running royalty of 3.5 % of Net Sales in Japan.");
    }

    #[test]
    fn terms_change_reads_like_a_manager_writes_it() {
        let base =
            TermsInput { territory: vec!["DE".into(), "FR".into()], effective_date: Some("2027-01-01".into()), royalty_bp: Some(300), ..Default::default() };
        let a = base.parse().unwrap_or_else(|e| panic!("{e}"));
        let b = TermsInput { territory: vec!["DE".into(), "JP".into()], royalty_bp: Some(350), upfront_fee: Some(5_000_000), ..base }
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(terms(&a, &b), vec!["territory + JP", "territory − FR", "royalty 3 % → 3.5 %", "upfront fee EUR 0.00 → EUR 50,000.00"]);
        assert!(terms(&a, &a).is_empty());
    }
}

//! The clause library: each clause has a heading, a condition on the agreement (a sublicensing
//! clause only when sublicensing is allowed, a royalty clause only when there is a royalty), and
//! a text with typed `{{variables}}` filled from the structured terms. Managers may rewrite a
//! clause's words, but not its numbers: an edited clause may not contain digits, so every
//! amount, rate and date in the prose comes from the terms and the two can never disagree.

use std::collections::BTreeMap;

use super::{AgreementKind, Exclusivity, Terms, money, percent};
use crate::DomainError;

/// What a clause needs besides the terms.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub kind: AgreementKind,
    pub title: &'a str,
    pub licensor: &'a str,
    pub licensee: &'a str,
    /// "title (number)" of each covered asset.
    pub assets: &'a [String],
    pub parent: Option<&'a str>,
    pub terms: &'a Terms,
}

pub struct Clause {
    pub id: &'static str,
    pub heading: &'static str,
    applies: fn(&Context<'_>) -> bool,
    pub text: &'static str,
}

fn always(_: &Context<'_>) -> bool {
    true
}

fn is_licence(c: &Context<'_>) -> bool {
    matches!(c.kind, AgreementKind::ExclusiveLicence | AgreementKind::SoleLicence | AgreementKind::NonExclusiveLicence | AgreementKind::Sublicence)
}

/// The library, in the order clauses appear in an agreement.
pub static LIBRARY: &[Clause] = &[
    Clause {
        id: "parties",
        heading: "Parties",
        applies: always,
        text: "This {{agreement}} is made between {{licensor}} (the Licensor) and {{licensee}} (the Licensee).",
    },
    Clause {
        id: "assets",
        heading: "Licensed Assets",
        applies: always,
        text: "This agreement concerns the following assets (the Licensed Assets): {{assets}}.",
    },
    Clause {
        id: "grant",
        heading: "Grant",
        applies: is_licence,
        text: "The Licensor grants to the Licensee {{exclusivity}} licence under the Licensed Assets to make, use, sell and import products in {{territory}}, {{fields}}.",
    },
    Clause {
        id: "parent",
        heading: "Head Licence",
        applies: |c| c.kind == AgreementKind::Sublicence,
        text: "This sublicence is granted under {{parent}} and ends when it ends.",
    },
    Clause {
        id: "assignment",
        heading: "Assignment",
        applies: |c| c.kind == AgreementKind::Assignment,
        text: "The Licensor assigns to the Licensee all right, title and interest in the Licensed Assets, effective on execution.",
    },
    Clause {
        id: "option",
        heading: "Option",
        applies: |c| c.kind == AgreementKind::Option,
        text: "The Licensor grants to the Licensee an option, exercisable until {{end_date}}, to negotiate a licence under the Licensed Assets in {{territory}}.",
    },
    Clause {
        id: "evaluation",
        heading: "Evaluation",
        applies: |c| c.kind == AgreementKind::EvaluationLicence,
        text: "The Licensee may use the Licensed Assets in {{territory}} for internal evaluation only, and for no commercial purpose.",
    },
    Clause {
        id: "services",
        heading: "Services",
        applies: |c| matches!(c.kind, AgreementKind::Service | AgreementKind::JointDevelopment),
        text: "The parties shall cooperate in good faith on the work described in the schedules, each keeping the rights it owned before this agreement.",
    },
    Clause {
        id: "sublicensing",
        heading: "Sublicensing",
        applies: |c| c.terms.sublicensing,
        text: "The Licensee may grant sublicences within the scope of this licence and shall pay the Licensor {{sublicence_share}} of all sublicence revenue.",
    },
    Clause { id: "term", heading: "Term", applies: always, text: "This agreement takes effect on {{effective_date}} and continues {{end}}{{renewal}}." },
    Clause {
        id: "upfront",
        heading: "Upfront Fee",
        applies: |c| c.terms.upfront_fee > 0,
        text: "The Licensee shall pay an upfront fee of {{upfront_fee}} within thirty days of execution.",
    },
    Clause {
        id: "royalty",
        heading: "Running Royalty",
        applies: |c| c.terms.royalty_bp > 0,
        text: "The Licensee shall pay a running royalty of {{royalty_rate}} of Net Sales of licensed products in the territory.",
    },
    Clause {
        id: "metered",
        heading: "Metered Fees",
        applies: |c| c.terms.fee_per_run > 0 || c.terms.fee_per_1000_compute_units > 0 || c.terms.fee_per_1000_predictions > 0,
        text: "For use of the licensed models on the Licentia platform the Licensee shall pay {{fee_per_run}} per training run, {{fee_per_1000_compute_units}} per thousand compute units and {{fee_per_1000_predictions}} per thousand prediction rows, as recorded in the platform's usage ledger.",
    },
    // Its own clause, so that agreements without the fee render as they always did.
    Clause {
        id: "fine_tuning",
        heading: "Fine-Tuning Fees",
        applies: |c| c.terms.fee_per_fine_tuning_run > 0,
        text: "For each training run that starts from a model version the Licensor has published on the Licentia platform, the Licensee shall pay {{fee_per_fine_tuning_run}} in addition to the fee per training run, as recorded in the platform's usage ledger. The Licensor's weights remain on the platform.",
    },
    Clause {
        id: "minimum",
        heading: "Minimum Annual Royalty",
        applies: |c| c.terms.minimum_annual_royalty > 0,
        text: "Royalties and metered fees for each calendar year shall be no less than {{minimum_annual_royalty}}, prorated for a partial year; any shortfall is payable with the statement for the last period of the year.",
    },
    Clause {
        id: "milestones",
        heading: "Milestones",
        applies: |c| !c.terms.milestones.is_empty(),
        text: "The Licensee shall pay the following milestone payments: {{milestones}}.",
    },
    Clause {
        id: "patent_costs",
        heading: "Patent Costs",
        applies: |c| c.terms.patent_cost_share_bp > 0,
        text: "The Licensee shall reimburse {{patent_cost_share}} of the official fees for maintaining the Licensed Assets.",
    },
    Clause {
        id: "reporting",
        heading: "Reports",
        applies: |c| c.terms.royalty_bp > 0 || c.terms.sublicensing,
        text: "The Licensee shall report Net Sales per country {{reporting}} and pay within thirty days of the end of each period, in {{currency}}.",
    },
    Clause {
        id: "confidentiality",
        heading: "Confidentiality",
        applies: always,
        text: "Each party shall keep the other's confidential information secret and use it only for this agreement.",
    },
];

/// The typed variables of a context.
pub fn variables(c: &Context<'_>) -> BTreeMap<&'static str, String> {
    let t = c.terms;
    let cur = t.currency.as_str();
    let mut v = BTreeMap::new();
    v.insert("agreement", c.kind.label().to_owned());
    v.insert("title", c.title.to_owned());
    v.insert("licensor", c.licensor.to_owned());
    v.insert("licensee", c.licensee.to_owned());
    v.insert("assets", if c.assets.is_empty() { "none".to_owned() } else { c.assets.join("; ") });
    v.insert(
        "exclusivity",
        match c.kind.exclusivity() {
            Exclusivity::Exclusive => "an exclusive",
            Exclusivity::Sole => "a sole",
            Exclusivity::NonExclusive => "a non-exclusive",
        }
        .to_owned(),
    );
    v.insert("territory", t.territory.describe());
    v.insert(
        "fields",
        if t.fields.is_empty() {
            "in all fields of use".to_owned()
        } else {
            format!("in the field of {}", t.fields.iter().cloned().collect::<Vec<_>>().join(", "))
        },
    );
    v.insert("parent", c.parent.unwrap_or("the head licence").to_owned());
    v.insert("effective_date", t.effective_date.format("%-d %B %Y").to_string());
    v.insert("end_date", t.end_date.map_or("the end of the term".to_owned(), |d| d.format("%-d %B %Y").to_string()));
    v.insert("end", t.end_date.map_or("until terminated".to_owned(), |d| format!("until {}", d.format("%-d %B %Y"))));
    v.insert(
        "renewal",
        if t.renewal_years > 0 { format!(", renewing automatically for periods of {} year(s) unless terminated", t.renewal_years) } else { String::new() },
    );
    v.insert("currency", cur.to_owned());
    v.insert("upfront_fee", money(cur, t.upfront_fee));
    v.insert("royalty_rate", percent(t.royalty_bp));
    v.insert("fee_per_run", money(cur, t.fee_per_run));
    v.insert("fee_per_1000_compute_units", money(cur, t.fee_per_1000_compute_units));
    v.insert("fee_per_1000_predictions", money(cur, t.fee_per_1000_predictions));
    v.insert("fee_per_fine_tuning_run", money(cur, t.fee_per_fine_tuning_run));
    v.insert("minimum_annual_royalty", money(cur, t.minimum_annual_royalty));
    v.insert(
        "milestones",
        t.milestones.iter().map(|m| format!("{} on {}: {}", m.name, m.due.format("%-d %B %Y"), money(cur, m.amount))).collect::<Vec<_>>().join("; "),
    );
    v.insert("sublicence_share", percent(t.sublicence_share_bp));
    v.insert("patent_cost_share", percent(t.patent_cost_share_bp));
    v.insert(
        "reporting",
        match t.reporting {
            super::Reporting::Quarterly => "quarterly",
            super::Reporting::SemiAnnual => "every six months",
            super::Reporting::Annual => "annually",
        }
        .to_owned(),
    );
    v
}

/// Checks a manager's rewording of clause `id`: a known clause, no digits (numbers come from the
/// terms), only known variables, a sane length.
pub fn check_override(id: &str, text: &str) -> Result<(), DomainError> {
    if !LIBRARY.iter().any(|c| c.id == id) {
        return Err(DomainError::new("clauses", format!("there is no clause {:?}", id.chars().take(40).collect::<String>())));
    }
    if text.trim().is_empty() || text.chars().count() > 5_000 {
        return Err(DomainError::new("clauses", format!("clause {id}: 1 to 5000 characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DomainError::new("clauses", format!("clause {id}: no control characters")));
    }
    let mut words = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        words.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { return Err(DomainError::new("clauses", format!("clause {id}: unclosed {{{{"))) };
        let name = after[..end].trim();
        if !KNOWN.contains(&name) {
            return Err(DomainError::new("clauses", format!("clause {id}: unknown variable {{{{{}}}}}", name.chars().take(40).collect::<String>())));
        }
        rest = &after[end + 2..];
    }
    words.push_str(rest);
    if words.chars().any(|c| c.is_ascii_digit()) {
        return Err(DomainError::new("clauses", format!("clause {id}: write numbers as {{{{variables}}}} so that they come from the terms")));
    }
    Ok(())
}

const KNOWN: [&str; 25] = [
    "agreement",
    "title",
    "licensor",
    "licensee",
    "assets",
    "exclusivity",
    "territory",
    "fields",
    "parent",
    "effective_date",
    "end_date",
    "end",
    "renewal",
    "currency",
    "upfront_fee",
    "royalty_rate",
    "fee_per_run",
    "fee_per_1000_compute_units",
    "fee_per_1000_predictions",
    "fee_per_fine_tuning_run",
    "minimum_annual_royalty",
    "milestones",
    "sublicence_share",
    "patent_cost_share",
    "reporting",
];

fn fill(text: &str, vars: &BTreeMap<&'static str, String>) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                out.push_str(vars.get(name).map_or("", String::as_str));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// One rendered clause.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Rendered {
    pub id: &'static str,
    pub number: usize,
    pub heading: &'static str,
    pub text: String,
    pub edited: bool,
}

/// The agreement's clauses, numbered, with the overrides applied.
pub fn render(c: &Context<'_>, overrides: &BTreeMap<String, String>) -> Vec<Rendered> {
    let vars = variables(c);
    LIBRARY
        .iter()
        .filter(|cl| (cl.applies)(c))
        .enumerate()
        .map(|(i, cl)| {
            let custom = overrides.get(cl.id);
            Rendered { id: cl.id, number: i + 1, heading: cl.heading, text: fill(custom.map_or(cl.text, String::as_str), &vars), edited: custom.is_some() }
        })
        .collect()
}

/// The whole text: what is hashed on acceptance and diffed between versions.
pub fn full_text(c: &Context<'_>, clauses: &[Rendered]) -> String {
    let mut s = format!("{}\n{}\n", c.kind.label().to_uppercase(), c.title);
    for cl in clauses {
        s.push_str(&format!("\n{}. {}\n{}\n", cl.number, cl.heading, cl.text));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::TermsInput;

    fn terms(sublicensing: bool, royalty: i64) -> Terms {
        let t = TermsInput {
            territory: vec!["DE".into()],
            effective_date: Some("2027-01-01".into()),
            royalty_bp: Some(royalty),
            sublicensing,
            sublicence_share_bp: Some(2_500),
            currency: Some("EUR".into()),
            ..Default::default()
        }
        .parse();
        t.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn conditional_sections_follow_the_terms() {
        let assets = vec!["Sparse attention (EP3456789)".to_owned()];
        let t = terms(false, 300);
        let c = Context {
            kind: AgreementKind::ExclusiveLicence,
            title: "Sparse attention licence",
            licensor: "Acme",
            licensee: "Borealis",
            assets: &assets,
            parent: None,
            terms: &t,
        };
        let ids: Vec<&str> = render(&c, &BTreeMap::new()).iter().map(|r| r.id).collect();
        assert_eq!(ids, vec!["parties", "assets", "grant", "term", "royalty", "reporting", "confidentiality"]);
        let t2 = terms(true, 0);
        let c2 = Context { terms: &t2, ..c.clone() };
        let r = render(&c2, &BTreeMap::new());
        assert!(r.iter().any(|r| r.id == "sublicensing" && r.text.contains("25 % of all sublicence revenue")));
        assert!(!r.iter().any(|r| r.id == "royalty"));
        let royalty = render(&c, &BTreeMap::new()).into_iter().find(|r| r.id == "royalty").map(|r| r.text);
        assert_eq!(royalty.as_deref(), Some("The Licensee shall pay a running royalty of 3 % of Net Sales of licensed products in the territory."));
    }

    #[test]
    fn overrides_may_change_words_but_not_numbers() {
        assert!(check_override("royalty", "Licensee pays {{royalty_rate}} on Net Sales.").is_ok());
        assert!(check_override("metered", "Per thousand units: {{fee_per_1000_compute_units}}.").is_ok(), "digits inside a variable name are fine");
        assert_eq!(check_override("royalty", "Licensee pays 5 % on Net Sales.").map_err(|e| e.field), Err("clauses"));
        assert!(check_override("royalty", "Pays {{rate}}.").is_err());
        assert!(check_override("nope", "text").is_err());
        assert!(check_override("royalty", "Pays {{royalty_rate").is_err());
    }
}

#[cfg(test)]
mod known_tests {
    use super::*;
    use crate::agreement::TermsInput;

    #[test]
    fn every_variable_is_known_and_every_known_name_is_a_variable() {
        let t = TermsInput { territory: vec!["DE".into()], effective_date: Some("2027-01-01".into()), ..Default::default() }
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let c = Context { kind: AgreementKind::NonExclusiveLicence, title: "t", licensor: "a", licensee: "b", assets: &[], parent: None, terms: &t };
        let mut names: Vec<&str> = variables(&c).into_keys().collect();
        let mut known = KNOWN.to_vec();
        names.sort_unstable();
        known.sort_unstable();
        assert_eq!(names, known);
    }
}

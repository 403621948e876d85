//! European patents after grant. The EPO's renewal fees end with the year in which the mention of
//! grant is published (Art. 86(2) EPC); from then on the patent is a bundle of national patents in
//! the states where it was validated, each renewed at its national office for the following years
//! (Art. 141(1) EPC), and, where the proprietor registers unitary effect, one Unitary Patent
//! renewed at the EPO (Regulation (EU) No 1257/2012). This module records where a patent was
//! validated (`Validation`), checks it, and derives the deadlines that replace the EPO's fees.

use chrono::NaiveDate;
use serde::Deserialize;

pub use super::deadlines::{TRANSLATION_RULES, UNITARY, UNITARY_RULES, Validation, after_grant};
use super::{AssetKind, Jurisdiction};
use crate::DomainError;

/// The states in which a European patent can take effect: the 39 contracting states of the EPC,
/// the extension state (BA) and the validation states (MA, MD, TN, KH, GE), as the EPO lists its
/// member, extension and validation states (epo.org "Member states of the European Patent
/// Organisation"; "Extension and validation states").
pub const EP_STATES: [&str; 45] = [
    "AL", "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MC", "ME",
    "MK", "MT", "NL", "NO", "PL", "PT", "RO", "RS", "SE", "SI", "SK", "SM", "TR", // contracting states
    "BA", // extension state
    "MA", "MD", "TN", "KH", "GE", // validation states
];

/// The member states in which unitary effect applies, with the day from which a Unitary Patent
/// registered on or after it covers them: the states where the Agreement on a Unified Patent Court
/// is in force at the date of registration of unitary effect (Art. 18(2) Regulation (EU)
/// No 1257/2012). Seventeen from the UPC's start on 1 June 2023; Romania from 1 September 2024.
pub const UNITARY_STATES: [(&str, (i32, u32, u32)); 18] = [
    ("AT", (2023, 6, 1)),
    ("BE", (2023, 6, 1)),
    ("BG", (2023, 6, 1)),
    ("DE", (2023, 6, 1)),
    ("DK", (2023, 6, 1)),
    ("EE", (2023, 6, 1)),
    ("FI", (2023, 6, 1)),
    ("FR", (2023, 6, 1)),
    ("IT", (2023, 6, 1)),
    ("LT", (2023, 6, 1)),
    ("LU", (2023, 6, 1)),
    ("LV", (2023, 6, 1)),
    ("MT", (2023, 6, 1)),
    ("NL", (2023, 6, 1)),
    ("PT", (2023, 6, 1)),
    ("SE", (2023, 6, 1)),
    ("SI", (2023, 6, 1)),
    ("RO", (2024, 9, 1)),
];

/// The states a Unitary Patent registered on `registered` covers.
pub fn unitary_territory(registered: NaiveDate) -> impl Iterator<Item = &'static str> {
    UNITARY_STATES.iter().filter(move |(_, (y, m, d))| NaiveDate::from_ymd_opt(*y, *m, *d).is_some_and(|since| since <= registered)).map(|(s, _)| *s)
}

/// A validation as submitted: `"DE"`, `"FR lapsed 2027-03-01"`, or the stored object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ValidationInput {
    Text(String),
    Entry { state: String, lapsed_on: Option<String> },
}

impl Validation {
    /// How a person writes it (and the form and the CSV show it).
    pub fn label(&self) -> String {
        match self.lapsed_on {
            Some(l) => format!("{} lapsed {l}", self.state),
            None => self.state.clone(),
        }
    }

    pub fn parse(i: &ValidationInput) -> Result<Self, DomainError> {
        let bad = |m: String| DomainError::new("validations", m);
        let (state, lapsed) = match i {
            ValidationInput::Text(t) => {
                let words: Vec<&str> = t.split_whitespace().collect();
                match words.as_slice() {
                    [s] => (s.to_string(), None),
                    [s, "lapsed", d] | [s, d] => (s.to_string(), Some(d.to_string())),
                    _ => return Err(bad(format!("{t:?} is not a state code, optionally followed by \"lapsed YYYY-MM-DD\""))),
                }
            }
            ValidationInput::Entry { state, lapsed_on } => (state.clone(), lapsed_on.clone()),
        };
        let state = state.trim().to_ascii_uppercase();
        if state != UNITARY && !EP_STATES.contains(&state.as_str()) {
            return Err(bad(format!("{state} is not a state in which a European patent can take effect (nor UP, for unitary effect)")));
        }
        let lapsed_on = match lapsed.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(d) => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad(format!("{state}: the lapse date must be a date YYYY-MM-DD")))?),
        };
        Ok(Self { state, lapsed_on })
    }
}

/// Parses and checks a patent's validations: only a granted European patent has them, each state
/// once, no lapse before the grant, and no national validation in a state the unitary effect
/// covers (Art. 4(2) Regulation (EU) No 1257/2012: there the patent takes effect as a Unitary
/// Patent, not as a national one).
pub fn check(office: Option<&Jurisdiction>, kind: AssetKind, grant: Option<NaiveDate>, inputs: &[ValidationInput]) -> Result<Vec<Validation>, DomainError> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let bad = |m: &str| DomainError::new("validations", m.to_owned());
    if kind != AssetKind::Patent || office.map(Jurisdiction::as_str) != Some("EP") {
        return Err(bad("only a European patent (office EP) is validated in states"));
    }
    let Some(grant) = grant else { return Err(bad("a European patent is validated after its grant: set the grant date first")) };
    if inputs.len() > EP_STATES.len() + 1 {
        return Err(bad("too many validations"));
    }
    let mut out: Vec<Validation> = Vec::with_capacity(inputs.len());
    for i in inputs {
        let v = Validation::parse(i)?;
        if out.iter().any(|o| o.state == v.state) {
            return Err(DomainError::new("validations", format!("{} is listed twice", v.state)));
        }
        if v.lapsed_on.is_some_and(|l| l < grant) {
            return Err(DomainError::new("validations", format!("{} lapsed before the grant", v.state)));
        }
        out.push(v);
    }
    if out.iter().any(|v| v.state == UNITARY) {
        let covered: Vec<&str> = unitary_territory(grant).collect();
        if let Some(v) = out.iter().find(|v| covered.contains(&v.state.as_str())) {
            return Err(DomainError::new(
                "validations",
                format!("{} is covered by the unitary effect (Art. 4(2) Regulation (EU) No 1257/2012): list UP, not {} as well", v.state, v.state),
            ));
        }
    }
    out.sort_by(|a, b| a.state.cmp(&b.state));
    Ok(out)
}

/// Where the patent is in force on `today`: each validated state that has not lapsed, and each
/// state of the unitary effect's territory, with how (`national` or `unitary`).
pub fn in_force(validations: &[Validation], grant: NaiveDate, today: NaiveDate) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for v in validations.iter().filter(|v| v.lapsed_on.is_none_or(|l| l > today)) {
        if v.state == UNITARY {
            out.extend(unitary_territory(grant).map(|s| (s, "unitary")));
        } else if let Some(s) = EP_STATES.iter().find(|s| **s == v.state) {
            out.push((*s, "national"));
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::AssetStatus;
    use crate::ip::deadlines::{Deadline, Facts, Surcharge, compute};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn ep(grant: &str, validations: &[Validation]) -> Vec<Deadline> {
        let f = Facts {
            kind: AssetKind::Patent,
            office: "EP",
            status: AssetStatus::Granted,
            filing: Some(d("2021-03-15")),
            priority: None,
            grant: Some(d(grant)),
            parent_filing: None,
            pct: false,
            validations,
        };
        compute(&f)
    }

    fn v(state: &str, lapsed: Option<&str>) -> Validation {
        Validation { state: state.into(), lapsed_on: lapsed.map(d) }
    }

    fn dues(dl: &[Deadline], rule: &str, office: &str) -> Vec<(u32, NaiveDate)> {
        dl.iter().filter(|x| x.rule == rule && x.office == office).map(|x| (x.ordinal, x.due)).collect::<Vec<_>>()
    }

    /// A European patent filed 15 March 2021 whose grant is mentioned on 12 June 2024 (patent year
    /// 4, which began on 15 March 2024). Art. 86(2) EPC: the EPO's fees end with year 4's; Art.
    /// 141(1) EPC and IntPatÜG Art. II § 7(1) ("erst für die Jahre geschuldet, die dem Jahr folgen,
    /// in dem der Hinweis auf die Erteilung ... bekanntgemacht worden ist"): the German, French and
    /// British fees start with year 5, each due at the end of March (PatKostG § 3(2); R. 613-46
    /// CPI; Patents Rules 2007 r. 37) and run to year 20. With unitary effect instead, the request
    /// is due one month after the mention (Rule 6(1) UPR) and the EPO's Unitary Patent fees follow
    /// the same years (Art. 11(1) Regulation (EU) No 1257/2012; Rule 13 UPR).
    #[test]
    fn a_european_patent_granted_in_2024_pays_each_validated_state_from_the_year_after_grant() {
        let dl = ep("2024-06-12", &[v("DE", None), v("FR", None), v("GB", None)]);
        assert_eq!(dues(&dl, "ep-renewal", "EP"), vec![(3, d("2023-03-31")), (4, d("2024-03-31"))]);
        for (rule, office) in [("de-annual", "DE"), ("fr-annual", "FR"), ("gb-renewal", "GB")] {
            let got = dues(&dl, rule, office);
            assert_eq!(got.first(), Some(&(5, d("2025-03-31"))), "{office}");
            assert_eq!(got.last(), Some(&(20, d("2040-03-31"))), "{office}");
            assert_eq!(got.len(), 16, "{office}: years 5 to 20");
        }
        assert!(dl.iter().any(|x| x.title == "Annual fee, year 5 (DE)"));
        // Unitary effect: the request, then the Unitary Patent's renewal fees at the EPO; no
        // national fees in the states it covers.
        let up = ep("2024-06-12", &[v("UP", None), v("GB", None)]);
        assert_eq!(dues(&up, "up-request", "EP"), vec![(1, d("2024-07-12"))]);
        let renewals = dues(&up, "up-renewal", "EP");
        assert_eq!((renewals.first(), renewals.last(), renewals.len()), (Some(&(5, d("2025-03-31"))), Some(&(20, d("2040-03-31"))), 16));
        let first = up.iter().find(|x| x.rule == "up-renewal").map(|x| (x.opens, x.grace_ends, x.surcharge));
        assert_eq!(
            first,
            Some((Some(d("2024-12-31")), Some(d("2025-09-30")), Surcharge::Percent(50))),
            "three months ahead (Rule 13(2) UPR), six after (13(3))"
        );
        assert!(up.iter().all(|x| x.office == "EP" || x.office == "GB"));
        // Ungranted, or not validated: the EPO's fees only.
        assert!(ep("2024-06-12", &[]).iter().all(|x| x.rule == "ep-renewal"));
    }

    /// Art. 141(2) EPC: "Any renewal fees falling due within two months after the publication of
    /// the mention of the grant of the European patent shall be deemed to have been validly paid if
    /// they are paid within that period." Grant mentioned on 5 March 2024, in patent year 3: the
    /// German fee for year 4 (due 31 March 2024) may be paid until 5 May 2024 (a Sunday: § 193
    /// BGB moves the last day to Monday 6 May), without the national surcharge.
    #[test]
    fn a_national_fee_falling_due_within_two_months_of_grant_is_payable_until_they_end() {
        let dl = ep("2024-03-05", &[v("DE", None)]);
        assert_eq!(dues(&dl, "ep-renewal", "EP"), vec![(3, d("2023-03-31"))]);
        let y4 = dl.iter().find(|x| x.rule == "de-annual" && x.ordinal == 4);
        assert_eq!(y4.map(|x| (x.due, x.last_day, x.source)), Some((d("2024-05-05"), d("2024-05-06"), "Art. 141(2) EPC")));
        assert_eq!(dues(&dl, "de-annual", "DE").get(1), Some(&(5, d("2025-03-31"))), "later years as the national law says");
    }

    /// When a state lapses its deadlines stop (Art. 11(2) Regulation (EU) No 1257/2012 for the
    /// Unitary Patent); the others go on.
    #[test]
    fn a_lapsed_state_has_no_deadlines_after_its_lapse() {
        let dl = ep("2024-06-12", &[v("DE", None), v("FR", Some("2027-04-01")), v("GB", None)]);
        assert_eq!(dues(&dl, "fr-annual", "FR"), vec![(5, d("2025-03-31")), (6, d("2026-03-31")), (7, d("2027-03-31"))]);
        assert_eq!(dues(&dl, "de-annual", "DE").len(), 16);
        let up = ep("2024-06-12", &[v("UP", Some("2026-05-01"))]);
        assert_eq!(dues(&up, "up-renewal", "EP"), vec![(5, d("2025-03-31")), (6, d("2026-03-31"))]);
    }

    /// Italy and Spain still require a translation of a patent granted in English, within three
    /// months of the mention of grant (Art. 65(1) EPC; EPO, National law relating to the EPC,
    /// Table IV); Germany, France and the United Kingdom do not (London Agreement Art. 1(1)).
    #[test]
    fn italy_and_spain_want_a_translation_within_three_months() {
        let dl = ep("2024-06-12", &[v("DE", None), v("ES", None), v("IT", None)]);
        let translations: Vec<_> = dl.iter().filter(|x| x.rule.starts_with("ep-translation")).map(|x| (x.office.as_str(), x.due)).collect();
        assert_eq!(translations, vec![("ES", d("2024-09-12")), ("IT", d("2024-09-12"))]);
        assert_eq!(dues(&dl, "it-annual", "IT").first(), Some(&(5, d("2025-03-31"))));
        assert_eq!(dues(&dl, "es-annual", "ES").first(), Some(&(5, d("2025-03-31"))));
    }

    /// Where it is in force: seventeen states of unitary effect for a Unitary Patent registered
    /// before 1 September 2024, eighteen with Romania after (EPO, Unitary Patent Guidelines 1.5.1),
    /// plus the national validations that have not lapsed.
    #[test]
    fn the_patent_is_in_force_in_its_validated_states_and_the_unitary_territory() {
        let vals = [v("UP", None), v("GB", None), v("ES", Some("2026-01-01"))];
        let before = in_force(&vals, d("2024-06-12"), d("2026-12-07"));
        assert_eq!(before.len(), 18, "17 unitary + GB");
        assert!(before.contains(&("GB", "national")) && before.contains(&("DE", "unitary")) && !before.iter().any(|(s, _)| *s == "RO" || *s == "ES"));
        assert!(in_force(&vals, d("2024-09-02"), d("2026-12-07")).contains(&("RO", "unitary")));
    }

    #[test]
    fn validations_are_checked() {
        let ep = Jurisdiction::parse("EP").ok();
        let us = Jurisdiction::parse("US").ok();
        let t = |s: &str| ValidationInput::Text(s.into());
        let grant = Some(d("2024-06-12"));
        let field = |r: Result<Vec<Validation>, DomainError>| r.err().map(|e| e.message);
        assert_eq!(
            check(ep.as_ref(), AssetKind::Patent, grant, &[t("gb"), t("ES lapsed 2027-04-01"), t("UP")]).ok(),
            Some(vec![v("ES", Some("2027-04-01")), v("GB", None), v("UP", None)])
        );
        assert!(field(check(us.as_ref(), AssetKind::Patent, grant, &[t("DE")])).is_some_and(|m| m.contains("European patent")));
        assert!(field(check(ep.as_ref(), AssetKind::Patent, None, &[t("DE")])).is_some_and(|m| m.contains("grant date")));
        assert!(field(check(ep.as_ref(), AssetKind::Patent, grant, &[t("US")])).is_some_and(|m| m.contains("US is not a state")));
        assert!(field(check(ep.as_ref(), AssetKind::Patent, grant, &[t("DE"), t("DE")])).is_some_and(|m| m.contains("twice")));
        assert!(field(check(ep.as_ref(), AssetKind::Patent, grant, &[t("DE lapsed 2023-01-01")])).is_some_and(|m| m.contains("before the grant")));
        assert!(field(check(ep.as_ref(), AssetKind::Patent, grant, &[t("DE lapsed soon")])).is_some_and(|m| m.contains("YYYY-MM-DD")));
        assert!(field(check(ep.as_ref(), AssetKind::Patent, grant, &[t("UP"), t("DE")])).is_some_and(|m| m.contains("Art. 4(2)")));
        // Romania joined on 1 September 2024: a Unitary Patent granted before may be validated there.
        assert!(check(ep.as_ref(), AssetKind::Patent, grant, &[t("UP"), t("RO")]).is_ok());
        assert_eq!(Validation::parse(&t("FR lapsed 2027-04-01")).map(|v| v.label()).ok().as_deref(), Some("FR lapsed 2027-04-01"));
    }
}

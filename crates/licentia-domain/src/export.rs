//! Export control of technology: an asset's classifications under three regimes, the rule table
//! that says which destinations each classification restricts (every rule carries its source
//! beside it, as the deadline rules do), and the check an agreement's approval runs: every
//! classified asset against the licensee's country and every country of the territory, cured
//! only by a permit recorded on the agreement that covers that asset, country and day.
//!
//! What is modelled, and what is not (said here so that nobody reads more into a pass):
//! - US EAR: EAR99 items need a licence only to embargoed destinations (part 746); an ECCN with
//!   National Security column 2 needs one everywhere except Country Group A:1 (15 CFR 742.4(a));
//!   any other ECCN is treated as needing a licence outside the exporter's country until a
//!   licence, licence exception or no-licence-required determination is recorded as a permit,
//!   because this table does not hold the Commerce Country Chart entry of every ECCN.
//! - EU dual-use (Regulation (EU) 2021/821): an Annex I item leaving the Union needs an
//!   authorisation (Art. 3(1)), except to the destinations of the Union general export
//!   authorisation EU001 (Annex II, Section A). Annex II Section A's excluded items and the
//!   intra-Union transfer licences of Annex IV are not modelled.
//! - China's catalogue of technologies prohibited or restricted from export: prohibited ones (code
//!   ending in J) may not be exported at all, restricted ones (X) need a licence.
//!
//! No I/O.

use std::collections::BTreeSet;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::agreement::Territory;
use crate::ip::jurisdiction::{countries, is_country};
use crate::{AssetId, DomainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// US Export Administration Regulations (15 CFR parts 730-774): an ECCN or EAR99.
    UsEar,
    /// EU dual-use items, Annex I of Regulation (EU) 2021/821.
    EuDualUse,
    /// China's catalogue of technologies prohibited or restricted from export.
    CnCatalogue,
}

impl Regime {
    pub const ALL: [Regime; 3] = [Regime::UsEar, Regime::EuDualUse, Regime::CnCatalogue];

    pub fn as_str(self) -> &'static str {
        match self {
            Regime::UsEar => "us_ear",
            Regime::EuDualUse => "eu_dual_use",
            Regime::CnCatalogue => "cn_catalogue",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Regime::UsEar => "US EAR",
            Regime::EuDualUse => "EU dual-use (Reg. 2021/821)",
            Regime::CnCatalogue => "China export catalogue",
        }
    }
}

/// One classification of an asset: a regime and a code that regime's list uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Classification {
    pub regime: Regime,
    /// `EAR99` or an ECCN such as `3A001` (US); an Annex I entry such as `3A001.a.1` (EU); a
    /// catalogue number such as `184305X` (China: `J` prohibited, `X` restricted).
    pub code: String,
}

/// A Wassenaar-style control number: a category digit, a product group A-E, three digits, then
/// optional sub-items (`3A001`, `5A002.a`, `3A001.a.1.b`).
fn control_number(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() >= 5
        && b.len() <= 24
        && b[0].is_ascii_digit()
        && (b'A'..=b'E').contains(&b[1])
        && b[2..5].iter().all(u8::is_ascii_digit)
        && (b.len() == 5 || (b[5] == b'.' && b[6..].iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.')))
}

impl Classification {
    pub fn parse(regime: &str, code: &str) -> Result<Self, DomainError> {
        let regime = Regime::ALL
            .into_iter()
            .find(|r| r.as_str() == regime.trim())
            .ok_or_else(|| DomainError::new("regime", format!("must be one of {}", Regime::ALL.map(Regime::as_str).join(", "))))?;
        let raw = code.trim();
        let code = match regime {
            // ECCN letters are upper case, sub-items lower case.
            Regime::UsEar | Regime::EuDualUse => {
                let (head, tail) = raw.split_at(raw.find('.').unwrap_or(raw.len()));
                format!("{}{}", head.to_ascii_uppercase(), tail.to_ascii_lowercase())
            }
            Regime::CnCatalogue => raw.to_ascii_uppercase(),
        };
        let ok = match regime {
            Regime::UsEar => code == "EAR99" || control_number(&code),
            Regime::EuDualUse => control_number(&code),
            // Bytes, not string slices: a multi-byte character must be refused, not split.
            Regime::CnCatalogue => {
                let b = code.as_bytes();
                b.len() == 7 && b[..6].iter().all(u8::is_ascii_digit) && matches!(b[6], b'J' | b'X')
            }
        };
        if !ok {
            let expected = match regime {
                Regime::UsEar => "EAR99 or an ECCN such as 3A001 or 5A002.a",
                Regime::EuDualUse => "an Annex I entry such as 3A001 or 3A001.a.1",
                Regime::CnCatalogue => "a catalogue number of six digits and J (prohibited) or X (restricted), such as 184305X",
            };
            return Err(DomainError::new("code", format!("{:?} is not {expected}", raw.chars().take(30).collect::<String>())));
        }
        Ok(Self { regime, code })
    }

    /// The ECCN's category-and-group head without sub-items (`3A001.a.1` → `3A001`).
    fn head(&self) -> &str {
        self.code.split('.').next().unwrap_or(&self.code)
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.regime.label(), self.code)
    }
}

/// What a rule says of one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// The rule's identifier in the table (`ear-ns2`, `eu-annex-i`, ...).
    pub rule: &'static str,
    pub classification: Classification,
    pub country: String,
    /// Whether a recorded permit can cure it (not for technology a catalogue prohibits).
    pub permit_may_cure: bool,
    pub summary: &'static str,
    pub source: &'static str,
}

/// A rule of the table, listed for the README and the registry page.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: &'static str,
    pub regime: Regime,
    pub summary: &'static str,
    pub source: &'static str,
}

pub const RULES: [Rule; 6] = [
    Rule {
        id: "ear-embargo",
        regime: Regime::UsEar,
        summary: "Every item subject to the EAR, EAR99 included, needs a licence to Cuba, Iran and North Korea",
        source: "15 CFR 746.2 (Cuba), 746.4 (North Korea), 746.7 (Iran), with 31 CFR 560.204 (OFAC, Iran)",
    },
    Rule {
        id: "ear-ns2",
        regime: Regime::UsEar,
        summary: "An ECCN controlled for National Security, column 2, needs a licence to every destination except Country Group A:1",
        source: "15 CFR 742.4(a); Country Group A:1 in Supplement No. 1 to part 740; ECCN 3A001 carries NS column 2 (Supplement No. 1 to part 774)",
    },
    Rule {
        id: "ear-eccn",
        regime: Regime::UsEar,
        summary: "Any other ECCN: the Commerce Country Chart decides, which this table does not hold; a licence is presumed needed outside the exporter's country until a licence or a no-licence-required determination is recorded as a permit",
        source: "15 CFR 738.4 (determining whether a licence is required), Supplement No. 1 to part 738 (Commerce Country Chart)",
    },
    Rule {
        id: "eu-annex-i",
        regime: Regime::EuDualUse,
        summary: "An Annex I item (a transfer of its software or technology included) leaving the Union needs an authorisation, except to the destinations of the Union general export authorisation EU001",
        source: "Regulation (EU) 2021/821, Art. 2(2), Art. 3(1), Annex II Section A (EU001: AU, CA, CH, GB, IS, JP, LI, NO, NZ, US)",
    },
    Rule {
        id: "cn-prohibited",
        regime: Regime::CnCatalogue,
        summary: "A technology the catalogue prohibits from export (code ending J) may not be exported from China at all",
        source: "Regulations on the Administration of Technology Import and Export, ch. III; Catalogue of Technologies Prohibited or Restricted from Export, MOFCOM/MOST Announcement 2023 No. 57 as adjusted by Announcement 2025 No. 28",
    },
    Rule {
        id: "cn-restricted",
        regime: Regime::CnCatalogue,
        summary: "A technology the catalogue restricts (code ending X) needs an export licence to leave China",
        source: "Regulations on the Administration of Technology Import and Export, ch. III (licence management of restricted technologies); MOFCOM/MOST Announcement 2023 No. 57 as adjusted by Announcement 2025 No. 28",
    },
];

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[0])
}

/// Cuba, Iran, North Korea (15 CFR 746.2, 746.7, 746.4). Syria (746.9) is left out on purpose:
/// its controls were relaxed in 2025 and its current text was not checked for this table.
const EAR_EMBARGOED: [&str; 3] = ["CU", "IR", "KP"];

/// Country Group A:1 as listed in Supplement No. 1 to part 740 (transcribed; a destination missing
/// here is treated as needing a licence, the safe side). "Cooperating countries" are not listed.
const EAR_A1: [&str; 36] = [
    "AR", "AT", "AU", "BE", "BG", "CA", "CH", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU", "IE", "IT", "JP", "KR", "LT", "LU", "LV", "MT",
    "NL", "NO", "NZ", "PL", "PT", "RO", "SE", "SI", "SK", "TR",
];

/// ECCNs whose Country Chart column is National Security column 2 (Supplement No. 1 to part 774).
const EAR_NS2: [&str; 1] = ["3A001"];

/// The 27 member states: exports between them are not exports under Art. 2(2).
const EU_MEMBERS: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI",
    "SK",
];

/// Union general export authorisation EU001 (Annex II, Section A of Regulation (EU) 2021/821).
const EU001: [&str; 10] = ["AU", "CA", "CH", "GB", "IS", "JP", "LI", "NO", "NZ", "US"];

/// What the table says of exporting `c` from `exporter` (the licensor's country; `None` when not
/// recorded, read as "the rule may apply") to `destination`. `None`: no rule restricts it.
pub fn check(c: &Classification, exporter: Option<&str>, destination: &str) -> Option<Finding> {
    let found = |id: &str, cure: bool| {
        let r = rule(id);
        Some(Finding { rule: r.id, classification: c.clone(), country: destination.to_owned(), permit_may_cure: cure, summary: r.summary, source: r.source })
    };
    if exporter == Some(destination) {
        return None;
    }
    match c.regime {
        Regime::UsEar => {
            if EAR_EMBARGOED.contains(&destination) {
                return found("ear-embargo", true);
            }
            if c.code == "EAR99" {
                None
            } else if EAR_NS2.contains(&c.head()) {
                if EAR_A1.contains(&destination) { None } else { found("ear-ns2", true) }
            } else {
                found("ear-eccn", true)
            }
        }
        Regime::EuDualUse => {
            let from_union = exporter.is_none_or(|e| EU_MEMBERS.contains(&e));
            if !from_union || EU_MEMBERS.contains(&destination) || EU001.contains(&destination) { None } else { found("eu-annex-i", true) }
        }
        Regime::CnCatalogue => {
            if exporter.is_some_and(|e| e != "CN") || destination == "CN" {
                None
            } else if c.code.ends_with('J') {
                found("cn-prohibited", false)
            } else {
                found("cn-restricted", true)
            }
        }
    }
}

/// An export licence or authorisation recorded on an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Permit {
    /// The authority's reference (licence number).
    pub reference: String,
    /// Who granted it (BIS, BAFA, MOFCOM, ...).
    pub authority: String,
    /// The destinations it covers.
    pub countries: BTreeSet<String>,
    /// The assets it covers; empty: every asset of the agreement.
    pub assets: BTreeSet<AssetId>,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

impl Permit {
    pub fn covers(&self, asset: AssetId, country: &str, on: NaiveDate) -> bool {
        self.valid_from <= on && on <= self.valid_until && self.countries.contains(country) && (self.assets.is_empty() || self.assets.contains(&asset))
    }
}

/// A permit as submitted: every problem is a 422 naming its field.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"reference": "D1234567", "authority": "BIS", "countries": ["CN"], "assets": [], "valid_from": "2027-01-01", "valid_until": "2028-12-31"}))]
#[serde(deny_unknown_fields)]
pub struct PermitInput {
    pub reference: String,
    pub authority: String,
    pub countries: Vec<String>,
    #[serde(default)]
    pub assets: Vec<AssetId>,
    pub valid_from: String,
    pub valid_until: String,
    pub csrf: Option<String>,
}

fn short_text(field: &'static str, v: &str) -> Result<String, DomainError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
        return Err(DomainError::new(field, "1 to 100 characters without control characters"));
    }
    Ok(v.to_owned())
}

impl PermitInput {
    pub fn parse(&self) -> Result<Permit, DomainError> {
        let date =
            |field: &'static str, v: &str| NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| DomainError::new(field, "must be a date YYYY-MM-DD"));
        let valid_from = date("valid_from", &self.valid_from)?;
        let valid_until = date("valid_until", &self.valid_until)?;
        if valid_until < valid_from {
            return Err(DomainError::new("valid_until", "must not be before valid_from"));
        }
        if self.countries.is_empty() || self.countries.len() > 250 {
            return Err(DomainError::new("countries", "name the destinations the permit covers"));
        }
        let countries = self
            .countries
            .iter()
            .map(|c| {
                let c = c.trim().to_ascii_uppercase();
                if is_country(&c) {
                    Ok(c)
                } else {
                    Err(DomainError::new("countries", format!("{:?} is not an ISO 3166 country code", c.chars().take(10).collect::<String>())))
                }
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        if self.assets.len() > 1000 {
            return Err(DomainError::new("assets", "at most 1000 assets"));
        }
        Ok(Permit {
            reference: short_text("reference", &self.reference)?,
            authority: short_text("authority", &self.authority)?,
            countries,
            assets: self.assets.iter().copied().collect(),
            valid_from,
            valid_until,
        })
    }
}

/// Where a grant goes: the licensee's own country and every country of the territory.
pub fn destinations(licensee_country: Option<&str>, territory: &Territory) -> BTreeSet<String> {
    let mut out: BTreeSet<String> =
        if territory.worldwide { countries().iter().filter(|c| territory.covers(c)).map(|c| (*c).to_owned()).collect() } else { territory.countries.clone() };
    out.extend(licensee_country.map(str::to_owned));
    out
}

/// One asset of the grant with its classifications.
#[derive(Debug, Clone)]
pub struct Covered {
    pub asset: AssetId,
    pub title: String,
    pub classifications: Vec<Classification>,
}

/// A restriction the grant runs into, with the permit that cures it if there is one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub asset: AssetId,
    pub asset_title: String,
    #[serde(flatten)]
    pub finding: Finding,
    /// The reference of the recorded permit that covers it on the day checked.
    pub permit: Option<String>,
}

/// The export-control check of a grant on day `on`: every restriction found, each with the permit
/// that covers it (if any). The grant may go ahead when every check has a permit. A licensee
/// whose country is not recorded, for an asset that is classified at all, is itself a finding:
/// without it nobody can say where the technology goes.
pub fn check_grant(
    assets: &[Covered],
    exporter: Option<&str>,
    licensee_country: Option<&str>,
    territory: &Territory,
    permits: &[Permit],
    on: NaiveDate,
) -> Vec<Check> {
    let places = destinations(licensee_country, territory);
    let mut out = Vec::new();
    for a in assets {
        for c in &a.classifications {
            for country in &places {
                if let Some(finding) = check(c, exporter, country) {
                    let permit =
                        if finding.permit_may_cure { permits.iter().find(|p| p.covers(a.asset, country, on)).map(|p| p.reference.clone()) } else { None };
                    out.push(Check { asset: a.asset, asset_title: a.title.clone(), finding, permit });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn c(regime: &str, code: &str) -> Classification {
        // Every code passed here is valid; a typo shows as a regime-less classification that
        // matches no rule, which the assertions catch.
        Classification::parse(regime, code).unwrap_or(Classification { regime: Regime::CnCatalogue, code: String::new() })
    }

    fn day(y: i32, m: u32, d: u32) -> Result<NaiveDate, &'static str> {
        NaiveDate::from_ymd_opt(y, m, d).ok_or("no such day")
    }

    /// 15 CFR 742.4(a): "A license is required to all destinations except Country Group A:1 and
    /// cooperating countries ... for all items in ECCNs on the CCL that include NS Column 2". ECCN
    /// 3A001 carries NS column 2: from the US to China a licence is needed, to Germany (A:1) not.
    #[test]
    fn ns_column_2_needs_a_licence_outside_country_group_a1() -> TestResult {
        let f = check(&c("us_ear", "3A001.a.1"), Some("US"), "CN").ok_or("licence required to CN")?;
        assert_eq!((f.rule, f.permit_may_cure), ("ear-ns2", true));
        assert_eq!(check(&c("us_ear", "3A001"), Some("US"), "DE"), None);
        // Iran is embargoed for everything subject to the EAR, EAR99 included (15 CFR 746.7).
        assert_eq!(check(&c("us_ear", "EAR99"), Some("US"), "IR").map(|f| f.rule), Some("ear-embargo"));
        // EAR99 items go to any other destination without a licence (15 CFR 734.3(c)).
        assert_eq!(check(&c("us_ear", "EAR99"), Some("US"), "CN"), None);
        // An ECCN whose Country Chart entry the table does not hold is presumed to need one.
        assert_eq!(check(&c("us_ear", "4D001"), Some("US"), "DE").map(|f| f.rule), Some("ear-eccn"));
        Ok(())
    }

    /// Regulation (EU) 2021/821, Art. 3(1) and Annex II Section A: an Annex I item exported from
    /// Germany to the United States goes under EU001; to China it needs an authorisation; to France
    /// it is no export at all.
    #[test]
    fn eu_annex_i_items_need_an_authorisation_outside_the_union_and_eu001() -> TestResult {
        let item = c("eu_dual_use", "3a001.A.1");
        assert_eq!(item.code, "3A001.a.1");
        assert_eq!(check(&item, Some("DE"), "US"), None);
        assert_eq!(check(&item, Some("DE"), "FR"), None);
        assert_eq!(check(&item, Some("DE"), "CN").map(|f| f.rule), Some("eu-annex-i"));
        // A licensor outside the Union does not export from it.
        assert_eq!(check(&item, Some("US"), "CN"), None);
        Ok(())
    }

    /// MOFCOM on the catalogue (2025 adjustment): "禁止出口的技术不得出口，限制出口的技术实行许可证管理"
    /// — prohibited technologies may not be exported, restricted ones need a licence.
    #[test]
    fn china_s_catalogue_prohibits_j_and_licenses_x() -> TestResult {
        let restricted = check(&c("cn_catalogue", "184305x"), Some("CN"), "DE").ok_or("restricted")?;
        assert_eq!((restricted.rule, restricted.permit_may_cure), ("cn-restricted", true));
        let prohibited = check(&c("cn_catalogue", "053502J"), Some("CN"), "DE").ok_or("prohibited")?;
        assert_eq!((prohibited.rule, prohibited.permit_may_cure), ("cn-prohibited", false));
        assert_eq!(check(&c("cn_catalogue", "184305X"), Some("CN"), "CN"), None);
        Ok(())
    }

    #[test]
    fn malformed_codes_are_refused_naming_the_field() -> TestResult {
        // "12345é" is seven bytes with a character across the sixth: refused, not split.
        for (r, code) in [
            ("us_ear", "EAR-99"),
            ("us_ear", "3F001"),
            ("eu_dual_use", "EAR99"),
            ("cn_catalogue", "18430X"),
            ("cn_catalogue", "184305Y"),
            ("cn_catalogue", "12345é"),
            ("us_ear", "3A00é"),
            ("eu_dual_use", "3A001.é"),
        ] {
            assert_eq!(Classification::parse(r, code).map_err(|e| e.field), Err("code"), "{r} {code}");
        }
        assert_eq!(Classification::parse("itar", "XI").map_err(|e| e.field), Err("regime"));
        Ok(())
    }

    #[test]
    fn a_permit_cures_only_its_asset_country_and_days() -> TestResult {
        let asset = AssetId::new();
        let other = AssetId::new();
        let territory = Territory { worldwide: false, countries: ["CN".to_owned(), "DE".to_owned()].into(), excluded: BTreeSet::new() };
        let covered = [Covered { asset, title: "Chip".into(), classifications: vec![c("us_ear", "3A001")] }];
        let on = day(2027, 6, 1)?;
        let checks = check_grant(&covered, Some("US"), Some("DE"), &territory, &[], on);
        assert_eq!(checks.iter().map(|c| (c.finding.country.as_str(), c.permit.is_some())).collect::<Vec<_>>(), [("CN", false)]);
        let from = day(2027, 1, 1)?;
        let permit = |assets: BTreeSet<AssetId>, until: NaiveDate| Permit {
            reference: "D123".into(),
            authority: "BIS".into(),
            countries: ["CN".to_owned()].into(),
            assets,
            valid_from: from,
            valid_until: until,
        };
        let ok = check_grant(&covered, Some("US"), Some("DE"), &territory, &[permit(BTreeSet::new(), day(2027, 12, 31)?)], on);
        assert_eq!(ok[0].permit.as_deref(), Some("D123"));
        let expired = check_grant(&covered, Some("US"), Some("DE"), &territory, &[permit(BTreeSet::new(), day(2027, 5, 31)?)], on);
        assert_eq!(expired[0].permit, None);
        let other_asset = check_grant(&covered, Some("US"), Some("DE"), &territory, &[permit([other].into(), day(2027, 12, 31)?)], on);
        assert_eq!(other_asset[0].permit, None);
        // A worldwide territory reaches the embargoed destinations unless they are carved out.
        let world = Territory { worldwide: true, countries: BTreeSet::new(), excluded: ["CU".to_owned(), "IR".to_owned()].into() };
        let ear99 = [Covered { asset, title: "Tool".into(), classifications: vec![c("us_ear", "EAR99")] }];
        let found: Vec<String> = check_grant(&ear99, Some("US"), Some("DE"), &world, &[], on).into_iter().map(|c| c.finding.country).collect();
        assert_eq!(found, ["KP"]);
        Ok(())
    }
}

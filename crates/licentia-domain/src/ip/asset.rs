//! An asset as submitted (JSON or CSV), parsed into a value that can only hold valid data: each
//! kind's fields, per-office number formats, Nice classes, consistent dates. A bad value is a
//! [`DomainError`] naming the field.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::deadlines::Facts;
use super::numbers::{self, NumberKind};
use super::{AssetKind, AssetStatus, Jurisdiction, LifeDates, NiceClass, Relation};
use crate::DomainError;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetInput {
    pub kind: String,
    pub status: Option<String>,
    pub title: String,
    pub jurisdiction: Option<String>,
    pub application_number: Option<String>,
    pub publication_number: Option<String>,
    pub grant_number: Option<String>,
    /// Trademarks: the registration number (stored as the grant number).
    pub registration_number: Option<String>,
    pub priority_date: Option<String>,
    pub filing_date: Option<String>,
    pub publication_date: Option<String>,
    pub grant_date: Option<String>,
    /// Trademarks: the registration date (stored as the grant date).
    pub registration_date: Option<String>,
    pub parent_id: Option<String>,
    /// How this filing relates to its parent: `priority_claim`, `continuation`,
    /// `continuation_in_part`, `divisional` or `national_phase`.
    pub relation: Option<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    // Patents, utility models, designs
    #[serde(rename = "abstract")]
    pub abstract_text: Option<String>,
    #[serde(default)]
    pub inventors: Vec<String>,
    #[serde(default)]
    pub applicants: Vec<String>,
    pub claims_count: Option<i64>,
    /// When a lapsed, abandoned or expired right stopped being in force.
    pub lapsed_on: Option<String>,
    pub term_adjustment_days: Option<i64>,
    /// An international (PCT) application.
    #[serde(default)]
    pub pct: bool,
    /// A granted European patent: the states it was validated in (`"DE"`, `"FR lapsed
    /// 2027-03-01"`), and `"UP"` for unitary effect.
    #[serde(default)]
    pub validations: Vec<super::european::ValidationInput>,
    // Trademarks
    pub mark_text: Option<String>,
    pub mark_type: Option<String>,
    #[serde(default)]
    pub nice_classes: Vec<i64>,
    pub goods_services: Option<String>,
    // Copyrights
    pub work_type: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    pub version: Option<String>,
    pub creation_date: Option<String>,
    // Trade secrets and models
    pub description: Option<String>,
    pub custodian: Option<String>,
    pub template: Option<String>,
    pub internal_notes: Option<String>,
    /// Ignored: the browser forms' CSRF token.
    pub csrf: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidAsset {
    pub kind: AssetKind,
    pub status: AssetStatus,
    pub title: String,
    pub jurisdiction: Option<Jurisdiction>,
    pub application_number: Option<String>,
    pub publication_number: Option<String>,
    pub grant_number: Option<String>,
    pub dates: LifeDates,
    pub expiry: Option<NaiveDate>,
    pub parent_id: Option<crate::AssetId>,
    pub relation: Option<Relation>,
    pub owners: Vec<String>,
    pub tags: Vec<String>,
    pub pct: bool,
    /// Where a granted European patent was validated (see [`super::european`]).
    pub validations: Vec<super::european::Validation>,
    /// Kind-specific fields, already validated.
    pub details: Value,
    pub internal_notes: String,
}

fn text(field: &'static str, v: Option<&str>, max: usize, required: bool) -> Result<Option<String>, DomainError> {
    let v = v.map(str::trim).filter(|s| !s.is_empty());
    match v {
        None if required => Err(DomainError::new(field, "is required")),
        None => Ok(None),
        Some(s) if s.chars().count() > max => Err(DomainError::new(field, format!("must be at most {max} characters"))),
        Some(s) if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => Err(DomainError::new(field, "must not contain control characters")),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

fn list(field: &'static str, items: &[String], max_items: usize) -> Result<Vec<String>, DomainError> {
    if items.len() > max_items {
        return Err(DomainError::new(field, format!("at most {max_items} entries")));
    }
    items.iter().map(|i| text(field, Some(i), 200, true).map(Option::unwrap_or_default)).collect()
}

fn date(field: &'static str, v: Option<&str>) -> Result<Option<NaiveDate>, DomainError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map(Some).map_err(|_| DomainError::new(field, "must be a date YYYY-MM-DD")),
    }
}

impl ValidAsset {
    pub fn parse(i: &AssetInput) -> Result<Self, DomainError> {
        let kind: AssetKind = i.kind.trim().parse()?;
        let status = match i.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => s.parse::<AssetStatus>()?,
            None if matches!(kind, AssetKind::Copyright | AssetKind::TradeSecret | AssetKind::Model) => AssetStatus::Active,
            None => AssetStatus::Filed,
        };
        if !AssetStatus::allowed_for(kind).contains(&status) {
            return Err(DomainError::new("status", format!("{} is not a status of a {kind}", status.as_str())));
        }
        let title = text("title", Some(&i.title), 500, true)?.unwrap_or_default();
        let registered = kind.is_patent_like() || kind == AssetKind::Trademark;
        let jurisdiction = match i.jurisdiction.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(j) => Some(Jurisdiction::parse(j)?),
            None if registered => return Err(DomainError::new("jurisdiction", "is required for registered rights")),
            None => None,
        };
        let office = jurisdiction.as_ref().map(|j| j.as_str().to_owned()).unwrap_or_default();
        let number = |kind_: NumberKind, raw: Option<&str>| -> Result<Option<String>, DomainError> {
            match raw.map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(_) if !registered => Err(DomainError::new(kind_.field(), format!("a {kind} has no {}", kind_.field().replace('_', " ")))),
                Some(r) => numbers::parse(&office, kind_, r).map(Some),
            }
        };
        let grant_raw = i.grant_number.as_deref().or(i.registration_number.as_deref());
        let grant_date_raw = i.grant_date.as_deref().or(i.registration_date.as_deref());
        let grant_field = if kind == AssetKind::Trademark { "registration_date" } else { "grant_date" };
        let dates = LifeDates {
            priority: date("priority_date", i.priority_date.as_deref())?,
            filing: date("filing_date", i.filing_date.as_deref())?,
            publication: date("publication_date", i.publication_date.as_deref())?,
            grant: date(grant_field, grant_date_raw)?,
        }
        .check(grant_field)?;
        if matches!(status, AssetStatus::Granted | AssetStatus::Registered) && dates.grant.is_none() {
            return Err(DomainError::new(grant_field, format!("is required when the status is {}", status.as_str())));
        }
        let parent_id = match i.parent_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(p) => Some(crate::AssetId::parse(p).ok_or_else(|| DomainError::new("parent_id", "is not an asset id"))?),
            None => None,
        };
        let relation = match (i.relation.as_deref().map(str::trim).filter(|s| !s.is_empty()), parent_id) {
            (None, None) => None,
            (Some(_), None) => return Err(DomainError::new("relation", "needs a parent_id")),
            (None, Some(_)) => Some(Relation::PriorityClaim),
            (Some(r), Some(_)) => Some(r.parse::<Relation>()?),
        };
        if relation.is_some() && !kind.is_patent_like() {
            return Err(DomainError::new("parent_id", "only patents, utility models and designs form families"));
        }
        let validations = super::european::check(jurisdiction.as_ref(), kind, dates.grant, &i.validations)?;
        let mut details = json!({});
        let mut expiry = None;
        match kind {
            AssetKind::Patent | AssetKind::UtilityModel | AssetKind::Design => {
                let claims = match i.claims_count {
                    Some(n) if !(0..=10_000).contains(&n) => return Err(DomainError::new("claims_count", "must be between 0 and 10000")),
                    other => other,
                };
                let pta = match i.term_adjustment_days {
                    Some(n) if !(0..=10_000).contains(&n) => return Err(DomainError::new("term_adjustment_days", "must be between 0 and 10000")),
                    other => other.unwrap_or(0),
                };
                let lapsed_on = date("lapsed_on", i.lapsed_on.as_deref())?;
                if lapsed_on.is_some() && !status.is_dead() {
                    return Err(DomainError::new("lapsed_on", format!("a {} right has not lapsed", status.as_str())));
                }
                if lapsed_on.is_some_and(|l| dates.filing.is_some_and(|f| l < f)) {
                    return Err(DomainError::new("lapsed_on", "is before the filing date"));
                }
                details = json!({
                    "lapsed_on": lapsed_on,
                    "abstract": text("abstract", i.abstract_text.as_deref(), 20_000, false)?,
                    "inventors": list("inventors", &i.inventors, 100)?,
                    "applicants": list("applicants", &i.applicants, 100)?,
                    "claims_count": claims,
                    "term_adjustment_days": pta,
                    "validations": validations,
                });
                // Patents: 20 years from filing (TRIPS Art. 33) plus any US term adjustment. US
                // designs: 15 years from grant for applications filed on or after 13 May 2015, 14
                // before (35 U.S.C. 173; MPEP 1505); other designs: the longest term, 25 years
                // from filing (EU designs, Art. 12 Regulation (EC) No 6/2002).
                let us_design = kind == AssetKind::Design && office == "US";
                let term_years = match kind {
                    AssetKind::Patent => 20,
                    AssetKind::UtilityModel => 10,
                    _ if us_design => {
                        if dates.filing.is_some_and(|f| f >= NaiveDate::from_ymd_opt(2015, 5, 13).unwrap_or(f)) {
                            15
                        } else {
                            14
                        }
                    }
                    _ => 25,
                };
                let term_from = if us_design { dates.grant } else { dates.filing };
                expiry = term_from
                    .and_then(|f| f.checked_add_months(chrono::Months::new(term_years * 12)))
                    .and_then(|d| d.checked_add_days(chrono::Days::new(pta as u64)));
            }
            AssetKind::Trademark => {
                let mark_type = match i.mark_type.as_deref().map(str::trim).unwrap_or("word") {
                    t @ ("word" | "figurative" | "combined") => t.to_owned(),
                    _ => return Err(DomainError::new("mark_type", "must be word, figurative or combined")),
                };
                if i.nice_classes.is_empty() {
                    return Err(DomainError::new("nice_classes", "at least one class is required"));
                }
                let mut classes: Vec<u8> = i.nice_classes.iter().map(|c| NiceClass::new(*c).map(NiceClass::get)).collect::<Result<_, _>>()?;
                classes.sort_unstable();
                classes.dedup();
                details = json!({
                    "mark_text": text("mark_text", i.mark_text.as_deref(), 500, mark_type != "figurative")?,
                    "mark_type": mark_type,
                    "nice_classes": classes,
                    "goods_services": text("goods_services", i.goods_services.as_deref(), 20_000, false)?,
                });
            }
            AssetKind::Copyright => {
                let work_type = match i.work_type.as_deref().map(str::trim).unwrap_or("") {
                    t @ ("software" | "model" | "documentation" | "dataset" | "other") => t.to_owned(),
                    _ => return Err(DomainError::new("work_type", "must be software, model, documentation, dataset or other")),
                };
                details = json!({
                    "work_type": work_type,
                    "authors": list("authors", &i.authors, 100)?,
                    "version": text("version", i.version.as_deref(), 100, false)?,
                    "creation_date": date("creation_date", i.creation_date.as_deref())?,
                });
            }
            AssetKind::TradeSecret => {
                details = json!({
                    "description": text("description", i.description.as_deref(), 2_000, true)?,
                    "custodian": text("custodian", i.custodian.as_deref(), 200, true)?,
                });
            }
            AssetKind::Model => {
                details = json!({
                    "description": text("description", i.description.as_deref(), 2_000, false)?,
                    "template": text("template", i.template.as_deref(), 100, true)?,
                });
            }
        }
        Ok(Self {
            kind,
            status,
            title,
            jurisdiction,
            application_number: number(NumberKind::Application, i.application_number.as_deref())?,
            publication_number: number(NumberKind::Publication, i.publication_number.as_deref())?,
            grant_number: number(NumberKind::Grant, grant_raw)?,
            dates,
            expiry,
            parent_id,
            relation,
            owners: list("owners", &i.owners, 50)?,
            tags: list("tags", &i.tags, 50)?,
            pct: i.pct,
            validations,
            details,
            internal_notes: text("internal_notes", i.internal_notes.as_deref(), 20_000, false)?.unwrap_or_default(),
        })
    }

    /// The facts the deadline rules read.
    pub fn facts(&self, parent_filing: Option<NaiveDate>) -> Facts<'_> {
        Facts {
            kind: self.kind,
            office: self.jurisdiction.as_ref().map_or("", |j| j.as_str()),
            status: self.status,
            filing: self.dates.filing,
            priority: self.dates.priority,
            grant: self.dates.grant,
            parent_filing,
            pct: self.pct,
            validations: &self.validations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patent() -> AssetInput {
        AssetInput {
            kind: "patent".into(),
            title: "Adaptive gradient clipping".into(),
            jurisdiction: Some("EP".into()),
            application_number: Some("EP 20 123 456.7".into()),
            filing_date: Some("2020-06-01".into()),
            ..Default::default()
        }
    }

    fn field(i: &AssetInput) -> Option<&'static str> {
        ValidAsset::parse(i).err().map(|e| e.field)
    }

    #[test]
    fn a_valid_patent_parses_with_normalised_numbers_and_expiry() -> Result<(), DomainError> {
        let a = ValidAsset::parse(&patent())?;
        assert_eq!(a.application_number.as_deref(), Some("EP20123456.7"));
        assert_eq!(a.expiry, NaiveDate::from_ymd_opt(2040, 6, 1));
        assert_eq!(a.status, AssetStatus::Filed);
        Ok(())
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(field(&AssetInput { application_number: Some("EP123".into()), ..patent() }), Some("application_number"));
        assert_eq!(field(&AssetInput { jurisdiction: Some("XX".into()), ..patent() }), Some("jurisdiction"));
        assert_eq!(field(&AssetInput { grant_date: Some("2019-01-01".into()), ..patent() }), Some("grant_date"));
        assert_eq!(field(&AssetInput { priority_date: Some("2021-01-01".into()), ..patent() }), Some("priority_date"));
        assert_eq!(field(&AssetInput { filing_date: Some("2020-13-01".into()), ..patent() }), Some("filing_date"));
        assert_eq!(field(&AssetInput { status: Some("granted".into()), ..patent() }), Some("grant_date"));
        assert_eq!(field(&AssetInput { status: Some("registered".into()), ..patent() }), Some("status"));
        assert_eq!(field(&AssetInput { kind: "poem".into(), ..patent() }), Some("kind"));
        let tm = AssetInput {
            kind: "trademark".into(),
            title: "LICENTIA".into(),
            jurisdiction: Some("EM".into()),
            mark_text: Some("LICENTIA".into()),
            ..Default::default()
        };
        assert_eq!(field(&AssetInput { nice_classes: vec![0], ..tm.clone() }), Some("nice_classes"));
        assert_eq!(field(&AssetInput { nice_classes: vec![46], ..tm.clone() }), Some("nice_classes"));
        assert_eq!(field(&AssetInput { nice_classes: vec![9, 42], mark_type: Some("sound".into()), ..tm.clone() }), Some("mark_type"));
        assert!(ValidAsset::parse(&AssetInput { nice_classes: vec![42, 9, 9], ..tm }).is_ok_and(|a| a.details["nice_classes"] == json!([9, 42])));
        let cr = AssetInput { kind: "copyright".into(), title: "SDK".into(), work_type: Some("poetry".into()), ..Default::default() };
        assert_eq!(field(&cr), Some("work_type"));
        assert_eq!(field(&AssetInput { application_number: Some("123".into()), work_type: Some("software".into()), ..cr }), Some("application_number"));
    }

    #[test]
    fn trademark_registration_fields_map_onto_grant() -> Result<(), DomainError> {
        let tm = AssetInput {
            kind: "trademark".into(),
            status: Some("registered".into()),
            title: "AURORA".into(),
            jurisdiction: Some("US".into()),
            mark_text: Some("AURORA".into()),
            nice_classes: vec![9],
            filing_date: Some("2018-01-10".into()),
            registration_date: Some("2019-06-04".into()),
            ..Default::default()
        };
        let a = ValidAsset::parse(&tm)?;
        assert_eq!(a.dates.grant, NaiveDate::from_ymd_opt(2019, 6, 4));
        let deadlines = super::super::deadlines::compute(&a.facts(None));
        assert!(deadlines.iter().any(|d| d.rule == "us-tm-section8"));
        Ok(())
    }

    /// 35 U.S.C. 173 (MPEP 1505): a design patent on an application filed on or after 13 May 2015
    /// lasts 15 years from grant, 14 before; no maintenance fees (35 U.S.C. 41(b): "No fee may be
    /// established for maintaining a design or plant patent in force").
    #[test]
    fn us_design_patents_last_fifteen_years_from_grant() -> Result<(), DomainError> {
        let design = |filed: &str, granted: &str| AssetInput {
            kind: "design".into(),
            status: Some("granted".into()),
            title: "Handset".into(),
            jurisdiction: Some("US".into()),
            filing_date: Some(filed.into()),
            grant_date: Some(granted.into()),
            ..Default::default()
        };
        let new = ValidAsset::parse(&design("2016-01-05", "2018-02-06"))?;
        assert_eq!(new.expiry, NaiveDate::from_ymd_opt(2033, 2, 6));
        assert!(super::super::deadlines::compute(&new.facts(None)).is_empty());
        assert_eq!(ValidAsset::parse(&design("2014-01-05", "2015-02-06"))?.expiry, NaiveDate::from_ymd_opt(2029, 2, 6));
        Ok(())
    }
}

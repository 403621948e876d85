//! Licence and transfer agreements as structured data: kinds, the workflow's states and
//! transitions, validated terms (territory, field of use, term, payments in integer minor units
//! and basis points), overlap for exclusivity conflicts, the clause library that renders the
//! prose from the terms, redlines, and royalty statements. No I/O.

pub mod clauses;
pub mod diff;
pub mod statement;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::ip::jurisdiction::is_country;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgreementKind {
    ExclusiveLicence,
    SoleLicence,
    NonExclusiveLicence,
    /// Ownership of the covered assets moves to the assignee on execution.
    Assignment,
    Option,
    EvaluationLicence,
    /// Granted under a parent agreement that allows sublicensing.
    Sublicence,
    JointDevelopment,
    Service,
}

impl AgreementKind {
    pub const ALL: [AgreementKind; 9] = [
        AgreementKind::ExclusiveLicence,
        AgreementKind::SoleLicence,
        AgreementKind::NonExclusiveLicence,
        AgreementKind::Assignment,
        AgreementKind::Option,
        AgreementKind::EvaluationLicence,
        AgreementKind::Sublicence,
        AgreementKind::JointDevelopment,
        AgreementKind::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgreementKind::ExclusiveLicence => "exclusive_licence",
            AgreementKind::SoleLicence => "sole_licence",
            AgreementKind::NonExclusiveLicence => "non_exclusive_licence",
            AgreementKind::Assignment => "assignment",
            AgreementKind::Option => "option",
            AgreementKind::EvaluationLicence => "evaluation_licence",
            AgreementKind::Sublicence => "sublicence",
            AgreementKind::JointDevelopment => "joint_development",
            AgreementKind::Service => "service",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AgreementKind::ExclusiveLicence => "Exclusive Licence Agreement",
            AgreementKind::SoleLicence => "Sole Licence Agreement",
            AgreementKind::NonExclusiveLicence => "Non-Exclusive Licence Agreement",
            AgreementKind::Assignment => "Assignment Agreement",
            AgreementKind::Option => "Option Agreement",
            AgreementKind::EvaluationLicence => "Evaluation Licence Agreement",
            AgreementKind::Sublicence => "Sublicence Agreement",
            AgreementKind::JointDevelopment => "Joint Development Agreement",
            AgreementKind::Service => "Services Agreement",
        }
    }

    pub fn exclusivity(self) -> Exclusivity {
        match self {
            AgreementKind::ExclusiveLicence | AgreementKind::Assignment => Exclusivity::Exclusive,
            AgreementKind::SoleLicence => Exclusivity::Sole,
            _ => Exclusivity::NonExclusive,
        }
    }

    /// Whether the agreement grants rights in the covered assets (and so can conflict).
    pub fn grants_rights(self) -> bool {
        !matches!(self, AgreementKind::Service | AgreementKind::JointDevelopment | AgreementKind::Option)
    }
}

impl fmt::Display for AgreementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgreementKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgreementKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::new("kind", format!("must be one of {}", AgreementKind::ALL.map(AgreementKind::as_str).join(", "))))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Exclusivity {
    /// Not even the licensor may use the rights in the scope.
    Exclusive,
    /// The licensor may, but no other licensee.
    Sole,
    NonExclusive,
}

/// The workflow. Executed versions are immutable; every move is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    InReview,
    Approved,
    Executed,
    Active,
    Expired,
    Terminated,
}

impl Status {
    pub const ALL: [Status; 7] = [Status::Draft, Status::InReview, Status::Approved, Status::Executed, Status::Active, Status::Expired, Status::Terminated];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::InReview => "in_review",
            Status::Approved => "approved",
            Status::Executed => "executed",
            Status::Active => "active",
            Status::Expired => "expired",
            Status::Terminated => "terminated",
        }
    }

    /// The states reachable in one step. Execution itself happens through acceptance by both
    /// parties (approved → executed), not as a bare transition.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::Draft => &[Status::InReview],
            Status::InReview => &[Status::Draft, Status::Approved],
            // Approval can be withdrawn before anyone signs.
            Status::Approved => &[Status::Draft, Status::Executed],
            Status::Executed => &[Status::Active, Status::Terminated],
            Status::Active => &[Status::Expired, Status::Terminated],
            Status::Expired | Status::Terminated => &[],
        }
    }

    pub fn can_move_to(self, to: Status) -> bool {
        self.next().contains(&to)
    }

    /// Binding (or about to be): what exclusivity is checked against.
    pub fn is_binding(self) -> bool {
        matches!(self, Status::Approved | Status::Executed | Status::Active)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::new("status", format!("must be one of {}", Status::ALL.map(Status::as_str).join(", "))))
    }
}

/// Where the rights apply: a list of countries, or worldwide minus exclusions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Territory {
    pub worldwide: bool,
    /// ISO 3166 countries (when not worldwide).
    #[serde(default)]
    pub countries: BTreeSet<String>,
    /// Countries carved out of a worldwide grant.
    #[serde(default)]
    pub excluded: BTreeSet<String>,
}

impl Territory {
    pub fn covers(&self, country: &str) -> bool {
        if self.worldwide { !self.excluded.contains(country) } else { self.countries.contains(country) }
    }

    pub fn overlaps(&self, other: &Territory) -> bool {
        match (self.worldwide, other.worldwide) {
            // Two worldwide grants overlap unless their exclusions cover every country, which a
            // real agreement never does.
            (true, true) => true,
            (true, false) => other.countries.iter().any(|c| self.covers(c)),
            (false, _) => self.countries.iter().any(|c| other.covers(c)),
        }
    }

    pub fn describe(&self) -> String {
        if self.worldwide {
            if self.excluded.is_empty() {
                "worldwide".into()
            } else {
                format!("worldwide except {}", self.excluded.iter().cloned().collect::<Vec<_>>().join(", "))
            }
        } else {
            self.countries.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reporting {
    Quarterly,
    SemiAnnual,
    Annual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Milestone {
    pub name: String,
    /// Minor units.
    pub amount: i64,
    /// When it is payable.
    pub due: NaiveDate,
}

/// The structured terms: the single source of the numbers in the prose and in the statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Terms {
    pub territory: Territory,
    /// Fields of use (lower case); empty means every field.
    pub fields: BTreeSet<String>,
    pub sublicensing: bool,
    pub effective_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    /// Renews automatically by this many years unless terminated.
    pub renewal_years: u32,
    /// ISO 4217.
    pub currency: String,
    pub upfront_fee: i64,
    /// Running royalty on reported net sales, basis points (1/100 %).
    pub royalty_bp: u32,
    /// Metered fees: per training run, per 1,000 compute units (rows × epochs), per 1,000
    /// prediction rows, in minor units.
    pub fee_per_run: i64,
    pub fee_per_1000_compute_units: i64,
    pub fee_per_1000_predictions: i64,
    /// Per fine-tuning run of a published model version (a run that starts from the licensor's
    /// weights), in minor units, on top of the per-run fee: the licensor's model is used, not
    /// only its platform. Absent from terms saved before it existed: none.
    #[serde(default)]
    pub fee_per_fine_tuning_run: i64,
    pub minimum_annual_royalty: i64,
    pub milestones: Vec<Milestone>,
    pub sublicence_share_bp: u32,
    /// Share of the official fees of the covered patents the licensee reimburses.
    pub patent_cost_share_bp: u32,
    pub reporting: Reporting,
}

impl Terms {
    pub fn fields_overlap(&self, other: &Terms) -> bool {
        self.fields.is_empty() || other.fields.is_empty() || self.fields.intersection(&other.fields).next().is_some()
    }

    pub fn time_overlaps(&self, other: &Terms) -> bool {
        let a_end = self.end_date.unwrap_or(NaiveDate::MAX);
        let b_end = other.end_date.unwrap_or(NaiveDate::MAX);
        self.effective_date <= b_end && other.effective_date <= a_end
    }

    /// Whether two grants collide in scope: territory, field and time all overlap.
    pub fn overlaps(&self, other: &Terms) -> bool {
        self.territory.overlaps(&other.territory) && self.fields_overlap(other) && self.time_overlaps(other)
    }
}

/// Terms as submitted: everything optional so that a missing value is a 422 naming it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsInput {
    #[serde(default)]
    pub territory: Vec<String>,
    #[serde(default)]
    pub worldwide: bool,
    #[serde(default)]
    pub excluded: Vec<String>,
    #[serde(default)]
    pub fields: Vec<String>,
    #[serde(default)]
    pub sublicensing: bool,
    pub effective_date: Option<String>,
    pub end_date: Option<String>,
    pub renewal_years: Option<i64>,
    pub currency: Option<String>,
    pub upfront_fee: Option<i64>,
    pub royalty_bp: Option<i64>,
    pub fee_per_run: Option<i64>,
    pub fee_per_1000_compute_units: Option<i64>,
    pub fee_per_1000_predictions: Option<i64>,
    pub fee_per_fine_tuning_run: Option<i64>,
    pub minimum_annual_royalty: Option<i64>,
    #[serde(default)]
    pub milestones: Vec<MilestoneInput>,
    pub sublicence_share_bp: Option<i64>,
    pub patent_cost_share_bp: Option<i64>,
    pub reporting: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneInput {
    pub name: String,
    pub amount: i64,
    pub due: String,
}

/// ISO 4217 codes we bill in (the common ones; more can be added as data).
const CURRENCIES: [&str; 12] = ["EUR", "USD", "GBP", "CHF", "JPY", "CNY", "CAD", "AUD", "SEK", "DKK", "NOK", "KRW"];

/// Largest amount in minor units: 10^15 (ten trillion in major units), far from i64 overflow
/// when summed.
const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

fn amount(field: &'static str, v: Option<i64>) -> Result<i64, DomainError> {
    match v.unwrap_or(0) {
        n if n < 0 => Err(DomainError::new(field, "must not be negative")),
        n if n > MAX_AMOUNT => Err(DomainError::new(field, "is too large")),
        n => Ok(n),
    }
}

fn basis_points(field: &'static str, v: Option<i64>) -> Result<u32, DomainError> {
    match v.unwrap_or(0) {
        n if n < 0 => Err(DomainError::new(field, "must not be negative")),
        n if n > 10_000 => Err(DomainError::new(field, "must be at most 10000 basis points (100 %)")),
        n => Ok(n as u32),
    }
}

fn date(field: &'static str, v: Option<&str>) -> Result<Option<NaiveDate>, DomainError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map(Some).map_err(|_| DomainError::new(field, "must be a date YYYY-MM-DD")),
    }
}

fn countries(field: &'static str, items: &[String]) -> Result<BTreeSet<String>, DomainError> {
    items
        .iter()
        .map(|c| {
            let code = c.trim().to_ascii_uppercase();
            if is_country(&code) {
                Ok(code)
            } else {
                Err(DomainError::new(field, format!("{:?} is not an ISO 3166 country code", c.chars().take(10).collect::<String>())))
            }
        })
        .collect()
}

impl TermsInput {
    pub fn parse(&self) -> Result<Terms, DomainError> {
        let territory = if self.worldwide {
            if !self.territory.is_empty() {
                return Err(DomainError::new("territory", "give either worldwide (with exclusions) or a list of countries"));
            }
            Territory { worldwide: true, countries: BTreeSet::new(), excluded: countries("excluded", &self.excluded)? }
        } else {
            if !self.excluded.is_empty() {
                return Err(DomainError::new("excluded", "exclusions apply to a worldwide territory only"));
            }
            let c = countries("territory", &self.territory)?;
            if c.is_empty() {
                return Err(DomainError::new("territory", "name at least one country, or worldwide"));
            }
            Territory { worldwide: false, countries: c, excluded: BTreeSet::new() }
        };
        if self.fields.len() > 20 {
            return Err(DomainError::new("fields", "at most 20 fields of use"));
        }
        let fields = self
            .fields
            .iter()
            .map(|f| {
                let f = f.trim().to_lowercase();
                if f.is_empty() || f.chars().count() > 100 || f.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
                    Err(DomainError::new("fields", "each field of use is 1 to 100 characters, without digits or control characters"))
                } else {
                    Ok(f)
                }
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let effective_date = date("effective_date", self.effective_date.as_deref())?.ok_or_else(|| DomainError::new("effective_date", "is required"))?;
        let end_date = date("end_date", self.end_date.as_deref())?;
        if end_date.is_some_and(|e| e <= effective_date) {
            return Err(DomainError::new("end_date", "must be after the effective date"));
        }
        let renewal_years = match self.renewal_years.unwrap_or(0) {
            n @ 0..=10 => n as u32,
            _ => return Err(DomainError::new("renewal_years", "must be between 0 and 10")),
        };
        if renewal_years > 0 && end_date.is_none() {
            return Err(DomainError::new("renewal_years", "renewal needs an end date"));
        }
        let currency = self.currency.as_deref().map(|c| c.trim().to_ascii_uppercase()).unwrap_or_else(|| "EUR".into());
        if !CURRENCIES.contains(&currency.as_str()) {
            return Err(DomainError::new("currency", format!("must be one of {}", CURRENCIES.join(", "))));
        }
        if self.milestones.len() > 50 {
            return Err(DomainError::new("milestones", "at most 50 milestones"));
        }
        let milestones = self
            .milestones
            .iter()
            .map(|m| {
                let name = m.name.trim();
                if name.is_empty() || name.chars().count() > 200 || name.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
                    return Err(DomainError::new("milestones", "each milestone has a name of 1 to 200 characters, without digits"));
                }
                let due = date("milestones", Some(&m.due))?.ok_or_else(|| DomainError::new("milestones", "each milestone has a due date"))?;
                Ok(Milestone { name: name.to_owned(), amount: amount("milestones", Some(m.amount))?, due })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let reporting = match self.reporting.as_deref().map(str::trim).unwrap_or("quarterly") {
            "quarterly" => Reporting::Quarterly,
            "semi_annual" => Reporting::SemiAnnual,
            "annual" => Reporting::Annual,
            _ => return Err(DomainError::new("reporting", "must be quarterly, semi_annual or annual")),
        };
        Ok(Terms {
            territory,
            fields,
            sublicensing: self.sublicensing,
            effective_date,
            end_date,
            renewal_years,
            currency,
            upfront_fee: amount("upfront_fee", self.upfront_fee)?,
            royalty_bp: basis_points("royalty_bp", self.royalty_bp)?,
            fee_per_run: amount("fee_per_run", self.fee_per_run)?,
            fee_per_1000_compute_units: amount("fee_per_1000_compute_units", self.fee_per_1000_compute_units)?,
            fee_per_1000_predictions: amount("fee_per_1000_predictions", self.fee_per_1000_predictions)?,
            fee_per_fine_tuning_run: amount("fee_per_fine_tuning_run", self.fee_per_fine_tuning_run)?,
            minimum_annual_royalty: amount("minimum_annual_royalty", self.minimum_annual_royalty)?,
            milestones,
            sublicence_share_bp: basis_points("sublicence_share_bp", self.sublicence_share_bp)?,
            patent_cost_share_bp: basis_points("patent_cost_share_bp", self.patent_cost_share_bp)?,
            reporting,
        })
    }
}

/// A duty the terms create once the agreement is executed: reports, payments, milestones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Obligation {
    /// `upfront`, `milestone` or `report`.
    pub kind: &'static str,
    pub ordinal: u32,
    pub title: String,
    pub due: NaiveDate,
}

/// Reports and payments are due this many days after the period they cover (the reporting
/// clause of the library says thirty).
pub const PAYMENT_DAYS: u64 = 30;

/// The obligations of executed terms, in date order. Reporting runs from the effective date to
/// the end date, or ten years when the agreement runs until terminated.
pub fn obligations(t: &Terms, executed_on: NaiveDate) -> Vec<Obligation> {
    let mut out = Vec::new();
    if t.upfront_fee > 0 {
        out.push(Obligation {
            kind: "upfront",
            ordinal: 1,
            title: format!("Upfront fee {}", money(&t.currency, t.upfront_fee)),
            due: executed_on + chrono::Days::new(PAYMENT_DAYS),
        });
    }
    for (i, m) in t.milestones.iter().enumerate() {
        out.push(Obligation {
            kind: "milestone",
            ordinal: i as u32 + 1,
            title: format!("Milestone: {} ({})", m.name, money(&t.currency, m.amount)),
            due: m.due,
        });
    }
    let reports = t.royalty_bp > 0
        || t.minimum_annual_royalty > 0
        || t.fee_per_run > 0
        || t.fee_per_1000_compute_units > 0
        || t.fee_per_1000_predictions > 0
        || t.fee_per_fine_tuning_run > 0
        || t.sublicensing;
    if reports {
        let months = match t.reporting {
            Reporting::Quarterly => 3,
            Reporting::SemiAnnual => 6,
            Reporting::Annual => 12,
        };
        let last = t.end_date.unwrap_or_else(|| t.effective_date.checked_add_months(chrono::Months::new(120)).unwrap_or(t.effective_date));
        // Periods are calendar-aligned: the first ends at the close of the effective date's period.
        let year = chrono::Datelike::year(&t.effective_date);
        let month0 = chrono::Datelike::month0(&t.effective_date);
        let mut start = NaiveDate::from_ymd_opt(year, month0 / months * months + 1, 1);
        let mut n = 1;
        while let Some(s) = start {
            if s > last || n > 400 {
                break;
            }
            let Some(next) = s.checked_add_months(chrono::Months::new(months)) else { break };
            let end = next.pred_opt().unwrap_or(next);
            let label = match months {
                3 => format!("{}-Q{}", chrono::Datelike::year(&s), chrono::Datelike::month0(&s) / 3 + 1),
                6 => format!("{}-H{}", chrono::Datelike::year(&s), chrono::Datelike::month0(&s) / 6 + 1),
                _ => chrono::Datelike::year(&s).to_string(),
            };
            out.push(Obligation {
                kind: "report",
                ordinal: n,
                title: format!("Royalty report and payment for {label}"),
                due: end + chrono::Days::new(PAYMENT_DAYS),
            });
            n += 1;
            start = Some(next);
        }
    }
    out.sort_by_key(|o| (o.due, o.kind, o.ordinal));
    out
}

/// `-1234567` → `-1,234,567`: digits grouped in thousands.
pub fn grouped(n: i64) -> String {
    format!("{}{}", if n < 0 { "-" } else { "" }, group_digits(n.unsigned_abs()))
}

fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Minor units as a short label for a chart's bar, in major units: `950`, `12.3k`, `1.25M`
/// (the exact amount is in the bar's tooltip and the table beside the chart).
pub fn compact_money(currency: &str, minor: i64) -> String {
    let major = if matches!(currency, "JPY" | "KRW") { minor as f64 } else { minor as f64 / 100.0 };
    let a = major.abs();
    if a >= 1e9 {
        format!("{}B", trim(format!("{:.2}", major / 1e9)))
    } else if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", major / 1e6)))
    } else if a >= 1e3 {
        format!("{}k", trim(format!("{:.1}", major / 1e3)))
    } else {
        format!("{major:.0}")
    }
}

fn trim(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

/// Formats minor units as `EUR 1,234.56` (yen and won have no minor unit).
pub fn money(currency: &str, minor: i64) -> String {
    let zero_decimal = matches!(currency, "JPY" | "KRW");
    let (major, cents) = if zero_decimal { (minor, None) } else { (minor / 100, Some(minor % 100)) };
    let grouped = group_digits(major.unsigned_abs());
    let sign = if minor < 0 { "-" } else { "" };
    match cents {
        Some(c) => format!("{sign}{currency} {grouped}.{:02}", c.unsigned_abs()),
        None => format!("{sign}{currency} {grouped}"),
    }
}

/// `350` basis points → `3.5 %`.
pub fn percent(bp: u32) -> String {
    let whole = bp / 100;
    let frac = bp % 100;
    if frac == 0 {
        format!("{whole} %")
    } else if frac.is_multiple_of(10) {
        format!("{whole}.{} %", frac / 10)
    } else {
        format!("{whole}.{frac:02} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> TermsInput {
        TermsInput {
            territory: vec!["DE".into(), "fr".into()],
            effective_date: Some("2027-01-01".into()),
            end_date: Some("2030-12-31".into()),
            royalty_bp: Some(300),
            ..Default::default()
        }
    }

    #[test]
    fn invalid_terms_name_their_field() {
        let cases: Vec<(TermsInput, &str)> = vec![
            (TermsInput { end_date: Some("2026-12-31".into()), ..input() }, "end_date"),
            (TermsInput { royalty_bp: Some(10_001), ..input() }, "royalty_bp"),
            (TermsInput { upfront_fee: Some(-1), ..input() }, "upfront_fee"),
            (TermsInput { territory: vec!["XX".into()], ..input() }, "territory"),
            (TermsInput { territory: vec![], ..input() }, "territory"),
            (TermsInput { currency: Some("BTC".into()), ..input() }, "currency"),
            (TermsInput { effective_date: None, ..input() }, "effective_date"),
            (TermsInput { milestones: vec![MilestoneInput { name: "First sale".into(), amount: -5, due: "2028-01-01".into() }], ..input() }, "milestones"),
        ];
        for (i, field) in cases {
            assert_eq!(i.parse().map_err(|e| e.field), Err(field));
        }
        let ok = input().parse().map_err(|e| e.to_string());
        assert_eq!(ok.map(|t| t.territory.describe()), Ok("DE, FR".to_owned()));
    }

    #[test]
    fn overlap_needs_territory_field_and_time() {
        let a = input().parse().map_err(|e| e.to_string());
        let Ok(a) = a else { panic!("{a:?}") };
        let mut b = a.clone();
        assert!(a.overlaps(&b));
        b.territory = Territory { worldwide: false, countries: ["JP".to_owned()].into(), excluded: BTreeSet::new() };
        assert!(!a.overlaps(&b), "disjoint countries");
        b.territory = Territory { worldwide: true, countries: BTreeSet::new(), excluded: ["DE".to_owned(), "FR".to_owned()].into() };
        assert!(!a.overlaps(&b), "worldwide except exactly these countries");
        b.territory.excluded.remove("FR");
        assert!(a.overlaps(&b));
        let mut c = a.clone();
        c.fields = ["medical imaging".to_owned()].into();
        let mut d = a.clone();
        d.fields = ["automotive".to_owned()].into();
        assert!(!c.overlaps(&d), "different fields of use");
        assert!(a.overlaps(&d), "no field restriction covers every field");
        let mut e = a.clone();
        e.effective_date = NaiveDate::from_ymd_opt(2031, 1, 1).unwrap_or_default();
        e.end_date = None;
        assert!(!a.overlaps(&e), "starts after the other ends");
        e.effective_date = NaiveDate::from_ymd_opt(2030, 12, 31).unwrap_or_default();
        assert!(a.overlaps(&e), "one shared day is an overlap");
    }

    #[test]
    fn transitions_follow_the_workflow() {
        assert_eq!(Status::Draft.next(), &[Status::InReview]);
        assert!(Status::InReview.can_move_to(Status::Draft));
        assert!(!Status::Draft.can_move_to(Status::Approved));
        assert!(!Status::Executed.can_move_to(Status::Draft));
        assert!(Status::Terminated.next().is_empty());
    }

    #[test]
    fn obligations_follow_the_reporting_period_milestones_and_upfront_fee() {
        let t = TermsInput {
            territory: vec!["DE".into()],
            effective_date: Some("2027-02-15".into()),
            end_date: Some("2027-12-31".into()),
            royalty_bp: Some(300),
            upfront_fee: Some(1_000_000),
            milestones: vec![MilestoneInput { name: "First sale".into(), amount: 500_000, due: "2027-06-30".into() }],
            ..Default::default()
        }
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
        let o = obligations(&t, NaiveDate::from_ymd_opt(2027, 1, 20).unwrap_or_default());
        let got: Vec<(&str, String)> = o.iter().map(|o| (o.kind, o.due.to_string())).collect();
        assert_eq!(
            got,
            vec![
                ("upfront", "2027-02-19".to_owned()),
                ("report", "2027-04-30".to_owned()),
                ("milestone", "2027-06-30".to_owned()),
                ("report", "2027-07-30".to_owned()),
                ("report", "2027-10-30".to_owned()),
                ("report", "2028-01-30".to_owned()),
            ]
        );
        assert_eq!(o[1].title, "Royalty report and payment for 2027-Q1");
    }

    #[test]
    fn money_and_percent_read_like_contracts() {
        assert_eq!(money("EUR", 123_456_789), "EUR 1,234,567.89");
        assert_eq!(money("JPY", 18_300), "JPY 18,300");
        assert_eq!(money("USD", -5), "-USD 0.05");
        assert_eq!(grouped(114_880), "114,880");
        assert_eq!(grouped(-5_000_000), "-5,000,000");
        assert_eq!(grouped(999), "999");
        assert_eq!(compact_money("EUR", 95_000), "950");
        assert_eq!(compact_money("EUR", 1_234_500), "12.3k");
        assert_eq!(compact_money("EUR", 200_000_000), "2M");
        assert_eq!(compact_money("JPY", 1_250_000), "1.25M");
        assert_eq!(grouped(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(percent(350), "3.5 %");
        assert_eq!(percent(325), "3.25 %");
        assert_eq!(percent(10_000), "100 %");
    }
}

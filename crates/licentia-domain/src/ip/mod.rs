//! The IP registry's pure rules: asset kinds and statuses, jurisdictions, per-office number
//! formats, Nice classes, date consistency, and the deadline rules engine. No I/O.

pub mod asset;
pub mod calendar;
pub mod deadlines;
pub mod european;
pub mod fees;
pub mod jurisdiction;
pub mod numbers;

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use jurisdiction::Jurisdiction;

use crate::DomainError;

/// What kind of right an asset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    Patent,
    UtilityModel,
    Design,
    Trademark,
    Copyright,
    TradeSecret,
    Model,
}

impl AssetKind {
    pub const ALL: [AssetKind; 7] =
        [AssetKind::Patent, AssetKind::UtilityModel, AssetKind::Design, AssetKind::Trademark, AssetKind::Copyright, AssetKind::TradeSecret, AssetKind::Model];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Patent => "patent",
            AssetKind::UtilityModel => "utility_model",
            AssetKind::Design => "design",
            AssetKind::Trademark => "trademark",
            AssetKind::Copyright => "copyright",
            AssetKind::TradeSecret => "trade_secret",
            AssetKind::Model => "model",
        }
    }

    /// Patents, utility models and designs share the filing/grant life cycle and number formats.
    pub fn is_patent_like(self) -> bool {
        matches!(self, AssetKind::Patent | AssetKind::UtilityModel | AssetKind::Design)
    }
}

impl fmt::Display for AssetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AssetKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::new("kind", "must be one of patent, utility_model, design, trademark, copyright, trade_secret, model"))
    }
}

/// Where a registered right is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    Drafting,
    Filed,
    Published,
    Granted,
    Registered,
    Lapsed,
    Abandoned,
    Expired,
    Active,
}

impl AssetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetStatus::Drafting => "drafting",
            AssetStatus::Filed => "filed",
            AssetStatus::Published => "published",
            AssetStatus::Granted => "granted",
            AssetStatus::Registered => "registered",
            AssetStatus::Lapsed => "lapsed",
            AssetStatus::Abandoned => "abandoned",
            AssetStatus::Expired => "expired",
            AssetStatus::Active => "active",
        }
    }

    /// A dead right has no deadlines left.
    pub fn is_dead(self) -> bool {
        matches!(self, AssetStatus::Lapsed | AssetStatus::Abandoned | AssetStatus::Expired)
    }

    /// Which statuses a kind may have.
    pub fn allowed_for(kind: AssetKind) -> &'static [AssetStatus] {
        use AssetStatus as S;
        match kind {
            AssetKind::Patent | AssetKind::UtilityModel | AssetKind::Design => {
                &[S::Drafting, S::Filed, S::Published, S::Granted, S::Lapsed, S::Abandoned, S::Expired]
            }
            AssetKind::Trademark => &[S::Drafting, S::Filed, S::Published, S::Registered, S::Lapsed, S::Abandoned, S::Expired],
            AssetKind::Copyright | AssetKind::TradeSecret | AssetKind::Model => &[S::Drafting, S::Active, S::Expired, S::Abandoned],
        }
    }
}

impl fmt::Display for AssetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AssetStatus {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use AssetStatus as S;
        [S::Drafting, S::Filed, S::Published, S::Granted, S::Registered, S::Lapsed, S::Abandoned, S::Expired, S::Active]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::new("status", "is not a known status"))
    }
}

/// A Nice classification class (1 to 45, 12th edition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct NiceClass(u8);

impl NiceClass {
    pub fn new(n: i64) -> Result<Self, DomainError> {
        match u8::try_from(n) {
            Ok(c @ 1..=45) => Ok(Self(c)),
            _ => Err(DomainError::new("nice_classes", format!("class {n} does not exist (Nice classes are 1 to 45)"))),
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

/// The dates of a registered right, checked for consistency: no priority after filing, no
/// publication or grant/registration before filing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LifeDates {
    pub priority: Option<NaiveDate>,
    pub filing: Option<NaiveDate>,
    pub publication: Option<NaiveDate>,
    pub grant: Option<NaiveDate>,
}

impl LifeDates {
    pub fn check(self, grant_field: &'static str) -> Result<Self, DomainError> {
        if let (Some(p), Some(f)) = (self.priority, self.filing)
            && p > f
        {
            return Err(DomainError::new("priority_date", "is after the filing date"));
        }
        if let (Some(f), Some(p)) = (self.filing, self.publication)
            && p < f
        {
            return Err(DomainError::new("publication_date", "is before the filing date"));
        }
        if let Some(g) = self.grant {
            match self.filing {
                Some(f) if g < f => return Err(DomainError::new(grant_field, "is before the filing date")),
                None => return Err(DomainError::new("filing_date", "is required when there is a grant or registration date")),
                _ => {}
            }
        }
        // A priority claim is only valid within 12 months (Paris Convention, Art. 4C) for patents;
        // the caller decides whether to apply it (6 months for designs and trademarks).
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }

    #[test]
    fn nice_classes_are_1_to_45() {
        assert!(NiceClass::new(0).is_err());
        assert!(NiceClass::new(46).is_err());
        assert!(NiceClass::new(-1).is_err());
        assert_eq!(NiceClass::new(9).map(NiceClass::get), Ok(9));
        assert_eq!(NiceClass::new(45).map(NiceClass::get), Ok(45));
    }

    #[test]
    fn inconsistent_dates_name_the_field() {
        let ok = LifeDates { priority: d("2020-01-01"), filing: d("2020-06-01"), publication: d("2021-12-01"), grant: d("2023-01-01") };
        assert!(ok.check("grant_date").is_ok());
        let grant_first = LifeDates { grant: d("2019-01-01"), ..ok };
        assert_eq!(grant_first.check("grant_date").map_err(|e| e.field), Err("grant_date"));
        let late_priority = LifeDates { priority: d("2020-07-01"), ..ok };
        assert_eq!(late_priority.check("grant_date").map_err(|e| e.field), Err("priority_date"));
        let early_publication = LifeDates { publication: d("2020-05-01"), ..ok };
        assert_eq!(early_publication.check("grant_date").map_err(|e| e.field), Err("publication_date"));
        let no_filing = LifeDates { filing: None, ..ok };
        assert_eq!(no_filing.check("registration_date").map_err(|e| e.field), Err("filing_date"));
    }

    #[test]
    fn statuses_fit_their_kind() {
        assert!(AssetStatus::allowed_for(AssetKind::Patent).contains(&AssetStatus::Granted));
        assert!(!AssetStatus::allowed_for(AssetKind::Trademark).contains(&AssetStatus::Granted));
        assert!(!AssetStatus::allowed_for(AssetKind::Copyright).contains(&AssetStatus::Filed));
        assert_eq!("utility_model".parse::<AssetKind>(), Ok(AssetKind::UtilityModel));
    }
}

/// How a filing relates to the filing it claims from: the edges of a patent family's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Claims the parent's priority (Paris Convention Art. 4) in another office.
    PriorityClaim,
    /// A US continuation (35 U.S.C. 120).
    Continuation,
    /// A US continuation-in-part (35 U.S.C. 120, new matter added).
    ContinuationInPart,
    /// A divisional (Art. 76 EPC, 35 U.S.C. 121): keeps the parent's filing date.
    Divisional,
    /// The national or regional phase of a PCT application (PCT Art. 22/39, Art. 153 EPC).
    NationalPhase,
}

impl Relation {
    pub const ALL: [Relation; 5] =
        [Relation::PriorityClaim, Relation::Continuation, Relation::ContinuationInPart, Relation::Divisional, Relation::NationalPhase];

    pub fn as_str(self) -> &'static str {
        match self {
            Relation::PriorityClaim => "priority_claim",
            Relation::Continuation => "continuation",
            Relation::ContinuationInPart => "continuation_in_part",
            Relation::Divisional => "divisional",
            Relation::NationalPhase => "national_phase",
        }
    }

    /// Whether deadlines count from the parent's filing date: a divisional keeps its parent's date
    /// of filing (Art. 76(1) EPC), and a national phase application has the international filing
    /// date (PCT Art. 11(3), Art. 153(2) EPC). A priority claim or a continuation has its own.
    pub fn inherits_filing_date(self) -> bool {
        matches!(self, Relation::Divisional | Relation::NationalPhase)
    }
}

impl FromStr for Relation {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Relation::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| DomainError::new("relation", "must be priority_claim, continuation, continuation_in_part, divisional or national_phase"))
    }
}

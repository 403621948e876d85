//! Where a licensee's dataset may be processed and how long it is kept: whether it holds personal
//! data and on what lawful basis (GDPR Art. 6(1)(a)-(f)), the region its training must run in,
//! and the day its retention ends (the storage-limitation principle, GDPR Art. 5(1)(e)); erasure
//! on that day or on request (Art. 17) destroys the dataset's data key. No I/O.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The six lawful bases of GDPR Art. 6(1), points (a) to (f), in that order.
pub const LAWFUL_BASES: [&str; 6] = ["consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"];

/// A processing region's name as workers are started with it (`eu`, `us`, `eu-west`): lower
/// case letters, digits and hyphens, starting with a letter, at most 32 characters.
pub fn parse_region(raw: &str) -> Result<String, DomainError> {
    let r = raw.trim().to_ascii_lowercase();
    let ok = !r.is_empty()
        && r.len() <= 32
        && r.starts_with(|c: char| c.is_ascii_lowercase())
        && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(r) } else { Err(DomainError::new("region", "a region name: letters, digits and hyphens, starting with a letter (eu, us, eu-west)")) }
}

/// What a dataset's owner declares about it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Residency {
    pub personal_data: bool,
    /// One of [`LAWFUL_BASES`]; required when the dataset holds personal data.
    pub lawful_basis: Option<String>,
    /// Only workers started with this region train on it; `None`: any worker.
    pub region: Option<String>,
    /// The last day it is kept; the day after, its data key is destroyed.
    pub retain_until: Option<NaiveDate>,
}

impl Residency {
    /// Parses the declaration as sent (query parameters or JSON); `today` bounds the retention.
    pub fn parse(
        personal_data: bool,
        lawful_basis: Option<&str>,
        region: Option<&str>,
        retain_until: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, DomainError> {
        let lawful_basis = match lawful_basis.map(str::trim).filter(|s| !s.is_empty()) {
            None if personal_data => {
                return Err(DomainError::new(
                    "lawful_basis",
                    format!("personal data needs a lawful basis (GDPR Art. 6(1)): one of {}", LAWFUL_BASES.join(", ")),
                ));
            }
            None => None,
            Some(b) if LAWFUL_BASES.contains(&b) => Some(b.to_owned()),
            Some(_) => return Err(DomainError::new("lawful_basis", format!("must be one of {}", LAWFUL_BASES.join(", ")))),
        };
        let region = region.map(str::trim).filter(|s| !s.is_empty()).map(parse_region).transpose()?;
        let retain_until = match retain_until.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| DomainError::new("retain_until", "must be a date YYYY-MM-DD"))?;
                if d < today {
                    return Err(DomainError::new("retain_until", "must not be in the past"));
                }
                Some(d)
            }
        };
        Ok(Self { personal_data, lawful_basis, region, retain_until })
    }

    /// Whether a worker started with `worker_region` may train on the dataset.
    pub fn allows(&self, worker_region: Option<&str>) -> bool {
        self.region.as_deref().is_none_or(|r| worker_region == Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn personal_data_needs_a_lawful_basis_and_regions_bind_workers() -> Result<(), DomainError> {
        let today = day("2027-01-10");
        assert_eq!(Residency::parse(true, None, None, None, today).map_err(|e| e.field), Err("lawful_basis"));
        assert_eq!(Residency::parse(true, Some("because"), None, None, today).map_err(|e| e.field), Err("lawful_basis"));
        assert_eq!(Residency::parse(false, None, Some("EU West"), None, today).map_err(|e| e.field), Err("region"));
        assert_eq!(Residency::parse(false, None, None, Some("2027-01-09"), today).map_err(|e| e.field), Err("retain_until"));
        let r = Residency::parse(true, Some("contract"), Some("US"), Some("2027-06-30"), today)?;
        assert_eq!(r.region.as_deref(), Some("us"));
        assert!(r.allows(Some("us")));
        assert!(!r.allows(Some("eu")));
        assert!(!r.allows(None));
        assert!(Residency::default().allows(Some("eu")));
        Ok(())
    }
}

//! A person's time zone (an IANA name such as `Europe/Berlin`, UTC by default): timestamps are
//! stored in UTC and shown in the reader's zone, always with the zone's abbreviation, and the
//! daily digest goes out by the reader's local day.

use std::fmt;

use chrono::{DateTime, Datelike as _, NaiveDate, Timelike as _, Utc};
use chrono_tz::Tz;

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(Tz);

impl Default for TimeZone {
    fn default() -> Self {
        Self(Tz::UTC)
    }
}

/// A local calendar day and hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub date: NaiveDate,
    pub hour: u32,
}

impl TimeZone {
    /// An IANA zone name from the tz database, e.g. `UTC`, `Europe/Berlin`, `America/New_York`.
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        name.trim().parse::<Tz>().map(Self).map_err(|_| {
            let shown: String = name.trim().chars().take(64).collect();
            DomainError::new("time_zone", format!("{shown:?} is not a time zone of the tz database (e.g. Europe/Berlin)"))
        })
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    pub fn local(&self, at: DateTime<Utc>) -> Local {
        let t = at.with_timezone(&self.0);
        Local { date: NaiveDate::from_ymd_opt(t.year(), t.month(), t.day()).unwrap_or(at.date_naive()), hour: t.hour() }
    }

    /// `2026-12-05 08:34 CET`: minutes, the local zone's abbreviation (or offset) beside it.
    pub fn timestamp(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.0).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// `2026-12-05 08:34:05 CET`, for logs where seconds tell entries apart.
    pub fn timestamp_seconds(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.0).format("%Y-%m-%d %H:%M:%S %Z").to_string()
    }

    /// Every zone name offered to choose from (the tz database's canonical names).
    pub fn all() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|z| z.name())
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_reads_in_the_reader_s_zone_across_daylight_saving() -> Result<(), DomainError> {
        let berlin = TimeZone::parse("Europe/Berlin")?;
        // 1 July: CEST (UTC+2); 5 December: CET (UTC+1) (EU summer time, Directive 2000/84/EC).
        let summer = DateTime::parse_from_rfc3339("2026-07-01T10:00:00Z").map_err(|e| DomainError::new("t", e.to_string()))?.to_utc();
        let winter = DateTime::parse_from_rfc3339("2026-12-05T23:30:00Z").map_err(|e| DomainError::new("t", e.to_string()))?.to_utc();
        assert_eq!(berlin.timestamp(summer), "2026-07-01 12:00 CEST");
        assert_eq!(berlin.timestamp(winter), "2026-12-06 00:30 CET");
        assert_eq!(berlin.local(winter), Local { date: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap_or_default(), hour: 0 });
        assert_eq!(TimeZone::default().timestamp(winter), "2026-12-05 23:30 UTC");
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse("").is_err());
        let long = "Europe/".repeat(10_000);
        assert!(TimeZone::parse(&long).is_err_and(|e| e.message.len() < 200), "the message does not echo a huge input");
        Ok(())
    }
}

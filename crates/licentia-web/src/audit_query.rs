//! The audit log's search parameters, shared by the auditor pages and the API.

use chrono::{DateTime, NaiveDate, Utc};
use licentia_db::audit::AuditFilter;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// Query-string form of a search. Everything optional; bad values are a 422 naming the field.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// A user id, or the e-mail address recorded for the actor.
    pub actor: Option<String>,
    pub organisation: Option<String>,
    /// A prefix of the action name: `auth.` matches every authentication event.
    pub action: Option<String>,
    /// A target id, or a target kind (`user`, `session`, ...).
    pub target: Option<String>,
    pub outcome: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339; `from` inclusive, `to` exclusive (a date means the whole day).
    pub from: Option<String>,
    pub to: Option<String>,
    /// Keyset cursor: entries with a smaller sequence number.
    pub before: Option<i64>,
    /// Keyset cursor the other way: the page of entries just above this sequence number.
    pub after: Option<i64>,
    pub limit: Option<i64>,
    /// `csv` or `jsonl` for exports.
    pub format: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn bad(field: &str, message: &str) -> AppError {
    AppError::Validation { field: field.into(), message: message.into() }
}

fn parse_time(field: &str, raw: &str, end_of_day: bool) -> AppResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad(field, "must be YYYY-MM-DD or an RFC 3339 time"))?;
    let d = if end_of_day { d.succ_opt().ok_or_else(|| bad(field, "out of range"))? } else { d };
    Ok(d.and_hms_opt(0, 0, 0).ok_or_else(|| bad(field, "out of range"))?.and_utc())
}

impl AuditQuery {
    pub fn limit(&self) -> AppResult<i64> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=500).contains(&n) => Ok(n),
            Some(_) => Err(bad("limit", "must be between 1 and 500")),
        }
    }

    pub fn filter(&self) -> AppResult<AuditFilter> {
        // PostgreSQL text cannot hold NUL: a `%00` must be a 422, not a database error.
        for (field, v) in
            [("actor", &self.actor), ("organisation", &self.organisation), ("action", &self.action), ("target", &self.target), ("outcome", &self.outcome)]
        {
            if v.as_deref().is_some_and(|s| s.chars().any(char::is_control)) {
                return Err(bad(field, "must not contain control characters"));
            }
        }
        let mut f = AuditFilter::default();
        if let Some(actor) = non_empty(&self.actor) {
            match uuid::Uuid::parse_str(actor) {
                Ok(id) => f.actor_id = Some(id),
                Err(_) => f.actor_label = Some(actor.to_lowercase()),
            }
        }
        if let Some(org) = non_empty(&self.organisation) {
            f.organisation_id = Some(uuid::Uuid::parse_str(org).map_err(|_| bad("organisation", "must be an organisation id"))?);
        }
        if let Some(action) = non_empty(&self.action) {
            if action.len() > 100 {
                return Err(bad("action", "too long"));
            }
            f.action = Some(action.to_owned());
        }
        if let Some(target) = non_empty(&self.target) {
            f.target = Some(target.chars().take(200).collect());
        }
        if let Some(outcome) = non_empty(&self.outcome) {
            if !["success", "denied", "failure"].contains(&outcome) {
                return Err(bad("outcome", "must be success, denied or failure"));
            }
            f.outcome = Some(outcome.to_owned());
        }
        if let Some(from) = non_empty(&self.from) {
            f.from = Some(parse_time("from", from, false)?);
        }
        if let Some(to) = non_empty(&self.to) {
            f.to = Some(parse_time("to", to, true)?);
        }
        if let (Some(from), Some(to)) = (f.from, f.to)
            && from >= to
        {
            return Err(bad("to", "is before from: the range holds nothing; swap the dates"));
        }
        if let Some(before) = self.before {
            if before < 1 {
                return Err(bad("before", "must be positive"));
            }
            f.before = Some(before);
        }
        if let Some(after) = self.after {
            if after < 0 || self.before.is_some() {
                return Err(bad("after", "must be a sequence number, without before"));
            }
            f.after = Some(after);
        }
        Ok(f)
    }

    /// The same search as a query string, with a new cursor (for "older" links).
    pub fn with_before(&self, before: i64) -> String {
        let mut q = self.clone();
        q.before = Some(before);
        q.after = None;
        q.format = None;
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }

    /// The same search, the page of entries newer than `after` (for "newer" links).
    pub fn with_after(&self, after: i64) -> String {
        let mut q = self.clone();
        q.after = Some(after);
        q.before = None;
        q.format = None;
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }

    pub fn as_query(&self) -> String {
        let mut q = self.clone();
        q.before = None;
        q.after = None;
        q.format = None;
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }
}

/// A cell a spreadsheet will not run as a formula (`=cmd|...`): a leading quote defuses it.
pub fn defuse_formula(s: &str) -> String {
    crate::csv_export::defuse(s).into_owned()
}

/// Guards CSV consumers against formula injection, and quotes.
pub fn csv_field(s: &str) -> String {
    let s = defuse_formula(s);
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }

    #[test]
    fn dates_become_whole_day_ranges_and_bad_values_name_their_field() -> AppResult<()> {
        let q = AuditQuery { from: Some("2026-11-01".into()), to: Some("2026-11-01".into()), ..Default::default() };
        let f = q.filter()?;
        assert_eq!(f.to.zip(f.from).map(|(t, f)| (t - f).num_hours()), Some(24));
        let bad = AuditQuery { outcome: Some("maybe".into()), ..Default::default() };
        assert!(matches!(bad.filter(), Err(AppError::Validation { field, .. }) if field == "outcome"));
        let bad = AuditQuery { limit: Some(10_000), ..Default::default() };
        assert!(bad.limit().is_err());
        Ok(())
    }
}

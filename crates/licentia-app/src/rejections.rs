//! Unauthenticated failures (a bearer token that does not verify), counted per address. One
//! request with a junk token used to write one audit row: a thousand rows in two seconds without
//! logging in. Now the first rejection of an address in a window is recorded with its details,
//! the rest of the window are counted and recorded as one summary entry when the window ends (at
//! the address's next rejection, or when [`Rejections::flush`] runs), and an address beyond
//! `max_per_window` is answered 429 until its window ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use licentia_audit::{AuditEvent, Outcome};
use serde_json::json;

use crate::actor::Origin;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug)]
struct Window {
    started: Instant,
    count: u64,
    last_path: String,
}

/// Per-address windows, in memory (per node: an attacker spreading over nodes gets each node's
/// allowance, and each node's summary).
#[derive(Debug, Default)]
pub struct Rejections {
    windows: std::sync::Mutex<HashMap<String, Window>>,
}

/// What to do with one rejection.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The first in a new window: record it (and the summary of the window before, if any).
    Record { previous_repeats: u64 },
    /// Counted; nothing written now.
    Count,
    /// Over the limit: 429 for this long.
    Limit(Duration),
}

impl Rejections {
    fn step(&self, ip: &str, path: &str, now: Instant, window: Duration, max: u64) -> Step {
        let Ok(mut map) = self.windows.lock() else { return Step::Record { previous_repeats: 0 } };
        if map.len() > 10_000 {
            map.retain(|_, w| now.duration_since(w.started) < window);
        }
        match map.get_mut(ip) {
            Some(w) if now.duration_since(w.started) < window => {
                w.count += 1;
                w.last_path = path.to_owned();
                if w.count > max { Step::Limit(window.saturating_sub(now.duration_since(w.started)).max(Duration::from_secs(1))) } else { Step::Count }
            }
            previous => {
                let previous_repeats = previous.map_or(0, |w| w.count.saturating_sub(1));
                map.insert(ip.to_owned(), Window { started: now, count: 1, last_path: path.to_owned() });
                Step::Record { previous_repeats }
            }
        }
    }

    /// Records (or counts) one rejected token from `origin`; `Err(TooManyRequests)` when the
    /// address is over its allowance, else the caller answers 401 as before.
    pub async fn reject(&self, state: &AppState, origin: &Origin, path: &str) -> Result<(), AppError> {
        let ip = origin.ip.clone().unwrap_or_default();
        let (window, max) = (state.settings.rejection_window, state.settings.rejections_per_window);
        match self.step(&ip, path, Instant::now(), window, max) {
            Step::Record { previous_repeats } => {
                if previous_repeats > 0 {
                    summary(state, origin, previous_repeats, window).await;
                }
                let event = origin.stamp(AuditEvent::new("auth.token_rejected", Outcome::Denied)).details(json!({ "path": path }));
                let _ = state.audit_alone(event).await;
                Ok(())
            }
            Step::Count => Ok(()),
            Step::Limit(wait) => Err(AppError::TooManyRequests { retry_after_secs: i64::try_from(wait.as_secs()).unwrap_or(60).max(1) }),
        }
    }

    /// Writes the summaries of windows that have ended (the checkpoint timer calls this), so that
    /// an address that stopped still has its count in the log.
    pub async fn flush(&self, state: &AppState) {
        let window = state.settings.rejection_window;
        let now = Instant::now();
        let ended: Vec<(String, u64)> = match self.windows.lock() {
            Ok(mut map) => {
                let ended =
                    map.iter().filter(|(_, w)| now.duration_since(w.started) >= window).map(|(ip, w)| (ip.clone(), w.count.saturating_sub(1))).collect();
                map.retain(|_, w| now.duration_since(w.started) < window);
                ended
            }
            Err(_) => Vec::new(),
        };
        for (ip, repeats) in ended.into_iter().filter(|(_, r)| *r > 0) {
            summary(state, &Origin { ip: Some(ip), user_agent: None, request_id: None }, repeats, window).await;
        }
    }
}

async fn summary(state: &AppState, origin: &Origin, repeats: u64, window: Duration) {
    let event = origin
        .stamp(AuditEvent::new("auth.token_rejected", Outcome::Denied))
        .details(json!({ "repeated": repeats, "window_seconds": window.as_secs(), "summary": true }));
    let _ = state.audit_alone(event).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_per_window_then_a_count_then_a_limit() {
        let r = Rejections::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        assert_eq!(r.step("10.0.0.1", "/a", t0, w, 3), Step::Record { previous_repeats: 0 });
        assert_eq!(r.step("10.0.0.1", "/a", t0, w, 3), Step::Count);
        assert_eq!(r.step("10.0.0.1", "/a", t0, w, 3), Step::Count);
        assert!(matches!(r.step("10.0.0.1", "/a", t0 + Duration::from_secs(10), w, 3), Step::Limit(d) if d == Duration::from_secs(50)));
        assert_eq!(r.step("10.0.0.2", "/a", t0, w, 3), Step::Record { previous_repeats: 0 }, "another address has its own window");
        assert_eq!(r.step("10.0.0.1", "/a", t0 + w, w, 3), Step::Record { previous_repeats: 3 }, "the next window summarises the last");
    }
}

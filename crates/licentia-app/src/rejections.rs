//! Unauthenticated failures (a bearer token that does not verify), counted per address. One
//! request with a junk token used to write one audit row: a thousand rows in two seconds without
//! logging in. Now the first rejection of an address in a window is recorded with its details,
//! the rest of the window are counted and recorded as one summary entry when the window ends (at
//! the address's next rejection, or when [`crate::account::flush_rejections`] runs), and an
//! address beyond `max_per_window` is answered 429 until its window ends. This module only keeps
//! the count; writing the entries is the account use cases' (`crate::account::reject_token`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

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
pub enum Step {
    /// The first in a new window: record it (and the summary of the window before, if any).
    Record { previous_repeats: u64 },
    /// Counted; nothing written now.
    Count,
    /// Over the limit: 429 for this long.
    Limit(Duration),
}

impl Rejections {
    pub fn step(&self, ip: &str, path: &str, now: Instant, window: Duration, max: u64) -> Step {
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

    /// Takes the windows that have ended, with how many rejections each had after its first
    /// (the ones not yet written to the log).
    pub fn ended(&self, now: Instant, window: Duration) -> Vec<(String, u64)> {
        match self.windows.lock() {
            Ok(mut map) => {
                let ended =
                    map.iter().filter(|(_, w)| now.duration_since(w.started) >= window).map(|(ip, w)| (ip.clone(), w.count.saturating_sub(1))).collect();
                map.retain(|_, w| now.duration_since(w.started) < window);
                ended
            }
            Err(_) => Vec::new(),
        }
    }
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

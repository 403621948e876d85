//! A handful of counters in Prometheus text format. Deliberately small: the load benchmark and an
//! operator's dashboard need request counts by status class, login outcomes and audit appends.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests_2xx: AtomicU64,
    pub requests_3xx: AtomicU64,
    pub requests_4xx: AtomicU64,
    pub requests_5xx: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub logins_throttled: AtomicU64,
    pub audit_appends: AtomicU64,
}

impl Metrics {
    pub fn record_status(&self, status: u16) {
        let c = match status {
            200..=299 => &self.requests_2xx,
            300..=399 => &self.requests_3xx,
            400..=499 => &self.requests_4xx,
            _ => &self.requests_5xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters above plus the audit log's own: checkpoints refused for suspected tampering
    /// and failed witness writes.
    pub fn render_with(&self, audit: &licentia_audit::AuditLog) -> String {
        let mut out = self.render();
        let _ = writeln!(
            out,
            "# HELP licentia_audit_tamper_suspected_total Checkpoints this node refused to sign because the database did not extend what it had signed and witnessed."
        );
        let _ = writeln!(out, "# TYPE licentia_audit_tamper_suspected_total counter");
        let _ = writeln!(out, "licentia_audit_tamper_suspected_total {}", audit.refusals());
        let _ = writeln!(out, "# HELP licentia_audit_witness_failures_total Failed writes to this node's audit witness file.");
        let _ = writeln!(out, "# TYPE licentia_audit_witness_failures_total counter");
        let _ = writeln!(out, "licentia_audit_witness_failures_total {}", audit.witness().failures());
        out
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP licentia_http_requests_total HTTP responses by status class.");
        let _ = writeln!(out, "# TYPE licentia_http_requests_total counter");
        for (class, c) in [("2xx", &self.requests_2xx), ("3xx", &self.requests_3xx), ("4xx", &self.requests_4xx), ("5xx", &self.requests_5xx)] {
            let _ = writeln!(out, "licentia_http_requests_total{{class=\"{class}\"}} {}", c.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP licentia_logins_total Login attempts by outcome.");
        let _ = writeln!(out, "# TYPE licentia_logins_total counter");
        for (outcome, c) in [("success", &self.logins_ok), ("failure", &self.logins_failed), ("throttled", &self.logins_throttled)] {
            let _ = writeln!(out, "licentia_logins_total{{outcome=\"{outcome}\"}} {}", c.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP licentia_audit_appends_total Audit entries committed by this node.");
        let _ = writeln!(out, "# TYPE licentia_audit_appends_total counter");
        let _ = writeln!(out, "licentia_audit_appends_total {}", self.audit_appends.load(Ordering::Relaxed));
        out
    }
}

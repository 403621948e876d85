//! Sends the outbox over SMTP (`lettre`), from the worker, never from a request: a slow or absent
//! mail server delays mail, not pages. Delivery is at least once: a message the server accepted
//! is marked sent in the same transaction that locked it, so only a crash between the server's
//! "250 OK" and that commit sends it twice. A refused or failed attempt is retried with
//! exponential backoff (1 min, 2, 4, ... capped at 6 h); after [`MAX_ATTEMPTS`] it stays in the
//! outbox with its last error and is not tried again.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use licentia_db::mail as db;
use tokio::sync::watch;

use crate::error::AppResult;
use crate::state::AppState;

/// Attempts before a message is given up (its row keeps the last error).
pub const MAX_ATTEMPTS: i32 = 12;
/// Messages sent per transaction.
const BATCH: i64 = 20;

/// Where mail goes: `LICENTIA_SMTP_URL` (`smtp://host:25`, `smtp://user:pass@host:587?tls=required`
/// for STARTTLS, `smtps://host:465`) and the sender `LICENTIA_MAIL_FROM`.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub smtp_url: String,
    pub from: String,
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(cfg: &MailConfig) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.smtp_url)
            .map_err(|e| format!("LICENTIA_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = cfg.from.parse::<Mailbox>().map_err(|e| format!("LICENTIA_MAIL_FROM {:?}: {e}", cfg.from))?;
        Ok(Self { transport, from })
    }

    async fn send(&self, m: &db::Mail) -> Result<(), String> {
        let to = m.recipient.parse::<Mailbox>().map_err(|e| format!("recipient {:?}: {e}", m.recipient))?;
        // Titles are single-line already; a control character would still end a header.
        let subject: String = m.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let message = Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.clone())
            .map_err(|e| e.to_string())?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Seconds until the next try after `attempts` failed ones.
pub fn backoff_seconds(attempts: i32) -> i64 {
    let doubling = attempts.clamp(0, 20) as u32;
    (60_i64 << doubling).min(6 * 3600)
}

/// Sends what is due, a batch per transaction; returns how many were sent.
pub async fn send_due(state: &AppState, mailer: &Mailer) -> AppResult<usize> {
    let mut sent = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let due = db::claim_due(&mut tx, BATCH).await?;
        if due.is_empty() {
            return Ok(sent);
        }
        let n = due.len();
        for m in &due {
            match mailer.send(m).await {
                Ok(()) => {
                    db::mark_sent(&mut tx, m.id).await?;
                    sent += 1;
                }
                Err(e) => {
                    tracing::warn!(mail = %m.id, attempts = m.attempts + 1, error = %e, "sending mail failed");
                    let retry = if m.attempts + 1 >= MAX_ATTEMPTS { 100 * 365 * 86_400 } else { backoff_seconds(m.attempts) };
                    db::mark_failed(&mut tx, m.id, &e.chars().take(500).collect::<String>(), retry).await?;
                }
            }
        }
        tx.commit().await.map_err(licentia_db::DbError::from)?;
        if (n as i64) < BATCH {
            return Ok(sent);
        }
    }
}

/// The mail loop beside the training workers: digests once a minute, the outbox whenever a change
/// queued something (`AppState::mail_queued`) or every `poll`.
pub async fn serve(state: AppState, mailer: Mailer, poll: Duration, mut stop: watch::Receiver<bool>) {
    let mut last_digest = None::<tokio::time::Instant>;
    loop {
        if *stop.borrow() {
            break;
        }
        if last_digest.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            last_digest = Some(tokio::time::Instant::now());
            if let Err(e) = crate::notify::queue_digests(&state, chrono::Utc::now()).await {
                tracing::warn!(error = %e, "composing digests failed");
            }
        }
        if let Err(e) = send_due(&state, &mailer).await {
            tracing::warn!(error = %e, "sending mail failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = state.mail_queued.notified() => {}
            _ = stop.changed() => {}
        }
    }
}

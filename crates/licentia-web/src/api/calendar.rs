//! The per-user iCalendar feed of upcoming deadlines: `GET /deadlines.ics?token=...`, where the
//! token is a 256-bit secret shown once (`POST /api/v1/me/calendar-token`) and stored as SHA-256.
//! Calendar clients cannot log in, so the token is the credential; a wrong one is a plain 404.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use licentia_audit::Outcome;
use licentia_domain::SessionId;
use serde::Deserialize;
use serde_json::json;

use crate::api::assets::upcoming;
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::state::AppState;

fn digest(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().to_vec()
}

pub async fn new_token(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<HttpResponse> {
    let token = licentia_app::account::new_calendar_token(&state, &user.actor_in(&ctx)).await?;
    Ok(HttpResponse::Created().json(CalendarToken { path: format!("/deadlines.ics?token={token}"), token }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    token: Option<String>,
}

/// RFC 5545 TEXT escaping.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace(';', "\\;").replace(',', "\\,").replace(['\r', '\n'], "\\n")
}

/// Folds a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
    out
}

pub async fn feed(state: web::Data<AppState>, ctx: RequestContext, q: web::Query<FeedQuery>) -> Reply<HttpResponse> {
    let token = q.token.as_deref().filter(|t| !t.is_empty() && t.len() <= 128).ok_or(AppError::NotFound)?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let Some(c) = licentia_db::deadlines::calendar_user(&mut conn, &digest(token)).await? else {
        return Err(AppError::NotFound.into());
    };
    drop(conn);
    let user = CurrentUser {
        id: c.id,
        organisation_id: c.organisation_id,
        role: c.role,
        email: String::new(),
        display_name: String::new(),
        // The feed's times are all-day dates: no zone applies.
        time_zone: Default::default(),
        session_id: SessionId::new(),
        via_cookie: false,
    };
    let items = upcoming(&state, &user, 400).await?;
    state.audit_alone(user.event(&ctx, "calendar.fetched", Outcome::Success).details(json!({ "events": items.len() }))).await?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut ics = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Licentia//Deadlines//EN\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:Licentia deadlines\r\n",
    );
    for u in &items {
        let d = &u.deadline;
        let end = d.due.succ_opt().unwrap_or(d.due);
        ics.push_str("BEGIN:VEVENT\r\n");
        ics.push_str(&fold(&format!("UID:{}-{}-{}@licentia", u.asset_id, d.rule, d.ordinal)));
        ics.push_str(&format!("DTSTAMP:{stamp}\r\n"));
        ics.push_str(&format!("DTSTART;VALUE=DATE:{}\r\n", d.due.format("%Y%m%d")));
        ics.push_str(&format!("DTEND;VALUE=DATE:{}\r\n", end.format("%Y%m%d")));
        ics.push_str(&fold(&format!("SUMMARY:{}", escape(&format!("{} — {}", d.title, u.asset_title)))));
        let grace = d.grace_ends.map(|g| format!(" Grace period ends {g}.")).unwrap_or_default();
        let last = if d.last_day != d.due { format!(" The office is closed on the due date: last day {}.", d.last_day) } else { String::new() };
        // Where to act: the deadline's office (a validated European patent's national office), else the asset's.
        let office = if d.office.is_empty() { u.jurisdiction.clone().unwrap_or_default() } else { d.office.clone() };
        ics.push_str(&fold(&format!("DESCRIPTION:{}", escape(&format!("{office}{last}{grace} Source: {}.", d.source)))));
        ics.push_str("END:VEVENT\r\n");
    }
    ics.push_str("END:VCALENDAR\r\n");
    Ok(HttpResponse::Ok().content_type("text/calendar; charset=utf-8").insert_header(("Cache-Control", "private, no-store")).body(ics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_long_lines_folded() {
        assert_eq!(escape("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
        let folded = fold(&format!("SUMMARY:{}", "é".repeat(60)));
        assert!(folded.split("\r\n").all(|l| l.len() <= 75), "{folded:?}");
        assert!(folded.contains("\r\n "));
    }
}

/// A calendar subscription: the token is the credential, so keep the address private.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CalendarToken {
    pub token: String,
    /// The feed's path, to append to the server's address.
    pub path: String,
}

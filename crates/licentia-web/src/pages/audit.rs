//! Auditor pages: search with filters and keyset pagination, one entry, verification.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use licentia_audit::VerifyReport;
use licentia_db::audit::AuditRow;

use crate::api::audit::{entry as read_entry, run_verify, search};
use crate::audit_query::AuditQuery;
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::Reply;
use crate::pages::Nav;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "audit/list.html")]
pub struct AuditListPage {
    nav: Nav,
    q: AuditQuery,
    rows: Vec<AuditRow>,
    older: Option<String>,
    export_query: String,
    /// This node's open suspicion of tampering (its checkpointer refuses to sign).
    suspicion: Option<licentia_audit::Problem>,
}

impl AuditListPage {
    fn field<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<AuditQuery>) -> Reply<AuditListPage> {
    let q = q.into_inner();
    let (rows, next) = search(&state, &ctx, &user, &q).await?;
    let suspicion = state.audit_log.suspicion(&state.db).await.map_err(licentia_app::AppError::from)?;
    Ok(AuditListPage { nav: Nav::for_user(&state, &user, "/audit"), older: next.map(|n| q.with_before(n)), export_query: q.as_query(), q, rows, suspicion })
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/entry.html")]
pub struct AuditEntryPage {
    nav: Nav,
    row: AuditRow,
    canonical: String,
    details: String,
}

pub async fn entry(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, seq: web::Path<i64>) -> Reply<AuditEntryPage> {
    let row = read_entry(&state, &ctx, &user, *seq).await?;
    Ok(AuditEntryPage {
        nav: Nav::for_user(&state, &user, "/audit"),
        canonical: String::from_utf8_lossy(&row.canonical).into_owned(),
        details: serde_json::to_string_pretty(&row.details).unwrap_or_default(),
        row,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/verify.html")]
pub struct VerifyPage {
    nav: Nav,
    report: VerifyReport,
}

pub async fn verify(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<VerifyPage> {
    let report = run_verify(&state, &ctx, &user).await?;
    Ok(VerifyPage { nav: Nav::for_user(&state, &user, "/audit"), report })
}

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
    newer: Option<String>,
    total: i64,
    total_exact: bool,
    /// The organisations to filter by, as (id, name).
    organisations: Vec<(String, String)>,
    export_query: String,
    /// This node's open suspicion of tampering (its checkpointer refuses to sign).
    suspicion: Option<licentia_audit::Problem>,
}

impl AuditListPage {
    fn field<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }

    /// Where an entry's target is shown, for the kinds that have a page.
    fn target_href(&self, r: &AuditRow) -> Option<String> {
        let id = r.target_id.as_deref()?;
        uuid::Uuid::parse_str(id).ok()?;
        let base = match r.target_kind.as_deref()? {
            "asset" => "/assets",
            "agreement" => "/agreements",
            "run" => "/runs",
            "organisation" => "/organisations",
            _ => return None,
        };
        Some(format!("{base}/{id}"))
    }

    fn organisation_name(&self, id: &Option<uuid::Uuid>) -> String {
        let Some(id) = id else { return String::new() };
        let id = id.to_string();
        self.organisations.iter().find(|(o, _)| *o == id).map(|(_, n)| n.clone()).unwrap_or_default()
    }
}

pub async fn list(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<AuditQuery>) -> Reply<AuditListPage> {
    let q = q.into_inner();
    let page = search(&state, &ctx, &user, &q).await?;
    let suspicion = state.audit_log.suspicion(&state.db).await.map_err(licentia_app::AppError::from)?;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let organisations = licentia_db::organisations::list_scoped(&mut conn, user.scope()).await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect();
    drop(conn);
    Ok(AuditListPage {
        nav: Nav::for_user(&state, &user, "/audit"),
        older: page.older.map(|n| q.with_before(n)),
        newer: page.newer.map(|n| q.with_after(n)),
        total: page.total,
        total_exact: page.total_exact,
        organisations,
        export_query: q.as_query(),
        q,
        rows: page.rows,
        suspicion,
    })
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

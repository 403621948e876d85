//! One organisation's page, with its attachments (the reusable partial).

use actix_web::{HttpRequest, web};
use askama::Template;
use askama_web::WebTemplate;
use licentia_db::artifacts::Artifact;
use licentia_db::organisations::Organisation;
use licentia_domain::{OrganisationId, Permission};

use crate::auth::CurrentUser;
use crate::auth::not_found;
use crate::context::RequestContext;
use crate::error::Reply;
use crate::pages::{Nav, flash_from};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "organisations/show.html")]
pub struct OrganisationPage {
    nav: Nav,
    org: Organisation,
    flash: Option<(bool, String)>,
    attachments: Vec<Artifact>,
    can_upload: bool,
    attach_kind: &'static str,
    attach_id: String,
    return_to: String,
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<OrganisationId>,
    req: HttpRequest,
) -> Reply<OrganisationPage> {
    let oid = *id;
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let org = match licentia_db::organisations::get_scoped(&mut conn, oid, user.scope()).await {
        Ok(o) => o,
        Err(licentia_db::DbError::NotFound) => return Err(not_found(&state, &ctx, &user, "organisation", &id.to_string()).await.into()),
        Err(e) => return Err(e.into()),
    };
    let attachments = licentia_db::artifacts::list_scoped(&mut conn, user.scope(), Some(("organisation", org.id.as_uuid())), 200).await?;
    state.audit_alone(user.event(&ctx, "org.read", licentia_audit::Outcome::Success).target("organisation", org.id)).await?;
    Ok(OrganisationPage {
        nav: Nav::for_user(&state, &user, "/admin/organisations"),
        flash: flash_from(req.query_string()),
        attachments,
        can_upload: user.role.allows(Permission::ArtifactUpload),
        attach_kind: "organisation",
        attach_id: org.id.to_string(),
        return_to: format!("/organisations/{}", org.id),
        org,
    })
}

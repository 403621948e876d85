//! What waits for a person, for the home page's inbox and the daily e-mail digest: versions to
//! approve (never one's own: four eyes), versions to accept or countersign, a licensee's reports
//! and payments due, and runs that finished or failed lately. Each item says where it is acted
//! on. (A manager's deadlines come from the docket, which the page adds: overdue first, then the
//! next 30 days.)

use chrono::{Duration, Utc};
use licentia_db::agreements as adb;
use licentia_domain::agreement::Status;
use licentia_domain::{Permission, RunStatus};
use serde::Serialize;

use crate::error::AppResult;
use crate::state::AppState;
use crate::{Actor, policy};

/// Which list an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// A version in review that this person may approve.
    Approval,
    /// An approved version that this person's side has not accepted yet.
    Acceptance,
    /// A report or payment a licensee owes under an executed agreement: due in the next 30 days
    /// or in the last 7 (managers see these with every other deadline on their docket).
    Obligation,
    /// A run of this person's organisation that ended in the last fortnight.
    Run,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Item {
    pub section: Section,
    pub title: String,
    pub detail: String,
    /// Where it is acted on.
    pub href: String,
    /// Needs attention first (a failed run).
    pub urgent: bool,
}

/// How long a licensee's past obligation stays in the inbox (whether it was met is the
/// statement's business: the licensor's docket keeps it).
const OBLIGATION_PAST_DAYS: i64 = 7;

/// How far back finished runs are listed.
const RECENT_RUNS_DAYS: i64 = 14;

pub async fn items(state: &AppState, actor: &Actor) -> AppResult<Vec<Item>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut out = Vec::new();
    if actor.role.allows(Permission::AgreementRead) {
        for a in adb::list(&mut conn, policy::agreement_scope(actor), None, 1000).await? {
            let ours = if actor.organisation_id == a.licensor_id {
                "licensor"
            } else if actor.organisation_id == a.licensee_id {
                "licensee"
            } else {
                continue;
            };
            match a.status {
                Status::InReview if ours == "licensor" && actor.role.allows(Permission::AgreementApprove) => {
                    let v = adb::version(&mut conn, a.id, a.current_version, None).await?;
                    if v.author_id != actor.user_id {
                        out.push(Item {
                            section: Section::Approval,
                            title: a.title.clone(),
                            detail: format!("version {} by {} waits for a second manager's approval", v.number, v.author_name),
                            href: format!("/agreements/{}", a.id),
                            urgent: false,
                        });
                    }
                }
                Status::Approved if actor.role.allows(Permission::AgreementAccept) => {
                    let Some(version) = a.approved_version else { continue };
                    let accepted = adb::acceptances(&mut conn, a.id).await?.iter().any(|x| x.party == ours && x.version == version);
                    if !accepted {
                        let other = if ours == "licensor" { &a.licensee_name } else { &a.licensor_name };
                        out.push(Item {
                            section: Section::Acceptance,
                            title: a.title.clone(),
                            detail: format!(
                                "version {version} is approved and waits for your side's acceptance (it binds you and {other} once both have accepted)"
                            ),
                            href: format!("/agreements/{}", a.id),
                            urgent: false,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    if actor.role == licentia_domain::Role::Licensee {
        let today = Utc::now().date_naive();
        for o in crate::docket::obligations_between(state, actor, today - Duration::days(OBLIGATION_PAST_DAYS), today + Duration::days(30)).await? {
            let overdue = o.deadline.due < today;
            out.push(Item {
                section: Section::Obligation,
                title: o.deadline.title.clone(),
                detail: format!("{} {} under {}", if overdue { "was due" } else { "due" }, o.deadline.due, o.asset_title),
                href: o.href.clone(),
                urgent: overdue,
            });
        }
    }
    if actor.role.allows(Permission::RunRead) && actor.role.allows(Permission::RunLaunch) {
        let since = Utc::now() - Duration::days(RECENT_RUNS_DAYS);
        for r in licentia_db::training::runs(&mut conn, Some(actor.organisation_id)).await? {
            let ended = r.finished_at.filter(|t| *t >= since);
            let (Some(ended), true) = (ended, matches!(r.status, RunStatus::Succeeded | RunStatus::Failed)) else { continue };
            let name = r.name.clone().unwrap_or_else(|| format!("Run {}", r.seq));
            out.push(Item {
                section: Section::Run,
                title: name,
                detail: match r.status {
                    RunStatus::Failed => format!("failed {}: {}", ended.format("%Y-%m-%d %H:%M UTC"), r.error.as_deref().unwrap_or("no reason recorded")),
                    _ => format!("succeeded {} after {} epoch(s)", ended.format("%Y-%m-%d %H:%M UTC"), r.epochs_done),
                },
                href: format!("/runs/{}", r.id),
                urgent: r.status == RunStatus::Failed,
            });
        }
    }
    out.sort_by_key(|i| (i.section as u8, !i.urgent));
    Ok(out)
}

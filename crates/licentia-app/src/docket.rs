//! The docket across a registry: every deadline (rule-driven, manual, and the obligations of
//! executed agreements) that touches a period, with its marks and standing, as a person may see
//! it. The deadline pages, the calendar feed, the home page and the daily e-mail digest all list
//! through here, so they agree on what is overdue.

use chrono::{NaiveDate, Utc};
use licentia_db::assets::{self, AssetFilter, Cursor};
use licentia_domain::ip::deadlines::{self, Deadline};
use serde::Serialize;
use uuid::Uuid;

use crate::Actor;
use crate::assets::deadlines_of;
use crate::error::AppResult;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UpcomingDeadline {
    /// The asset, or for an agreement's obligation the agreement.
    pub asset_id: Uuid,
    /// Where the deadline's page is (`/assets/..` or `/agreements/..`).
    pub href: String,
    pub asset_title: String,
    pub jurisdiction: Option<String>,
    #[serde(flatten)]
    pub deadline: Deadline,
    /// `done`, `waived` or `missed`; `None` while open.
    pub state: Option<String>,
    /// Open, in grace, overdue, or as marked (`licentia_domain::ip::deadlines::standing`).
    pub standing: deadlines::Standing,
    /// From when the registry is answerable for it: the day the asset was entered (rule deadlines
    /// due before then predate the docket), the execution (obligations), or ever (manual ones).
    #[serde(skip)]
    pub tracked_from: NaiveDate,
}

impl UpcomingDeadline {
    pub fn standing_label(&self) -> &'static str {
        self.standing.label()
    }
}

/// Every deadline (rule-driven and manual) whose due date or grace period touches `from..=to`,
/// across the caller's registry, with marks.
pub async fn deadlines_between(state: &AppState, actor: &Actor, from: NaiveDate, to: NaiveDate) -> AppResult<Vec<UpcomingDeadline>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut out = Vec::new();
    let mut filter = AssetFilter::default();
    loop {
        let rows = assets::list(&mut conn, &filter, crate::policy::asset_scope(actor), 1000).await?;
        let Some(last) = rows.last() else { break };
        filter.after = Some(Cursor::after(filter.sort, last));
        for row in &rows {
            for v in deadlines_of(&mut conn, row, actor).await.unwrap_or_default() {
                let d = v.deadline;
                let effective_end = d.grace_ends.unwrap_or(d.due);
                if effective_end >= from && d.due <= to {
                    out.push(UpcomingDeadline {
                        asset_id: row.id.into(),
                        href: format!("/assets/{}", row.id),
                        asset_title: row.title.clone(),
                        jurisdiction: row.jurisdiction.clone(),
                        tracked_from: if d.rule == deadlines::MANUAL { NaiveDate::MIN } else { row.created_at.date_naive() },
                        deadline: d,
                        state: v.state,
                        standing: v.standing,
                    });
                }
            }
        }
        if rows.len() < 1000 {
            break;
        }
    }
    out.extend(obligations_in(&mut conn, actor, from, to).await?);
    out.sort_by_key(|u| (u.deadline.due, u.asset_id));
    Ok(out)
}

/// The obligations (upfront fee, milestones, royalty reports with payment) of the executed
/// agreements `actor` may see that fall due in `from..=to`: both parties' (a licensee, its own).
pub async fn obligations_between(state: &AppState, actor: &Actor, from: NaiveDate, to: NaiveDate) -> AppResult<Vec<UpcomingDeadline>> {
    let mut conn = state.db.pool.acquire().await.map_err(licentia_db::DbError::from)?;
    let mut out = obligations_in(&mut conn, actor, from, to).await?;
    out.sort_by_key(|u| (u.deadline.due, u.asset_id));
    Ok(out)
}

async fn obligations_in(conn: &mut licentia_db::PgConnection, actor: &Actor, from: NaiveDate, to: NaiveDate) -> AppResult<Vec<UpcomingDeadline>> {
    let mut out = Vec::new();
    let agreements = licentia_db::agreements::list(&mut *conn, crate::policy::agreement_scope(actor), None, 500).await?;
    // An export permit's last day of validity is a deadline: after it the transfer it covers needs
    // a new one (the approval check no longer counts it).
    let ids: Vec<_> = agreements
        .iter()
        .filter(|a| !matches!(a.status, licentia_domain::agreement::Status::Terminated | licentia_domain::agreement::Status::Expired))
        .map(|a| a.id)
        .collect();
    for p in licentia_db::export::permits(&mut *conn, &ids).await? {
        let due = p.permit.valid_until;
        if due < from || due > to {
            continue;
        }
        let Some(a) = agreements.iter().find(|a| a.id == p.agreement_id) else { continue };
        let deadline = Deadline {
            rule: "export-permit-expiry",
            office: String::new(),
            ordinal: 0,
            title: format!(
                "Export permit {} ({}) expires: renew it or stop the transfer to {}",
                p.permit.reference,
                p.permit.authority,
                p.permit.countries.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            due,
            last_day: due,
            opens: None,
            grace_ends: None,
            grace_last_day: None,
            surcharge: deadlines::Surcharge::None,
            source: "the permit's own term of validity",
        };
        let standing = deadlines::standing(&deadline, None, Utc::now().date_naive());
        out.push(UpcomingDeadline {
            asset_id: a.id.into(),
            href: format!("/agreements/{}", a.id),
            asset_title: a.title.clone(),
            jurisdiction: None,
            deadline,
            state: None,
            standing,
            tracked_from: p.created_at.date_naive(),
        });
    }
    for a in agreements {
        let (Some(n), Some(executed_at)) = (a.executed_version, a.executed_at) else { continue };
        if matches!(a.status, licentia_domain::agreement::Status::Terminated | licentia_domain::agreement::Status::Expired) {
            continue;
        }
        let v = licentia_db::agreements::version(&mut *conn, a.id, n, None).await?;
        let Ok(terms) = serde_json::from_value::<licentia_domain::agreement::Terms>(v.terms) else { continue };
        for o in licentia_domain::agreement::obligations(&terms, executed_at.date_naive()) {
            if o.due >= from && o.due <= to {
                let deadline = Deadline {
                    rule: match o.kind {
                        "upfront" => "obligation-upfront",
                        "milestone" => "obligation-milestone",
                        _ => "obligation-report",
                    },
                    office: String::new(),
                    ordinal: o.ordinal,
                    title: o.title,
                    due: o.due,
                    last_day: o.due,
                    opens: None,
                    grace_ends: None,
                    grace_last_day: None,
                    surcharge: deadlines::Surcharge::None,
                    source: "agreement terms",
                };
                let standing = deadlines::standing(&deadline, None, Utc::now().date_naive());
                out.push(UpcomingDeadline {
                    asset_id: a.id.into(),
                    href: format!("/agreements/{}", a.id),
                    asset_title: a.title.clone(),
                    jurisdiction: None,
                    deadline,
                    state: None,
                    standing,
                    tracked_from: executed_at.date_naive(),
                });
            }
        }
    }
    Ok(out)
}

/// How far back an unmarked deadline is still listed as overdue.
const OVERDUE_LOOKBACK_DAYS: i64 = 2 * 366;

/// What waits for someone: every overdue deadline first (past its last day and any grace period,
/// nobody marked it; until it is marked, up to two years back, and only since the registry tracks
/// it), then the open ones and those in their grace period up to `days` from now. Marked ones
/// (done, waived, missed) leave the list.
pub async fn upcoming(state: &AppState, actor: &Actor, days: i64) -> AppResult<Vec<UpcomingDeadline>> {
    let today = Utc::now().date_naive();
    let mut all = deadlines_between(state, actor, today - chrono::Duration::days(OVERDUE_LOOKBACK_DAYS), today + chrono::Duration::days(days)).await?;
    all.retain(|u| u.standing.is_pending() && (u.standing != deadlines::Standing::Overdue || u.deadline.due >= u.tracked_from));
    // Overdue first; stable, so each group keeps its date order.
    all.sort_by_key(|u| u.standing != deadlines::Standing::Overdue);
    Ok(all)
}

//! The portfolio dashboard (counts, upcoming deadlines, the ten-year cost chart), a family's
//! tree and coverage, the deadline calendar, and the manual deadline form.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::{Datelike as _, Duration, NaiveDate, Utc};
use licentia_domain::AssetId;
use licentia_domain::Permission;
use licentia_domain::ip::deadlines::Standing;
use serde::Deserialize;

use crate::api::assets::{ManualInput, UpcomingDeadline, deadlines_between, insert_manual, load_for_page, upcoming};
use crate::api::portfolio::{self, Counts, Family, Forecast};
use crate::auth::CurrentUser;
use crate::context::RequestContext;
use crate::error::{AppError, Reply};
use crate::pages::{Nav, back, flash_from};
use crate::state::AppState;

/// One bar of a server-rendered SVG chart (coordinates in the chart's viewBox).
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub label: String,
    pub value: String,
    /// The value above the bar, short (`12.3k`).
    pub short: String,
}

/// A bar chart of one currency's fees per year. Currencies are never added together: the offices
/// bill in their own, and a conversion rate would be a guess.
pub struct CostPanel {
    pub currency: String,
    pub max: String,
    pub total: String,
    pub bars: Vec<Bar>,
}

pub const CHART_HEIGHT: i64 = 160;
const CHART_LEFT: i64 = 8;
const BAR_SLOT: i64 = 56;

pub use licentia_domain::agreement::money;

pub fn cost_panels(f: &Forecast) -> Vec<CostPanel> {
    let first = f.from.year();
    let years: Vec<i32> = (first..first + f.years as i32).collect();
    f.total
        .iter()
        .map(|(currency, total)| {
            let values: Vec<i64> = years.iter().map(|y| f.by_year.get(y).and_then(|a| a.get(currency)).copied().unwrap_or(0)).collect();
            let max = values.iter().copied().max().unwrap_or(0).max(1);
            let bars = years
                .iter()
                .zip(&values)
                .enumerate()
                .map(|(i, (year, v))| {
                    let height = v * CHART_HEIGHT / max;
                    Bar {
                        x: CHART_LEFT + i as i64 * BAR_SLOT,
                        y: CHART_HEIGHT - height,
                        width: BAR_SLOT - 12,
                        height,
                        label: year.to_string(),
                        value: money(currency, *v),
                        short: if *v > 0 { licentia_domain::agreement::compact_money(currency, *v) } else { String::new() },
                    }
                })
                .collect();
            CostPanel { currency: (*currency).to_owned(), max: money(currency, max), total: money(currency, *total), bars }
        })
        .collect()
}

/// A dimension's counts with bar widths in percent of the largest.
pub struct CountBar {
    pub key: String,
    pub count: i64,
    pub percent: i64,
}

fn count_bars(items: &[(String, i64)]) -> Vec<CountBar> {
    let max = items.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    items.iter().map(|(k, n)| CountBar { key: k.clone(), count: *n, percent: n * 100 / max }).collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolio/dashboard.html")]
pub struct DashboardPage {
    nav: Nav,
    total: i64,
    sections: Vec<(&'static str, Vec<CountBar>)>,
    deadlines: Vec<UpcomingDeadline>,
    overdue: usize,
    panels: Option<Vec<CostPanel>>,
    chart_width: i64,
    chart_height: i64,
}

pub async fn dashboard(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser) -> Reply<DashboardPage> {
    let Counts { total, kind, status, jurisdiction } = portfolio::counts(&state, &user).await?;
    let mut deadlines = upcoming(&state, &user, 90).await?;
    let overdue = deadlines.iter().filter(|u| u.standing == Standing::Overdue).count();
    // Every overdue one is shown; then the next few.
    deadlines.truncate(overdue.max(15));
    // Costs are licensor-internal: the chart is built only for roles that may read them.
    let panels = if user.role.allows(Permission::CostRead) { Some(cost_panels(&portfolio::forecast(&state, &user, 10, false, None).await?)) } else { None };
    state.audit_alone(user.event(&ctx, "portfolio.read", licentia_audit::Outcome::Success)).await?;
    Ok(DashboardPage {
        nav: Nav::for_user(&state, &user, "/portfolio"),
        total,
        sections: vec![("By kind", count_bars(&kind)), ("By status", count_bars(&status)), ("By jurisdiction", count_bars(&jurisdiction))],
        deadlines,
        overdue,
        panels,
        chart_width: CHART_LEFT + 10 * BAR_SLOT,
        chart_height: CHART_HEIGHT,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolio/family.html")]
pub struct FamilyPage {
    nav: Nav,
    family: Family,
    current: AssetId,
}

impl FamilyPage {
    /// The tree's indentation class (`depth-0` .. `depth-6`): classes, because the CSP allows
    /// no inline styles.
    fn indent(&self, depth: &usize) -> usize {
        (*depth).min(6)
    }
}

pub async fn family(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, id: web::Path<AssetId>) -> Reply<FamilyPage> {
    let family = portfolio::load_family(&state, &ctx, &user, *id).await?;
    let current = *id;
    Ok(FamilyPage { nav: Nav::for_user(&state, &user, "/assets"), family, current })
}

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    /// YYYY-MM; this month when absent.
    pub month: Option<String>,
}

pub struct Day {
    pub date: NaiveDate,
    pub in_month: bool,
    pub today: bool,
    pub items: Vec<UpcomingDeadline>,
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolio/calendar.html")]
pub struct CalendarPage {
    nav: Nav,
    title: String,
    prev: String,
    next: String,
    weeks: Vec<Vec<Day>>,
}

pub async fn calendar(state: web::Data<AppState>, ctx: RequestContext, user: CurrentUser, q: web::Query<MonthQuery>) -> Reply<CalendarPage> {
    let today = Utc::now().date_naive();
    let first = match q.month.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => today.with_day(1).unwrap_or(today),
        Some(m) => NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
            .ok()
            .filter(|d| (1900..=2200).contains(&d.year()))
            .ok_or_else(|| AppError::Validation { field: "month".into(), message: "must be a month YYYY-MM".into() })?,
    };
    let next_first = first.checked_add_months(chrono::Months::new(1)).ok_or_else(|| AppError::internal("date out of range"))?;
    let prev_first = first.checked_sub_months(chrono::Months::new(1)).ok_or_else(|| AppError::internal("date out of range"))?;
    // Whole weeks, Monday first.
    let start = first - Duration::days(i64::from(first.weekday().num_days_from_monday()));
    let last = next_first - Duration::days(1);
    let end = last + Duration::days(i64::from(6 - last.weekday().num_days_from_monday()));
    let mut items = deadlines_between(&state, &user, start, end).await?;
    // On the calendar a deadline sits on its due date only.
    items.retain(|u| u.deadline.due >= start && u.deadline.due <= end);
    let mut weeks = Vec::new();
    let mut day = start;
    while day <= end {
        let mut week = Vec::with_capacity(7);
        for _ in 0..7 {
            let (mine, rest): (Vec<_>, Vec<_>) = items.into_iter().partition(|u| u.deadline.due == day);
            items = rest;
            week.push(Day { date: day, in_month: day.month() == first.month(), today: day == today, items: mine });
            day += Duration::days(1);
        }
        weeks.push(week);
    }
    state.audit_alone(user.event(&ctx, "deadline.calendar_read", licentia_audit::Outcome::Success)).await?;
    Ok(CalendarPage {
        nav: Nav::for_user(&state, &user, "/deadlines"),
        title: first.format("%B %Y").to_string(),
        prev: prev_first.format("%Y-%m").to_string(),
        next: next_first.format("%Y-%m").to_string(),
        weeks,
    })
}

/// `POST /assets/{id}/manual-deadlines` from the asset page's form.
pub async fn add_manual(
    state: web::Data<AppState>,
    ctx: RequestContext,
    user: CurrentUser,
    id: web::Path<AssetId>,
    form: web::Form<ManualInput>,
) -> Reply<HttpResponse> {
    let row = load_for_page(&state, &ctx, &user, *id).await?;
    let path = format!("/assets/{}", row.id);
    let result = insert_manual(&state, &ctx, &user, &row, form.into_inner()).await.map(|m| format!("Added \u{201c}{}\u{201d} due {}.", m.title, m.due));
    back(&path, result)
}

/// The flash message of a redirected form post.
pub fn flash(req: &HttpRequest) -> Option<(bool, String)> {
    flash_from(req.query_string())
}

//! The backups page and API for organisation admins (their organisation's backups and
//! schedule), the platform view for service accounts (every organisation's), and the
//! freshness check for operators (`/api/v1/health/backups`).

use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};

use super::runs::{self, Run};
use super::schedule;
use crate::actor::Actor;
use crate::error::{Error, FieldError, FieldErrors};
use crate::organisation::BackupSettings;
use crate::platform::handlers::Platform;
use crate::policy::Action;
use crate::state::AppState;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::filters;

/// A verified backup older than this leaves an organisation without a fresh backup.
const FRESH_FOR_HOURS: i64 = 24;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/admin/backups", page)
        .add(Access::Full, Method::POST, "/admin/backups", form)
        .add(Access::Full, Method::GET, "/api/v1/backups", get_api)
        .add(Access::Full, Method::PUT, "/api/v1/backups/schedule", put_api)
        .add(Access::Platform, Method::GET, "/api/platform/backups", platform_api)
        .add(Access::Instance, Method::GET, "/api/v1/health/backups", health)
}

/// The operators' listener serves the freshness check with each organisation's details.
pub fn operator_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/api/v1/health/backups", axum::routing::get(health))
}

/// This organisation's schedule and latest backups.
#[utoipa::path(get, path = "/api/v1/backups", tag = "backups", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "The schedule and the latest 30 backups, newest first", body = Backups), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Organisation admins only", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn get_api(caller: Actor) -> Result<Response, Error> {
    caller.authorize(&Action::ManageOrganisation).await?;
    let settings = caller.tenant.settings().await?;
    let latest = runs::latest(caller.control(), Some(caller.tenant.record.id), 30).await?;
    Ok(Json(Backups {
        schedule: settings.backup,
        backups: latest,
    })
    .into_response())
}

/// The schedule and the latest backups.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Backups {
    schedule: BackupSettings,
    backups: Vec<Run>,
}

/// The schedule as saved.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SavedSchedule {
    /// Always `saved`.
    #[schema(value_type = String)]
    status: &'static str,
    schedule: BackupSettings,
}

/// One organisation's backups: the latest, the latest verified one and its age.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Freshness {
    slug: crate::platform::tenancy::TenantSlug,
    last_backup: Option<Run>,
    last_verified: Option<Run>,
    verified_age_minutes: Option<i64>,
    /// A verified backup younger than 24 hours exists.
    fresh: bool,
}

/// Every organisation's backups.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PlatformBackups {
    organisations: Vec<Freshness>,
}

/// Whether every organisation has a fresh verified backup (`ok`) or not (`stale`), as
/// counts; the operators' listener names each organisation instead.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BackupHealth {
    #[schema(value_type = String)]
    status: &'static str,
    fresh_for_hours: i64,
    organisations: usize,
    stale: usize,
}

/// The operators' view: each organisation.
#[derive(serde::Serialize)]
struct OperatorBackupHealth {
    status: &'static str,
    fresh_for_hours: i64,
    organisations: Vec<Freshness>,
}

/// Replace the schedule: `enabled`, `time` (`HH:MM`, local), `target` (`local`, or `cloud`
/// where the storage policy lets records leave), `keep` (`daily` 1-60, `weekly` 0-52,
/// `monthly` 0-120).
#[utoipa::path(put, path = "/api/v1/backups/schedule", tag = "backups", request_body = BackupSettings, security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "Saved", body = SavedSchedule), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Organisation admins only", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "A value is out of range; `details.fields` names it", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn put_api(
    caller: Actor,
    crate::web::json::ApiJson(settings): crate::web::json::ApiJson<BackupSettings>,
) -> Result<Response, Error> {
    caller.authorize(&Action::ManageOrganisation).await?;
    schedule::save(&caller, &settings).await?;
    Ok(Json(SavedSchedule {
        status: "saved",
        schedule: settings,
    })
    .into_response())
}

/// Every organisation's latest backup and latest verified backup. Needs `platform:read`.
#[utoipa::path(get, path = "/api/platform/backups", tag = "platform", security(("service_account" = [])),
    responses((status = 200, description = "Per organisation: the latest backup, the latest verified one and its age", body = PlatformBackups), (status = 401, description = "No valid service-account token", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Lacks `platform:read`", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn platform_api(State(state): State<AppState>, platform: Platform) -> Result<Response, Error> {
    platform.require("platform:read")?;
    Ok(Json(PlatformBackups {
        organisations: freshness(&state).await?,
    })
    .into_response())
}

/// Each organisation: whether a verified backup younger than 24 hours exists.
async fn freshness(state: &AppState) -> Result<Vec<Freshness>, Error> {
    let control = state.tenants.control_pool();
    let verified = runs::last_verified(control).await?;
    let latest = runs::latest(control, None, 1000).await?;
    let now = state.clock.now();
    let mut organisations = Vec::new();
    for record in crate::platform::tenancy::list_tenants(control).await? {
        let last = latest.iter().find(|r| r.tenant_id == record.id).cloned();
        let good = verified.iter().find(|r| r.tenant_id == record.id).cloned();
        let age_minutes = good
            .as_ref()
            .map(|r| (now - r.finished_at.unwrap_or(r.started_at)).num_minutes());
        organisations.push(Freshness {
            slug: record.slug,
            last_backup: last,
            last_verified: good,
            verified_age_minutes: age_minutes,
            fresh: age_minutes.is_some_and(|m| m < FRESH_FOR_HOURS * 60),
        });
    }
    Ok(organisations)
}

/// Whether every organisation has a verified backup younger than 24 hours: 200, else
/// 503. The operators' listener names each organisation; elsewhere, counts only.
#[utoipa::path(get, path = "/api/v1/health/backups", tag = "health",
    responses((status = 200, description = "Every organisation has a verified backup younger than 24 h", body = BackupHealth), (status = 503, description = "At least one has none", body = BackupHealth)))]
pub(crate) async fn health(
    State(state): State<AppState>,
    operator: Option<Extension<crate::health::OperatorView>>,
) -> Result<Response, Error> {
    let organisations = freshness(&state).await?;
    let without = organisations.iter().filter(|o| !o.fresh).count();
    let status = if without == 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if without == 0 { "ok" } else { "stale" };
    Ok(if operator.is_some() {
        let body = OperatorBackupHealth {
            status: word,
            fresh_for_hours: FRESH_FOR_HOURS,
            organisations,
        };
        (status, Json(body)).into_response()
    } else {
        let body = BackupHealth {
            status: word,
            fresh_for_hours: FRESH_FOR_HOURS,
            organisations: organisations.len(),
            stale: without,
        };
        (status, Json(body)).into_response()
    })
}

struct Row {
    run: Run,
    badge: &'static str,
}

#[derive(Template)]
#[template(path = "backups/admin.html")]
struct BackupsPage {
    chrome: Chrome,
    schedule: BackupSettings,
    rows: Vec<Row>,
    fresh: bool,
    cloud_allowed: bool,
    errors: FieldErrors,
    saved: bool,
}

impl BackupsPage {
    fn time(&self) -> String {
        self.schedule.time.format("%H:%M").to_string()
    }

    fn keep_fields(&self) -> Vec<(&'static str, &'static str, u32)> {
        let keep = self.schedule.keep;
        vec![
            ("keep_daily", "Daily (1 to 60)", keep.daily),
            ("keep_weekly", "Weekly (0 to 52)", keep.weekly),
            ("keep_monthly", "Monthly (0 to 120)", keep.monthly),
        ]
    }

    fn size(run: &Run) -> String {
        run.bytes
            .map(|b| bytesize::ByteSize::b(u64::try_from(b).unwrap_or(0)).to_string())
            .unwrap_or_default()
    }
}

async fn page_for(
    caller: &Actor,
    schedule: BackupSettings,
    errors: Vec<FieldError>,
    saved: bool,
) -> Result<BackupsPage, Error> {
    let runs = runs::latest(caller.control(), Some(caller.tenant.record.id), 30).await?;
    let now = caller.now();
    let fresh = runs.iter().any(|r| {
        r.outcome == "verified"
            && now - r.finished_at.unwrap_or(r.started_at) < chrono::TimeDelta::hours(FRESH_FOR_HOURS)
    });
    let rows = runs
        .into_iter()
        .map(|run| Row {
            badge: match run.outcome.as_str() {
                "verified" => "success",
                "failed" => "danger",
                "pruned" => "neutral",
                _ => "warning",
            },
            run,
        })
        .collect();
    Ok(BackupsPage {
        chrome: Chrome::for_user(caller.modules(), &caller.tenant, &caller.identity)
            .await?
            .at("backups"),
        schedule,
        rows,
        fresh,
        cloud_allowed: schedule::cloud_allowed(caller).await?,
        errors: errors.into(),
        saved,
    })
}

async fn page(
    caller: Actor,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, Error> {
    caller.authorize(&Action::ManageOrganisation).await?;
    let schedule = caller.tenant.settings().await?.backup;
    render(&page_for(&caller, schedule, Vec::new(), query.contains_key("saved")).await?)
}

async fn form(caller: Actor, Form(fields): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    caller.authorize(&Action::ManageOrganisation).await?;
    let value = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let current = caller.tenant.settings().await?.backup;
    let parsed = schedule::parse_form(&value, current);
    let result = match &parsed {
        Ok(settings) => schedule::save(&caller, settings).await,
        Err(errors) => Err(Error::Invalid(errors.clone())),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/backups?saved").into_response()),
        Err(Error::Invalid(errors)) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page_for(&caller, parsed.unwrap_or(current), errors, false).await?,
        ),
        Err(other) => Err(other),
    }
}

//! SPEC module 11, health endpoints. All JSON; all outside authentication (they reveal
//! no PHI: statuses, latencies and tenant slugs only).
//!
//! - `/health`: liveness; touches no database.
//! - `/ready`: the control database and every tenant database answer and have every
//!   migration applied; 503 otherwise. Per-tenant detail only on the admin listener; an
//!   anonymous caller gets the answer of the last second ([`Readiness`]).
//! - `/api/v1/health/database`: the control database and the database of the tenant
//!   this host name leads to.
//! - `/api/v1/health/redis`: `not_configured` without `REDIS_URL`, else a PING.
//! - `/api/v1/health/audit-status`: per tenant, the audit chain's head, last verification,
//!   writer state and pending events.

mod manifest;

pub use manifest::module;

use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::compliance::audit;
use crate::error::Error;
use crate::platform::database::{CONTROL_MIGRATIONS, TENANT_MIGRATIONS, migrations_current};
use crate::state::AppState;
use crate::web::routes::{Access, RouteTable};
use crate::web::tenant::CurrentTenant;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// The health routes: instance-wide ones whatever the host name, and the database
/// check for the host's organisation.
pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Instance, Method::GET, "/health", health)
        .add(Access::Instance, Method::GET, "/ready", ready)
        .add(Access::Instance, Method::GET, "/api/v1/health/redis", redis)
        .add(
            Access::Instance,
            Method::GET,
            "/api/v1/health/audit-status",
            audit_status,
        )
        .add(Access::Public, Method::GET, "/api/v1/health/database", database)
}

/// Marks requests that came in on the operators' admin listener: only they see which
/// organisations an installation serves and each one's details. On the public listener
/// the health routes give counts, never names (for some services, being hosted here at
/// all is sensitive).
#[derive(Debug, Clone, Copy)]
pub struct OperatorView;

/// The operators' listener serves the instance-wide health routes too.
pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/api/v1/health/audit-status", get(audit_status))
}

/// Liveness: the process answers. Touches no database.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "Alive", body = Alive)))]
pub(crate) async fn health() -> Json<Alive> {
    Json(Alive {
        status: "ok",
        service: "haven",
        version: VERSION,
    })
}

/// The process answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Alive {
    /// Always `ok`.
    #[schema(value_type = String)]
    status: &'static str,
    #[schema(value_type = String)]
    service: &'static str,
    #[schema(value_type = String)]
    version: &'static str,
}

/// Checks passed: `status` (`ready` or `ok`) and what was checked. Anonymous callers get
/// counts; the operators' listener gets each database.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Checked {
    #[schema(value_type = String)]
    status: &'static str,
    #[schema(value_type = Object)]
    checks: serde_json::Value,
}

/// Redis: `ok` with the round trip of a PING, or `not_configured`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RedisHealth {
    #[schema(value_type = String)]
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
}

/// Every audit writer runs and the last verification passed. `tenants` is how many
/// organisations were checked (on the operators' listener: each one's chain head, writer
/// and queue).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditHealth {
    /// Always `ok`.
    #[schema(value_type = String)]
    status: &'static str,
    #[schema(value_type = u64)]
    tenants: serde_json::Value,
}

/// How long an anonymous caller's readiness answer is reused: a flood of `/ready`
/// requests costs every database at most one check a second.
const READY_REUSED_FOR: Duration = Duration::from_secs(1);

/// The last readiness answer given to anonymous callers, with when it was checked.
#[derive(Default)]
pub struct Readiness(tokio::sync::Mutex<Option<(Instant, Counted)>>);

/// Readiness as anonymous callers see it: counts, never names.
#[derive(Debug, Clone, Copy)]
struct Counted {
    ready: bool,
    tenants: usize,
    failing: usize,
}

#[derive(Debug, Serialize)]
struct DatabaseCheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    database: String,
    status: &'static str,
    migrations: &'static str,
    latency_ms: f64,
}

impl DatabaseCheck {
    fn ok(&self) -> bool {
        self.status == "ok" && self.migrations == "current"
    }
}

async fn check(pool: &PgPool, migrator: &Migrator, database: &str, tenant: Option<&str>) -> DatabaseCheck {
    let started = Instant::now();
    let result = migrations_current(pool, migrator).await;
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let (status, migrations) = match result {
        Ok(true) => ("ok", "current"),
        Ok(false) => ("ok", "pending"),
        Err(err) => {
            tracing::warn!(database, error = %err, "database health check failed");
            ("unreachable", "unknown")
        }
    };
    DatabaseCheck {
        tenant: tenant.map(str::to_owned),
        database: database.to_owned(),
        status,
        migrations,
        latency_ms,
    }
}

async fn control_check(state: &AppState) -> DatabaseCheck {
    let control = state.tenants.server().control_database().to_string();
    check(state.tenants.control_pool(), &CONTROL_MIGRATIONS, &control, None).await
}

/// Readiness: the control database and every tenant database answer and are migrated.
#[utoipa::path(get, path = "/ready", tag = "health", responses((status = 200, description = "Ready, with per-database checks", body = Checked), (status = 503, description = "`not_ready`, with `details`", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn ready(
    State(state): State<AppState>,
    operator: Option<Extension<OperatorView>>,
) -> Result<Json<Checked>, Error> {
    if operator.is_some() {
        let (counted, detail) = check_everything(&state).await;
        return answer(counted, detail);
    }
    // One check at a time; callers meanwhile wait for it and share its answer.
    let mut last = state.readiness.0.lock().await;
    let counted = match *last {
        Some((at, counted)) if at.elapsed() < READY_REUSED_FOR => counted,
        _ => {
            let (counted, _) = check_everything(&state).await;
            *last = Some((Instant::now(), counted));
            counted
        }
    };
    drop(last);
    answer(
        counted,
        json!({ "tenants": counted.tenants, "failing": counted.failing }),
    )
}

/// Checks the control database and every tenant database: the counts, and the detail
/// operators see.
async fn check_everything(state: &AppState) -> (Counted, serde_json::Value) {
    let control = control_check(state).await;
    let mut tenants = Vec::new();
    for tenant in state.tenants.tenants() {
        tenants.push(
            check(
                &tenant.pool,
                &TENANT_MIGRATIONS,
                tenant.database.as_str(),
                Some(tenant.record.slug.as_str()),
            )
            .await,
        );
    }
    let counted = Counted {
        ready: control.ok() && !tenants.is_empty() && tenants.iter().all(DatabaseCheck::ok),
        tenants: tenants.len(),
        failing: tenants.iter().filter(|t| !t.ok()).count() + usize::from(!control.ok()),
    };
    (counted, json!({ "control": control, "tenants": tenants }))
}

fn answer(counted: Counted, body: serde_json::Value) -> Result<Json<Checked>, Error> {
    if counted.ready {
        Ok(Json(Checked {
            status: "ready",
            checks: body,
        }))
    } else {
        Err(Error::Unavailable {
            code: "not_ready",
            message: "Haven is not ready: a database is unreachable or not migrated.".to_owned(),
            details: Some(body),
        })
    }
}

/// The control database and the database of the organisation this host name leads to.
#[utoipa::path(get, path = "/api/v1/health/database", tag = "health", responses((status = 200, description = "Both answer and are migrated", body = Checked), (status = 404, description = "`unknown_tenant`", body = crate::web::openapi::ErrorEnvelope), (status = 503, description = "`database_unavailable`", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn database(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
) -> Result<Json<Checked>, Error> {
    let control = control_check(&state).await;
    let own = check(
        &tenant.pool,
        &TENANT_MIGRATIONS,
        tenant.database.as_str(),
        Some(tenant.record.slug.as_str()),
    )
    .await;
    let body = json!({ "control": control, "tenant": own });
    if control.ok() && own.ok() {
        Ok(Json(Checked {
            status: "ok",
            checks: body,
        }))
    } else {
        Err(Error::Unavailable {
            code: "database_unavailable",
            message: "A database is unreachable or not migrated.".to_owned(),
            details: Some(body),
        })
    }
}

/// Redis: `not_configured` without REDIS_URL, else a PING.
#[utoipa::path(get, path = "/api/v1/health/redis", tag = "health", responses((status = 200, description = "`ok` or `not_configured`", body = RedisHealth), (status = 503, description = "`redis_unavailable`", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn redis(State(state): State<AppState>) -> Result<Json<RedisHealth>, Error> {
    let Some(client) = &state.redis else {
        return Ok(Json(RedisHealth {
            status: "not_configured",
            latency_ms: None,
        }));
    };
    let started = Instant::now();
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(REDIS_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(Json(RedisHealth {
            status: "ok",
            latency_ms: Some((started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0),
        })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "redis health check failed");
            Err(redis_unavailable())
        }
        Err(_elapsed) => {
            tracing::warn!("redis health check timed out");
            Err(redis_unavailable())
        }
    }
}

fn redis_unavailable() -> Error {
    Error::Unavailable {
        code: "redis_unavailable",
        message: "Redis is configured but does not answer.".to_owned(),
        details: None,
    }
}

/// Per tenant: the chain's head, the last verification, the writer, and what waits to
/// Per organisation: the audit chain's head, last verification, writer state and pending events.
#[utoipa::path(get, path = "/api/v1/health/audit-status", tag = "health", responses((status = 200, description = "Every writer runs and the last verification passed", body = AuditHealth), (status = 503, description = "`audit_unhealthy`, with `details`", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn audit_status(
    State(state): State<AppState>,
    operator: Option<Extension<OperatorView>>,
) -> Result<Json<AuditHealth>, Error> {
    let mut tenants = Vec::new();
    let mut healthy = true;
    for tenant in state.tenants.tenants() {
        let writer = tenant.audit.status().await;
        let head = audit::head(&tenant.pool).await;
        let verification = audit::last_verification(&tenant.pool).await;
        let outbox = audit::outbox_len(&tenant.pool).await;
        let reachable = head.is_ok() && verification.is_ok() && outbox.is_ok();
        let verification = verification.ok().flatten();
        healthy &= reachable && writer.state == "running" && verification.as_ref().is_none_or(|v| v.ok);
        tenants.push(json!({
            "tenant": tenant.record.slug,
            "head_seq": head.as_ref().ok().map(|(seq, _)| *seq),
            "head_hash": head.as_ref().ok().map(|(_, hash)| hex::encode(hash)),
            "last_verification": verification,
            "writer": writer,
            "pending": {
                "queued": writer.queued,
                "outbox": outbox.ok(),
            },
        }));
    }
    let tenants = if operator.is_some() {
        json!(tenants)
    } else {
        json!(tenants.len())
    };
    if healthy {
        Ok(Json(AuditHealth { status: "ok", tenants }))
    } else {
        Err(Error::Unavailable {
            code: "audit_unhealthy",
            message: "An audit trail is failing, unreachable or did not verify.".to_owned(),
            details: Some(json!({ "tenants": tenants })),
        })
    }
}

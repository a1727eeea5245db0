//! Prometheus metrics. Served on the admin listener (loopback by default) and, only to
//! a bearer of `metrics_token`, on the public one.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    database: String,
    state: &'static str,
}

type HistogramFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    pool_connections: Family<PoolLabels, Gauge>,
    forwarded_unconfigured: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("haven");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template and status",
            requests.clone(),
        );
        let latency: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_5, 2.0, 16)));
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by database and state",
            pool_connections.clone(),
        );
        let forwarded_unconfigured = Counter::default();
        registry.register(
            "forwarded_without_trusted_proxies",
            "Requests from a private or loopback peer carrying X-Forwarded-For while trusted_proxies is empty",
            forwarded_unconfigured.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            pool_connections,
            forwarded_unconfigured,
        }
    }

    /// Counts a request that looks proxied while no proxy is trusted; true the first time.
    pub fn forwarded_without_trusted_proxies(&self) -> bool {
        self.forwarded_unconfigured.inc() == 0
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn set_pool(&self, database: &str, pool: &sqlx::PgPool) {
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        let size = i64::from(pool.size());
        for (state, value) in [("idle", idle), ("in_use", size - idle)] {
            self.pool_connections
                .get_or_create(&PoolLabels {
                    database: database.to_owned(),
                    state,
                })
                .set(value);
        }
    }

    /// The text exposition, with pool gauges read now.
    pub fn render(&self, state: &AppState) -> Result<String, std::fmt::Error> {
        self.set_pool("control", state.tenants.control_pool());
        for tenant in state.tenants.tenants() {
            self.set_pool(tenant.record.slug.as_str(), &tenant.pool);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

fn exposition(state: &AppState) -> Result<Response, Error> {
    let body = state.metrics.render(state).map_err(|e| Error::internal(e.into()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        body,
    )
        .into_response())
}

/// `/metrics` on the admin listener.
pub async fn admin_metrics(State(state): State<AppState>) -> Result<Response, Error> {
    exposition(&state)
}

/// `/metrics` on the public listener: absent unless a token is configured, and then only
/// for its bearer.
pub async fn public_metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    let Some(token) = &state.config.metrics_token else {
        return Err(Error::NotFound);
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
        exposition(&state)
    } else {
        Ok(StatusCode::UNAUTHORIZED.into_response())
    }
}

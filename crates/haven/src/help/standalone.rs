//! `haven help serve`: the help centre alone, with its own listener and its own database,
//! for running outside the compliance boundary. It serves the same public routes as
//! `haven serve` (see `public`), the stylesheet and script its pages use, and `/health`.
//! Its edge is smaller than the staff app's: no tenants, no sessions, no client address
//! at all; each request gets an id, the security headers and one access-log line with
//! the method, the route template, the status and the time taken.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument;
use uuid::Uuid;

use super::HelpState;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::Error;
use crate::platform::database::{DatabaseName, DatabaseServer};

pub struct HelpService {
    listener: TcpListener,
    state: HelpState,
    config: Arc<Config>,
}

impl HelpService {
    /// Binds `listen`, then creates and migrates the help database on `server` (whose
    /// migration lock is taken on the help database itself).
    pub async fn build(config: Config, server: DatabaseServer, clock: SharedClock) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (setting `listen`)", config.listen))?;
        let name = DatabaseName::parse(&config.help.database)
            .ok_or_else(|| anyhow::anyhow!("invalid setting `help_database`"))?;
        let server = server
            .with_control_database(name)
            .with_app_password(config.database_app_password.as_ref().map(|p| p.expose().to_owned()));
        let database = super::store::prepare(&server, &config.help.database).await?;
        let state = HelpState {
            pool: server.lazy_app_pool(&database),
            clock,
        };
        Ok(Self {
            listener,
            state,
            config: Arc::new(config),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &HelpState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let pool = self.state.pool.clone();
        let served = axum::serve(self.listener, router(self.state, &self.config))
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server failed");
        pool.close().await;
        served
    }
}

/// The standalone help service's routes and edge.
pub fn router(state: HelpState, config: &Config) -> Router {
    let (help, _) = super::public::routes::<HelpState>().into_parts(&config.help.cors_origins);
    let body_limit = usize::try_from(config.request_body_limit.as_u64()).unwrap_or(usize::MAX);
    Router::new()
        .merge(help)
        .route("/assets/app.css", get(crate::web::page::app_css))
        .route("/assets/app.js", get(crate::web::page::app_js))
        .route("/health", get(health))
        .fallback(fallback)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Up when the help database answers.
async fn health(State(help): State<HelpState>) -> Result<Response, Error> {
    sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&help.pool).await?;
    Ok(axum::Json(serde_json::json!({ "status": "ok" })).into_response())
}

async fn fallback() -> Error {
    Error::NotFound
}

/// A request id, the response sealed as in the staff app, and one log line that holds
/// nothing about who asked.
async fn edge(State(_): State<HelpState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = Uuid::now_v7().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method: Method = request.method().clone();
    let wants_html = crate::web::edge::wants_html(request.uri().path(), request.headers());
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let response = next.run(request).instrument(span.clone()).await;
    let response = crate::web::edge::seal(response, &request_id, wants_html);
    let status = response.status();
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    response
}

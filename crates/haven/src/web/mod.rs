//! HTTP: the router, the edge middleware, errors, and tenant resolution. Each module's
//! handlers live in that module's folder; this is where they are mounted.

pub mod edge;
pub mod error;
pub mod tenant;

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::state::AppState;
use crate::{health, metrics};
use error::WebError;
use tenant::CurrentTenant;

pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.request_body_limit.as_u64()).unwrap_or(usize::MAX);
    let tenant_routes = Router::new()
        .route("/", get(start_page))
        .merge(health::tenant_routes())
        .layer(from_fn_with_state(state.clone(), tenant::resolve_tenant));

    Router::new()
        .merge(health::instance_routes())
        .route("/metrics", get(metrics::public_metrics))
        .merge(tenant_routes)
        .fallback(fallback)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state.clone(), edge::edge))
        .with_state(state)
}

async fn fallback() -> WebError {
    WebError::NotFound
}

#[derive(Template)]
#[template(path = "start.html")]
struct StartPage<'a> {
    organisation: &'a str,
}

/// The organisation's front door; sign-in will live here.
async fn start_page(CurrentTenant(tenant): CurrentTenant) -> Result<Response, WebError> {
    let page = StartPage {
        organisation: &tenant.record.display_name,
    };
    let body = page.render().map_err(|e| WebError::Internal(e.into()))?;
    Ok(Html(body).into_response())
}

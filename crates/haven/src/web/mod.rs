//! HTTP: the router, the edge middleware, errors, and tenant resolution. Each module's
//! handlers live in that module's folder; this is where they are mounted.

pub mod caller;
pub mod context;
pub mod edge;
pub mod error;
pub mod form;
pub mod json;
pub mod openapi;
pub mod page;
pub mod routes;
pub mod style_guide;
pub mod tenant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::middleware::from_fn_with_state;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::state::AppState;
use crate::{health, identity, metrics};
use error::WebError;
use routes::{Access, RouteTable};

/// Every route of the application, with who may call it.
pub fn route_table() -> RouteTable {
    let table = RouteTable::new()
        .add(Access::Instance, Method::GET, "/assets/app.css", page::app_css)
        .add(Access::Instance, Method::GET, "/assets/app.js", page::app_js)
        .add(Access::Instance, Method::GET, "/metrics", metrics::public_metrics)
        .add(Access::Full, Method::GET, "/api/openapi.json", openapi::openapi_json)
        .add(Access::Full, Method::GET, "/api/docs", openapi::docs_page)
        .add(Access::Full, Method::GET, "/style-guide", style_guide::style_guide);
    let table = health::routes(table);
    let table = identity::handlers::routes(table);
    let table = identity::token_handlers::routes(table);
    let table = identity::admin_handlers::routes(table);
    let table = identity::settings_handlers::routes(table);
    let table = identity::password_handlers::routes(table);
    let table = crate::compliance::audit::handlers::routes(table);
    let table = crate::platform::handlers::routes(table);
    let table = crate::platform::jobs::pages::routes(table);
    let table = crate::home::routes(table);
    let table = crate::clients::api::routes(table);
    let table = crate::clients::pages::routes(table);
    let table = crate::referrals::api::routes(table);
    let table = crate::referrals::pages::routes(table);
    let table = crate::appointments::api::routes(table);
    let table = crate::appointments::feeds::routes(table);
    let table = crate::appointments::pages::routes(table);
    let table = crate::clinical::api::routes(table);
    let table = crate::clinical::pages::routes(table);
    let table = crate::appointments::reminder_settings::routes(table);
    identity::links::routes(table)
}

pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.request_body_limit.as_u64()).unwrap_or(usize::MAX);
    route_table()
        .into_router(&state)
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

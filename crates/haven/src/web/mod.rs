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
use tower_http::timeout::TimeoutLayer;

use crate::error::Error;
use crate::state::AppState;
use crate::{health, identity, metrics};
use routes::{Access, RouteTable};

/// Every route of the application, with who may call it.
pub fn route_table(state: &AppState) -> RouteTable {
    let (help, help_paths) = crate::help::public::routes::<AppState>().into_parts(&state.config.help_cors_origins);
    let table = RouteTable::new()
        .merge_instance(help, help_paths)
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
    let table = crate::documents::api::routes(table);
    let table = crate::documents::pages::routes(table);
    let table = crate::help::editor_pages::routes(table);
    let table = crate::appointments::reminder_settings::routes(table);
    identity::links::routes(table)
}

/// Document uploads stream up to `document_max_size` (help images are held to their own,
/// smaller cap as they are read); every other body is held to `request_body_limit`.
fn is_upload(request: &axum::extract::Request) -> bool {
    let path = request.uri().path();
    request.method() == axum::http::Method::POST && (path.ends_with("/documents") || path.ends_with("/images"))
}

async fn limit_body(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let limit = if is_upload(&request) {
        // Multipart framing on top of the file itself; the file's own cap is exact.
        state.config.document_max_size.as_u64() + 64 * 1024
    } else {
        state.config.request_body_limit.as_u64()
    };
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return axum::response::IntoResponse::into_response(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let (parts, body) = request.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(axum::extract::Request::from_parts(parts, body)).await
}

pub fn router(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.request_body_limit.as_u64()).unwrap_or(usize::MAX);
    route_table(&state)
        .into_router(&state)
        .fallback(fallback)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.request_timeout,
        ))
        .layer(from_fn_with_state(state.clone(), limit_body))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state.clone(), edge::edge))
        .with_state(state)
}

async fn fallback() -> Error {
    Error::NotFound
}

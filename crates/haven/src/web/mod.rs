//! The web kit: the router built from the modules' route table, the edge middleware,
//! errors as responses, tenant resolution, extractors, page chrome and form helpers. It
//! names no business module: each module declares its routes in its manifest
//! (`crate::module`), and `crate::modules` lists the modules.

pub mod caller;
pub mod context;
pub mod edge;
pub mod error;
pub mod form;
pub mod json;
pub mod openapi;
pub mod page;
pub mod query;
pub mod redirect;
pub mod routes;
pub mod style_guide;
pub mod tenant;
pub mod time;
mod upload;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::middleware::from_fn_with_state;
use tower_http::timeout::TimeoutLayer;

use crate::error::Error;
use crate::state::AppState;
use routes::{Access, RouteTable};

/// The kit's own routes: assets, the API document and its page, the style guide.
pub fn module() -> crate::module::Module {
    crate::module::Module::new("web")
        .routes(routes)
        .nav(110, "/api/docs", "API", "api", None)
        .nav(111, "/style-guide", "Style guide", "style_guide", None)
}

fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Instance, Method::GET, "/assets/app.css", page::app_css)
        .add(Access::Instance, Method::GET, "/assets/app.js", page::app_js)
        .add(Access::Full, Method::GET, "/api/openapi.json", openapi::openapi_json)
        .add(Access::Full, Method::GET, "/api/docs", openapi::docs_page)
        .add(Access::Full, Method::GET, "/style-guide", style_guide::style_guide)
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
        state.config.documents.max_size.as_u64() + 64 * 1024
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
    state
        .modules
        .route_table(&state)
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

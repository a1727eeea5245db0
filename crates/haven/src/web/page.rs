//! Server-rendered pages: the chrome every page shares, rendering, and static assets.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use super::error::WebError;
use crate::identity::auth::Identity;

/// Changes with every release, so browsers may cache assets for long.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

const APP_CSS: &str = include_str!("../../assets/app.css");

/// What the layout needs: the organisation, the signed-in person, the form token.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub organisation: String,
    pub user: Option<ChromeUser>,
    pub csrf: String,
}

#[derive(Debug, Clone)]
pub struct ChromeUser {
    pub name: String,
}

impl Chrome {
    pub fn anonymous(organisation: &str) -> Self {
        Self {
            organisation: organisation.to_owned(),
            user: None,
            csrf: String::new(),
        }
    }

    pub fn signed_in(organisation: &str, identity: &Identity) -> Self {
        Self {
            organisation: organisation.to_owned(),
            user: Some(ChromeUser {
                name: identity.user.display_name.clone(),
            }),
            csrf: identity.csrf_token.clone().unwrap_or_default(),
        }
    }
}

/// Marks an error response that carries its own page (a form shown again with what
/// went wrong), so the edge keeps it instead of the generic error page.
#[derive(Debug, Clone, Copy)]
pub struct OwnErrorPage;

pub fn render(page: &impl Template) -> Result<Response, WebError> {
    let body = page.render().map_err(|e| WebError::Internal(e.into()))?;
    Ok(Html(body).into_response())
}

/// A page answered with an error status (e.g. 401 for a wrong password, 422 for a form
/// with mistakes).
pub fn render_with_status(status: axum::http::StatusCode, page: &impl Template) -> Result<Response, WebError> {
    let mut response = render(page)?;
    *response.status_mut() = status;
    response.extensions_mut().insert(OwnErrorPage);
    Ok(response)
}

pub async fn app_css() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        APP_CSS,
    )
        .into_response()
}

//! Server-rendered pages: the chrome every page shares, rendering, and static assets.

use askama::Template;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::Error;
use crate::identity::auth::Identity;
use crate::platform::tenancy::Tenant;

/// Changes with every release, so browsers may cache assets for long.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");

/// What the layout needs: the organisation, the signed-in person, the form token, and
/// the navigation that person's roles allow.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub organisation: String,
    pub user: Option<ChromeUser>,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// A one-off message after a change ("Client registered").
    pub toast: Option<String>,
    /// The page key (`clients.search`) the help panel asks the help centre about: the
    /// kind of page, never the record on it.
    pub help_page: Option<String>,
    /// The organisation's time zone, for the `when` filter.
    pub zone: chrono_tz::Tz,
}

impl Default for Chrome {
    fn default() -> Self {
        Self {
            organisation: String::new(),
            user: None,
            csrf: String::new(),
            nav: Vec::new(),
            toast: None,
            help_page: None,
            zone: chrono_tz::UTC,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChromeUser {
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// The section this link leads to; the page being shown marks its own.
    pub section: &'static str,
    pub current: bool,
}

impl Chrome {
    pub fn anonymous(organisation: &str) -> Self {
        Self {
            organisation: organisation.to_owned(),
            ..Self::default()
        }
    }

    /// The chrome for someone signed in, with the navigation the policy allows them.
    pub async fn for_user(
        modules: &crate::module::Modules,
        tenant: &Tenant,
        identity: &Identity,
    ) -> Result<Self, Error> {
        let nav = modules.nav_for(|action| crate::policy::may(identity, action).is_allowed());
        Ok(Self {
            zone: tenant.settings().await?.time_zone,
            ..Self::signed_in(&tenant.record.display_name, identity, nav)
        })
    }

    pub fn signed_in(organisation: &str, identity: &Identity, nav: Vec<NavItem>) -> Self {
        Self {
            organisation: organisation.to_owned(),
            user: Some(ChromeUser {
                name: identity.user.display_name.clone(),
            }),
            csrf: identity.csrf_token.clone().unwrap_or_default(),
            nav,
            toast: None,
            help_page: None,
            zone: chrono_tz::UTC,
        }
    }

    /// Marks `section` as the current place in the navigation; the help panel asks for
    /// the section's help unless [`Chrome::help`] names the page more closely.
    #[must_use]
    pub fn at(mut self, section: &str) -> Self {
        for item in &mut self.nav {
            item.current = item.section == section;
        }
        if self.help_page.is_none() && is_page_key(section) {
            self.help_page = Some(section.to_owned());
        }
        self
    }

    /// The help panel's page key for this page, e.g. `clients.search`.
    #[must_use]
    pub fn help(mut self, page_key: &'static str) -> Self {
        debug_assert!(is_page_key(page_key), "{page_key}");
        self.help_page = Some(page_key.to_owned());
        self
    }

    #[must_use]
    pub fn toast(mut self, message: Option<String>) -> Self {
        self.toast = message;
        self
    }
}

/// The toast after a redirect: the message for the request's `done` key, chosen from
/// fixed messages (never text from the URL).
pub fn done_toast(params: &[(String, String)], messages: &[(&str, &str)]) -> Option<String> {
    let done = params.iter().find(|(k, _)| k == "done").map(|(_, v)| v.as_str())?;
    messages
        .iter()
        .find(|(key, _)| *key == done)
        .map(|(_, message)| (*message).to_owned())
}

/// A help page key: dotted lowercase words (`clients.search`), never a record's id.
pub fn is_page_key(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 60
        && value
            .split('.')
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
}

/// Marks an error response that carries its own page (a form shown again with what
/// went wrong), so the edge keeps it instead of the generic error page.
#[derive(Debug, Clone, Copy)]
pub struct OwnErrorPage;

pub fn render(page: &impl Template) -> Result<Response, Error> {
    let body = page.render().map_err(|e| Error::internal(e.into()))?;
    Ok(Html(body).into_response())
}

/// A page answered with an error status (e.g. 401 for a wrong password, 422 for a form
/// with mistakes).
pub fn render_with_status(status: axum::http::StatusCode, page: &impl Template) -> Result<Response, Error> {
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

/// Our own script: progressive enhancement only (the navigation drawer, dialogs,
/// dismissing toasts). Every flow works without it.
pub async fn app_js() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        APP_JS,
    )
        .into_response()
}

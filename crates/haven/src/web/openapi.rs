//! The OpenAPI 3.1 document, generated from the handlers' annotations, at
//! `/api/openapi.json`, and a readable page of it at `/api/docs` (drawn here: no
//! third-party script or stylesheet).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::page::{Chrome, render};
use crate::actor::Actor;
use crate::error::Error;
use crate::identity::auth::Identity;
use crate::state::AppState;

/// Every error, as JSON.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // documents the envelope that web::error renders
pub struct ErrorEnvelope {
    /// Always `error`.
    status: String,
    /// Stable, machine-readable: `not_found`, `validation_failed`, `unauthenticated`, ...
    error_code: String,
    /// For people: what went wrong and, where it helps, what to do.
    message: String,
    /// The request's id, also in the `X-Request-Id` header and the logs.
    request_id: String,
    /// `fields` for validation errors; per-component checks for health errors.
    details: Option<serde_json::Value>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("hvn_… personal API token")
                    .description(Some(
                        "A personal API token from /account/tokens. Scoped and expiring; no CSRF token needed.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "service_account",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An EdDSA JWT signed with a service account's key: header `kid` = the account's id; \
                         claims `aud` = haven-platform, `iat`, and `exp` at most 15 minutes later.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "haven_session",
                "The browser session (`__Host-haven_session` over HTTPS). Unsafe requests also need the \
                 session's CSRF token in the X-CSRF-Token header.",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Haven API",
        description = "Haven's JSON API. Every error is the envelope `ErrorEnvelope`. Identifiers are UUIDv7; times are RFC 3339 in UTC."
    ),
    components(schemas(ErrorEnvelope, crate::error::FieldError)),
    modifiers(&Security)
)]
struct Base;

/// The whole document: what every operation shares (the error envelope, the ways to
/// authenticate), then each module's fragment in the order of the module list.
pub fn document(fragments: impl Iterator<Item = utoipa::openapi::OpenApi>) -> utoipa::openapi::OpenApi {
    fragments.fold(Base::openapi(), |mut whole, fragment| {
        whole.merge(fragment);
        whole
    })
}

pub async fn openapi_json(State(state): State<AppState>, _identity: Identity) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        state.modules.openapi_json(),
    )
        .into_response()
}

struct Operation {
    method: String,
    path: String,
    summary: String,
    description: String,
    statuses: String,
    tag: String,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    chrome: Chrome,
    operations: Vec<Operation>,
}

pub async fn docs_page(caller: Actor) -> Result<Response, Error> {
    let doc = caller.modules().openapi();
    let mut operations = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", item.get.as_ref()),
            ("POST", item.post.as_ref()),
            ("PATCH", item.patch.as_ref()),
            ("PUT", item.put.as_ref()),
            ("DELETE", item.delete.as_ref()),
        ];
        for (method, operation) in methods {
            let Some(operation) = operation else { continue };
            operations.push(Operation {
                method: method.to_owned(),
                path: path.clone(),
                summary: operation.summary.clone().unwrap_or_default(),
                description: operation.description.clone().unwrap_or_default(),
                statuses: operation
                    .responses
                    .responses
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                tag: operation
                    .tags
                    .as_ref()
                    .and_then(|t| t.first().cloned())
                    .unwrap_or_default(),
            });
        }
    }
    render(&DocsPage {
        chrome: caller.chrome().await?,
        operations,
    })
}

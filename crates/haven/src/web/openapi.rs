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

/// A request taken in, with what happens next for people.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Always `accepted`.
    #[schema(value_type = String)]
    pub status: &'static str,
    #[schema(value_type = String)]
    pub message: &'static str,
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
/// authenticate), then each module's fragment in the order of the module list, then the
/// error responses every operation can give ([`common_responses`]).
pub fn document(fragments: impl Iterator<Item = utoipa::openapi::OpenApi>) -> utoipa::openapi::OpenApi {
    let mut whole = fragments.fold(Base::openapi(), |mut whole, fragment| {
        whole.merge(fragment);
        whole
    });
    for (path, item) in &mut whole.paths.paths {
        for (method, operation) in [
            ("get", item.get.as_mut()),
            ("post", item.post.as_mut()),
            ("put", item.put.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
        ]
        .into_iter()
        .filter_map(|(method, operation)| Some((method, operation?)))
        {
            operation.operation_id = Some(operation_id(method, path));
            for (status, description) in common_responses(path, operation) {
                let status = status.as_str().to_owned();
                operation
                    .responses
                    .responses
                    .entry(status)
                    .or_insert_with(|| envelope(description).into());
            }
        }
    }
    whole
}

/// An operation's id: its method and path, e.g. `get_clients_by_id` for
/// `GET /api/v1/clients/{id}`. Unique by construction (handlers' function names are not:
/// several modules have a `list`), and predictable from the path alone.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if matches!(segment, "api" | "v1") {
            continue;
        }
        id.push('_');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(parameter) => {
                id.push_str("by_");
                id.push_str(parameter);
            }
            None => id.push_str(&segment.replace('-', "_")),
        }
    }
    id
}

/// The error responses an operation can give because of what it is, whatever its
/// handler does: the one place they are declared. An operation's own declaration of a
/// status (with a more precise description) is kept.
fn common_responses(
    path: &str,
    operation: &utoipa::openapi::path::Operation,
) -> Vec<(axum::http::StatusCode, &'static str)> {
    use axum::http::StatusCode;
    use utoipa::openapi::path::ParameterIn;

    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let in_path = parameters.iter().any(|p| p.parameter_in == ParameterIn::Path);
    let has_body = operation.request_body.is_some();
    let signed_in = operation.security.as_ref().is_some_and(|requirements| {
        !requirements.is_empty()
            && requirements
                .iter()
                .all(|r| serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| !o.is_empty())))
    });
    let tenant = path.starts_with("/api/v1/") && !path.starts_with("/api/v1/health");
    let mut statuses = Vec::new();
    if in_path || has_body {
        statuses.push((
            StatusCode::BAD_REQUEST,
            "Malformed: an identifier in the path that is not one, or a body that is not JSON",
        ));
    }
    if signed_in {
        statuses.push((
            StatusCode::UNAUTHORIZED,
            "Not signed in: no session, or a missing, expired or revoked token",
        ));
        statuses.push((
            StatusCode::FORBIDDEN,
            "Refused: by the policy, a token without the scope, a missing CSRF token, or a pending second factor",
        ));
    }
    if in_path || tenant {
        statuses.push((
            StatusCode::NOT_FOUND,
            "No such record (or one you may not know exists), or no organisation at this host name",
        ));
    }
    if has_body {
        statuses.push((
            StatusCode::PAYLOAD_TOO_LARGE,
            "The body is larger than this server accepts",
        ));
        statuses.push((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The body is not in the content type this operation takes",
        ));
    }
    statuses.push((
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid input: `details.fields` names each bad field or unknown query parameter",
    ));
    statuses.push((
        StatusCode::SERVICE_UNAVAILABLE,
        "A part the request needs (the database, the audit trail) is not answering; try again shortly",
    ));
    statuses
}

/// Declares that `method` `path` answers `status` with a file in one of `types` (its
/// bytes as they were stored). For modules whose downloads take their types from a list
/// the code also checks uploads against, so the document follows the list.
pub fn file_response(
    document: &mut utoipa::openapi::OpenApi,
    path: &str,
    method: &axum::http::Method,
    status: &str,
    types: impl IntoIterator<Item = &'static str>,
) {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{ContentBuilder, RefOr};

    let Some(item) = document.paths.paths.get_mut(path) else {
        return;
    };
    let operation = match *method {
        axum::http::Method::POST => item.post.as_mut(),
        _ => item.get.as_mut(),
    };
    let Some(RefOr::T(response)) = operation.and_then(|o| o.responses.responses.get_mut(status)) else {
        return;
    };
    for media_type in types {
        let binary = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)));
        response.content.insert(
            media_type.to_owned(),
            ContentBuilder::new().schema(Some(binary)).build(),
        );
    }
}

/// A response whose body is the error envelope.
fn envelope(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
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
    /// Every API-token scope with what it allows.
    scopes: Vec<(&'static str, &'static str)>,
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
    let scopes = caller
        .modules()
        .scopes()
        .map(|(scope, allows)| (scope.as_str(), allows))
        .collect();
    render(&DocsPage {
        chrome: caller.chrome().await?,
        scopes,
        operations,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_ids_are_the_method_and_the_path() {
        assert_eq!(super::operation_id("get", "/api/v1/clients"), "get_clients");
        assert_eq!(
            super::operation_id("put", "/api/v1/clients/{id}/care-team/{user_id}"),
            "put_clients_by_id_care_team_by_user_id"
        );
        assert_eq!(
            super::operation_id("get", "/api/help/v1/articles/{slug}"),
            "get_help_articles_by_slug"
        );
        assert_eq!(super::operation_id("get", "/health"), "get_health");
    }
}

//! The OpenAPI 3.1 document, generated from the handlers' annotations, at
//! `/api/openapi.json`, and a readable page of it at `/api/docs` (drawn here: no
//! third-party script or stylesheet).

use askama::Template;
use axum::Json;
use axum::response::Response;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::page::{Chrome, render};
use super::tenant::CurrentTenant;
use crate::error::Error;
use crate::identity::auth::Identity;

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
    paths(
        crate::health::health,
        crate::health::ready,
        crate::health::database,
        crate::health::redis,
        crate::health::audit_status,
        crate::identity::handlers::sign_in_api,
        crate::identity::handlers::second_factor_api,
        crate::identity::handlers::enrol_api,
        crate::identity::handlers::confirm_api,
        crate::identity::handlers::sign_out_api,
        crate::identity::handlers::me_api,
        crate::identity::handlers::sessions_api,
        crate::identity::handlers::end_session_api,
        crate::identity::handlers::end_all_api,
        crate::identity::links::reset_request_api,
        crate::identity::password_handlers::api,
        crate::identity::token_handlers::list_api,
        crate::identity::token_handlers::create_api,
        crate::identity::token_handlers::revoke_api,
        crate::identity::admin_handlers::list_api,
        crate::identity::admin_handlers::invite_api,
        crate::identity::admin_handlers::change_api,
        crate::identity::admin_handlers::unlock_api,
        crate::identity::admin_handlers::reset_api,
        crate::identity::admin_handlers::sign_ins_api,
        crate::identity::settings_handlers::get_api,
        crate::identity::settings_handlers::put_api,
        crate::compliance::audit::handlers::events_api,
        crate::compliance::audit::handlers::export_api,
        crate::platform::handlers::tenants,
        crate::clients::api::list,
        crate::clients::api::create,
        crate::clients::api::get,
        crate::clients::api::update,
        crate::clients::api::put_team_member,
        crate::clients::api::delete_team_member,
        crate::clients::api::open_break_glass,
        crate::clients::api::break_glass_log,
        crate::referrals::api::list,
        crate::referrals::api::create,
        crate::referrals::api::get,
        crate::referrals::api::transition,
        crate::appointments::api::list,
        crate::appointments::api::create,
        crate::appointments::api::get,
        crate::appointments::api::update,
        crate::appointments::api::status,
        crate::appointments::api::rooms,
        crate::appointments::api::create_room,
        crate::appointments::api::availability,
        crate::appointments::api::set_availability,
        crate::appointments::reminder_settings::get_api,
        crate::appointments::reminder_settings::put_api,
        crate::appointments::feeds::status,
        crate::appointments::feeds::create,
        crate::appointments::feeds::revoke,
        crate::clinical::api::list_notes,
        crate::clinical::api::create_note,
        crate::clinical::api::get_note,
        crate::clinical::api::update_note,
        crate::clinical::api::discard_note,
        crate::clinical::api::sign_note,
        crate::clinical::api::amend_note,
        crate::clinical::api::cosign_note,
        crate::clinical::api::cosign_queue,
        crate::clinical::api::notes_owed,
        crate::clinical::api::list_assessments,
        crate::clinical::api::record_assessment,
        crate::clinical::api::get_assessment,
        crate::clinical::api::acknowledge_alert,
        crate::documents::api::list,
        crate::documents::api::upload,
        crate::documents::api::content,
        crate::help::api::categories,
        crate::help::api::articles,
        crate::help::api::article,
        crate::help::api::feedback,
        crate::help::api::search,
        crate::help::api::image,
    ),
    components(schemas(ErrorEnvelope, crate::error::FieldError)),
    modifiers(&Security),
    tags(
        (name = "health", description = "Liveness, readiness and component health. No sign-in needed."),
        (name = "auth", description = "Signing in and out, two-step verification, sessions."),
        (name = "tokens", description = "Personal API tokens."),
        (name = "users", description = "Staff administration (organisation admins)."),
        (name = "audit", description = "The audit trail (auditors)."),
        (name = "platform", description = "Operators' automation, as a service account."),
        (name = "clients", description = "Client records, care teams and emergency access. Every read is in the audit trail."),
        (name = "referrals", description = "Referrals in and out, and their workflow."),
        (name = "appointments", description = "Appointments, series, rooms and clinicians' hours. Times are UTC; the organisation's time zone decides wall-clock times."),
        (name = "documents", description = "Documents on clients and notes: type decided by content, size capped, encrypted at rest, stored by storage policy, every upload and download audited."),
        (name = "help", description = "The help centre: public, anonymous help articles. No sign-in, no cookie; nothing about the reader is stored."),
        (name = "notes", description = "Clinical notes, measures and safety alerts. Bodies and answers are encrypted at rest; every read is in the audit trail; local_only records only from approved networks."),
    )
)]
pub struct ApiDoc;

pub async fn openapi_json(_identity: Identity) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
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

pub async fn docs_page(CurrentTenant(tenant): CurrentTenant, identity: Identity) -> Result<Response, Error> {
    let doc = ApiDoc::openapi();
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
        chrome: Chrome::signed_in(&tenant.record.display_name, &identity),
        operations,
    })
}

//! The audit trail declares itself: the auditors' pages and API.

use utoipa::OpenApi;

use super::handlers;
use crate::module::Module;
use crate::policy::{Action, Scope};

#[derive(OpenApi)]
#[openapi(
    paths(handlers::events_api, handlers::export_api),
    tags((name = "audit", description = "The audit trail (auditors)."))
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("audit")
        .routes(handlers::routes)
        .openapi(ApiDoc::openapi)
        .nav(80, "/audit", "Audit trail", "audit", Some(Action::ReadAuditTrail))
        .scope(Scope::AuditRead, "search and export the audit trail (auditors)")
}

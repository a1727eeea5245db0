//! Health and metrics declare themselves: liveness, readiness, component health, and
//! Prometheus metrics for the bearer of the metrics token.

use axum::http::Method;
use utoipa::OpenApi;

use crate::module::Module;
use crate::web::routes::{Access, RouteTable};

#[derive(OpenApi)]
#[openapi(
    paths(super::health, super::ready, super::database, super::redis, super::audit_status),
    tags((name = "health", description = "Liveness, readiness and component health. No sign-in needed."))
)]
struct ApiDoc;

fn metrics(table: RouteTable) -> RouteTable {
    table.add(
        Access::Instance,
        Method::GET,
        "/metrics",
        crate::metrics::public_metrics,
    )
}

pub fn module() -> Module {
    Module::new("health")
        .routes(super::routes)
        .routes(metrics)
        .openapi(ApiDoc::openapi)
}

//! Backups declare themselves: the daily backup job of each organisation, the backups
//! page and API, the platform view and the operators' freshness check.

use utoipa::OpenApi;

use crate::module::Module;
use crate::policy::Action;

#[derive(OpenApi)]
#[openapi(
    paths(super::handlers::get_api, super::handlers::put_api, super::handlers::platform_api, super::handlers::health),
    tags((name = "backups", description = "The organisation's backups and daily backup schedule (organisation admins)."))
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("backups")
        .jobs(|handlers| {
            handlers
                .on(super::schedule::DAILY_JOB, super::schedule::run)
                .plan(super::schedule::plan)
        })
        .routes(super::handlers::routes)
        .operator_routes(super::handlers::operator_routes)
        .openapi(ApiDoc::openapi)
        .nav(
            52,
            "/admin/backups",
            "Backups",
            "backups",
            Some(Action::ManageOrganisation),
        )
}

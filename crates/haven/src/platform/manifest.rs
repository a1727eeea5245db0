//! The platform declares itself: the operators' API for service accounts and the job
//! queue's admin pages.

use utoipa::OpenApi;

use super::{handlers, jobs};
use crate::module::Module;
use crate::policy::Action;

#[derive(OpenApi)]
#[openapi(
    paths(handlers::tenants),
    tags((name = "platform", description = "Operators' automation, as a service account."))
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("platform")
        .routes(handlers::routes)
        .routes(jobs::pages::routes)
        .openapi(ApiDoc::openapi)
        .nav(60, "/admin/jobs", "Background jobs", "jobs", Some(Action::ManageJobs))
}

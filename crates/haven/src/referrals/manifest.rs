//! Referrals declare themselves: the queues, the workflow pages and the API.

use utoipa::OpenApi;

use super::{api, pages};
use crate::module::{ClientTable, Module};
use crate::policy::{Action, Scope};

#[derive(OpenApi)]
#[openapi(
    paths(api::list, api::create, api::get, api::transition),
    tags((name = "referrals", description = "Referrals in and out, and their workflow."))
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("referrals")
        .demo(30, super::demo::seed)
        .routes(api::routes)
        .routes(pages::routes)
        .openapi(ApiDoc::openapi)
        .nav(40, "/referrals", "Referrals", "referrals", Some(Action::ListReferrals))
        .chart_tab(50, "referrals", "Referrals", Action::ViewClinical)
        .scope(Scope::ReferralsRead, "the referral queues")
        .scope(Scope::ReferralsWrite, "create and move referrals")
        .client_table(ClientTable::Records("referrals"))
}

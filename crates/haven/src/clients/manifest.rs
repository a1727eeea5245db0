//! Clients declare themselves: the client list and record pages, the API, care teams and
//! emergency access, and the tables that hold a client's records.

use utoipa::OpenApi;

use super::{api, pages};
use crate::module::{ClientTable, Module};
use crate::policy::{Action, Scope};

#[derive(OpenApi)]
#[openapi(
    paths(
        api::list,
        api::create,
        api::get,
        api::update,
        api::put_team_member,
        api::delete_team_member,
        api::open_break_glass,
        api::break_glass_log,
    ),
    tags((name = "clients", description = "Client records, care teams and emergency access. Every read is in the audit trail."))
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("clients")
        .demo(20, super::demo::seed)
        .jobs(|handlers| {
            handlers
                .on(super::recount::RECOUNT_JOB, super::recount::run)
                .plan(super::recount::plan)
        })
        .routes(api::routes)
        .routes(pages::routes)
        .openapi(ApiDoc::openapi)
        .chart_tab(0, "", "Overview", Action::ViewClient)
        .nav(10, "/clients", "Clients", "clients", Some(Action::ListClients))
        .nav(
            70,
            "/break-glass",
            "Emergency access log",
            "break_glass",
            Some(Action::ReviewBreakGlass),
        )
        .scope(Scope::ClientsRead, "search and read the clients you may reach")
        .scope(Scope::ClientsWrite, "register and change clients, care teams")
        .client_table(ClientTable::Records("client_identifiers"))
        .client_table(ClientTable::Records("client_related_people"))
        .client_table(ClientTable::NotRecords(
            "care_team_members",
            "who may reach the client: access, not care",
        ))
        .client_table(ClientTable::NotRecords(
            "break_glass_grants",
            "emergency-access grants: access, not care",
        ))
}

//! Documents declare themselves: upload and download (pages and API), the sealed name
//! and content key, and the documents table.

use utoipa::OpenApi;

use super::{api, pages};
use crate::compliance::rotation::SealedColumn;
use crate::module::{ClientTable, Module};
use crate::policy::Action;

#[derive(OpenApi)]
#[openapi(
    paths(api::list, api::upload, api::content),
    tags((name = "documents", description = "Documents on clients and notes: type decided by content, size capped, encrypted at rest, stored by storage policy, every upload and download audited."))
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("documents")
        .chart_tab(40, "documents", "Documents", Action::ViewClinical)
        .routes(api::routes)
        .routes(pages::routes)
        .openapi(ApiDoc::openapi)
        .sealed(SealedColumn::new("documents", "name", "document.name"))
        .sealed(SealedColumn::new("documents", "content_key", "document.key"))
        .client_table(ClientTable::Flagged("documents"))
}

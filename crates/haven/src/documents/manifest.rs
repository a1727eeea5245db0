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

/// The fragment, with the download's types from the list uploads are held to.
fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    crate::web::openapi::file_response(
        &mut document,
        "/api/v1/documents/{id}/content",
        &axum::http::Method::GET,
        "200",
        super::ALLOWED_TYPES.iter().map(|(media_type, _)| *media_type),
    );
    document
}

pub fn module() -> Module {
    Module::new("documents")
        .chart_tab(40, "documents", "Documents", Action::ViewClinical)
        .routes(api::routes)
        .routes(pages::routes)
        .openapi(document)
        .sealed(SealedColumn::new("documents", "name", "document.name"))
        .sealed(SealedColumn::new("documents", "content_key", "document.key"))
        .client_table(ClientTable::Flagged("documents"))
}

//! The help centre declares itself: the public help routes (also served alone by
//! `haven help serve`) and the help editors' pages.

use utoipa::OpenApi;

use super::{api, editor_pages, public};
use crate::module::Module;
use crate::policy::{Action, Scope};
use crate::state::AppState;
use crate::web::routes::RouteTable;

#[derive(OpenApi)]
#[openapi(
    paths(api::categories, api::articles, api::article, api::feedback, api::search, api::image),
    tags((name = "help", description = "The help centre: public, anonymous help articles. No sign-in, no cookie; nothing about the reader is stored."))
)]
struct ApiDoc;

/// The fragment, with the image types articles may hold.
fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    crate::web::openapi::file_response(
        &mut document,
        "/api/help/v1/images/{id}",
        &axum::http::Method::GET,
        "200",
        super::editing::IMAGE_TYPES.iter().copied(),
    );
    document
}

fn public_routes(table: RouteTable, state: &AppState) -> RouteTable {
    let (router, paths) = public::routes::<AppState>().into_parts(&state.config.help.cors_origins);
    table.merge_instance(router, paths)
}

pub fn module() -> Module {
    Module::new("help")
        .demo(60, super::demo::seed)
        .routes_with(public_routes)
        .routes(editor_pages::routes)
        .openapi(document)
        .nav(
            90,
            "/help-editor",
            "Help articles",
            "help_editor",
            Some(Action::EditHelp),
        )
        .scope(Scope::HelpWrite, "write and publish help articles (help editors)")
}

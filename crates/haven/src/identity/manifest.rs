//! Identity and access declares itself: sign-in and account pages and API, staff
//! administration, security rules, API tokens, invitation and reset links.

use utoipa::OpenApi;

use super::{admin_handlers, handlers, links, password_handlers, settings_handlers, token_handlers};
use crate::compliance::rotation::SealedColumn;
use crate::module::Module;
use crate::policy::{Action, Scope};

#[derive(OpenApi)]
#[openapi(
    paths(
        handlers::sign_in_api,
        handlers::second_factor_api,
        handlers::enrol_api,
        handlers::confirm_api,
        handlers::sign_out_api,
        handlers::me_api,
        handlers::sessions_api,
        handlers::end_session_api,
        handlers::end_all_api,
        links::reset_request_api,
        password_handlers::api,
        token_handlers::list_api,
        token_handlers::create_api,
        token_handlers::revoke_api,
        admin_handlers::list_api,
        admin_handlers::invite_api,
        admin_handlers::change_api,
        admin_handlers::unlock_api,
        admin_handlers::reset_api,
        admin_handlers::sign_ins_api,
        admin_handlers::grant_requests_api,
        admin_handlers::approve_api,
        admin_handlers::refuse_api,
        settings_handlers::get_api,
        settings_handlers::put_api,
    ),
    tags(
        (name = "auth", description = "Signing in and out, two-step verification, sessions."),
        (name = "tokens", description = "Personal API tokens."),
        (name = "users", description = "Staff administration (organisation admins)."),
    )
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("identity")
        .demo(10, super::demo::seed)
        .jobs(|handlers| handlers.on(super::admin::GRANT_JOB, super::admin::notify_grant))
        .routes(handlers::routes)
        .routes(token_handlers::routes)
        .routes(admin_handlers::routes)
        .routes(settings_handlers::routes)
        .routes(password_handlers::routes)
        .routes(links::routes)
        .openapi(ApiDoc::openapi)
        .nav(50, "/admin/users", "Staff", "staff", Some(Action::ViewUsers))
        .nav(
            51,
            "/admin/security",
            "Security rules",
            "security",
            Some(Action::ViewUsers),
        )
        .nav(100, "/account", "My account", "account", None)
        .scope(Scope::AccountRead, "your own profile and sessions")
        .scope(Scope::UsersRead, "the staff list (admins)")
        .scope(Scope::UsersWrite, "staff accounts (admins)")
        .scope(Scope::OrganisationWrite, "organisation settings (admins)")
        .sealed(SealedColumn::new(
            "user_second_factors",
            "secret",
            "second_factor.secret",
        ))
}

//! The module manifests: what each module declares holds against the router, the API
//! document, the policy and the database, and a new module is one folder plus one line.

use std::collections::BTreeSet;

use haven::identity::Role;
use haven::module::{ClientTable, Modules};
use haven::policy::Scope;
use haven::web::routes::Access;

use crate::support::TestApp;

/// A module as a contributor would write one: its folder would hold this, and
/// `crate::modules::list()` would gain the line `crate::example::module(),`.
mod example {
    use axum::http::Method;
    use axum::response::{IntoResponse, Response};
    use haven::actor::Actor;
    use haven::error::Error;
    use haven::module::Module;
    use haven::platform::jobs::{JobFailure, JobRun};
    use haven::policy::Action;
    use haven::state::AppState;
    use haven::web::routes::{Access, RouteTable};
    use utoipa::OpenApi;

    pub const JOB: &str = "example.tidy";

    /// The example's answer: its type is its schema.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    pub struct Count {
        count: u32,
    }

    /// The example's count.
    #[utoipa::path(get, path = "/api/v1/example", tag = "example", security(("session" = []), ("bearer" = [])),
        responses((status = 200, description = "The count", body = Count)))]
    pub async fn count(caller: Actor) -> Result<Response, Error> {
        caller.authorize(&Action::ManageJobs).await?;
        Ok(axum::Json(Count { count: 3 }).into_response())
    }

    async fn page(caller: Actor) -> Result<Response, Error> {
        caller.authorize(&Action::ManageJobs).await?;
        Ok("the example page".into_response())
    }

    async fn tidy(_state: AppState, _run: JobRun) -> Result<(), JobFailure> {
        Ok(())
    }

    pub static SEEDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn demo(_state: &AppState) -> futures_util::future::BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async {
            SEEDED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
    }

    fn routes(table: RouteTable) -> RouteTable {
        table
            .add(Access::Full, Method::GET, "/example", page)
            .add(Access::Full, Method::GET, "/api/v1/example", count)
    }

    #[derive(OpenApi)]
    #[openapi(paths(count))]
    struct ApiDoc;

    pub fn module() -> Module {
        Module::new("example")
            .routes(routes)
            .openapi(ApiDoc::openapi)
            .jobs(|handlers| handlers.on(JOB, tidy))
            .nav(65, "/example", "Example", "example", Some(Action::ManageJobs))
            .demo(99, demo)
    }
}

#[tokio::test]
async fn a_module_added_to_the_list_is_routed_guarded_documented_navigable_and_runs_its_jobs() {
    let mut list = haven::modules::list();
    list.push(example::module()); // the one line
    let app = TestApp::spawn_with_modules(Modules::new(list)).await;

    assert!(
        app.state
            .modules
            .job_handlers()
            .kinds()
            .contains(&example::JOB.to_owned()),
        "the worker runs the module's job kind"
    );
    let seeders = app.state.modules.demo_seeders();
    assert_eq!(seeders.len(), 7, "six modules' demo data, then the example's");
    if let Some(last) = seeders.last() {
        last(&app.state).await.unwrap();
    }
    assert_eq!(
        example::SEEDED.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the demo runs the module's seeding last, by its position"
    );
    let anonymous = app.client.get(app.url("/api/v1/example")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "behind sign-in as declared");

    for (email, role) in [
        ("admin@example.org", Role::OrgAdmin),
        ("desk@example.org", Role::FrontDesk),
    ] {
        app.create_user(email, &[role], Some("lantern orbit velvet quarry"))
            .await;
    }
    let admin = app.browser();
    app.sign_in(&admin, "admin@example.org", "lantern orbit velvet quarry")
        .await;
    let count = app.get_json(&admin, "/api/v1/example").await;
    assert_eq!(count["count"], 3);
    let home = app.get_text(&admin, "/").await;
    assert!(home.contains("href=\"/example\""), "the admin's navigation shows it");
    let doc = app.get_json(&admin, "/api/openapi.json").await;
    assert!(doc["paths"]["/api/v1/example"]["get"].is_object(), "documented");
    assert!(
        doc["paths"]["/api/v1/clients"]["get"].is_object(),
        "beside every other module"
    );

    let desk = app.browser();
    app.sign_in(&desk, "desk@example.org", "lantern orbit velvet quarry")
        .await;
    let home = app.get_text(&desk, "/").await;
    assert!(!home.contains("href=\"/example\""), "the same policy action hides it");
    assert_eq!(desk.get(app.url("/example")).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn the_manifests_hold_against_the_router_the_policy_and_the_database() {
    let app = TestApp::spawn().await;
    let modules = &app.state.modules;
    let table = modules.route_table(&app.state);

    // Every navigation entry leads to a page for signed-in staff.
    for entry in modules.nav() {
        assert!(
            table
                .specs()
                .iter()
                .any(|s| s.method == axum::http::Method::GET && s.path == entry.href && s.access == Access::Full),
            "navigation entry {} is not a signed-in page",
            entry.href
        );
    }

    // Every tab of the client chart is a signed-in page under the client, and the
    // overview comes first.
    assert_eq!(modules.chart_tabs().first().map(|t| t.path), Some(""));
    for tab in modules.chart_tabs() {
        let path = if tab.path.is_empty() {
            "/clients/{id}".to_owned()
        } else {
            format!("/clients/{{id}}/{}", tab.path)
        };
        assert!(
            table
                .specs()
                .iter()
                .any(|s| s.method == axum::http::Method::GET && s.path == path && s.access == Access::Full),
            "chart tab {path} is not a signed-in page"
        );
    }

    // Every scope the policy knows is offered by exactly one module.
    let offered: Vec<Scope> = modules.scopes().map(|(scope, _)| scope).collect();
    for scope in Scope::ALL {
        assert_eq!(
            offered.iter().filter(|s| **s == scope).count(),
            1,
            "{} offered by exactly one module",
            scope.as_str()
        );
    }

    // Every table with a client_id is declared by a module, flagged tables carry the
    // flag, and every sealed column exists.
    let mut db = app.superuser("default").await;
    let in_database: BTreeSet<String> = sqlx::query_scalar(
        "SELECT c.table_name::text FROM information_schema.columns c
         JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = 'public' AND c.column_name = 'client_id' AND t.table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let declared: BTreeSet<String> = modules.client_tables().map(|t| t.table().to_owned()).collect();
    assert_eq!(
        in_database, declared,
        "tables with a client_id, and the modules' declarations"
    );
    for table in modules.client_tables() {
        let has_flag: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = 'hipaa_exempt')",
        )
        .bind(table.table())
        .fetch_one(&mut db)
        .await
        .unwrap();
        assert_eq!(
            has_flag,
            matches!(table, ClientTable::Flagged(_)),
            "{} carries hipaa_exempt exactly when declared flagged",
            table.table()
        );
    }
    for sealed in modules.sealed() {
        let kind: Option<String> = sqlx::query_scalar(
            "SELECT data_type::text FROM information_schema.columns WHERE table_name = $1 AND column_name = $2",
        )
        .bind(sealed.table)
        .bind(sealed.column)
        .fetch_optional(&mut db)
        .await
        .unwrap();
        assert_eq!(
            kind.as_deref(),
            Some("bytea"),
            "{}.{} is sealed",
            sealed.table,
            sealed.column
        );
    }
}

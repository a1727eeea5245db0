//! Requests reach their organisation's own database by host name.

use haven::identity::Role;
use haven::platform::database::DatabaseServer;
use haven::platform::tenancy::{self, HostName, NewTenant, TenantSlug};

use crate::support::process::haven;
use crate::support::{TestApp, assert_envelope};

async fn tenant_of(app: &TestApp, client: &reqwest::Client, host: &str) -> reqwest::Response {
    client
        .get(app.url_on_host(host, "/api/v1/health/database"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
}

/// Registry changes reach the server by notification, a moment after they commit.
pub async fn wait_for_tenant(app: &TestApp, client: &reqwest::Client, host: &str, slug: &str) -> serde_json::Value {
    for _ in 0..100 {
        let body: serde_json::Value = tenant_of(app, client, host).await.json().await.unwrap();
        if body["checks"]["tenant"]["tenant"] == slug {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{host} never reached tenant {slug}");
}

pub async fn create_tenant(app: &TestApp, slug: &str, host: &str) {
    let server = DatabaseServer::from_url(app.config.database_url.as_ref().unwrap().expose()).unwrap();
    let control = server.connect_pool(server.control_database()).await.unwrap();
    let new = NewTenant {
        slug: TenantSlug::parse(slug).unwrap(),
        display_name: format!("{slug} services"),
        hosts: vec![HostName::parse(host).unwrap()],
    };
    tenancy::provision(&server, &control, &app.config.tenant_database_prefix, &new)
        .await
        .unwrap();
    control.close().await;
}

#[tokio::test]
async fn a_single_organisation_answers_any_host_name() {
    let app = TestApp::spawn().await;
    let client = app.client_for_hosts(&["anything.example"]);
    let response = tenant_of(&app, &client, "anything.example").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["tenant"]["tenant"], "default");
}

#[tokio::test]
async fn each_tenant_is_served_from_its_own_database_by_host_name() {
    let app = TestApp::spawn().await;
    create_tenant(&app, "acme", "acme.test").await;
    let client = app.client_for_hosts(&["acme.test", "localhost", "stranger.test"]);

    let body = wait_for_tenant(&app, &client, "acme.test", "acme").await;
    assert_eq!(
        body["checks"]["tenant"]["database"],
        app.tenant_database("acme").as_str()
    );

    let body: serde_json::Value = tenant_of(&app, &client, "localhost").await.json().await.unwrap();
    assert_eq!(body["checks"]["tenant"]["tenant"], "default");
    assert_eq!(
        body["checks"]["tenant"]["database"],
        app.tenant_database("default").as_str()
    );

    let page = client
        .get(app.url_on_host("acme.test", "/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Sign in to acme services"),
        "the sign-in page names the host's organisation"
    );

    let unknown = tenant_of(&app, &client, "stranger.test").await;
    assert_envelope(unknown, 404, "unknown_tenant").await;
}

#[tokio::test]
async fn a_tenant_created_by_the_cli_is_served_without_a_restart() {
    let app = TestApp::spawn().await;
    create_tenant(&app, "first", "first.test").await;
    let output = haven()
        .args([
            "tenant",
            "create",
            "north-clinic",
            "--host",
            "north.test",
            "--name",
            "North Clinic",
        ])
        .env("DATABASE_URL", app.config.database_url.as_ref().unwrap().expose())
        .env("HAVEN_TENANT_DATABASE_PREFIX", &app.config.tenant_database_prefix)
        .env("HAVEN_HELP_DATABASE", &app.config.help.database)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("created tenant north-clinic"));

    let client = app.client_for_hosts(&["north.test"]);
    let body = wait_for_tenant(&app, &client, "north.test", "north-clinic").await;
    assert_eq!(
        body["checks"]["tenant"]["database"],
        app.tenant_database("north_clinic").as_str()
    );
    assert_eq!(body["checks"]["tenant"]["migrations"], "current");

    let listed = haven()
        .args(["tenant", "list"])
        .env("DATABASE_URL", app.config.database_url.as_ref().unwrap().expose())
        .env("HAVEN_TENANT_DATABASE_PREFIX", &app.config.tenant_database_prefix)
        .env("HAVEN_HELP_DATABASE", &app.config.help.database)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("north-clinic") && listed.contains("north.test") && listed.contains("active"),
        "{listed}"
    );
}

#[tokio::test]
async fn taken_slugs_and_hosts_are_refused_in_one_line() {
    let app = TestApp::spawn().await;
    create_tenant(&app, "acme", "acme.test").await;
    for (slug, host, expected) in [
        ("acme", "other.test", "slug `acme` already exists"),
        ("other", "acme.test", "host name `acme.test` already belongs"),
        ("Bad Slug", "x.test", "is not a tenant slug"),
        ("okay", "not a host", "is not a host name"),
    ] {
        let output = haven()
            .args(["tenant", "create", slug, "--host", host])
            .env("DATABASE_URL", app.config.database_url.as_ref().unwrap().expose())
            .env("HAVEN_TENANT_DATABASE_PREFIX", &app.config.tenant_database_prefix)
            .env("HAVEN_HELP_DATABASE", &app.config.help.database)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    // Nothing half-made: only the two tenants exist.
    let server = DatabaseServer::from_url(app.config.database_url.as_ref().unwrap().expose()).unwrap();
    let control = server.connect_pool(server.control_database()).await.unwrap();
    let slugs: Vec<String> = tenancy::list_tenants(&control)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.slug.to_string())
        .collect();
    assert_eq!(slugs, ["default", "acme"]);
}

#[tokio::test]
async fn two_instances_starting_on_a_new_installation_do_not_race() {
    let cluster = crate::support::cluster();
    let id = crate::support::unique_id();
    let control = format!("t{id}_ctl");
    let url = cluster.url(&control);
    let prefix = format!("t{id}_");
    // No template: both instances find an empty server and must create everything.
    let build = |url: String, prefix: String| async move {
        let config = haven::config::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: None,
            database_url: Some(haven::config::Secret::new(url.clone())),
            tenant_database_prefix: prefix,
            ..haven::config::Config::default()
        };
        haven::app::Application::build(config, DatabaseServer::from_url(&url).unwrap()).await
    };
    let (first, second) = tokio::join!(build(url.clone(), prefix.clone()), build(url.clone(), prefix.clone()));
    let (first, second) = (first.unwrap(), second.unwrap());
    let tenants = tenancy::list_tenants(first.state().tenants.control_pool())
        .await
        .unwrap();
    assert_eq!(tenants.len(), 1, "exactly one default tenant");
    assert_eq!(tenants[0].slug.as_str(), "default");
    assert_eq!(tenants[0].database_name, format!("{prefix}default"));
    drop(second);
}

#[test]
fn haven_migrate_brings_a_new_installation_up_to_date() {
    let cluster = crate::support::cluster();
    let id = crate::support::unique_id();
    let url = cluster.url(&format!("t{id}_ctl"));
    let run = || {
        haven()
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .env("HAVEN_TENANT_DATABASE_PREFIX", format!("t{id}_"))
            .env("HAVEN_HELP_DATABASE", format!("t{id}_help"))
            .output()
            .unwrap()
    };
    let output = run();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 tenant database(s) are up to date"));
    // Running it again changes nothing and still succeeds.
    assert!(run().status.success());
}

/// The help centre is shared by every organisation of an installation, so only the help
/// editors of the organisation that keeps it (`[help] editing_organisation`) write it or
/// read its usage: a help editor of another organisation is refused on their own host
/// (issue 17, finding 8).
#[tokio::test]
async fn only_the_keeping_organisations_help_editors_write_the_shared_help_centre() {
    let app = TestApp::spawn().await;
    create_tenant(&app, "north", "north.test").await;
    let client = app.client_for_hosts(&["north.test"]);
    wait_for_tenant(&app, &client, "north.test", "north").await;
    let north = app.tenant("north");
    haven::identity::admin::create(
        &north.pool,
        &app.state.passwords,
        &app.state.clock,
        &haven::identity::admin::ChangedBy::command_line("test"),
        &haven::identity::admin::NewAccount {
            email: "editor@north.example",
            display_name: "North Editor",
            roles: &[Role::HelpEditor],
            password: Some("lantern orbit velvet quarry"),
        },
    )
    .await
    .unwrap();
    let signed_in: serde_json::Value = client
        .post(app.url_on_host("north.test", "/api/v1/auth/sign-in"))
        .json(&serde_json::json!({ "email": "editor@north.example", "password": "lantern orbit velvet quarry" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = signed_in["csrf_token"]
        .as_str()
        .expect("the north editor signs in")
        .to_owned();
    for path in ["/help-editor", "/help-editor/usage", "/help-editor/new"] {
        let response = client.get(app.url_on_host("north.test", path)).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path} on north.test");
    }
    let response = client
        .post(app.url_on_host("north.test", "/help-editor/preview"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "markdown": "x" }))
        .send()
        .await
        .unwrap();
    assert_envelope(response, 403, "forbidden").await;

    // The keeping organisation's help editor writes it.
    let keeper = crate::clients::Staff::sign_in(&app, "gray@example.org", &[Role::HelpEditor]).await;
    assert_eq!(crate::notes::page(&app, &keeper, "/help-editor").await.0, 200);
}

/// The pool asks a connection that rested whether it is still alive before handing it
/// out, so connections the server ended while they rested (a restart of the cluster, an
/// operator's `pg_terminate_backend`) are replaced rather than answered with an error.
#[tokio::test]
async fn connections_the_server_ended_while_they_rested_are_replaced() {
    let app = TestApp::spawn().await;
    let client = app.browser();
    let health = || client.get(app.url("/api/v1/health/database")).send();
    assert_eq!(
        health().await.unwrap().status(),
        200,
        "the organisation's database answers"
    );
    // Longer than a connection may rest without being asked (CHECK_AFTER_IDLE).
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let mut db = app.superuser("default").await;
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM (
             SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid() OFFSET 0) others",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(ended >= 1, "the pool's connections were ended");
    let response = health().await.unwrap();
    let status = response.status();
    assert_eq!(status, 200, "{}", response.text().await.unwrap_or_default());
}

//! Requests reach their organisation's own database by host name.

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
async fn wait_for_tenant(app: &TestApp, client: &reqwest::Client, host: &str, slug: &str) -> serde_json::Value {
    for _ in 0..100 {
        let body: serde_json::Value = tenant_of(app, client, host).await.json().await.unwrap();
        if body["checks"]["tenant"]["tenant"] == slug {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{host} never reached tenant {slug}");
}

async fn create_tenant(app: &TestApp, slug: &str, host: &str) {
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
        .get(app.url_on_host("acme.test", "/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("acme services"),
        "the start page names the host's organisation"
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

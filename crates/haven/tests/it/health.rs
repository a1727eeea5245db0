//! Liveness, readiness and the per-component health endpoints.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::Connection;

use crate::support::{TestApp, assert_envelope};

#[tokio::test]
async fn ready_reports_every_database_with_its_migrations() {
    let app = TestApp::spawn().await;
    let response = app.admin_get("/ready").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["control"]["status"], "ok");
    assert_eq!(body["checks"]["control"]["migrations"], "current");
    assert_eq!(body["checks"]["tenants"][0]["tenant"], "default");
    assert_eq!(body["checks"]["tenants"][0]["migrations"], "current");
}

#[tokio::test]
async fn ready_is_503_while_a_tenant_database_lacks_a_migration() {
    let app = TestApp::spawn().await;
    let mut tenant_db = sqlx::PgConnection::connect(&app.database_url(&app.tenant_database("default")))
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)")
        .execute(&mut tenant_db)
        .await
        .unwrap();
    let body = assert_envelope(app.admin_get("/ready").await, 503, "not_ready").await;
    assert_eq!(body["details"]["tenants"][0]["migrations"], "pending", "{body}");
    assert_eq!(body["details"]["control"]["migrations"], "current", "{body}");

    let body = assert_envelope(app.get("/api/v1/health/database").await, 503, "database_unavailable").await;
    assert_eq!(body["details"]["tenant"]["migrations"], "pending");
}

#[tokio::test]
async fn ready_is_503_when_a_tenant_database_is_gone() {
    let app = TestApp::spawn().await;
    let mut admin = sqlx::PgConnection::connect(&app.database_url("postgres"))
        .await
        .unwrap();
    sqlx::query(&format!(
        "DROP DATABASE \"{}\" WITH (FORCE)",
        app.tenant_database("default")
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let body = assert_envelope(app.admin_get("/ready").await, 503, "not_ready").await;
    assert_eq!(body["details"]["tenants"][0]["status"], "unreachable", "{body}");
    let public = assert_envelope(app.get("/ready").await, 503, "not_ready").await;
    assert_eq!(
        public["details"],
        serde_json::json!({ "tenants": 1, "failing": 1 }),
        "counts, not names"
    );
    let live = app.get("/health").await;
    assert_eq!(live.status(), 200, "liveness does not depend on the database");
}

#[tokio::test]
async fn redis_health_says_not_configured_without_redis_url() {
    let app = TestApp::spawn().await;
    let body: serde_json::Value = app.get("/api/v1/health/redis").await.json().await.unwrap();
    assert_eq!(body["status"], "not_configured");
}

#[tokio::test]
async fn redis_health_is_503_when_redis_does_not_answer() {
    let port = free_port();
    let app =
        TestApp::spawn_with(|c| c.redis_url = Some(haven::config::Secret::new(format!("redis://127.0.0.1:{port}"))))
            .await;
    assert_envelope(app.get("/api/v1/health/redis").await, 503, "redis_unavailable").await;
}

#[tokio::test]
async fn redis_health_pings_a_real_redis() {
    let port = free_port();
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (.ci/run installs it)");
    let app =
        TestApp::spawn_with(|c| c.redis_url = Some(haven::config::Secret::new(format!("redis://127.0.0.1:{port}"))))
            .await;
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        let response = app.get("/api/v1/health/redis").await;
        if response.status() == 200 {
            status = response.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = redis.kill();
    let _ = redis.wait();
    assert_eq!(status["status"], "ok", "{status}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn the_public_listener_never_names_the_organisations_served() {
    let app = TestApp::spawn().await;
    for path in ["/ready", "/api/v1/health/audit-status"] {
        let text = app.get(path).await.text().await.unwrap();
        assert!(
            !text.contains("default") && !text.contains(&app.tenant_database("default")),
            "{path}: {text}"
        );
        let operator = app.admin_get(path).await.text().await.unwrap();
        assert!(
            operator.contains("default"),
            "the admin listener shows the detail: {operator}"
        );
    }
}

/// An anonymous `/ready` reuses the last second's answer, so a flood of them does not
/// query every organisation's database each time; operators always get a fresh check
/// (issue 17, finding 16).
#[tokio::test]
async fn an_anonymous_ready_answer_is_reused_for_a_second() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/ready").await.status(), 200);
    let mut tenant_db = sqlx::PgConnection::connect(&app.database_url(&app.tenant_database("default")))
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)")
        .execute(&mut tenant_db)
        .await
        .unwrap();
    assert_eq!(app.get("/ready").await.status(), 200, "the last second's answer");
    assert_envelope(app.admin_get("/ready").await, 503, "not_ready").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_envelope(app.get("/ready").await, 503, "not_ready").await;
}

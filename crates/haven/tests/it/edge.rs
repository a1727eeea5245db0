//! What every response gets: the envelope, the security headers, the request id, and
//! the body-size and time limits.

use std::time::Duration;

use sqlx::Connection;

use crate::support::{TestApp, assert_envelope, assert_security_headers};

#[tokio::test]
async fn success_responses_carry_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "generated ids are UUIDs: {id}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn unknown_route_gets_a_404_envelope_for_api_clients() {
    let app = TestApp::spawn().await;
    let body = assert_envelope(app.get("/no-such-page").await, 404, "not_found").await;
    assert!(body.get("details").is_none());
    let api = app.get("/api/v1/no-such-thing").await;
    assert_envelope(api, 404, "not_found").await;
}

#[tokio::test]
async fn browsers_get_an_error_page_with_the_request_id() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/no-such-page"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_security_headers(&response);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let page = response.text().await.unwrap();
    assert!(page.contains(&id), "the page quotes the request id");
    assert!(page.contains("Not Found"));
}

#[tokio::test]
async fn api_paths_get_json_even_when_a_browser_asks() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/api/v1/nothing"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_envelope(response, 404, "not_found").await;
}

#[tokio::test]
async fn wrong_method_gets_a_405_envelope_that_keeps_allow() {
    let app = TestApp::spawn().await;
    let response = app.client.post(app.url("/health")).send().await.unwrap();
    let allow = response.headers().get("allow").cloned();
    assert_envelope(response, 405, "method_not_allowed").await;
    assert!(allow.is_some_and(|a| a.to_str().unwrap().contains("GET")));
}

#[tokio::test]
async fn request_id_from_a_trusted_proxy_is_kept() {
    let app = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let response = app
        .client
        .get(app.url("/no-such-page"))
        .header("x-request-id", "lb-7f3a.42")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "lb-7f3a.42");
    let body = assert_envelope(response, 404, "not_found").await;
    assert_eq!(body["request_id"], "lb-7f3a.42");
}

#[tokio::test]
async fn request_id_from_an_untrusted_peer_or_malformed_is_replaced() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "spoofed")
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "spoofed");

    let trusting = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let response = trusting
        .client
        .get(trusting.url("/health"))
        .header("x-request-id", "has spaces and; semicolons")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_a_413_envelope() {
    let app = TestApp::spawn_with(|c| c.request_body_limit = bytesize::ByteSize::kib(1)).await;
    let response = app
        .client
        .post(app.url("/api/v1/health/database"))
        .header("content-type", "application/json")
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_envelope(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn a_request_past_the_timeout_gets_a_408_envelope() {
    let app = TestApp::spawn_with(|c| c.request_timeout = Duration::from_millis(300)).await;
    // Hold a lock that the readiness check must wait for.
    let mut blocker = sqlx::PgConnection::connect(&app.database_url(&app.tenant_database("default")))
        .await
        .unwrap();
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let response = app.get("/ready").await;
    assert_envelope(response, 408, "request_timeout").await;
    tx.rollback().await.unwrap();
    assert_eq!(app.get("/ready").await.status(), 200);
}

#[tokio::test]
async fn metrics_are_not_public_without_a_token() {
    let app = TestApp::spawn().await;
    assert_envelope(app.get("/metrics").await, 404, "not_found").await;
    assert_eq!(app.get("/nowhere").await.status(), 404);

    let admin = app.admin_addr.expect("admin listener");
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("haven_http_requests_total"), "{text}");
    assert!(
        text.contains("route=\"unmatched\""),
        "the 404 above was counted: {text}"
    );
    assert!(text.contains("haven_db_pool_connections"), "{text}");
    assert!(
        text.contains("haven_forwarded_without_trusted_proxies_total 0"),
        "{text}"
    );

    // A request that came through a local proxy nobody declared is counted (and the
    // first one is logged as a warning): every such request counts as the proxy's own
    // address, which the approved networks may include.
    app.client
        .get(app.url("/health"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("haven_forwarded_without_trusted_proxies_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_answer_the_bearer_of_the_token_on_the_public_listener() {
    let token = "a-long-random-metrics-token-0123456789";
    let app = TestApp::spawn_with(|c| c.metrics_token = Some(haven::config::Secret::new(token))).await;
    let denied = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_envelope(denied, 401, "unauthenticated").await;
    let allowed = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(
        allowed
            .text()
            .await
            .unwrap()
            .contains("haven_http_request_duration_seconds")
    );
}

//! The OpenAPI document describes every API route, and the docs page shows it.

use haven::identity::Role;

use crate::support::TestApp;

#[tokio::test]
async fn the_openapi_document_covers_every_api_route() {
    let app = TestApp::spawn().await;
    app.create_user(
        "dev@example.org",
        &[Role::Clinician],
        Some("lantern orbit velvet quarry"),
    )
    .await;
    assert_eq!(
        app.get("/api/openapi.json").await.status(),
        401,
        "signed-in people only"
    );
    let client = app.browser();
    app.sign_in(&client, "dev@example.org", "lantern orbit velvet quarry")
        .await;
    let doc: serde_json::Value = client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["components"]["securitySchemes"]["session"]["in"], "cookie");
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());

    let mut missing = Vec::new();
    for spec in app.state.modules.route_table(&app.state).specs() {
        let documented_elsewhere = ["/api/openapi.json", "/api/docs"].contains(&spec.path);
        if !(spec.path.starts_with("/api/") || ["/health", "/ready"].contains(&spec.path)) || documented_elsewhere {
            continue;
        }
        let method = spec.method.as_str().to_lowercase();
        if doc["paths"][spec.path][&method].is_null() {
            missing.push(format!("{} {}", spec.method, spec.path));
        }
    }
    assert!(missing.is_empty(), "undocumented API routes: {missing:?}");

    let events = &doc["paths"]["/api/v1/audit/events"]["get"];
    let parameters: Vec<&str> = events["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "from",
        "to",
        "actor",
        "resource_type",
        "resource_id",
        "action",
        "outcome",
        "before",
        "limit",
    ] {
        assert!(parameters.contains(&name), "{name} in {parameters:?}");
    }
    assert!(events["responses"]["503"].is_object(), "fail-closed is documented");

    let page = client
        .get(app.url("/api/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("GET /api/v1/audit/events") && page.contains("POST /api/v1/auth/sign-in"));
}

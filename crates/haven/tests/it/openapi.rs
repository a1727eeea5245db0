//! The OpenAPI document describes every API route, and the docs page shows it.

use haven::identity::Role;
use haven::web::routes::Access;
use serde_json::{Value, json};

use crate::clients::Staff;
use crate::support::contract::Contract;
use crate::support::{TestApp, assert_envelope, field_names};

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
        let operation = &doc["paths"][spec.path][&method];
        if operation.is_null() {
            missing.push(format!("{} {}", spec.method, spec.path));
        }
        // What the document says about signing in is what the route table enforces.
        let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
        let needs_credentials = !matches!(spec.access, Access::Public | Access::Instance);
        assert_eq!(
            secured, needs_credentials,
            "{} {}: security in the document vs the route's access {:?}",
            spec.method, spec.path, spec.access
        );
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
    // The guide: how to fetch the document with a token, and the scopes from the modules.
    assert!(
        page.contains("Authorization: Bearer $TOKEN\" \"$HAVEN/api/openapi.json\""),
        "fetching the document"
    );
    assert!(page.contains("<code>clients:read</code>") && page.contains("<code>help:write</code>"));
}

/// An integrator's view, end to end: a client generated from the served document by an
/// independent generator (openapi-python-client, from PyPI) lists clients, registers one
/// and reads appointments against a running Haven, parsing every answer into its models.
/// Then the kit's contract check is shown to fail on a document that is wrong, and the
/// API's own refusals are the ones the document names.
#[tokio::test]
async fn a_client_generated_from_the_document_registers_lists_and_reads_appointments() {
    let app = TestApp::spawn().await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let robin = alex
        .register(
            &app,
            &json!({ "legal_given_name": "Robin", "legal_family_name": "Ashbrook" }),
        )
        .await;
    let starts_at = (app.state.clock.now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT10:00:00Z")
        .to_string();
    let booked = desk
        .post(
            &app,
            "/api/v1/appointments",
            &json!({
                "client_ids": [robin["id"]],
                "clinician_id": alex.id.0,
                "place": "telehealth",
                "telehealth_url": "https://video.example.org/room/42",
                "service_type": "Counselling",
                "starts_at": starts_at,
                "duration_minutes": 50,
            }),
        )
        .await;
    assert_eq!(booked.status(), 201, "{:?}", booked.text().await);
    let booked: Value = booked.json().await.unwrap();
    let appointment = &booked["appointments"][0];
    let token = app
        .token(
            &desk.client,
            &desk.csrf,
            &["clients:read", "clients:write", "appointments:read"],
        )
        .await;

    // The document, fetched as the docs page says: with a token.
    let document = app
        .client
        .get(app.url("/api/openapi.json"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(document.status(), 200);
    let document = document.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("openapi.json"), &document).unwrap();
    let generated = tokio::process::Command::new("python3")
        .args(["-m", "openapi_python_client", "generate", "--meta", "none", "--path"])
        .arg(dir.path().join("openapi.json"))
        .arg("--output-path")
        .arg(dir.path().join("haven_client"))
        .output()
        .await
        .expect("python3 runs openapi-python-client (scripts/test installs it)");
    assert!(
        generated.status.success(),
        "generation failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/generated_client.py");
    let day = |days: i64| {
        (app.state.clock.now() + chrono::Duration::days(days))
            .format("%Y-%m-%dT00:00:00Z")
            .to_string()
    };
    let ran = tokio::process::Command::new("python3")
        .arg(script)
        .env("PYTHONPATH", dir.path())
        .env("HAVEN_URL", app.url(""))
        .env("HAVEN_TOKEN", &token)
        .env("FROM", day(0))
        .env("TO", day(7))
        .output()
        .await
        .unwrap();
    assert!(
        ran.status.success(),
        "the generated client failed:\n{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    let seen: Value = serde_json::from_slice(&ran.stdout).expect("the script prints JSON");
    assert_eq!(seen["listed_before"], 1, "Robin, on the desk's list: {seen}");
    assert_eq!(seen["registered"]["status"], "active", "{seen}");
    assert_eq!(seen["found"], json!([seen["registered"]["id"]]), "{seen}");
    assert_eq!(
        seen["appointments"],
        json!([{ "id": appointment["id"], "status": "scheduled", "clients": [robin["id"]] }]),
        "{seen}"
    );
    assert_eq!(
        seen["refused"],
        json!({ "status": 422, "error_code": "validation_failed", "fields": ["per_page"] })
    );

    // The contract check fails on a wrong document: the appointment's status written as
    // the Rust variant's name rather than the word on the wire.
    let path = format!("/api/v1/appointments/{}", appointment["id"].as_str().unwrap());
    let real = desk.get(&app, &path).await.bytes().await.unwrap();
    let mut wrong: Value = serde_json::from_slice(&document).unwrap();
    wrong["components"]["schemas"]["AppointmentStatus"]["enum"] =
        json!(["Scheduled", "Arrived", "Completed", "Cancelled", "NoShow"]);
    let check = |contract: &crate::support::contract::Contract| {
        contract.check(&reqwest::Method::GET, &path, 200, Some("application/json"), &real)
    };
    let refused = check(&Contract::new(wrong)).unwrap_err();
    assert!(
        refused.contains("\"scheduled\"") && refused.contains("/status"),
        "{refused}"
    );
    check(&app.contract).expect("the served document describes the same answer");

    // Refusals the document names: an unknown query parameter (named, with what the
    // operation takes), an unknown body field, a body that is not JSON, an id that is
    // not one.
    let unknown = app
        .client
        .get(app.url("/api/v1/clients?limit=100&per_page=5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body = assert_envelope(unknown, 422, "validation_failed").await;
    assert_eq!(field_names(&body), ["limit"]);
    assert!(
        body["details"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("per_page"),
        "{body}"
    );
    let extra = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&token)
        .json(&json!({ "legal_given_name": "Quinn", "legal_family_name": "Marlowe", "nickname": "Q" }))
        .send()
        .await
        .unwrap();
    let body = assert_envelope(extra, 422, "validation_failed").await;
    assert_eq!(field_names(&body), ["nickname"], "an unknown body field is named too");
    let form = app
        .client
        .post(app.url("/api/v1/clients"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("legal_given_name=Quinn")
        .send()
        .await
        .unwrap();
    assert_envelope(form, 415, "unsupported_media_type").await;
    let malformed = app
        .client
        .get(app.url("/api/v1/clients/not-a-uuid"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_envelope(malformed, 400, "bad_request").await;
    let doc: Value = serde_json::from_slice(&document).unwrap();
    let operation = &doc["paths"]["/api/v1/clients/{id}"]["get"];
    for status in ["400", "401", "403", "404", "422", "503"] {
        assert!(operation["responses"][status].is_object(), "{status} documented");
    }
    assert!(doc["paths"]["/api/v1/clients"]["post"]["responses"]["415"].is_object());
}

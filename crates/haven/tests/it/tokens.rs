//! Personal API tokens: shown once, stored hashed, scoped, expiring, revocable.

use haven::identity::Role;
use sqlx::Row as _;

use crate::support::{TestApp, assert_envelope};

const PASSWORD: &str = "lantern orbit velvet quarry";

/// Sam, a clinician, signed in through the API: the browser and its CSRF token.
async fn sam_signed_in(app: &TestApp) -> (reqwest::Client, String) {
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let browser = app.browser();
    let body = app.sign_in(&browser, "sam@example.org", PASSWORD).await;
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    (browser, csrf)
}

#[tokio::test]
async fn a_token_works_on_the_api_within_its_scopes_until_revoked() {
    let app = TestApp::spawn().await;
    let (browser, csrf) = sam_signed_in(&app).await;
    let created = app.make_token(&browser, &csrf, &["account:read"]).await;
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("hvn_") && token.len() > 40);

    // Only the hash is stored.
    let mut db = app.superuser("default").await;
    let row = sqlx::query("SELECT token_hash FROM api_tokens")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let stored: Vec<u8> = row.get("token_hash");
    assert_eq!(stored, haven::identity::secret::digest(&token).to_vec());
    let listed: serde_json::Value = browser
        .get(app.url("/api/v1/auth/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !listed.to_string().contains(&token),
        "the list never shows the token again"
    );

    let script = reqwest::Client::new();
    let me = script
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "no CSRF token needed with a bearer token");
    let page = script
        .get(app.url("/account"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401, "tokens are for the API, not pages");
    let mint = script
        .post(app.url("/api/v1/auth/tokens"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "name": "more", "scopes": ["account:read"] }))
        .send()
        .await
        .unwrap();
    assert_envelope(mint, 403, "session_required").await;

    let id = created["id"].as_str().unwrap();
    let revoked = browser
        .delete(app.url(&format!("/api/v1/auth/tokens/{id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let after = script
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_envelope(after, 401, "invalid_token").await;
    let forged = script
        .get(app.url("/api/v1/me"))
        .bearer_auth("hvn_forged")
        .send()
        .await
        .unwrap();
    assert_envelope(forged, 401, "invalid_token").await;
}

/// Verified tokens are kept for a few seconds; a change made elsewhere (the command line,
/// another Haven instance: here, straight in the database) ends them at once all the same.
#[tokio::test]
async fn a_token_ends_at_once_when_it_or_its_owner_changes_elsewhere() {
    let app = TestApp::spawn().await;
    let (browser, csrf) = sam_signed_in(&app).await;
    let script = reqwest::Client::new();
    let mut db = app.superuser("default").await;
    let changes = [
        "UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL",
        "UPDATE users SET status = 'disabled'",
    ];
    for change in changes {
        let created = app.make_token(&browser, &csrf, &["account:read"]).await;
        let token = created["token"].as_str().unwrap().to_owned();
        for _ in 0..3 {
            let me = script
                .get(app.url("/api/v1/me"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(me.status(), 200, "the token works before: {change}");
        }
        sqlx::query(change).execute(&mut db).await.unwrap();
        // Well within the cache's ten seconds: only the change's notification ends it.
        let began = std::time::Instant::now();
        loop {
            let me = script
                .get(app.url("/api/v1/me"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            if me.status() == 401 {
                assert_envelope(me, 401, "invalid_token").await;
                break;
            }
            assert!(
                began.elapsed() < std::time::Duration::from_secs(2),
                "the token still works 2 s after: {change}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn token_requests_are_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let (browser, csrf) = sam_signed_in(&app).await;
    let response = browser
        .post(app.url("/api/v1/auth/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "name": " ", "scopes": ["root:write"], "expires_in_days": 9999 }))
        .send()
        .await
        .unwrap();
    let body = assert_envelope(response, 422, "validation_failed").await;
    let fields = crate::support::field_names(&body);
    assert_eq!(fields, ["name", "scopes", "expires_in_days"]);
    let malformed = browser
        .post(app.url("/api/v1/auth/tokens"))
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body("{\"name\": 5}")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 422);
    let listed: serde_json::Value = browser
        .get(app.url("/api/v1/auth/tokens"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 0, "nothing half-made");
}

#[tokio::test]
async fn a_token_sees_its_owners_sessions_only_with_account_read_and_never_ends_them() {
    let app = TestApp::spawn().await;
    let (browser, csrf) = sam_signed_in(&app).await;
    let clinical = app.token(&browser, &csrf, &["clients:read"]).await;
    let account = app.token(&browser, &csrf, &["account:read"]).await;
    let sessions = |token: &str| {
        app.client
            .get(app.url("/api/v1/auth/sessions"))
            .bearer_auth(token)
            .send()
    };
    assert_envelope(sessions(&clinical).await.unwrap(), 403, "forbidden").await;
    let listed: serde_json::Value = sessions(&account).await.unwrap().json().await.unwrap();
    let id = listed["sessions"][0]["id"].as_str().unwrap().to_owned();

    for token in [&clinical, &account] {
        let one = app
            .client
            .delete(app.url(&format!("/api/v1/auth/sessions/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_envelope(one, 403, "session_required").await;
        let all = app
            .client
            .post(app.url("/api/v1/auth/sign-out-everywhere"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_envelope(all, 403, "session_required").await;
    }
    assert_eq!(
        browser.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        200,
        "the session is still there"
    );
}

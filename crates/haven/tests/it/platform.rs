//! Service accounts on /api/platform/*: short-lived EdDSA JWTs, scoped, revocable.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

use crate::support::{TestApp, assert_envelope};

pub struct Key {
    seed: [u8; 32],
    public: [u8; 32],
}

pub fn key(byte: u8) -> Key {
    let seed = [byte; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    Key { seed, public }
}

/// A JWT as an operator's script makes one: EdDSA, `kid` = the account, `aud`, `iat`, `exp`.
pub fn jwt(key: &Key, kid: &str, issued: i64, lifetime: i64) -> String {
    // PKCS#8 wrapping of an Ed25519 seed (RFC 8410): fixed prefix, then the 32 bytes.
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend_from_slice(&key.seed);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    let claims = serde_json::json!({ "aud": "haven-platform", "iat": issued, "exp": issued + lifetime });
    encode(&header, &claims, &EncodingKey::from_ed_der(&der)).unwrap()
}

pub async fn register(app: &TestApp, name: &str, key: &Key, scope: &str) -> String {
    let output = app
        .haven(&[
            "service-account",
            "create",
            name,
            "--public-key",
            &hex::encode(key.public),
            "--scope",
            scope,
        ])
        .await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    stdout.trim().rsplit(' ').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_service_account_reads_the_platform_api_with_a_short_lived_token() {
    let app = TestApp::spawn().await;
    let reader = key(7);
    let id = register(&app, "ops-bot", &reader, "platform:read").await;
    let now = haven::clock::system().now().timestamp();
    let call = |token: Option<String>| {
        let request = reqwest::Client::new().get(app.url("/api/platform/tenants"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };

    let ok = call(Some(jwt(&reader, &id, now, 300))).await;
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["tenants"][0]["slug"], "default");

    assert_envelope(call(None).await, 401, "unauthenticated").await;
    for (what, token) in [
        ("expired", jwt(&reader, &id, now - 600, 300)),
        ("lives an hour", jwt(&reader, &id, now, 3600)),
        ("signed with another key", jwt(&key(8), &id, now, 300)),
        (
            "names no such account",
            jwt(&reader, "0190f1a2-0000-7000-8000-000000000001", now, 300),
        ),
        ("is not a JWT", "hvn_something".to_owned()),
    ] {
        let response = call(Some(token)).await;
        assert_eq!(response.status(), 401, "a token that {what}");
    }

    let writer = key(9);
    let writer_id = register(&app, "deployer", &writer, "platform:write").await;
    assert_envelope(call(Some(jwt(&writer, &writer_id, now, 300))).await, 403, "forbidden").await;

    let disabled = app.haven(&["service-account", "disable", "ops-bot"]).await;
    assert!(disabled.status.success());
    assert_eq!(
        call(Some(jwt(&reader, &id, now, 300))).await.status(),
        401,
        "disabled at once"
    );

    let taken = app
        .haven(&[
            "service-account",
            "create",
            "deployer",
            "--public-key",
            &hex::encode(writer.public),
            "--scope",
            "platform:read",
        ])
        .await;
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("exists already"));
    let bad_key = app
        .haven(&[
            "service-account",
            "create",
            "x-bot",
            "--public-key",
            "abcd",
            "--scope",
            "platform:read",
        ])
        .await;
    assert!(String::from_utf8_lossy(&bad_key.stderr).contains("32 bytes"));
}

#[tokio::test]
async fn staff_sessions_do_not_reach_the_platform_api() {
    let app = TestApp::spawn().await;
    app.create_user(
        "ops@example.org",
        &[haven::identity::Role::OrgAdmin],
        Some("lantern orbit velvet quarry"),
    )
    .await;
    let client = app.browser();
    app.sign_in(&client, "ops@example.org", "lantern orbit velvet quarry")
        .await;
    let response = client.get(app.url("/api/platform/tenants")).send().await.unwrap();
    assert_envelope(response, 401, "unauthenticated").await;
}

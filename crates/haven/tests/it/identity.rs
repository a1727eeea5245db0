//! Sign-in, sessions, CSRF, lockout, second factor, and the login audit, over real HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use haven::clock::{Clock as _, ManualClock};
use haven::compliance::audit::{self, EventFilter};
use haven::identity::admin::{self, ChangedBy};
use haven::identity::{Role, store, two_factor};

use crate::support::{TestApp, assert_envelope};

const PASSWORD: &str = "lantern orbit velvet quarry";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

fn start_of_test() -> DateTime<Utc> {
    haven::clock::system().now()
}

/// Signs in through the page, as a browser does.
async fn sign_in_page(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
    sign_in_page_to(app, client, email, password, "/account").await
}

/// The same, asking to land on `next`.
async fn sign_in_page_to(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    let page = client
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    client
        .post(app.url("/sign-in"))
        .header("user-agent", FIREFOX)
        .form(&[
            ("email", email),
            ("password", password),
            ("next", next),
            ("_csrf", &crate::support::hidden_csrf(&page)),
        ])
        .send()
        .await
        .unwrap()
}

/// A TOTP code from an independent implementation (pyotp).
fn pyotp(secret_base32: &str, at: DateTime<Utc>) -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret_base32,
        ])
        .arg(at.timestamp().to_string())
        .output()
        .expect("python3 with pyotp (.ci/run installs it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

async fn me(app: &TestApp, client: &reqwest::Client) -> u16 {
    client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn signing_in_sets_a_hardened_cookie_and_a_new_session_each_time() {
    let app = TestApp::spawn().await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let client = app.browser();
    let response = sign_in_page(&app, &client, "sam@example.org", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("haven_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    assert_eq!(me(&app, &client).await, 200);

    // Signing in again on the same browser replaces the session.
    let first_token = cookie.split(';').next().unwrap().to_owned();
    let again = sign_in_page(&app, &client, "sam@example.org", PASSWORD).await;
    let second_token = again.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(first_token, second_token, "the session id is rotated at sign-in");
    let stale = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .header("cookie", &first_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401, "the replaced session is over");
    let sessions: serde_json::Value = client
        .get(app.url("/api/v1/auth/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn behind_a_tls_proxy_the_cookie_is_secure_and_host_bound() {
    let app = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let response = app
        .browser()
        .post(app.url("/api/v1/auth/sign-in"))
        .header("x-forwarded-proto", "https")
        .json(&serde_json::json!({ "email": "sam@example.org", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-haven_session=") && cookie.contains("Secure"),
        "{cookie}"
    );
    // Over HTTPS only the host-bound name counts: a plain `haven_session` (which a
    // sibling subdomain or a plain-HTTP page could have planted) is not a session.
    let token = cookie
        .trim_start_matches("__Host-haven_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me_with = |name: &str| {
        app.client
            .get(app.url("/api/v1/me"))
            .header("x-forwarded-proto", "https")
            .header("cookie", format!("{name}={token}"))
            .send()
    };
    assert_eq!(me_with("__Host-haven_session").await.unwrap().status(), 200);
    assert_eq!(me_with("haven_session").await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for attempt in 0..4 {
        // Different addresses each time keep the per-address throttle out of it.
        for (email, times) in [("sam@example.org", &mut known), ("nobody@example.org", &mut unknown)] {
            let client = app.browser();
            let started = Instant::now();
            let response = client
                .post(app.url("/api/v1/auth/sign-in"))
                .json(&serde_json::json!({ "email": email, "password": format!("wrong password {attempt}") }))
                .send()
                .await
                .unwrap();
            times.push(started.elapsed());
            let body = assert_envelope(response, 401, "invalid_credentials").await;
            assert_eq!(body["message"], "Email or password is incorrect.");
        }
    }
    known.sort();
    unknown.sort();
    let (a, b) = (
        known[known.len() / 2].as_secs_f64(),
        unknown[unknown.len() / 2].as_secs_f64(),
    );
    assert!(
        a / b < 3.0 && b / a < 3.0,
        "median {a:.3}s vs {b:.3}s: an unknown email also pays for hashing"
    );
}

#[tokio::test]
async fn five_failures_lock_the_account_name_until_time_or_an_admin_lifts_it() {
    let clock = Arc::new(ManualClock::new(start_of_test()));
    let app = TestApp::spawn_with_clock(Arc::clone(&clock)).await;
    let id = app
        .create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    for (email, password) in [("sam@example.org", "wrong"), ("ghost@example.org", "wrong")] {
        for _ in 0..5 {
            let (status, _) = app.try_sign_in(&app.browser(), email, password).await;
            assert_eq!(status, 401);
        }
        let (status, body) = app.try_sign_in(&app.browser(), email, PASSWORD).await;
        assert_eq!(status, 429, "{email}: locked, even with the right password");
        assert_eq!(body["error_code"], "rate_limited");
        assert!(
            body["message"].as_str().unwrap().contains("Try again in 15 minutes"),
            "{body}"
        );
    }

    // An administrator lifts the lock at once.
    let tenant = app.tenant("default");
    admin::unlock(&tenant.pool, &app.state.clock, &ChangedBy::command_line("test"), id)
        .await
        .unwrap();
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", PASSWORD).await.0,
        200
    );

    // Time lifts it too.
    for _ in 0..5 {
        let (status, _) = app.try_sign_in(&app.browser(), "sam@example.org", "wrong").await;
        assert_eq!(status, 401, "a wrong password is refused");
    }
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", PASSWORD).await.0,
        429
    );
    clock.advance(TimeDelta::minutes(16));
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", PASSWORD).await.0,
        200
    );

    let events = audit::list_events(
        &tenant.pool,
        &EventFilter {
            action: Some("auth.locked".to_owned()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert!(events.len() >= 2, "each lock is audited");
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_lifetime() {
    let clock = Arc::new(ManualClock::new(start_of_test()));
    let app = TestApp::spawn_with_clock(Arc::clone(&clock)).await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let client = app.browser();
    app.sign_in(&client, "sam@example.org", PASSWORD).await;
    clock.advance(TimeDelta::minutes(14));
    assert_eq!(
        me(&app, &client).await,
        200,
        "activity within the idle timeout keeps it alive"
    );
    clock.advance(TimeDelta::minutes(14));
    assert_eq!(me(&app, &client).await, 200);
    clock.advance(TimeDelta::minutes(16));
    assert_eq!(me(&app, &client).await, 401, "16 idle minutes end it");
    let page = client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/sign-in?next=/account");

    // Busy all day: the 12-hour lifetime ends it anyway.
    app.sign_in(&client, "sam@example.org", PASSWORD).await;
    for _ in 0..(12 * 6 - 1) {
        clock.advance(TimeDelta::minutes(10));
        assert_eq!(me(&app, &client).await, 200);
    }
    clock.advance(TimeDelta::minutes(10));
    assert_eq!(me(&app, &client).await, 401);
}

#[tokio::test]
async fn unsafe_requests_need_the_session_csrf_token() {
    let app = TestApp::spawn().await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let client = app.browser();
    let body = app.sign_in(&client, "sam@example.org", PASSWORD).await;
    let token = body["csrf_token"].as_str().unwrap().to_owned();

    let missing = client
        .post(app.url("/api/v1/auth/sign-out-everywhere"))
        .send()
        .await
        .unwrap();
    assert_envelope(missing, 403, "csrf_failed").await;
    let wrong = client
        .post(app.url("/api/v1/auth/sign-out-everywhere"))
        .header("x-csrf-token", "0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_envelope(wrong, 403, "csrf_failed").await;
    let form_without = client
        .post(app.url("/sign-out"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(form_without.status(), 403);
    assert_eq!(me(&app, &client).await, 200, "refused requests changed nothing");

    let form_with = client
        .post(app.url("/sign-out"))
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(form_with.status(), 303);
    assert_eq!(me(&app, &client).await, 401);
}

#[tokio::test]
async fn sessions_can_be_listed_revoked_and_ended_everywhere() {
    let app = TestApp::spawn().await;
    let id = app
        .create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let (phone, laptop, tablet) = (app.browser(), app.browser(), app.browser());
    let body = app.sign_in(&phone, "sam@example.org", PASSWORD).await;
    let phone_csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let laptop_body = app.sign_in(&laptop, "sam@example.org", PASSWORD).await;
    app.sign_in(&tablet, "sam@example.org", PASSWORD).await;

    let list: serde_json::Value = phone
        .get(app.url("/api/v1/auth/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 3);
    let laptop_session = laptop_body["session_id"].as_str().unwrap();
    let revoked = phone
        .delete(app.url(&format!("/api/v1/auth/sessions/{laptop_session}")))
        .header("x-csrf-token", &phone_csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(me(&app, &laptop).await, 401, "the revoked device is signed out");
    assert_eq!(me(&app, &tablet).await, 200);

    // Disabling the account ends every session at once.
    let tenant = app.tenant("default");
    admin::disable(&tenant.pool, &app.state.clock, &ChangedBy::command_line("test"), id)
        .await
        .unwrap();
    assert_eq!(me(&app, &phone).await, 401);
    assert_eq!(me(&app, &tablet).await, 401);
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", PASSWORD).await.0,
        401,
        "and it cannot sign in"
    );
}

#[tokio::test]
async fn sign_out_everywhere_ends_this_session_too() {
    let app = TestApp::spawn().await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let (a, b) = (app.browser(), app.browser());
    let body = app.sign_in(&a, "sam@example.org", PASSWORD).await;
    app.sign_in(&b, "sam@example.org", PASSWORD).await;
    let response = a
        .post(app.url("/api/v1/auth/sign-out-everywhere"))
        .header("x-csrf-token", body["csrf_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let result: serde_json::Value = response.json().await.unwrap();
    assert_eq!(result["sessions_ended"], 2);
    assert_eq!((me(&app, &a).await, me(&app, &b).await), (401, 401));
}

#[tokio::test]
async fn totp_enrolment_and_sign_in_accept_codes_from_another_implementation_once() {
    let clock = Arc::new(ManualClock::new(start_of_test()));
    let app = TestApp::spawn_with_clock(Arc::clone(&clock)).await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let client = app.browser();
    let body = app.sign_in(&client, "sam@example.org", PASSWORD).await;
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();

    let enrolment: serde_json::Value = client
        .post(app.url("/api/v1/auth/two-factor/enrol"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = enrolment["manual_key"].as_str().unwrap().to_owned();
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));
    // The secret is sealed at rest like note bodies: the table never holds it.
    let raw = totp_rs::Secret::Encoded(key.clone()).to_bytes().unwrap();
    let mut db = app.superuser("default").await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret FROM user_second_factors")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(
        stored.len() > raw.len() && !stored.windows(raw.len()).any(|w| w == raw.as_slice()),
        "the second-factor secret is stored sealed"
    );
    let bad = client
        .post(app.url("/api/v1/auth/two-factor/confirm"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "code": "000000" }))
        .send()
        .await
        .unwrap();
    assert_envelope(bad, 401, "invalid_code").await;
    let confirmed: serde_json::Value = client
        .post(app.url("/api/v1/auth/two-factor/confirm"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "code": pyotp(&key, clock.now()) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recovery: Vec<String> = serde_json::from_value(confirmed["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);

    // Next sign-in: the password is not enough.
    clock.advance(TimeDelta::seconds(40));
    let phone = app.browser();
    let body = app.sign_in(&phone, "sam@example.org", PASSWORD).await;
    assert_eq!(body["next_step"], "second_factor");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let blocked = phone.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_envelope(blocked, 403, "second_factor_required").await;
    let page = phone.get(app.url("/account")).send().await.unwrap();
    assert_eq!(page.headers()["location"], "/sign-in/two-factor");

    let code = pyotp(&key, clock.now());
    let verify = |code: String| {
        let phone = phone.clone();
        let csrf = csrf.clone();
        let url = app.url("/api/v1/auth/two-factor/verify");
        async move {
            phone
                .post(url)
                .header("x-csrf-token", csrf)
                .json(&serde_json::json!({ "code": code }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(verify(code.clone()).await.status(), 200);
    assert_eq!(me(&app, &phone).await, 200);

    // The same code, replayed in another sign-in within its window, is refused.
    let thief = app.browser();
    let body = app.sign_in(&thief, "sam@example.org", PASSWORD).await;
    let replay = thief
        .post(app.url("/api/v1/auth/two-factor/verify"))
        .header("x-csrf-token", body["csrf_token"].as_str().unwrap())
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_envelope(replay, 401, "invalid_code").await;

    // A recovery code works once.
    let lost_phone = app.browser();
    let body = app.sign_in(&lost_phone, "sam@example.org", PASSWORD).await;
    let csrf3 = body["csrf_token"].as_str().unwrap().to_owned();
    for (expected, what) in [(200, "first use"), (409, "the session needs no code any more")] {
        let response = lost_phone
            .post(app.url("/api/v1/auth/two-factor/verify"))
            .header("x-csrf-token", &csrf3)
            .json(&serde_json::json!({ "code": recovery[0] }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{what}");
    }
    let again = app.browser();
    let body = app.sign_in(&again, "sam@example.org", PASSWORD).await;
    let reused = again
        .post(app.url("/api/v1/auth/two-factor/verify"))
        .header("x-csrf-token", body["csrf_token"].as_str().unwrap())
        .json(&serde_json::json!({ "code": recovery[0] }))
        .send()
        .await
        .unwrap();
    assert_envelope(reused, 401, "invalid_code").await;
}

#[tokio::test]
async fn an_organisation_that_requires_two_factor_sends_staff_to_enrol() {
    let app = TestApp::spawn().await;
    app.create_user("sam@example.org", &[Role::FrontDesk], Some(PASSWORD))
        .await;
    let tenant = app.tenant("default");
    let rules = haven::organisation::store::load(&tenant.pool).await.unwrap().security;
    haven::organisation::store::set_security(
        &tenant.pool,
        &store::SecuritySettings {
            require_two_factor: true,
            ..rules
        },
    )
    .await
    .unwrap();
    tenant.settings.forget();
    let client = app.browser();
    let response = sign_in_page(&app, &client, "sam@example.org", PASSWORD).await;
    assert_eq!(response.headers()["location"], "/account/two-factor");
    let home = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(
        home.headers()["location"],
        "/account/two-factor",
        "nothing else until it is set up"
    );
    let enrol = client
        .get(app.url("/account/two-factor"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        enrol.contains("asks everyone to use two-step verification") && enrol.contains("<svg"),
        "{enrol}"
    );
}

#[tokio::test]
async fn sign_ins_are_audited_with_the_address_and_device() {
    let app = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let id = app
        .create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let client = app.browser();
    client
        .post(app.url("/api/v1/auth/sign-in"))
        .header("user-agent", FIREFOX)
        .header("x-forwarded-for", "198.51.100.23")
        .json(&serde_json::json!({ "email": "sam@example.org", "password": "not it" }))
        .send()
        .await
        .unwrap();
    client
        .post(app.url("/api/v1/auth/sign-in"))
        .header("user-agent", FIREFOX)
        .header("x-forwarded-for", "198.51.100.23")
        .json(&serde_json::json!({ "email": "sam@example.org", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let tenant = app.tenant("default");
    let mut events = Vec::new();
    for _ in 0..50 {
        events = audit::list_events(
            &tenant.pool,
            &EventFilter {
                actor_id: Some(id.to_string()),
                action_prefix: Some("auth.".to_owned()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
        if events.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["auth.login", "auth.login_failed"]);
    for event in &events {
        assert_eq!(event.event.client_ip.as_deref(), Some("198.51.100.23"));
        assert_eq!(
            event.event.user_agent.as_deref(),
            Some("Firefox 120 on Linux (desktop)")
        );
        assert!(event.event.request_id.is_some());
    }
    assert!(events[0].event.session_id.is_some());

    // The account page lists them.
    let page = client
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Signed in") && page.contains("Failed sign-in") && page.contains("198.51.100.23"),
        "{page}"
    );
}

#[tokio::test]
async fn the_sign_in_form_needs_its_own_token() {
    let app = TestApp::spawn().await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let forged = app
        .browser()
        .post(app.url("/sign-in"))
        .form(&[("email", "sam@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        403,
        "no login CSRF: a form from another site cannot sign anyone in"
    );
    let wrong = sign_in_page(&app, &app.browser(), "sam@example.org", "wrong password").await;
    assert_eq!(wrong.status(), 401);
    let page = wrong.text().await.unwrap();
    assert!(page.contains("Email or password is incorrect.") && page.contains("value=\"sam@example.org\""));
    assert!(!page.contains("wrong password"), "the password is never echoed");
}

#[tokio::test]
async fn the_identity_benchmark_runs() {
    let app = TestApp::spawn().await;
    let output = app
        .haven(&["bench", "identity", "--seconds", "1", "--samples", "50"])
        .await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("sign-ins/s") && text.contains("session lookup"), "{text}");
}

#[tokio::test]
async fn sign_in_lands_only_on_a_page_of_haven() {
    let app = TestApp::spawn().await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    // Browsers drop tabs and line breaks from a Location, so `/<tab>/evil.example`
    // would land on //evil.example; every one of these must land on the home page.
    for hostile in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/ /evil.example",
        "/\u{7f}/evil.example",
    ] {
        let client = app.browser();
        let landed = sign_in_page_to(&app, &client, "sam@example.org", PASSWORD, hostile).await;
        assert_eq!(landed.status(), 303, "{hostile:?}");
        assert_eq!(landed.headers()["location"], "/", "{hostile:?}");
    }
    let client = app.browser();
    let landed = sign_in_page_to(&app, &client, "sam@example.org", PASSWORD, "/clients?q=ab").await;
    assert_eq!(landed.headers()["location"], "/clients?q=ab", "a page of Haven is kept");

    // A line break in the query is refused as a landing page, not a server error.
    let page = app.client.get(app.url("/sign-in?next=/%0a")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("name=\"next\" value=\"/\""), "{body}");
}

/// Sends one sign-in per `(address, email, password)` at once and returns the statuses.
async fn burst(app: &TestApp, attempts: Vec<(String, String, String)>) -> Vec<u16> {
    let client = app.browser();
    let tasks: Vec<_> = attempts
        .into_iter()
        .map(|(address, email, password)| {
            let request = client
                .post(app.url("/api/v1/auth/sign-in"))
                .header("x-forwarded-for", address)
                .json(&serde_json::json!({ "email": email, "password": password }));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// A burst of concurrent guesses gets no more than the lockout threshold between them:
/// each attempt is counted before the password is checked, and a right password inside
/// the burst is refused. An IPv6 client's limit covers its whole /64.
#[tokio::test]
async fn a_burst_of_concurrent_guesses_gets_the_threshold_and_no_more() {
    let app = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let guesses = (0..100)
        .map(|n| {
            let password = if n == 50 { PASSWORD } else { "a wrong guess" };
            (
                "192.0.2.10".to_owned(),
                "sam@example.org".to_owned(),
                password.to_owned(),
            )
        })
        .collect();
    let statuses = burst(&app, guesses).await;
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    assert!(count(401) <= 5, "at most the threshold was checked: {statuses:?}");
    assert_eq!(count(429), 100 - count(401), "{statuses:?}");
    assert_eq!(count(200), 0, "the right password inside the burst is refused");

    // Fifty addresses of one /64 guessing fifty names: one address, ten times the
    // account threshold.
    let spread = (1..=60)
        .map(|n| {
            (
                format!("2001:db8:1:2::{n:x}"),
                format!("nobody{n}@example.org"),
                "guess".to_owned(),
            )
        })
        .collect();
    let statuses = burst(&app, spread).await;
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(refused, 10, "the /64 shares one limit: {statuses:?}");
    let elsewhere = burst(
        &app,
        vec![(
            "2001:db8:1:3::1".to_owned(),
            "nobody@example.org".to_owned(),
            "guess".to_owned(),
        )],
    )
    .await;
    assert_eq!(elsewhere, [401], "the next /64 has its own");
}

/// A second-factor secret an earlier version stored unsealed is sealed when Haven starts
/// (this is the start-up step), and still opens to the same secret.
#[tokio::test]
async fn second_factor_secrets_stored_unsealed_are_sealed_at_start() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let tenant = app.tenant("default");
    let raw = [7u8; 20];
    sqlx::query("INSERT INTO user_second_factors (id, user_id, kind, secret, created_at, confirmed_at) VALUES ($1, $2, 'totp', $3, now(), now())")
        .bind(uuid::Uuid::now_v7())
        .bind(user.0)
        .bind(&raw[..])
        .execute(&tenant.pool)
        .await
        .unwrap();
    let keyring = app.state.vault.keyring(&tenant.record);
    let now = app.state.clock.now();
    assert_eq!(
        two_factor::seal_plain_secrets(&tenant.pool, &keyring, now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        two_factor::seal_plain_secrets(&tenant.pool, &keyring, now)
            .await
            .unwrap(),
        0,
        "once"
    );
    let factor = two_factor::totp_factor(&tenant.pool, &keyring, user, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(factor.secret.as_slice(), &raw[..]);
}

//! Every route refuses an anonymous request, except a short, named allowlist.

use haven::web::routes::Access;

use crate::support::{TestApp, assert_envelope};

/// The only routes that answer without a signed-in person (SPEC.md: health, sign-in,
/// static assets, the help centre; inbound webhooks join when they exist).
const ALLOWLIST: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/api/v1/health/redis"),
    ("GET", "/api/v1/health/audit-status"),
    ("GET", "/api/v1/health/database"),
    ("GET", "/api/v1/health/backups"), // counts only; names on the operators' listener
    ("GET", "/metrics"),               // 404 unless a token is configured, then only for its bearer
    ("GET", "/assets/app.css"),
    ("GET", "/assets/app.js"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/api/v1/auth/sign-in"),
    ("GET", "/password-reset"),
    ("POST", "/password-reset"),
    ("POST", "/api/v1/auth/password-reset"),
    ("GET", "/password-reset/{token}"),
    ("POST", "/password-reset/{token}"),
    ("GET", "/invitation/{token}"),
    ("POST", "/invitation/{token}"),
    ("GET", "/calendar/{file}"), // a staff member's private feed: the secret in the path is the key
    // The help centre: public content for anonymous readers.
    ("GET", "/api/help/v1/categories"),
    ("GET", "/api/help/v1/articles"),
    ("GET", "/api/help/v1/articles/{slug}"),
    ("POST", "/api/help/v1/articles/{slug}/feedback"),
    ("GET", "/api/help/v1/search"),
    ("GET", "/api/help/v1/images/{id}"),
    ("GET", "/help"),
    ("GET", "/help/search"),
    ("GET", "/help/categories/{slug}"),
    ("GET", "/help/articles/{slug}"),
    // Anonymous "was this helpful?": no session to forge a request for, so no CSRF token.
    ("POST", "/help/articles/{slug}/feedback"),
];

#[tokio::test]
async fn every_route_but_the_allowlist_refuses_anonymous_requests() {
    let app = TestApp::spawn().await;
    let table = app.state.modules.route_table(&app.state);
    let mut checked = 0;
    for spec in table.specs() {
        let method = spec.method.as_str();
        if matches!(spec.access, Access::Instance | Access::Public) {
            assert!(
                ALLOWLIST.contains(&(method, spec.path)),
                "{method} {} is public but not on the allowlist",
                spec.path
            );
            continue;
        }
        let path = spec
            .path
            .replace("{id}", "0190f1a2-0000-7000-8000-000000000001")
            .replace("{token}", "anything");
        let response = app
            .client
            .request(spec.method.clone(), app.url(&path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        if path.starts_with("/api/") {
            assert_envelope(response, 401, "unauthenticated").await;
        } else {
            assert_eq!(response.status(), 303, "{method} {path}");
            let location = response.headers()["location"].to_str().unwrap();
            assert!(location.starts_with("/sign-in?next="), "{method} {path} -> {location}");
        }
        checked += 1;
    }
    assert!(checked >= 15, "the table lists the protected routes ({checked})");
    for (method, path) in ALLOWLIST {
        assert!(
            table
                .specs()
                .iter()
                .any(|s| s.method.as_str() == *method && s.path == *path),
            "{method} {path} is on the allowlist but no longer a route"
        );
    }
}

#[tokio::test]
async fn a_forged_or_stale_session_cookie_is_refused() {
    let app = TestApp::spawn().await;
    for cookie in [
        "haven_session=forged",
        "haven_session=",
        "__Host-haven_session=also-forged",
    ] {
        let response = reqwest::Client::new()
            .get(app.url("/api/v1/me"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_envelope(response, 401, "unauthenticated").await;
    }
}

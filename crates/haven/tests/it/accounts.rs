//! Invitations, password resets (through a real SMTP server) and the `haven user` commands.

use std::io::Write as _;
use std::process::Stdio;

use haven::identity::Role;

use crate::support::smtp::SmtpServer;
use crate::support::{TestApp, assert_envelope};

const PASSWORD: &str = "lantern orbit velvet quarry";
const NEW_PASSWORD: &str = "harbour willow pencil glacier";

/// The text of a quoted-printable body, as a mail client shows it.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The path of the first link to Haven in an email (`/password-reset/…`, `/invitation/…`).
fn link_path(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).expect("a link in the message");
    text[start..].split_whitespace().next().unwrap().to_owned()
}

async fn set_password(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    password: &str,
    again: &str,
) -> reqwest::Response {
    let page = client.get(app.url(path)).send().await.unwrap().text().await.unwrap();
    client
        .post(app.url(path))
        .form(&[
            ("password", password),
            ("password_confirmation", again),
            ("_csrf", &crate::support::hidden_csrf(&page)),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_password_reset_arrives_by_email_works_once_and_ends_every_session() {
    let smtp = SmtpServer::start();
    let smtp_url = smtp.url();
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(haven::config::Secret::new(smtp_url));
        c.mail_from = "Haven <haven@care.example.org>".to_owned();
    })
    .await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let (laptop, phone) = (app.browser(), app.browser());
    let body = app.sign_in(&laptop, "sam@example.org", PASSWORD).await;
    let token = app
        .token(&laptop, body["csrf_token"].as_str().unwrap(), &["clients:read"])
        .await;
    app.sign_in(&phone, "sam@example.org", PASSWORD).await;

    for email in ["nobody@example.org", "sam@example.org"] {
        let response = app
            .browser()
            .post(app.url("/api/v1/auth/password-reset"))
            .json(&serde_json::json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            202,
            "the same answer whether or not the account exists"
        );
    }
    let message = smtp.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 1, "nothing is sent for an unknown address");
    assert!(
        message.contains("To: sam@example.org") && message.contains("Subject: Reset your Haven password"),
        "{message}"
    );
    assert!(message.contains("From: Haven <haven@care.example.org>"));
    assert!(
        decode_quoted_printable(&message).contains("revokes your API tokens"),
        "{message}"
    );
    let path = link_path(&decode_quoted_printable(&message), "/password-reset/rst_");

    let browser = app.browser();
    let weak = set_password(&app, &browser, &path, "password123456", "password123456").await;
    assert_eq!(weak.status(), 422);
    assert!(weak.text().await.unwrap().contains("too easy to guess"));
    let mismatch = set_password(&app, &browser, &path, NEW_PASSWORD, "something else entirely").await;
    assert_eq!(mismatch.status(), 422);
    let done = set_password(&app, &browser, &path, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/sign-in?notice=password_set");

    for client in [&laptop, &phone] {
        assert_eq!(
            client.get(app.url("/api/v1/me")).send().await.unwrap().status(),
            401,
            "reset ends every session"
        );
    }
    assert_eq!(
        app.status_with_token(&token, "/api/v1/me").await,
        401,
        "and revokes every API token"
    );
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", PASSWORD).await.0,
        401
    );
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", NEW_PASSWORD).await.0,
        200
    );
    let reused = app.browser().get(app.url(&path)).send().await.unwrap();
    assert_eq!(reused.status(), 410, "the link works once");
}

#[tokio::test]
async fn an_invitation_from_the_command_line_lets_the_person_choose_a_password() {
    let app = TestApp::spawn().await;
    let output = app
        .haven(&[
            "user",
            "create",
            "--email",
            "new@example.org",
            "--name",
            "Riley New",
            "--role",
            "case_manager",
        ])
        .await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(printed.contains("invited new@example.org"), "{printed}");
    let path = link_path(&printed, "/invitation/inv_");
    assert_eq!(
        app.try_sign_in(&app.browser(), "new@example.org", NEW_PASSWORD).await.0,
        401,
        "invited: no password yet"
    );

    let done = set_password(&app, &app.browser(), &path, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(done.status(), 303);
    let (status, body) = app.try_sign_in(&app.browser(), "new@example.org", NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");

    let listed = app.haven(&["user", "list"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("new@example.org") && listed.contains("active") && listed.contains("case_manager"),
        "{listed}"
    );
}

#[tokio::test]
async fn the_user_commands_create_disable_and_unlock_and_name_bad_input() {
    let app = TestApp::spawn().await;
    let mut child = app_command(
        &app,
        &[
            "user",
            "create",
            "--email",
            "ops@example.org",
            "--name",
            "Ops Admin",
            "--role",
            "org_admin",
            "--password-stdin",
        ],
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    // Waited for off the runtime: the app under test shares it, and its audit writer
    // may hold the chain's lock that the command needs.
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let client = app.browser();
    assert_eq!(app.try_sign_in(&client, "ops@example.org", PASSWORD).await.0, 200);

    for (args, expected) in [
        (
            vec![
                "user",
                "create",
                "--email",
                "not-an-email",
                "--name",
                "X",
                "--role",
                "clinician",
            ],
            "email must be an email address",
        ),
        (
            vec![
                "user",
                "create",
                "--email",
                "a@example.org",
                "--name",
                "X",
                "--role",
                "wizard",
            ],
            "`wizard` is not a role",
        ),
        (
            vec![
                "user",
                "create",
                "--email",
                "ops@example.org",
                "--name",
                "X",
                "--role",
                "clinician",
            ],
            "already exists",
        ),
        (
            vec!["user", "disable", "--email", "ghost@example.org"],
            "no account with this email",
        ),
    ] {
        let output = app.haven(&args).await;
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }

    let output = app.haven(&["user", "disable", "--email", "ops@example.org"]).await;
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 session(s) ended"));
    assert_envelope(
        client.get(app.url("/api/v1/me")).send().await.unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    app.haven(&["user", "enable", "--email", "ops@example.org"]).await;
    for _ in 0..5 {
        let (status, _) = app.try_sign_in(&app.browser(), "ops@example.org", "wrong").await;
        assert_eq!(status, 401, "a wrong password is refused");
    }
    assert_eq!(
        app.try_sign_in(&app.browser(), "ops@example.org", PASSWORD).await.0,
        429
    );
    assert!(
        app.haven(&["user", "unlock", "--email", "ops@example.org"])
            .await
            .status
            .success()
    );
    assert_eq!(
        app.try_sign_in(&app.browser(), "ops@example.org", PASSWORD).await.0,
        200
    );

    // Every change made on the command line is in the audit trail, chained.
    let events = haven::compliance::audit::list_events(
        &app.tenant("default").pool,
        &haven::compliance::audit::EventFilter::default(),
        100,
    )
    .await
    .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    for action in [
        "user.create",
        "role.grant",
        "user.disable",
        "user.enable",
        "user.unlock",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

fn app_command(app: &TestApp, args: &[&str]) -> std::process::Child {
    crate::support::process::haven()
        .args(args)
        .env("DATABASE_URL", app.config.database_url.as_ref().unwrap().expose())
        .env("HAVEN_TENANT_DATABASE_PREFIX", &app.config.tenant_database_prefix)
        .env("HAVEN_HELP_DATABASE", &app.config.help.database)
        .env("HAVEN_DATA_DIR", &app.config.data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn admin_session(app: &TestApp) -> (reqwest::Client, String) {
    app.create_user("admin@example.org", &[Role::OrgAdmin], Some(PASSWORD))
        .await;
    let client = app.browser();
    let body = app.sign_in(&client, "admin@example.org", PASSWORD).await;
    (client, body["csrf_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn an_admin_invites_changes_roles_and_disables_staff_and_every_change_is_audited() {
    let app = TestApp::spawn().await;
    let (admin, csrf) = admin_session(&app).await;
    let invited: serde_json::Value = admin
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "email": "kit@example.org", "display_name": "Kit Carter", "roles": ["clinician"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(invited["delivery"], "link", "no mail server: the admin gets the link");
    let path = link_path(invited["link"].as_str().unwrap(), "/invitation/inv_");
    assert_eq!(
        set_password(&app, &app.browser(), &path, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        303
    );
    let kit = app.browser();
    assert_eq!(app.try_sign_in(&kit, "kit@example.org", NEW_PASSWORD).await.0, 200);

    let id = invited["id"].as_str().unwrap();
    let changed: serde_json::Value = admin
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "roles": ["clinician", "supervisor"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changed["roles"], serde_json::json!(["clinician", "supervisor"]));
    let disabled = admin
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "status": "disabled" }))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(
        kit.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        401,
        "their session ended at once"
    );
    app.settle_audit().await;

    let events = haven::compliance::audit::list_events(
        &app.tenant("default").pool,
        &haven::compliance::audit::EventFilter {
            resource_id: Some(id.to_owned()),
            ..Default::default()
        },
        50,
    )
    .await
    .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    for action in ["user.create", "role.grant", "user.disable"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let grant = events
        .iter()
        .find(|e| e.event.action == "role.grant" && e.event.reason.as_deref() == Some("supervisor"))
        .unwrap();
    assert_eq!(
        grant.event.actor_kind,
        haven::compliance::audit::ActorKind::User,
        "the admin is the actor"
    );
}

#[tokio::test]
async fn staff_administration_refuses_non_admins_bad_input_and_self_lockout() {
    let app = TestApp::spawn().await;
    let (admin, csrf) = admin_session(&app).await;
    app.create_user("cal@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let cal = app.browser();
    let body = app.sign_in(&cal, "cal@example.org", PASSWORD).await;
    let cal_csrf = body["csrf_token"].as_str().unwrap();
    assert_envelope(
        cal.get(app.url("/api/v1/users")).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let escalate = cal
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", cal_csrf)
        .json(&serde_json::json!({ "email": "x@example.org", "display_name": "X", "roles": ["org_admin"] }))
        .send()
        .await
        .unwrap();
    assert_envelope(escalate, 403, "forbidden").await;

    let bad = admin
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "email": "not an email", "display_name": "", "roles": [] }))
        .send()
        .await
        .unwrap();
    let body = assert_envelope(bad, 422, "validation_failed").await;
    let fields = crate::support::field_names(&body);
    assert_eq!(fields, ["email", "display_name", "roles"]);
    let taken = admin
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "email": "CAL@example.org", "display_name": "Cal again", "roles": ["clinician"] }))
        .send()
        .await
        .unwrap();
    assert_envelope(taken, 409, "conflict").await;

    let me: serde_json::Value = admin
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let own = admin
        .patch(app.url(&format!("/api/v1/users/{}", me["id"].as_str().unwrap())))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "roles": ["clinician"] }))
        .send()
        .await
        .unwrap();
    assert_envelope(own, 409, "conflict").await;
    let self_grant = admin
        .patch(app.url(&format!("/api/v1/users/{}", me["id"].as_str().unwrap())))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "roles": ["org_admin", "auditor"] }))
        .send()
        .await
        .unwrap();
    assert_envelope(self_grant, 409, "conflict").await;
    let still: serde_json::Value = admin
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        still["roles"],
        serde_json::json!(["org_admin"]),
        "no self-granted auditor role"
    );
    let unknown = admin
        .patch(app.url("/api/v1/users/0190f1a2-0000-7000-8000-000000000009"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "status": "disabled" }))
        .send()
        .await
        .unwrap();
    assert_envelope(unknown, 404, "not_found").await;
    let users: serde_json::Value = admin
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 2, "nothing half-made");

    let page = admin
        .get(app.url("/admin/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("cal@example.org") && page.contains("Invite someone"));
}

#[tokio::test]
async fn an_admin_sets_the_sign_in_rules_and_they_take_effect() {
    let app = TestApp::spawn().await;
    let (admin, csrf) = admin_session(&app).await;
    app.create_user("cal@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let cal = app.browser();
    app.sign_in(&cal, "cal@example.org", PASSWORD).await;
    assert_envelope(
        cal.get(app.url("/api/v1/organisation/security")).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;

    let current: serde_json::Value = admin
        .get(app.url("/api/v1/organisation/security"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["idle_timeout_minutes"], 15);
    assert_eq!(current["require_two_factor"], false);
    let bad = admin
        .put(app.url("/api/v1/organisation/security"))
        .header("x-csrf-token", &csrf)
        .json(
            &serde_json::json!({ "require_two_factor": true, "idle_timeout_minutes": 0, "session_lifetime_hours": 999,
                                    "lockout_threshold": 5, "lockout_minutes": 15 }),
        )
        .send()
        .await
        .unwrap();
    let body = assert_envelope(bad, 422, "validation_failed").await;
    let fields = crate::support::field_names(&body);
    assert_eq!(fields, ["idle_timeout_minutes", "session_lifetime_hours"]);
    let unchanged: serde_json::Value = admin
        .get(app.url("/api/v1/organisation/security"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged, current, "nothing half-saved");

    let saved = admin
        .put(app.url("/api/v1/organisation/security"))
        .header("x-csrf-token", &csrf)
        .json(
            &serde_json::json!({ "require_two_factor": true, "idle_timeout_minutes": 30, "session_lifetime_hours": 8,
                                    "lockout_threshold": 5, "lockout_minutes": 15 }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    // Cal has no second factor: from the next request on, only enrolment is open.
    assert_envelope(
        cal.get(app.url("/api/v1/me")).send().await.unwrap(),
        403,
        "second_factor_required",
    )
    .await;
    let page = admin.get(app.url("/admin/security")).send().await.unwrap();
    assert_eq!(
        page.headers()["location"],
        "/account/two-factor",
        "the rule binds the admin too"
    );
    let stored = haven::organisation::store::load(&app.tenant("default").pool)
        .await
        .unwrap()
        .security;
    assert_eq!(
        (
            stored.idle_timeout_minutes,
            stored.session_lifetime_hours,
            stored.require_two_factor
        ),
        (30, 8, true)
    );
}

#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_signs_out_other_devices() {
    let app = TestApp::spawn().await;
    app.create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let (laptop, phone) = (app.browser(), app.browser());
    let body = app.sign_in(&laptop, "sam@example.org", PASSWORD).await;
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    app.sign_in(&phone, "sam@example.org", PASSWORD).await;
    let token = app.token(&laptop, &csrf, &["clients:read"]).await;
    assert_eq!(
        app.status_with_token(&token, "/api/v1/me").await,
        200,
        "the token works"
    );
    let change = |current: &str, new: &str| {
        laptop
            .post(app.url("/api/v1/auth/password"))
            .header("x-csrf-token", &csrf)
            .json(&serde_json::json!({ "current_password": current, "new_password": new }))
            .send()
    };
    let wrong = change("not it", NEW_PASSWORD).await.unwrap();
    let body = assert_envelope(wrong, 422, "validation_failed").await;
    assert_eq!(crate::support::field_names(&body), ["current_password"]);
    let weak = change(PASSWORD, "password12345").await.unwrap();
    let body = assert_envelope(weak, 422, "validation_failed").await;
    assert_eq!(crate::support::field_names(&body), ["new_password"]);
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", PASSWORD).await.0,
        200,
        "nothing changed yet"
    );

    let done: serde_json::Value = change(PASSWORD, NEW_PASSWORD).await.unwrap().json().await.unwrap();
    assert_eq!(done["status"], "changed");
    assert!(done["other_sessions_ended"].as_u64().unwrap() >= 2, "{done}");
    assert_eq!(
        laptop.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        200,
        "this session stays"
    );
    assert_eq!(
        phone.get(app.url("/api/v1/me")).send().await.unwrap().status(),
        401,
        "the others end"
    );
    assert_eq!(
        app.status_with_token(&token, "/api/v1/me").await,
        401,
        "and every API token is revoked"
    );
    assert_eq!(done["api_tokens_revoked"], 1, "{done}");
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", PASSWORD).await.0,
        401
    );
    assert_eq!(
        app.try_sign_in(&app.browser(), "sam@example.org", NEW_PASSWORD).await.0,
        200
    );
}

#[tokio::test]
async fn an_admins_second_factor_reset_ends_sessions_and_revokes_api_tokens() {
    let app = TestApp::spawn().await;
    let (admin, csrf) = admin_session(&app).await;
    let sam = app
        .create_user("sam@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let phone = app.browser();
    let body = app.sign_in(&phone, "sam@example.org", PASSWORD).await;
    let token = app
        .token(&phone, body["csrf_token"].as_str().unwrap(), &["clients:read"])
        .await;
    let reset = admin
        .post(app.url(&format!("/api/v1/users/{sam}/reset-two-factor")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(phone.get(app.url("/api/v1/me")).send().await.unwrap().status(), 401);
    assert_eq!(
        app.status_with_token(&token, "/api/v1/me").await,
        401,
        "a lost phone's tokens go with it"
    );
}

/// A mail server's refusal repeats the recipient's address; Haven keeps only its code and
/// whether it was final, so neither the log nor a job's record holds the address
/// (issue 17, finding 11).
#[tokio::test]
async fn a_refused_email_is_recorded_by_its_code_without_the_servers_words() {
    let smtp = SmtpServer::start();
    let mut config = haven::config::Config::default();
    config.smtp_url = Some(haven::config::Secret::new(smtp.url()));
    let mailer = haven::mail::Mailer::from_config(&config).unwrap();
    let err = mailer
        .send("bounce.zyxmarker@clinic.example", "Hello", "Body".to_owned())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("permanent rejection, SMTP code 550"), "{err}");
    assert!(!err.contains("zyxmarker") && !err.contains("Recipient"), "{err}");
    let reply = mailer
        .send("someone@clinic.example", "Hello", "Body".to_owned())
        .await
        .unwrap();
    assert_eq!(reply, "250");
}

/// Granting access to records (a clinical, supervisor, auditor or admin role, or a
/// supervisor link) is visible: every other admin is emailed, and the staff page lists
/// it (issue 17, finding 9).
#[tokio::test]
async fn granting_access_is_listed_and_every_other_admin_is_emailed() {
    let smtp = SmtpServer::start();
    let smtp_url = smtp.url();
    let app = TestApp::spawn_with(|c| c.smtp_url = Some(haven::config::Secret::new(smtp_url))).await;
    app.create_user("ben@example.org", &[Role::OrgAdmin], Some(PASSWORD))
        .await;
    let ana = crate::clients::Staff::sign_in(&app, "ana@example.org", &[Role::OrgAdmin]).await;
    let counsellor = app
        .create_user("cal@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let response = ana
        .post(
            &app,
            "/api/v1/users",
            &serde_json::json!({ "email": "second@example.org", "display_name": "Ana Again", "roles": ["supervisor"] }),
        )
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let invited: serde_json::Value = response.json().await.unwrap();
    let second = invited["id"].as_str().unwrap().to_owned();
    // The notice reaches Ben, the other admin; never Ana, who made the grant.
    let supervisor_role = "Ana Again was given the Supervisor role";
    let notice = arrives(&smtp, "ben@example.org", supervisor_role).await;
    assert!(notice.contains(&format!("/admin/users/{second}")), "{notice}");

    // Making the new account a counsellor's supervisor is announced the same way.
    let response = ana
        .send(
            &app,
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{counsellor}"),
            &serde_json::json!({ "supervisor_id": second }),
        )
        .await;
    assert!(response.status().is_success(), "{:?}", response.text().await);
    arrives(&smtp, "ben@example.org", "was given Ana Again as supervisor").await;
    assert!(
        smtp.messages().iter().all(|m| !(m.contains("To: ana@example.org")
            && (m.contains(supervisor_role) || m.contains("Ana Again as supervisor")))),
        "not to the admin who made the grant"
    );

    // The staff page lists both.
    let (status, page) = crate::notes::page(&app, &ana, "/admin/users").await;
    assert_eq!(status, 200);
    assert!(page.contains("Access granted in the last 30 days"), "{page}");
    assert!(page.contains("was given the Supervisor role by"), "{page}");
    assert!(page.contains("was given Ana Again as supervisor"), "{page}");
}

/// With the organisation's second-admin rule on, a grant that opens records (a role or a
/// supervisor link) waits until another admin approves it: the one who asked, and the
/// person it is for, cannot decide it; a refusal changes nothing.
#[tokio::test]
async fn with_the_second_admin_rule_grants_wait_for_another_admins_approval() {
    let smtp = SmtpServer::start();
    let smtp_url = smtp.url();
    let app = TestApp::spawn_with(|c| c.smtp_url = Some(haven::config::Secret::new(smtp_url))).await;
    let ana = crate::clients::Staff::sign_in(&app, "ana@example.org", &[Role::OrgAdmin]).await;
    let ben = crate::clients::Staff::sign_in(&app, "ben@example.org", &[Role::OrgAdmin]).await;
    let fay = app
        .create_user("fay@example.org", &[Role::FrontDesk], Some(PASSWORD))
        .await;
    let cal = app
        .create_user("cal@example.org", &[Role::Clinician], Some(PASSWORD))
        .await;
    let mut rules: serde_json::Value = ana
        .get(&app, "/api/v1/organisation/security")
        .await
        .json()
        .await
        .unwrap();
    rules["grants_need_approval"] = serde_json::json!(true);
    let saved = ana
        .send(&app, reqwest::Method::PUT, "/api/v1/organisation/security", &rules)
        .await;
    assert_eq!(saved.status(), 200, "{:?}", saved.text().await);

    // Ana invites a second account of her own as a supervisor, and makes Fay an auditor:
    // both wait; the account exists without the role, Fay keeps only the front desk.
    let invited = ana
        .post(
            &app,
            "/api/v1/users",
            &serde_json::json!({ "email": "second@example.org", "display_name": "Ana Again", "roles": ["supervisor"] }),
        )
        .await;
    assert_eq!(invited.status(), 201);
    let invited: serde_json::Value = invited.json().await.unwrap();
    assert_eq!(invited["waiting_for_approval"][0]["role"], "supervisor", "{invited}");
    let second: haven::identity::UserId = invited["id"].as_str().unwrap().parse().unwrap();
    let changed = ana
        .send(
            &app,
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{fay}"),
            &serde_json::json!({ "roles": ["front_desk", "auditor"] }),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let changed: serde_json::Value = changed.json().await.unwrap();
    assert_eq!(changed["roles"], serde_json::json!(["front_desk"]), "{changed}");
    let roles_of = |id: haven::identity::UserId| {
        let app = &app;
        async move {
            let user = haven::identity::store::find(&app.tenant("default").pool, id)
                .await
                .unwrap()
                .unwrap();
            user.roles
        }
    };
    assert!(roles_of(second).await.is_empty());
    // Ben hears that it waits for him; Ana, who asked, is not asked.
    let asked = arrives(&smtp, "ben@example.org", "asks to give Ana Again the Supervisor role").await;
    assert!(asked.contains("/admin/users"), "{asked}");
    assert!(
        smtp.messages()
            .iter()
            .all(|m| !(m.contains("To: ana@example.org") && m.contains("asks to give"))),
        "not to the admin who asked"
    );

    let waiting: serde_json::Value = ben.get(&app, "/api/v1/grant-requests").await.json().await.unwrap();
    let waiting = waiting["grant_requests"].as_array().unwrap().clone();
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    let request_for = |role: &str| {
        waiting
            .iter()
            .find(|r| r["role"] == role)
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (supervisor_grant, auditor_grant) = (request_for("supervisor"), request_for("auditor"));
    // Ana cannot approve what she asked for.
    let own = ana
        .post(
            &app,
            &format!("/api/v1/grant-requests/{supervisor_grant}/approve"),
            &serde_json::json!({}),
        )
        .await;
    assert_envelope(own, 409, "conflict").await;
    let (_, page) = crate::notes::page(&app, &ana, "/admin/users").await;
    assert!(
        page.contains("Waiting for a second admin") && page.contains("Another admin decides this."),
        "{page}"
    );

    // Ben refuses the auditor grant (nothing changes) and approves the supervisor.
    let refused = ben
        .post(
            &app,
            &format!("/api/v1/grant-requests/{auditor_grant}/refuse"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(refused.status(), 200);
    assert_eq!(roles_of(fay).await, vec![Role::FrontDesk]);
    let approved = ben
        .post(
            &app,
            &format!("/api/v1/grant-requests/{supervisor_grant}/approve"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200, "{:?}", approved.text().await);
    assert_eq!(roles_of(second).await, vec![Role::Supervisor]);
    let again = ben
        .post(
            &app,
            &format!("/api/v1/grant-requests/{supervisor_grant}/approve"),
            &serde_json::json!({}),
        )
        .await;
    assert_envelope(again, 404, "not_found").await;

    // A supervisor link waits the same way; the supervisor, for whom it opens notes,
    // cannot approve it either.
    let linked = ana
        .send(
            &app,
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{cal}"),
            &serde_json::json!({ "supervisor_id": second.to_string() }),
        )
        .await;
    assert_eq!(linked.status(), 200);
    let linked: serde_json::Value = linked.json().await.unwrap();
    assert_eq!(linked["supervisor_id"], serde_json::Value::Null, "{linked}");
    let link = linked["waiting_for_approval"][0]["id"].as_str().unwrap().to_owned();
    let approved = ben
        .post(
            &app,
            &format!("/api/v1/grant-requests/{link}/approve"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(approved.status(), 200);
    let cal_now = haven::identity::store::find(&app.tenant("default").pool, cal)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cal_now.supervisor_id, Some(second));
    let (_, page) = crate::notes::page(&app, &ana, "/admin/users").await;
    assert!(page.contains("was given the Supervisor role by Sam Tester"), "{page}");
}

/// Waits for a message to `to` that holds `text`.
async fn arrives(smtp: &SmtpServer, to: &str, text: &str) -> String {
    for _ in 0..200 {
        if let Some(found) = smtp
            .messages()
            .into_iter()
            .find(|m| m.contains(&format!("To: {to}")) && m.contains(text))
        {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no message to {to} saying {text:?}: {:?}", smtp.messages());
}

/// Reset requests are bounded per address (each sends an email on someone's behalf):
/// ten in fifteen minutes, counted before anything is looked up, then 429.
#[tokio::test]
async fn reset_requests_are_bounded_per_address() {
    let app = TestApp::spawn().await;
    let client = app.browser();
    let request = || {
        client
            .post(app.url("/api/v1/auth/password-reset"))
            .json(&serde_json::json!({ "email": "nobody@example.org" }))
            .send()
    };
    for n in 1..=10 {
        assert_eq!(request().await.unwrap().status(), 202, "request {n}");
    }
    assert_envelope(request().await.unwrap(), 429, "rate_limited").await;
}

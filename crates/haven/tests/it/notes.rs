//! Clinical notes over the API: drafting, signing (final, hashed), amendments that keep
//! the history, psychotherapy notes by role, co-signature of trainees' notes, notes owed,
//! and the database refusing changes to a signed note whatever route is taken.

use haven::identity::{Role, UserId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::clients::Staff;
use crate::support::{TestApp, assert_envelope, field_names};

pub async fn count_rows(app: &TestApp, statement: &str) -> i64 {
    let mut db = app.superuser("default").await;
    sqlx::query_scalar(statement).fetch_one(&mut db).await.unwrap()
}

pub async fn sql(app: &TestApp, statement: &str, id: uuid::Uuid) -> Result<u64, sqlx::Error> {
    let mut db = app.superuser("default").await;
    sqlx::query(statement)
        .bind(id)
        .execute(&mut db)
        .await
        .map(|r| r.rows_affected())
}

pub async fn supervise(app: &TestApp, supervisor: UserId, supervisee: UserId, trainee: bool) {
    let mut db = app.superuser("default").await;
    sqlx::query("UPDATE users SET supervisor_id = $1, is_trainee = $3 WHERE id = $2")
        .bind(supervisor.0)
        .bind(supervisee.0)
        .bind(trainee)
        .execute(&mut db)
        .await
        .unwrap();
}

pub async fn add_to_team(app: &TestApp, client: &Value, who: UserId, role: &str) {
    let admin = Staff::sign_in(
        app,
        &format!("admin-{}@example.org", crate::support::unique_id()),
        &[Role::OrgAdmin],
    )
    .await;
    let response = admin
        .send(
            app,
            Method::PUT,
            &format!("/api/v1/clients/{}/care-team/{}", client["id"].as_str().unwrap(), who.0),
            &json!({ "team_role": role }),
        )
        .await;
    assert!(response.status().is_success(), "{:?}", response.text().await);
}

/// The people around one client: Alex (counsellor, who registered the client,
/// supervised by Sam), Sam (supervisor, not on the care team), Blair (counsellor) and
/// Casey (case manager) on the care team, and Dana (a counsellor with emergency access).
pub struct Circle {
    pub client: Value,
    pub alex: Staff,
    pub sam: Staff,
    pub blair: Staff,
    pub casey: Staff,
    pub dana: Staff,
}

impl Circle {
    pub async fn gather(app: &TestApp, given: &str, family: &str) -> Self {
        let alex = Staff::sign_in(app, "alex@example.org", &[Role::Clinician]).await;
        let sam = Staff::sign_in(app, "sam@example.org", &[Role::Supervisor]).await;
        let blair = Staff::sign_in(app, "blair@example.org", &[Role::Clinician]).await;
        let casey = Staff::sign_in(app, "casey@example.org", &[Role::CaseManager]).await;
        let dana = Staff::sign_in(app, "dana@example.org", &[Role::Clinician]).await;
        supervise(app, sam.id, alex.id, false).await;
        let client = alex
            .register(app, &json!({ "legal_given_name": given, "legal_family_name": family }))
            .await;
        add_to_team(app, &client, blair.id, "clinician").await;
        add_to_team(app, &client, casey.id, "case_manager").await;
        dana.break_glass(app, &client).await;
        Self {
            client,
            alex,
            sam,
            blair,
            casey,
            dana,
        }
    }
}

pub async fn start_note(app: &TestApp, staff: &Staff, client: &Value, body: &Value) -> String {
    let response = staff
        .post(
            app,
            &format!("/api/v1/clients/{}/notes", client["id"].as_str().unwrap()),
            body,
        )
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// Signs `id` at its current version, asserting it signed.
pub async fn sign_note(app: &TestApp, staff: &Staff, id: &str) {
    let version = read_note(app, staff, id).await["version"].clone();
    let response = staff
        .post(app, &format!("/api/v1/notes/{id}/sign"), &json!({ "version": version }))
        .await;
    assert_eq!(response.status(), 204, "{:?}", response.text().await);
}

pub async fn read_note(app: &TestApp, staff: &Staff, id: &str) -> Value {
    let response = staff.get(app, &format!("/api/v1/notes/{id}")).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    response.json().await.unwrap()
}

pub fn soap(plan: &str) -> Value {
    json!({
        "subjective": "Reports sleeping five hours; worry about the hearing on Friday.",
        "objective": "Calm, good eye contact. PHQ-9 today 12.",
        "assessment": "Anxiety around court; coping strategies holding.",
        "plan": plan,
    })
}

#[tokio::test]
async fn a_soap_note_is_drafted_signed_then_final_and_amendments_keep_the_history() {
    let app = TestApp::spawn().await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let client = alex
        .register(
            &app,
            &json!({ "legal_given_name": "Robin", "legal_family_name": "Ashbrook" }),
        )
        .await;

    // Bad starts: no template, an unknown one, an unknown field.
    let path = format!("/api/v1/clients/{}/notes", client["id"].as_str().unwrap());
    let body = assert_envelope(alex.post(&app, &path, &json!({})).await, 422, "validation_failed").await;
    assert_eq!(field_names(&body), ["template"]);
    assert_envelope(
        alex.post(&app, &path, &json!({ "template": "essay" })).await,
        422,
        "validation_failed",
    )
    .await;
    let body = assert_envelope(
        alex.post(&app, &path, &json!({ "template": "soap", "fields": { "mood": "ok" } }))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&body), ["fields.mood"]);
    assert_envelope(
        alex.post(
            &app,
            &path,
            &json!({ "template": "soap", "appointment_id": uuid::Uuid::nil() }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        count_rows(&app, "SELECT count(*) FROM notes").await,
        0,
        "nothing half-written"
    );

    // A draft may be incomplete; signing needs every required field.
    let id = start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "soap", "fields": { "subjective": "Reports sleeping five hours." } }),
    )
    .await;
    let draft = read_note(&app, &alex, &id).await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["version"], 1);
    let body = assert_envelope(
        alex.post(&app, &format!("/api/v1/notes/{id}/sign"), &json!({ "version": 1 }))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_names(&body),
        ["fields.objective", "fields.assessment", "fields.plan"]
    );

    let note_path = format!("/api/v1/notes/{id}");
    let response = alex
        .send(
            &app,
            Method::PATCH,
            &note_path,
            &json!({ "fields": soap("Review in a week."), "version": 1 }),
        )
        .await;
    assert_eq!(response.status(), 204, "{:?}", response.text().await);
    assert_envelope(
        alex.send(
            &app,
            Method::PATCH,
            &note_path,
            &json!({ "fields": soap("stale"), "version": 1 }),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert_envelope(
        alex.post(&app, &format!("/api/v1/notes/{id}/sign"), &json!({ "version": 1 }))
            .await,
        409,
        "conflict",
    )
    .await;
    let response = alex
        .post(&app, &format!("/api/v1/notes/{id}/sign"), &json!({ "version": 2 }))
        .await;
    assert_eq!(response.status(), 204, "{:?}", response.text().await);

    let signed = read_note(&app, &alex, &id).await;
    assert_eq!(signed["status"], "signed");
    assert_eq!(signed["signed_by"]["id"], alex.id.0.to_string());
    assert_eq!(signed["content_hash"].as_str().unwrap().len(), 64);
    assert_eq!(signed["hash_verified"], true);
    assert_eq!(signed["fields"][3]["value"], "Review in a week.");

    // Final through every route...
    for (method, path, body) in [
        (
            Method::PATCH,
            note_path.clone(),
            json!({ "fields": soap("changed"), "version": 3 }),
        ),
        (Method::DELETE, note_path.clone(), json!({})),
        (
            Method::POST,
            format!("/api/v1/notes/{id}/sign"),
            json!({ "version": 3 }),
        ),
    ] {
        let response = alex.send(&app, method.clone(), &path, &body).await;
        let envelope = assert_envelope(response, 409, "conflict").await;
        assert!(
            envelope["message"].as_str().unwrap().contains("signed"),
            "{method} {path}: {envelope}"
        );
    }
    // ...and in the database itself, whoever asks.
    let note: haven::clinical::NoteId = id.parse().unwrap();
    for statement in [
        "UPDATE notes SET body = '\\x00'::bytea WHERE id = $1",
        "UPDATE notes SET template = 'dap', category = 'clinical' WHERE id = $1",
        "UPDATE notes SET status = 'draft', signed_at = NULL, signed_by = NULL, content_hash = NULL WHERE id = $1",
        "UPDATE notes SET content_hash = sha256('x') WHERE id = $1",
        "DELETE FROM notes WHERE id = $1",
    ] {
        let err = sql(&app, statement, note.0).await.unwrap_err().to_string();
        assert!(err.contains("is signed"), "{statement}: {err}");
    }
    let tenant = app.tenant("default");
    let mut conn = tenant.pool.acquire().await.unwrap();
    assert!(
        !haven::clinical::note_store::update_draft(&mut conn, note, b"x", 3, app.state.clock.now())
            .await
            .unwrap(),
        "the store's own draft update finds no draft"
    );
    assert!(
        !haven::clinical::note_store::delete_draft(&mut conn, note)
            .await
            .unwrap()
    );
    drop(conn);

    // An amendment is a new version with a reason; the original stays as signed.
    let amend = format!("/api/v1/notes/{id}/amendments");
    let body = assert_envelope(
        alex.post(&app, &amend, &json!({ "reason": " " })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&body), ["reason"]);
    let response = alex
        .post(&app, &amend, &json!({ "reason": "Plan was for two weeks, not one." }))
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let amendment = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_envelope(
        alex.post(&app, &amend, &json!({ "reason": "again" })).await,
        409,
        "conflict",
    )
    .await;
    let draft = read_note(&app, &alex, &amendment).await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["amends_id"], id.as_str());
    assert_eq!(draft["thread_id"], id.as_str());
    assert_eq!(
        draft["fields"][3]["value"], "Review in a week.",
        "starts from the signed content"
    );
    let response = alex
        .send(
            &app,
            Method::PATCH,
            &format!("/api/v1/notes/{amendment}"),
            &json!({ "fields": soap("Review in two weeks."), "version": 1 }),
        )
        .await;
    assert_eq!(response.status(), 204);
    let response = alex
        .post(
            &app,
            &format!("/api/v1/notes/{amendment}/sign"),
            &json!({ "version": 2 }),
        )
        .await;
    assert_eq!(response.status(), 204);

    let original = read_note(&app, &alex, &id).await;
    assert_eq!(original["superseded"], true);
    assert_eq!(original["fields"][3]["value"], "Review in a week.", "never changed");
    assert_eq!(original["hash_verified"], true);
    assert_eq!(original["content_hash"], signed["content_hash"]);
    let latest = read_note(&app, &alex, &amendment).await;
    assert_eq!(latest["amendment_reason"], "Plan was for two weeks, not one.");
    let versions: Vec<&str> = latest["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(versions, [id.as_str(), amendment.as_str()]);
    assert_envelope(
        alex.post(&app, &amend, &json!({ "reason": "Amend the old one" })).await,
        409,
        "conflict",
    )
    .await;

    // Every step is in the audit trail.
    app.settle_audit().await;
    let actions = count_rows(
        &app,
        &format!(
            "SELECT count(DISTINCT action) FROM audit_events WHERE resource_id IN ('{id}', '{amendment}') \
             AND action IN ('note.create', 'note.update', 'note.sign', 'note.amend', 'note.read')"
        ),
    )
    .await;
    assert_eq!(actions, 5);
}

#[tokio::test]
async fn who_reads_writes_and_signs_notes_and_psychotherapy_notes() {
    let app = TestApp::spawn().await;
    let Circle {
        client,
        alex,
        sam,
        blair,
        casey,
        dana,
    } = Circle::gather(&app, "Quinn", "Larkspur").await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let auditor = Staff::sign_in(&app, "auditor@example.org", &[Role::Auditor]).await;

    let clinical = start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "progress", "fields": { "summary": "s", "plan": "p" } }),
    )
    .await;
    let process = start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "psychotherapy", "fields": { "process": "Transference: anger at father redirected." } }),
    )
    .await;
    for id in [&clinical, &process] {
        sign_note(&app, &alex, id).await;
    }

    // Dana's emergency access: the clinical record, never the psychotherapy note.
    let expectations: [(&str, &Staff, u16, u16); 8] = [
        ("author", &alex, 200, 200),
        ("author's supervisor", &sam, 200, 200),
        ("colleague on the care team", &blair, 200, 403),
        ("case manager", &casey, 200, 403),
        ("break-glass", &dana, 200, 403),
        ("front desk", &desk, 403, 403),
        ("admin", &admin, 403, 403),
        ("auditor", &auditor, 403, 403),
    ];
    for (who, staff, clinical_status, process_status) in expectations {
        let got = staff.get(&app, &format!("/api/v1/notes/{clinical}")).await.status();
        assert_eq!(got, clinical_status, "{who} reading the clinical note");
        let got = staff.get(&app, &format!("/api/v1/notes/{process}")).await.status();
        assert_eq!(got, process_status, "{who} reading the psychotherapy note");
        if process_status == 403 {
            let response = staff.get(&app, &format!("/api/v1/notes/{process}")).await;
            let body = assert_envelope(response, 403, "forbidden").await;
            let message = body["message"].as_str().unwrap();
            assert!(!message.contains("Transference"), "{message}");
        }
        // Lists show a psychotherapy note only to those who may open it.
        let response = staff
            .get(
                &app,
                &format!("/api/v1/clients/{}/notes", client["id"].as_str().unwrap()),
            )
            .await;
        if clinical_status == 200 {
            let list: Value = response.json().await.unwrap();
            let ids: Vec<&str> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap())
                .collect();
            assert!(ids.contains(&clinical.as_str()), "{who}");
            assert_eq!(
                ids.contains(&process.as_str()),
                process_status == 200,
                "{who} sees the psychotherapy note listed"
            );
        } else {
            assert_eq!(response.status(), 403, "{who}");
        }
    }

    // Writing: counsellors and supervisors; case managers read only.
    let path = format!("/api/v1/clients/{}/notes", client["id"].as_str().unwrap());
    assert_envelope(
        casey.post(&app, &path, &json!({ "template": "progress" })).await,
        403,
        "forbidden",
    )
    .await;
    assert_envelope(
        desk.post(&app, &path, &json!({ "template": "progress" })).await,
        403,
        "forbidden",
    )
    .await;
    assert_envelope(
        dana.post(&app, &path, &json!({ "template": "psychotherapy" })).await,
        403,
        "forbidden",
    )
    .await;
    // Only the author changes a draft.
    let draft = start_note(&app, &blair, &client, &json!({ "template": "dap" })).await;
    assert_envelope(
        sam.send(
            &app,
            Method::PATCH,
            &format!("/api/v1/notes/{draft}"),
            &json!({ "fields": {}, "version": 1 }),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_envelope(
        sam.post(&app, &format!("/api/v1/notes/{draft}/sign"), &json!({ "version": 1 }))
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn a_trainees_signed_note_waits_for_the_supervisors_cosignature() {
    let app = TestApp::spawn().await;
    let sam = Staff::sign_in(&app, "sam@example.org", &[Role::Supervisor]).await;
    let other = Staff::sign_in(&app, "other-supervisor@example.org", &[Role::Supervisor]).await;
    let tia = Staff::sign_in(&app, "tia@example.org", &[Role::Clinician]).await;
    supervise(&app, sam.id, tia.id, true).await;
    let client = tia
        .register(&app, &json!({ "legal_given_name": "Ari", "legal_family_name": "Moss" }))
        .await;
    let id = start_note(
        &app,
        &tia,
        &client,
        &json!({ "template": "dap", "fields": { "data": "d", "assessment": "a", "plan": "p" } }),
    )
    .await;
    assert_envelope(
        tia.post(&app, &format!("/api/v1/notes/{id}/cosign"), &json!({})).await,
        403,
        "forbidden",
    )
    .await;
    let response = tia
        .post(&app, &format!("/api/v1/notes/{id}/sign"), &json!({ "version": 1 }))
        .await;
    assert_eq!(response.status(), 204);
    let note = read_note(&app, &tia, &id).await;
    assert_eq!(note["needs_cosign"], true);
    assert!(note["cosigned_at"].is_null());

    let queue: Value = sam.get(&app, "/api/v1/notes/cosign-queue").await.json().await.unwrap();
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["note_id"], id.as_str());
    assert_eq!(queue[0]["author"]["id"], tia.id.0.to_string());
    let others: Value = other
        .get(&app, "/api/v1/notes/cosign-queue")
        .await
        .json()
        .await
        .unwrap();
    assert!(others.as_array().unwrap().is_empty(), "another supervisor's queue");
    assert_envelope(tia.get(&app, "/api/v1/notes/cosign-queue").await, 403, "forbidden").await;
    assert_envelope(
        other
            .post(&app, &format!("/api/v1/notes/{id}/cosign"), &json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;

    let response = sam.post(&app, &format!("/api/v1/notes/{id}/cosign"), &json!({})).await;
    assert_eq!(response.status(), 204, "{:?}", response.text().await);
    let note = read_note(&app, &sam, &id).await;
    assert_eq!(note["cosigned_by"]["id"], sam.id.0.to_string());
    assert_eq!(
        note["hash_verified"], true,
        "co-signing leaves the signed content alone"
    );
    assert_envelope(
        sam.post(&app, &format!("/api/v1/notes/{id}/cosign"), &json!({})).await,
        409,
        "conflict",
    )
    .await;
    let queue: Value = sam.get(&app, "/api/v1/notes/cosign-queue").await.json().await.unwrap();
    assert!(queue.as_array().unwrap().is_empty());
    // Once co-signed, the co-signature itself is final too.
    let err = sql(
        &app,
        "UPDATE notes SET cosigned_by = NULL, cosigned_at = NULL WHERE id = $1",
        uuid::Uuid::parse_str(&id).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("is signed"), "{err}");
}

#[tokio::test]
async fn completed_appointments_without_a_signed_note_are_owed() {
    let app = TestApp::spawn().await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let client = alex
        .register(&app, &json!({ "legal_given_name": "Jo", "legal_family_name": "Reed" }))
        .await;
    let starts = (app.state.clock.now() - chrono::TimeDelta::days(2)).to_rfc3339();
    let response = alex
        .post(
            &app,
            "/api/v1/appointments",
            &json!({
                "client_ids": [client["id"]], "clinician_id": alex.id.0, "place": "elsewhere",
                "location_note": "School", "service_type": "Counselling", "starts_at": starts,
            }),
        )
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let appointment = response.json::<Value>().await.unwrap()["appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owed: Value = alex.get(&app, "/api/v1/notes/owed").await.json().await.unwrap();
    assert!(owed.as_array().unwrap().is_empty(), "not completed yet");
    let response = alex
        .post(
            &app,
            &format!("/api/v1/appointments/{appointment}/status"),
            &json!({ "to": "completed" }),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let owed: Value = alex.get(&app, "/api/v1/notes/owed").await.json().await.unwrap();
    assert_eq!(owed.as_array().unwrap().len(), 1);
    assert_eq!(owed[0]["appointment_id"], appointment.as_str());
    assert!(owed[0]["draft_id"].is_null());
    assert_envelope(desk.get(&app, "/api/v1/notes/owed").await, 403, "forbidden").await;

    let id = start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "progress", "appointment_id": appointment, "fields": { "summary": "s", "plan": "p" } }),
    )
    .await;
    let owed: Value = alex.get(&app, "/api/v1/notes/owed").await.json().await.unwrap();
    assert_eq!(owed[0]["draft_id"], id.as_str(), "a draft does not settle it");
    let response = alex
        .post(&app, &format!("/api/v1/notes/{id}/sign"), &json!({ "version": 1 }))
        .await;
    assert_eq!(response.status(), 204);
    let owed: Value = alex.get(&app, "/api/v1/notes/owed").await.json().await.unwrap();
    assert!(owed.as_array().unwrap().is_empty(), "signed: settled");
}

#[tokio::test]
async fn a_positive_phq9_item_9_raises_an_alert_on_the_chart_and_emails_the_counsellor() {
    let smtp = crate::support::smtp::SmtpServer::start();
    let smtp_url = smtp.url();
    let app = TestApp::spawn_with(move |c| {
        c.smtp_url = Some(haven::config::Secret::new(smtp_url));
        c.jobs.poll_interval = std::time::Duration::from_millis(50);
        c.public_url = Some("https://care.example.org".to_owned());
    })
    .await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let client = alex
        .register(
            &app,
            &json!({ "legal_given_name": "Marlowe", "legal_family_name": "Finch" }),
        )
        .await;
    let client_id = client["id"].as_str().unwrap();
    let path = format!("/api/v1/clients/{client_id}/assessments");

    // Bad answers are refused and nothing is kept.
    for (body, field) in [
        (json!({ "answers": [0, 0, 0] }), "instrument"),
        (json!({ "instrument": "phq9", "answers": [0, 0, 0] }), "answers"),
        (
            json!({ "instrument": "phq9", "answers": [0, 0, 0, 0, 9, 0, 0, 0, 0] }),
            "answers[4]",
        ),
        (json!({ "instrument": "bdi", "answers": [] }), "instrument"),
    ] {
        let body = assert_envelope(alex.post(&app, &path, &body).await, 422, "validation_failed").await;
        assert_eq!(field_names(&body), [field]);
    }
    assert_envelope(
        desk.post(
            &app,
            &path,
            &json!({ "instrument": "gad7", "answers": [0, 0, 0, 0, 0, 0, 0] }),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(count_rows(&app, "SELECT count(*) FROM assessments").await, 0);

    // Total 11 (moderate), item 9 answered "several days".
    let response = alex
        .post(
            &app,
            &path,
            &json!({ "instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1] }),
        )
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let recorded: Value = response.json().await.unwrap();
    assert_eq!(recorded["total"], 11);
    assert_eq!(recorded["severity"], "Moderate");
    assert_eq!(recorded["self_harm_risk"], true);
    let alert = recorded["alert_id"].as_str().unwrap().to_owned();

    // On the chart, for the clinical team; not for the front desk.
    let page = alex
        .client
        .get(app.url(&format!("/clients/{client_id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("id=\"safety-alert-{alert}\"")),
        "alert banner on the chart"
    );
    assert!(page.contains("Safety alert: risk of self-harm"));
    let page = desk
        .client
        .get(app.url(&format!("/clients/{client_id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Safety alert"), "front desk sees no clinical content");

    // The counsellor is emailed a link, with no name and no answers.
    let message = smtp.wait_for(1).await;
    assert!(message.contains("To: alex@example.org"), "{message}");
    assert!(
        message.contains(&format!("https://care.example.org/clients/{client_id}")),
        "{message}"
    );
    // Headers (date) and the link (a UUID) may hold any digits by chance; the
    // score must not appear in the words of the body.
    let link = format!("https://care.example.org/clients/{client_id}");
    let body = message
        .split_once("\r\n\r\n")
        .or_else(|| message.split_once("\n\n"))
        .map_or(message.as_str(), |(_, body)| body)
        .replace(&link, "");
    for secret in ["Marlowe", "Finch", "PHQ"] {
        assert!(!message.contains(secret), "{secret} in {message}");
    }
    assert!(!body.contains("11"), "the score is in {message}");

    // A GAD-7 raises nothing; the history lists both with bands.
    let response = alex
        .post(
            &app,
            &path,
            &json!({ "instrument": "gad7", "answers": [3, 3, 3, 2, 2, 1, 1] }),
        )
        .await;
    let recorded: Value = response.json().await.unwrap();
    assert_eq!(
        (recorded["total"].as_i64(), recorded["severity"].as_str()),
        (Some(15), Some("Severe"))
    );
    assert!(recorded["alert_id"].is_null());
    let history: Value = alex.get(&app, &path).await.json().await.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert!(history[0].get("answers").is_none(), "lists carry no answers");

    // Acknowledged with what was done: the banner goes.
    let ack = format!("/api/v1/safety-alerts/{alert}/acknowledge");
    let body = assert_envelope(alex.post(&app, &ack, &json!({})).await, 422, "validation_failed").await;
    assert_eq!(field_names(&body), ["response"]);
    assert_envelope(
        desk.post(&app, &ack, &json!({ "response": "x" })).await,
        403,
        "forbidden",
    )
    .await;
    let response = alex
        .post(
            &app,
            &ack,
            &json!({ "response": "Safety plan reviewed with the client; crisis line card given." }),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_envelope(
        alex.post(&app, &ack, &json!({ "response": "again" })).await,
        404,
        "not_found",
    )
    .await;
    let page = alex
        .client
        .get(app.url(&format!("/clients/{client_id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Safety alert"));
}

/// A page form posted by `staff` (with their form token); redirects are not followed.
pub async fn post_form(app: &TestApp, staff: &Staff, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("_csrf", staff.csrf.as_str())];
    form.extend_from_slice(fields);
    staff
        .client
        .post(app.url(path))
        .header("accept", "text/html")
        .form(&form)
        .send()
        .await
        .unwrap()
}

pub async fn page(app: &TestApp, staff: &Staff, path: &str) -> (u16, String) {
    let response = staff
        .client
        .get(app.url(path))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_clinical_pages_open_by_role_and_refuse_bad_forms_whole() {
    let app = TestApp::spawn().await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let client = alex
        .register(
            &app,
            &json!({ "legal_given_name": "Marlowe", "legal_family_name": "Finch" }),
        )
        .await;
    let id = client["id"].as_str().unwrap();

    // The counsellor sees the clinical tabs; the front desk gets none of them.
    for tab in ["notes", "measures", "documents"] {
        let (status, body) = page(&app, &alex, &format!("/clients/{id}/{tab}")).await;
        assert_eq!(status, 200, "{tab}: {body}");
        assert!(
            body.contains(&format!("href=\"/clients/{id}/{tab}\" aria-current=\"page\"")),
            "{tab}"
        );
        let (status, _) = page(&app, &desk, &format!("/clients/{id}/{tab}")).await;
        assert_eq!(status, 403, "front desk on {tab}");
    }
    let (_, chart) = page(&app, &desk, &format!("/clients/{id}")).await;
    assert!(!chart.contains("/measures\""), "no clinical tab for the front desk");

    // A PHQ-9 with an item left out, or an answer out of range, is refused whole.
    let mut answers: Vec<(String, String)> = (1..=8).map(|n| (format!("item{n}"), "1".to_owned())).collect();
    let fields = |extra: &[(String, String)]| -> Vec<(String, String)> {
        let mut all = vec![("instrument".to_owned(), "phq9".to_owned())];
        all.extend_from_slice(extra);
        all
    };
    let path = format!("/clients/{id}/measures/new");
    let missing = fields(&answers);
    let pairs: Vec<(&str, &str)> = missing.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let response = post_form(&app, &alex, &path, &pairs).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("Answer item 9"));
    answers.push(("item9".to_owned(), "4".to_owned()));
    let out_of_range = fields(&answers);
    let pairs: Vec<(&str, &str)> = out_of_range.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let response = post_form(&app, &alex, &path, &pairs).await;
    assert_eq!(response.status(), 422, "an answer of 4 is not a PHQ-9 answer");
    let response = post_form(&app, &alex, &path, &[("instrument", "bdi")]).await;
    assert_eq!(response.status(), 422);
    assert_eq!(count_rows(&app, "SELECT count(*) FROM assessments").await, 0);

    // The front desk cannot record one through the page either.
    answers.pop();
    answers.push(("item9".to_owned(), "0".to_owned()));
    let whole = fields(&answers);
    let pairs: Vec<(&str, &str)> = whole.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(post_form(&app, &desk, &path, &pairs).await.status(), 403);
    let response = post_form(&app, &alex, &path, &pairs).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/clients/{id}/measures?done=recorded").as_str()
    );
    let (_, measures) = page(&app, &alex, &format!("/clients/{id}/measures")).await;
    assert!(measures.contains("role=\"img\""), "the trend is drawn");
    assert!(measures.contains("One PHQ-9 score: 8 (Mild)"), "and described");

    // A note started on the page; a template it does not know is refused, nothing kept.
    let notes_path = format!("/clients/{id}/notes/new");
    let response = post_form(&app, &alex, &notes_path, &[("template", "essay")]).await;
    assert_eq!(response.status(), 422);
    let response = post_form(
        &app,
        &alex,
        &notes_path,
        &[("template", "soap"), ("appointment_id", "not-an-id")],
    )
    .await;
    assert_eq!(response.status(), 422);
    assert_eq!(count_rows(&app, "SELECT count(*) FROM notes").await, 0);
    let response = post_form(
        &app,
        &alex,
        &notes_path,
        &[
            ("template", "soap"),
            ("fields.subjective", "Calmer"),
            ("intent", "sign"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303, "saved, then the signature is refused");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("/edit?check=sign"), "{location}");
    let (status, editor) = page(&app, &alex, &location).await;
    assert_eq!(status, 200);
    assert!(
        editor.contains("Objective is needed before signing"),
        "what signing needs"
    );
    assert!(editor.contains(">Calmer</textarea>"), "what was typed is kept");
    assert_eq!(
        count_rows(&app, "SELECT count(*) FROM notes WHERE status = 'draft'").await,
        1
    );

    // An upload without the form token is refused before anything is stored.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(crate::documents::pdf("x")).file_name("a.pdf"),
    );
    let response = alex
        .client
        .post(app.url(&format!("/clients/{id}/documents")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(count_rows(&app, "SELECT count(*) FROM documents").await, 0);
}

/// A psychotherapy note is read by its original author and the original author's
/// supervisor while they reach the client: taken off the care team, the author loses
/// it; an amendment written by the supervisor keeps the original author's rule, so the
/// supervisor's own supervisor does not read it.
#[tokio::test]
async fn a_psychotherapy_note_follows_its_original_author_and_needs_current_reach() {
    let app = TestApp::spawn().await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let sam = Staff::sign_in(&app, "sam@example.org", &[Role::Supervisor]).await;
    let lee = Staff::sign_in(&app, "lee@example.org", &[Role::Supervisor]).await;
    supervise(&app, sam.id, alex.id, false).await;
    supervise(&app, lee.id, sam.id, false).await;
    let client = alex
        .register(
            &app,
            &json!({ "legal_given_name": "Tove", "legal_family_name": "Marsh" }),
        )
        .await;
    add_to_team(&app, &client, lee.id, "clinician").await;
    let process = start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "psychotherapy", "fields": { "process": "Working through grief." } }),
    )
    .await;
    sign_note(&app, &alex, &process).await;
    let response = sam
        .post(
            &app,
            &format!("/api/v1/notes/{process}/amendments"),
            &json!({ "reason": "Supervision follow-up" }),
        )
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let amendment: Value = response.json().await.unwrap();
    let amendment = amendment["id"].as_str().unwrap().to_owned();
    assert_eq!(sam.get(&app, &format!("/api/v1/notes/{amendment}")).await.status(), 200);
    assert_eq!(
        alex.get(&app, &format!("/api/v1/notes/{amendment}")).await.status(),
        200
    );
    // Lee supervises Sam, not Alex: neither the note nor Sam's amendment of it.
    for id in [&process, &amendment] {
        assert_envelope(lee.get(&app, &format!("/api/v1/notes/{id}")).await, 403, "forbidden").await;
    }
    let list: Value = lee
        .get(
            &app,
            &format!("/api/v1/clients/{}/notes", client["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]), "not listed either");

    // Alex leaves the care team: no more reading or amending their old note.
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let response = admin
        .send(
            &app,
            Method::DELETE,
            &format!(
                "/api/v1/clients/{}/care-team/{}",
                client["id"].as_str().unwrap(),
                alex.id
            ),
            &json!({}),
        )
        .await;
    assert!(response.status().is_success(), "{:?}", response.text().await);
    assert_envelope(
        alex.get(&app, &format!("/api/v1/notes/{process}")).await,
        403,
        "forbidden",
    )
    .await;
    assert_envelope(
        alex.post(
            &app,
            &format!("/api/v1/notes/{process}/amendments"),
            &json!({ "reason": "One more thing" }),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

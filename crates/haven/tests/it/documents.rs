//! Documents and the storage layer: uploads typed by content, capped, sealed and audited;
//! downloads as attachments; the storage policy against a real S3-compatible server that
//! checks signatures; approved networks for `local_only` records.

use haven::compliance::audit::{AuditEvent, Outcome};
use haven::compliance::storage::{Accountable, Target};
use haven::identity::Role;
use object_store::ObjectStoreExt as _;
use serde_json::{Value, json};

use crate::clients::Staff;
use crate::notes::{Circle, count_rows, sign_note, start_note};
use crate::support::s3::{self, S3Server, files_under};
use crate::support::{TestApp, assert_envelope, field_names};

pub const PDF_MARKER: &str = "MARKER-document-heron-sketchbook";

/// A small, valid-looking PDF carrying `marker` in its text.
pub fn pdf(marker: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% {marker}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

pub async fn upload(
    app: &TestApp,
    staff: &Staff,
    client: &Value,
    query: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    staff
        .client
        .post(app.url(&format!(
            "/api/v1/clients/{}/documents{query}",
            client["id"].as_str().unwrap()
        )))
        .header("accept", "application/json")
        .header("x-csrf-token", &staff.csrf)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn files_holding(dir: &std::path::Path, marker: &str) -> usize {
    files_under(dir)
        .iter()
        .filter(|f| std::fs::read(f).is_ok_and(|b| b.windows(marker.len()).any(|w| w == marker.as_bytes())))
        .count()
}

#[tokio::test]
async fn uploads_are_typed_by_content_capped_sealed_and_downloaded_as_attachments() {
    let app = TestApp::spawn_with(|c| c.documents.max_size = bytesize::ByteSize::kib(64)).await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let client = alex
        .register(
            &app,
            &json!({ "legal_given_name": "Robin", "legal_family_name": "Ashbrook" }),
        )
        .await;
    let documents_dir = app.config.documents_path();

    let response = upload(
        &app,
        &alex,
        &client,
        "",
        "../Robin's referral <2027>.pdf",
        pdf(PDF_MARKER),
    )
    .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["content_type"], "application/pdf");
    assert_eq!(document["target"], "local");
    assert_eq!(document["name"], "Robin's referral _2027_.pdf");
    assert_eq!(
        files_holding(&documents_dir, PDF_MARKER),
        0,
        "the stored file is sealed"
    );
    assert_eq!(files_holding(&documents_dir, "Robin"), 0);

    let id = document["id"].as_str().unwrap();
    let response = alex.get(&app, &format!("/api/v1/documents/{id}/content")).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"Robin_s referral _2027_.pdf\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''Robin%27s%20referral%20_2027_.pdf"),
        "{disposition}"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf(PDF_MARKER).as_slice());

    let list: Value = alex
        .get(
            &app,
            &format!("/api/v1/clients/{}/documents", client["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["name"], "Robin's referral _2027_.pdf");

    // Refused: a type decided by content, not name; empty; too large; no file; wrong role.
    let before = count_rows(&app, "SELECT count(*) FROM documents").await;
    let files_before = files_under(&documents_dir).len();
    let body = assert_envelope(
        upload(
            &app,
            &alex,
            &client,
            "",
            "notes.pdf",
            b"<html><script>alert(1)</script></html>".to_vec(),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&body), ["file"]);
    assert!(
        body["details"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("only PDF"),
        "{body}"
    );
    assert_envelope(
        upload(&app, &alex, &client, "", "empty.pdf", Vec::new()).await,
        422,
        "validation_failed",
    )
    .await;
    let mut big = pdf("big");
    big.resize(70 * 1024, b' ');
    let body = assert_envelope(
        upload(&app, &alex, &client, "", "big.pdf", big).await,
        413,
        "payload_too_large",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("64.0 KiB"), "{body}");
    let response = alex
        .client
        .post(app.url(&format!("/api/v1/clients/{}/documents", client["id"].as_str().unwrap())))
        .header("accept", "application/json")
        .header("x-csrf-token", &alex.csrf)
        .multipart(reqwest::multipart::Form::new().text("other", "x"))
        .send()
        .await
        .unwrap();
    assert_envelope(response, 422, "validation_failed").await;
    assert_envelope(
        upload(&app, &desk, &client, "", "id.pdf", pdf("x")).await,
        403,
        "forbidden",
    )
    .await;
    assert_envelope(
        desk.get(&app, &format!("/api/v1/documents/{id}/content")).await,
        403,
        "forbidden",
    )
    .await;
    assert_envelope(
        upload(&app, &alex, &client, "?target=moon", "x.pdf", pdf("x")).await,
        422,
        "validation_failed",
    )
    .await;
    let response = alex
        .client
        .post(app.url(&format!("/api/v1/clients/{}/documents", client["id"].as_str().unwrap())))
        .header("accept", "application/json")
        .multipart(
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(pdf("x")).file_name("x.pdf")),
        )
        .send()
        .await
        .unwrap();
    assert_envelope(response, 403, "csrf_failed").await;
    assert_eq!(
        count_rows(&app, "SELECT count(*) FROM documents").await,
        before,
        "no row"
    );
    assert_eq!(files_under(&documents_dir).len(), files_before, "no object left behind");

    // Attached to a draft note, not to a signed one.
    let note = start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "progress", "fields": { "summary": "s", "plan": "p" } }),
    )
    .await;
    let response = upload(&app, &alex, &client, &format!("?note_id={note}"), "scan.png", png()).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    sign_note(&app, &alex, &note).await;
    assert_envelope(
        upload(&app, &alex, &client, &format!("?note_id={note}"), "late.pdf", pdf("x")).await,
        409,
        "conflict",
    )
    .await;

    app.settle_audit().await;
    assert_eq!(
        count_rows(
            &app,
            &format!("SELECT count(*) FROM audit_events WHERE action = 'document.download' AND resource_id = '{id}'")
        )
        .await,
        1
    );
    assert_eq!(
        count_rows(
            &app,
            "SELECT count(*) FROM audit_events WHERE action = 'document.upload'"
        )
        .await,
        2
    );
}

pub fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    bytes.extend_from_slice(&[0u8; 64]);
    bytes
}

async fn set_exempt(app: &TestApp, client: &Value, exempt: bool) {
    let mut db = app.superuser("default").await;
    sqlx::query("UPDATE clients SET hipaa_exempt = $2 WHERE id = $1::uuid")
        .bind(client["id"].as_str().unwrap())
        .bind(exempt)
        .execute(&mut db)
        .await
        .unwrap();
}

async fn set_organisation_policy(app: &TestApp, policy: &str) {
    let mut db = app.superuser("default").await;
    sqlx::query("UPDATE organisation_settings SET storage_policy = $1")
        .bind(policy)
        .execute(&mut db)
        .await
        .unwrap();
    // Set behind the app's back: the cached copy is forgotten as a settings page would.
    app.tenant("default").settings.forget();
}

#[tokio::test]
async fn the_storage_layer_keeps_local_only_records_off_a_real_s3_server() {
    let s3 = S3Server::start();
    let app = TestApp::spawn_with(|c| s3.configure(c)).await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let kept = alex
        .register(
            &app,
            &json!({ "legal_given_name": "Kept", "legal_family_name": "Local" }),
        )
        .await;
    let exempt = alex
        .register(&app, &json!({ "legal_given_name": "Ex", "legal_family_name": "Empt" }))
        .await;
    set_exempt(&app, &exempt, true).await;

    // The organisation does not allow the cloud: even an exempt record stays local.
    let response = upload(&app, &alex, &exempt, "", "a.pdf", pdf("MARKER-a")).await;
    assert_eq!(response.json::<Value>().await.unwrap()["target"], "local");

    set_organisation_policy(&app, "cloud_allowed").await;
    let response = upload(&app, &alex, &exempt, "", "b.pdf", pdf("MARKER-cloud-bound")).await;
    assert_eq!(response.status(), 201);
    let in_cloud: Value = response.json().await.unwrap();
    assert_eq!(in_cloud["target"], "cloud");
    assert_eq!(s3.objects().len(), 1, "one object in the bucket");
    assert_eq!(
        files_holding(&s3.objects()[0], "MARKER-cloud-bound"),
        0,
        "sealed before it left"
    );
    let response = alex
        .get(
            &app,
            &format!("/api/v1/documents/{}/content", in_cloud["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        pdf("MARKER-cloud-bound").as_slice()
    );

    // A local_only record: local by default, and refused when the cloud is asked for.
    let response = upload(&app, &alex, &kept, "", "c.pdf", pdf("MARKER-c")).await;
    let local: Value = response.json().await.unwrap();
    assert_eq!(local["target"], "local");
    let body = assert_envelope(
        upload(&app, &alex, &kept, "?target=cloud", "d.pdf", pdf("MARKER-d")).await,
        403,
        "storage_policy",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("local_only"), "{body}");
    assert_eq!(s3.objects().len(), 1, "nothing more reached the bucket");

    // Moving data (what jobs and migrations do) goes through the same check.
    let tenant = app.tenant("default");
    let who = Accountable {
        audit: &tenant.audit,
        event: AuditEvent::new(app.state.clock.now(), "storage.move", Outcome::Allowed),
    };
    let local_id: haven::documents::DocumentId = local["id"].as_str().unwrap().parse().unwrap();
    let refused = haven::documents::service::relocate(&app.state.storage, &tenant, &who, local_id, Target::Cloud)
        .await
        .unwrap_err();
    assert!(format!("{refused:?}").contains("storage_policy"), "{refused:?}");
    assert_eq!(s3.objects().len(), 1);
    let cloud_id: haven::documents::DocumentId = in_cloud["id"].as_str().unwrap().parse().unwrap();
    haven::documents::service::relocate(&app.state.storage, &tenant, &who, cloud_id, Target::Local)
        .await
        .unwrap();
    assert!(s3.objects().is_empty(), "moved off the cloud");
    let response = alex.get(&app, &format!("/api/v1/documents/{cloud_id}/content")).await;
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        pdf("MARKER-cloud-bound").as_slice()
    );
    haven::documents::service::relocate(&app.state.storage, &tenant, &who, cloud_id, Target::Cloud)
        .await
        .unwrap();
    assert_eq!(s3.objects().len(), 1, "and back, being exempt");

    app.settle_audit().await;
    assert_eq!(
        count_rows(
            &app,
            "SELECT count(*) FROM audit_events WHERE action = 'storage.refused' AND outcome = 'denied'"
        )
        .await,
        2,
        "the upload and the move were both refused on the record"
    );

    // The server checks signatures: a wrong secret is refused.
    let forged = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(s3::BUCKET)
        .with_region("us-east-1")
        .with_endpoint(s3.endpoint())
        .with_allow_http(true)
        .with_access_key_id(s3::ACCESS_KEY)
        .with_secret_access_key("not-the-secret")
        .build()
        .unwrap();
    let put = forged
        .put(
            &object_store::path::Path::from("forged"),
            bytes::Bytes::from_static(b"x").into(),
        )
        .await;
    assert!(put.is_err(), "a forged signature was accepted");
}

#[tokio::test]
async fn local_only_records_are_served_only_to_approved_networks() {
    let app = TestApp::spawn_with(|c| {
        c.approved_networks = vec!["10.20.0.0/16".parse().unwrap()];
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let through_office = |request: reqwest::RequestBuilder| request.header("x-forwarded-for", "10.20.3.4");
    let outside = |request: reqwest::RequestBuilder| request.header("x-forwarded-for", "203.0.113.9");
    let registration = json!({ "legal_given_name": "Nell", "legal_family_name": "Quarry" });
    // Registering from outside writes nothing: a new client's records are local_only.
    let response = outside(alex.client.post(app.url("/api/v1/clients")))
        .header("x-csrf-token", &alex.csrf)
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_envelope(response, 403, "outside_approved_network").await;
    assert_eq!(count_rows(&app, "SELECT count(*) FROM clients").await, 0);
    let response = through_office(alex.client.post(app.url("/api/v1/clients")))
        .header("x-csrf-token", &alex.csrf)
        .json(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let client: Value = response.json().await.unwrap();
    let id = client["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/clients/{id}/notes");
    let response = through_office(alex.client.post(app.url(&format!("/api/v1/clients/{id}/assessments"))))
        .header("x-csrf-token", &alex.csrf)
        .json(&json!({ "instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 1, 1] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let alert = response.json::<Value>().await.unwrap()["alert_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = through_office(alex.client.post(app.url(&path)))
        .header("accept", "application/json")
        .header("x-csrf-token", &alex.csrf)
        .json(&json!({ "template": "progress", "fields": { "summary": "s" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let note = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // From the office network (via the trusted proxy): served.
    let response = through_office(alex.client.get(app.url(&format!("/api/v1/notes/{note}"))))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // From anywhere else: a 403 that says why, audited; the lists, the chart, the
    // client list and acknowledging an alert as much as one note.
    for list in [
        format!("/api/v1/clients/{id}"),
        format!("/api/v1/clients/{id}/notes"),
        format!("/api/v1/clients/{id}/assessments"),
        format!("/api/v1/clients/{id}/documents"),
        "/api/v1/clients".to_owned(),
        "/api/v1/clients?q=Quarry".to_owned(),
        "/api/v1/referrals".to_owned(),
        "/api/v1/appointments".to_owned(),
    ] {
        let response = outside(alex.client.get(app.url(&list))).send().await.unwrap();
        assert_envelope(response, 403, "outside_approved_network").await;
        let response = through_office(alex.client.get(app.url(&list))).send().await.unwrap();
        assert_eq!(response.status(), 200, "{list} from the office");
    }
    // The home page still opens, says why it shows no client, and lists none.
    let home = outside(alex.client.get(app.url("/")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let home = home.text().await.unwrap();
    assert!(
        home.contains("outside the organisation's approved networks") && !home.contains("Quarry"),
        "{home}"
    );
    let acknowledge = format!("/api/v1/safety-alerts/{alert}/acknowledge");
    let response = outside(alex.client.post(app.url(&acknowledge)))
        .header("x-csrf-token", &alex.csrf)
        .json(&json!({ "response": "Called the crisis team." }))
        .send()
        .await
        .unwrap();
    assert_envelope(response, 403, "outside_approved_network").await;
    let response = outside(alex.client.get(app.url(&format!("/api/v1/notes/{note}"))))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let body = assert_envelope(response, 403, "outside_approved_network").await;
    assert!(
        body["message"].as_str().unwrap().contains("approved networks"),
        "{body}"
    );
    let response = alex.get(&app, &format!("/api/v1/notes/{note}")).await;
    assert_envelope(response, 403, "outside_approved_network").await;
    let response = outside(alex.client.post(app.url(&path)))
        .header("accept", "application/json")
        .header("x-csrf-token", &alex.csrf)
        .json(&json!({ "template": "progress" }))
        .send()
        .await
        .unwrap();
    assert_envelope(response, 403, "outside_approved_network").await;
    app.settle_audit().await;
    assert!(
        count_rows(
            &app,
            "SELECT count(*) FROM audit_events WHERE action = 'access.outside_approved_network' AND outcome = 'denied'"
        )
        .await
            >= 3
    );

    // An exempt record of an organisation that allows the cloud is not local_only.
    set_exempt(&app, &client, true).await;
    let mut db = app.superuser("default").await;
    sqlx::query("UPDATE notes SET hipaa_exempt = true")
        .execute(&mut db)
        .await
        .unwrap();
    set_organisation_policy(&app, "cloud_allowed").await;
    let response = outside(alex.client.get(app.url(&format!("/api/v1/notes/{note}"))))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // And the list from outside holds the exempt clients only.
    let other = through_office(alex.client.post(app.url("/api/v1/clients")))
        .header("x-csrf-token", &alex.csrf)
        .json(&json!({ "legal_given_name": "Ivo", "legal_family_name": "Quarry" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 201);
    let listed: Value = outside(alex.client.get(app.url("/api/v1/clients?q=Quarry")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [id.as_str()],
        "only the exempt client leaves the approved networks"
    );
}

/// A document attached to a psychotherapy note takes the note's rules: listed and
/// downloaded only by those who may open the note, attached only by its author while
/// it is a draft. The client's other documents stay with the client's rules.
#[tokio::test]
async fn a_case_manager_cannot_list_or_download_a_psychotherapy_notes_attachment() {
    let app = TestApp::spawn().await;
    let Circle {
        client,
        alex,
        sam,
        blair,
        casey,
        dana,
    } = Circle::gather(&app, "Ira", "Fenwick").await;
    let process = start_note(&app, &alex, &client, &json!({ "template": "psychotherapy" })).await;

    // Attaching is changing the draft: its author only.
    let before = count_rows(&app, "SELECT count(*) FROM documents").await;
    for (who, staff) in [
        ("colleague", &blair),
        ("case manager", &casey),
        ("break-glass", &dana),
        ("supervisor", &sam),
    ] {
        let response = upload(
            &app,
            staff,
            &client,
            &format!("?note_id={process}"),
            "mine.pdf",
            pdf("x"),
        )
        .await;
        assert_envelope(response, 403, "forbidden").await;
        assert_eq!(
            count_rows(&app, "SELECT count(*) FROM documents").await,
            before,
            "{who}"
        );
    }
    let attached = upload(
        &app,
        &alex,
        &client,
        &format!("?note_id={process}"),
        "Process sketch.pdf",
        pdf("x"),
    )
    .await;
    assert_eq!(attached.status(), 201, "{:?}", attached.text().await);
    let attached: Value = attached.json().await.unwrap();
    let plain = upload(&app, &blair, &client, "", "Referral letter.pdf", pdf("y")).await;
    assert_eq!(plain.status(), 201);
    let plain: Value = plain.json().await.unwrap();

    let list_path = format!("/api/v1/clients/{}/documents", client["id"].as_str().unwrap());
    for (who, staff, opens) in [
        ("author", &alex, true),
        ("author's supervisor", &sam, true),
        ("colleague on the care team", &blair, false),
        ("case manager", &casey, false),
        ("break-glass", &dana, false),
    ] {
        let list: Value = staff.get(&app, &list_path).await.json().await.unwrap();
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"Referral letter.pdf"), "{who}: {names:?}");
        assert_eq!(
            names.contains(&"Process sketch.pdf"),
            opens,
            "{who} sees the attachment listed"
        );
        let content = staff
            .get(
                &app,
                &format!("/api/v1/documents/{}/content", attached["id"].as_str().unwrap()),
            )
            .await;
        if opens {
            assert_eq!(content.status(), 200, "{who}");
        } else {
            assert_envelope(content, 403, "forbidden").await;
        }
        let response = staff
            .get(
                &app,
                &format!("/api/v1/documents/{}/content", plain["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(response.status(), 200, "{who} downloads the client's own document");
    }
}

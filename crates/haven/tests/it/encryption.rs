//! Encryption at rest against a real database: values sealed under a tenant's data key,
//! the master key checked at start-up.

use base64::Engine as _;
use haven::app::Application;
use haven::compliance::sealing::{MasterKey, SealError, Vault};
use haven::platform::database::DatabaseServer;

use crate::support::TestApp;

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

#[tokio::test]
async fn sealed_values_open_under_their_key_and_a_wrong_master_key_stops_the_start() {
    let app = TestApp::spawn_with(|c| c.master_key = Some(haven::config::Secret::new(key(1)))).await;
    let tenant = app.tenant("default");
    let ring = app.state.vault.keyring(&tenant.record);
    let now = app.state.clock.now();
    let sealed = ring
        .seal(&tenant.pool, b"MARKER-plum-umbrella", "note.body:1", now)
        .await
        .unwrap();
    assert_eq!(
        ring.open(&tenant.pool, &sealed, "note.body:1")
            .await
            .unwrap()
            .as_slice(),
        b"MARKER-plum-umbrella"
    );
    assert!(matches!(
        ring.open(&tenant.pool, &sealed, "note.body:2").await,
        Err(SealError::Damaged)
    ));
    // The database holds the data key only wrapped.
    let mut db = app.superuser("default").await;
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT wrapped FROM data_keys")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(wrapped.len(), 1 + 4 + 24 + 32 + 16);

    // Another master key cannot open it, and Haven refuses to start with it.
    let other = Vault::new(MasterKey::from_base64(&key(2)).unwrap());
    assert!(matches!(
        other.keyring(&tenant.record).verify(&tenant.pool).await,
        Err(SealError::WrongMasterKey)
    ));
    let mut config = app.config.clone();
    config.master_key = Some(haven::config::Secret::new(key(2)));
    let server = DatabaseServer::from_url(config.database_url.as_ref().unwrap().expose()).unwrap();
    let Err(refused) = Application::build(config, server).await else {
        panic!("started with the wrong master key");
    };
    let message = format!("{refused:#}");
    assert!(message.contains("the master key does not open"), "{message}");
}

/// `haven keys rotate`: every sealed value moves to the new key in a separate process;
/// a new keyring loaded from the key file (as after a restart) opens every note,
/// measure and document; new writes use the new key; the old key is retired.
#[tokio::test]
async fn keys_rotate_reseals_everything_and_new_writes_use_the_new_key() {
    use haven::identity::Role;
    use serde_json::{Value, json};

    use crate::clients::Staff;
    use crate::notes::{count_rows, read_note, start_note};

    let app = TestApp::spawn().await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let client = alex
        .register(
            &app,
            &json!({ "legal_given_name": "Rowan", "legal_family_name": "Keys" }),
        )
        .await;
    let signed = start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "dap", "fields": { "data": "MARKER-rotate-dap", "assessment": "a", "plan": "p" } }),
    )
    .await;
    let response = alex
        .post(&app, &format!("/api/v1/notes/{signed}/sign"), &json!({ "version": 1 }))
        .await;
    assert_eq!(response.status(), 204);
    let draft = start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "progress", "fields": { "summary": "MARKER-rotate-draft" } }),
    )
    .await;
    let response = alex
        .post(
            &app,
            &format!("/api/v1/clients/{}/assessments", client["id"].as_str().unwrap()),
            &json!({ "instrument": "gad7", "answers": [1, 2, 1, 0, 3, 1, 2] }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let assessment = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = crate::documents::upload(
        &app,
        &alex,
        &client,
        "",
        "plan.pdf",
        crate::documents::pdf("MARKER-rotate-pdf"),
    )
    .await;
    assert_eq!(response.status(), 201);
    let document = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys = "SELECT count(DISTINCT k) FROM (SELECT sealed_key_id(body) k FROM notes UNION ALL SELECT sealed_key_id(answers) FROM assessments UNION ALL SELECT sealed_key_id(name) FROM documents UNION ALL SELECT sealed_key_id(content_key) FROM documents) s";
    assert_eq!(count_rows(&app, keys).await, 1);

    let output = app.haven(&["keys", "rotate"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("default: new key 2, 5 values re-sealed, retired keys [1]"),
        "{stdout}"
    );
    assert_eq!(
        count_rows(&app, "SELECT count(*) FROM notes WHERE sealed_key_id(body) <> 2").await
            + count_rows(
                &app,
                "SELECT count(*) FROM assessments WHERE sealed_key_id(answers) <> 2"
            )
            .await
            + count_rows(
                &app,
                "SELECT count(*) FROM documents WHERE sealed_key_id(name) <> 2 OR sealed_key_id(content_key) <> 2"
            )
            .await,
        0
    );
    let output = app.haven(&["keys", "status"]).await;
    let status = String::from_utf8_lossy(&output.stdout);
    assert!(status.contains("key    2  in use    seals 5 values"), "{status}");
    assert!(status.contains("key    1  retired   seals 0 values"), "{status}");

    // A fresh keyring from the key file, as a restarted Haven has.
    let tenant = app.tenant("default");
    let vault = Vault::from_config(&app.config).unwrap();
    let ring = vault.keyring(&tenant.record);
    let mut db = app.superuser("default").await;
    for haven::compliance::rotation::SealedColumn { table, column, context } in haven::modules::all().sealed() {
        let rows: Vec<(uuid::Uuid, Vec<u8>)> =
            sqlx::query_as(&format!("SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL"))
                .fetch_all(&mut db)
                .await
                .unwrap();
        for (id, sealed) in rows {
            ring.open(&tenant.pool, &sealed, &format!("{context}:{id}"))
                .await
                .unwrap();
        }
    }
    // Through the app: the signed note still verifies, the draft and measure open, the
    // document downloads.
    let note = read_note(&app, &alex, &signed).await;
    assert_eq!(note["hash_verified"], true);
    assert_eq!(note["fields"][0]["value"], "MARKER-rotate-dap");
    assert_eq!(
        read_note(&app, &alex, &draft).await["fields"][0]["value"],
        "MARKER-rotate-draft"
    );
    let measure: Value = alex
        .get(&app, &format!("/api/v1/assessments/{assessment}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(measure["answers"], json!([1, 2, 1, 0, 3, 1, 2]));
    let bytes = alex
        .get(&app, &format!("/api/v1/documents/{document}/content"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), crate::documents::pdf("MARKER-rotate-pdf").as_slice());

    // New writes use the new key.
    let later = start_note(&app, &alex, &client, &json!({ "template": "soap" })).await;
    assert_eq!(
        count_rows(
            &app,
            &format!("SELECT sealed_key_id(body)::int8 FROM notes WHERE id = '{later}'")
        )
        .await,
        2
    );
    app.settle_audit().await;
    assert_eq!(
        count_rows(&app, "SELECT count(*) FROM audit_events WHERE action = 'keys.rotate'").await,
        1
    );
}

/// A stolen database dump or a copy of the document folder reveals no note text, no
/// measure response and no document: write each with a marker, dump the tenant database
/// with pg_dump, and look for the markers.
#[tokio::test]
async fn a_database_dump_and_the_document_folder_hold_none_of_the_markers() {
    use haven::identity::Role;
    use serde_json::{Value, json};

    use crate::clients::Staff;
    use crate::notes::start_note;

    let app = TestApp::spawn().await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let client = alex
        .register(&app, &json!({ "legal_given_name": "Dee", "legal_family_name": "Dump" }))
        .await;
    let markers = [
        "MARKER-soap-subjective-otter",
        "MARKER-psychotherapy-lantern",
        "MARKER-alert-response-quill",
        "MARKER-document-content-fjord",
        "MARKER-document-name-basalt",
    ];
    let soap = start_note(&app, &alex, &client, &json!({ "template": "soap", "fields": { "subjective": markers[0], "objective": "o", "assessment": "a", "plan": "p" } })).await;
    let response = alex
        .post(&app, &format!("/api/v1/notes/{soap}/sign"), &json!({ "version": 1 }))
        .await;
    assert_eq!(response.status(), 204);
    start_note(
        &app,
        &alex,
        &client,
        &json!({ "template": "psychotherapy", "fields": { "process": markers[1] } }),
    )
    .await;
    let response = alex
        .post(
            &app,
            &format!("/api/v1/clients/{}/assessments", client["id"].as_str().unwrap()),
            &json!({ "instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 0, 2] }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let alert = response.json::<Value>().await.unwrap()["alert_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = alex
        .post(
            &app,
            &format!("/api/v1/safety-alerts/{alert}/acknowledge"),
            &json!({ "response": markers[2] }),
        )
        .await;
    assert_eq!(response.status(), 204);
    let response = crate::documents::upload(
        &app,
        &alex,
        &client,
        "",
        &format!("{}.pdf", markers[4]),
        crate::documents::pdf(markers[3]),
    )
    .await;
    assert_eq!(response.status(), 201);

    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("bin/pg_dump"))
        .find(|p| p.is_file())
        .expect("pg_dump");
    let cluster = crate::support::cluster();
    let output = std::process::Command::new(bin)
        .args([
            "--no-owner",
            "--data-only",
            "-d",
            &cluster.url(&app.tenant_database("default")),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let dump = String::from_utf8_lossy(&output.stdout);
    assert!(
        dump.contains("Dump"),
        "the dump holds the tenant's data (the client's name)"
    );
    assert!(dump.contains("COPY public.notes"), "the notes are in the dump");
    let folder = crate::support::s3::files_under(&app.config.documents_path());
    assert_eq!(folder.len(), 1);
    for marker in markers {
        assert!(!dump.contains(marker), "{marker} is in the database dump");
        for file in &folder {
            let bytes = std::fs::read(file).unwrap();
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "{marker} is in {}",
                file.display()
            );
        }
    }
    // The markers are there for those who may read them.
    let list: Value = alex
        .get(
            &app,
            &format!("/api/v1/clients/{}/documents", client["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["name"], format!("{}.pdf", markers[4]));
}

/// Sealed values and their data keys copied into another organisation's database do not
/// open there: keys are wrapped, and values sealed, naming their organisation
/// (issue 17, finding 14).
#[tokio::test]
async fn sealed_values_and_keys_copied_into_another_organisation_do_not_open_there() {
    let app = TestApp::spawn().await;
    crate::tenancy::create_tenant(&app, "north", "north.test").await;
    let client = app.client_for_hosts(&["north.test"]);
    crate::tenancy::wait_for_tenant(&app, &client, "north.test", "north").await;
    let (home, north) = (app.tenant("default"), app.tenant("north"));
    let now = app.state.clock.now();
    let sealed = app
        .state
        .vault
        .keyring(&home.record)
        .seal(&home.pool, b"MARKER-copied-row", "note.body:7", now)
        .await
        .unwrap();
    let keys: Vec<(i32, Vec<u8>)> = sqlx::query_as("SELECT id, wrapped FROM data_keys")
        .fetch_all(&mut app.superuser("default").await)
        .await
        .unwrap();
    let mut theirs = app.superuser("north").await;
    sqlx::query("DELETE FROM data_keys").execute(&mut theirs).await.unwrap();
    for (id, wrapped) in &keys {
        sqlx::query("INSERT INTO data_keys (id, wrapped, created_at) VALUES ($1, $2, now())")
            .bind(id)
            .bind(wrapped)
            .execute(&mut theirs)
            .await
            .unwrap();
    }
    let ring = app.state.vault.keyring(&north.record);
    assert!(
        ring.open(&north.pool, &sealed, "note.body:7").await.is_err(),
        "a copied row does not open in another organisation"
    );
    let output = app.haven(&["keys", "status", "--tenant", "north"]).await;
    assert!(!output.status.success(), "the copied key does not unwrap there");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("does not open"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

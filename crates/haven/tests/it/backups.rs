//! Backups over the command line: made, opened by the standard `age` tool, restored on a
//! fresh installation with nothing but the master key, and refused when altered.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::clients::Staff;
use crate::notes::{Circle, read_note, sign_note, soap, start_note};
use crate::support::TestApp;

/// Runs `haven backup create` for the default organisation and returns the new file.
async fn back_up(app: &TestApp, env: &[(&str, &str)]) -> PathBuf {
    let out = app.haven_env(&["backup", "create", "--tenant", "default"], env).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let path = stdout
        .split_whitespace()
        .find(|w| w.ends_with(".tar.age"))
        .map_or_else(|| panic!("no file named in {stdout}"), PathBuf::from);
    assert!(path.is_file(), "{}", path.display());
    path
}

/// The chain as stored: each event's sequence number and hash.
async fn chain(app: &TestApp) -> Vec<(i64, Vec<u8>)> {
    let mut db = app.superuser("default").await;
    sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

async fn client_ids(app: &TestApp, staff: &Staff) -> Vec<String> {
    let listed: Value = staff.get(app, "/api/v1/clients").await.json().await.unwrap();
    let mut ids: Vec<String> = listed["clients"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The disaster: the machine is lost but for the master key and the backup. A fresh
/// installation restores the organisation, and every client, note (opened through the
/// service, its signature's hash intact), document and audit event is back.
#[tokio::test]
async fn a_backup_restores_every_record_on_a_fresh_installation() {
    let app = TestApp::spawn().await;
    let circle = Circle::gather(&app, "Robin", "Vale").await;
    let alex = &circle.alex;
    let note = start_note(&app, alex, &circle.client, &json!({ "template": "soap" })).await;
    let written = alex
        .send(
            &app,
            reqwest::Method::PATCH,
            &format!("/api/v1/notes/{note}"),
            &json!({ "fields": soap("Review the safety plan in two weeks"), "version": 1 }),
        )
        .await;
    assert_eq!(written.status(), 204);
    sign_note(&app, alex, &note).await;
    let letter = crate::documents::pdf("restored-letter-marker");
    let uploaded = crate::documents::upload(&app, alex, &circle.client, "", "letter.pdf", letter.clone()).await;
    assert_eq!(uploaded.status(), 201);
    let document: Value = uploaded.json().await.unwrap();
    let document = document["id"].as_str().unwrap().to_owned();
    let clients = client_ids(&app, alex).await;
    app.settle_audit().await;
    // A signed checkpoint: the restored trail must verify on a machine with another key.
    let checkpoint = app.haven(&["audit", "checkpoint", "--tenant", "default"]).await;
    assert!(checkpoint.status.success());
    let events = chain(&app).await;
    let file = back_up(&app, &[]).await;

    // Kept off the machine: the master key and the backup (with the backup key).
    let offsite = tempfile::tempdir().unwrap();
    let keys = app.config.data_dir.join("keys");
    for name in ["master.key", "backup-identity.txt"] {
        std::fs::copy(keys.join(name), offsite.path().join(name)).unwrap();
    }
    let kept = offsite.path().join(file.file_name().unwrap());
    std::fs::copy(&file, &kept).unwrap();
    let (old_data, old_database) = (app.config.data_dir.clone(), app.tenant_database("default"));
    app.shutdown().await.unwrap();
    std::fs::remove_dir_all(&old_data).unwrap();
    let mut admin = crate::support::cluster().connect("postgres").await;
    sqlx::raw_sql(&format!("DROP DATABASE \"{old_database}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();

    // A fresh installation, given the master key and the backup key.
    let data_dir = std::env::temp_dir().join(format!("haven-it-fresh-{}", crate::support::unique_id()));
    std::fs::create_dir_all(data_dir.join("keys")).unwrap();
    for name in ["master.key", "backup-identity.txt"] {
        std::fs::copy(offsite.path().join(name), data_dir.join("keys").join(name)).unwrap();
    }
    let fresh = TestApp::spawn_with(|c| c.data_dir = data_dir.clone()).await;
    let kept = kept.to_str().unwrap();
    let refused = fresh.haven(&["backup", "restore", kept, "--tenant", "default"]).await;
    assert_eq!(
        refused.status.code(),
        Some(3),
        "the new, empty organisation is live: --force is needed"
    );
    let out = fresh
        .haven(&["backup", "restore", kept, "--tenant", "default", "--force"])
        .await;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified:"));

    let alex = signed_in_when_ready(&fresh, "alex@example.org", alex.id).await;
    assert_eq!(client_ids(&fresh, &alex).await, clients);
    let read = read_note(&fresh, &alex, &note).await;
    assert_eq!(read["hash_verified"], json!(true), "{read}");
    assert!(read.to_string().contains("Review the safety plan in two weeks"));
    let content = alex.get(&fresh, &format!("/api/v1/documents/{document}/content")).await;
    assert_eq!(content.status(), 200);
    assert_eq!(content.bytes().await.unwrap().to_vec(), letter);
    let restored = chain(&fresh).await;
    assert_eq!(
        &restored[..events.len()],
        &events[..],
        "every audit event is back, unchanged"
    );
    let verified = fresh.haven(&["audit", "verify", "--tenant", "default"]).await;
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let mut db = fresh.superuser("default").await;
    let (action,): (String,) = sqlx::query_as("SELECT action FROM audit_events WHERE action = 'backup.restored'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(action, "backup.restored");
    fresh.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// Signs in once the restored organisation serves again (every instance reloads the
/// registry when it changes).
async fn signed_in_when_ready(app: &TestApp, email: &str, id: haven::identity::UserId) -> Staff {
    for _ in 0..100 {
        let (status, _) = app.try_sign_in(&app.browser(), email, crate::clients::PASSWORD).await;
        if status == 200 {
            return Staff::sign_in_again(app, email, id).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{email} could not sign in on the restored organisation");
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test installs Debian's age)"))
}

/// An age identity made by `age-keygen` (Debian's), and its public key.
fn age_keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("operator.agekey");
    let out = run("age-keygen", &["-o", key.to_str().unwrap()]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    (key, public)
}

/// Decrypts `file` with Debian's `age` and unpacks it into `into`.
fn age_open(file: &Path, key: &Path, into: &Path) {
    let tar = into.join("backup.tar");
    let out = run(
        "age",
        &[
            "-d",
            "-i",
            key.to_str().unwrap(),
            "-o",
            tar.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tar::Archive::new(std::fs::File::open(&tar).unwrap())
        .unpack(into)
        .unwrap();
}

async fn verify(app: &TestApp, file: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = app.haven_env(&["backup", "verify", file.to_str().unwrap()], env).await;
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn scratch_databases(app: &TestApp) -> i64 {
    let mut admin = crate::support::cluster().connect("postgres").await;
    // Scratch copies are named after the installation's control database.
    sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE $1")
        .bind(format!("t{}_ctl_%", app.id))
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

/// Encrypted to the operator's own age key, a backup opens with Debian's `age` and
/// `pg_restore --list` reads its dump. A flipped byte, a file signed by another
/// installation, and a signed manifest that lies about a table's rows are each refused
/// with a clear message and exit status 3, and nothing is restored.
#[tokio::test]
async fn a_backup_opens_with_age_and_an_altered_one_is_refused() {
    let app = TestApp::spawn().await;
    let staff = Staff::sign_in(&app, "front@example.org", &[haven::identity::Role::FrontDesk]).await;
    staff
        .register(&app, &json!({ "legal_given_name": "Ari", "legal_family_name": "Lane" }))
        .await;
    let work = tempfile::tempdir().unwrap();
    let (key, public) = age_keygen(work.path());
    let env = [
        ("HAVEN_BACKUP_RECIPIENTS", public.as_str()),
        ("HAVEN_BACKUP_IDENTITY_FILES", key.to_str().unwrap()),
    ];
    let file = back_up(&app, &env).await;

    let opened = work.path().join("opened");
    std::fs::create_dir_all(&opened).unwrap();
    age_open(&file, &key, &opened);
    let pg_restore = haven_pg_tool("pg_restore");
    let listed = run(&pg_restore, &["--list", opened.join("database.dump").to_str().unwrap()]);
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).contains("TABLE public clients"));
    let (code, said) = verify(&app, &file, &env).await;
    assert_eq!(code, Some(0), "{said}");

    // A flipped byte.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let flipped = work.path().join("flipped.tar.age");
    std::fs::write(&flipped, &bytes).unwrap();
    let (code, said) = verify(&app, &flipped, &env).await;
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("damaged or was altered"), "{said}");

    // Made by another installation (another master key).
    let elsewhere = back_up(
        &app,
        &[
            env[0],
            env[1],
            ("HAVEN_MASTER_KEY", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="),
        ],
    )
    .await;
    let (code, said) = verify(&app, &elsewhere, &env).await;
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("not made by this installation"), "{said}");

    // A manifest that lies about the clients' rows, signed with this installation's key.
    let json = std::fs::read(opened.join("manifest.json")).unwrap();
    let mut manifest: Value = serde_json::from_slice(&json).unwrap();
    let clients = manifest["tables"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"] == "clients")
        .unwrap();
    let rows = clients["rows"].as_i64().unwrap();
    clients["rows"] = json!(rows + 1);
    let lying = serde_json::to_vec_pretty(&manifest).unwrap();
    let master =
        haven::compliance::sealing::MasterKey::load_or_create(&app.config.data_dir.join("keys/master.key")).unwrap();
    let signature = haven::backups::contents::BackupKey::of(&master).sign(&lying);
    std::fs::write(opened.join("manifest.json"), &lying).unwrap();
    std::fs::write(opened.join("manifest.sig"), serde_json::to_vec(&signature).unwrap()).unwrap();
    let retarred = work.path().join("lying.tar");
    {
        let mut builder = tar::Builder::new(std::fs::File::create(&retarred).unwrap());
        for name in ["database.dump", "manifest.json", "manifest.sig"] {
            builder.append_path_with_name(opened.join(name), name).unwrap();
        }
        builder.finish().unwrap();
    }
    let lying_file = work.path().join("lying.tar.age");
    let out = run(
        "age",
        &[
            "-r",
            &public,
            "-o",
            lying_file.to_str().unwrap(),
            retarred.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let (code, said) = verify(&app, &lying_file, &env).await;
    assert_eq!(code, Some(3), "{said}");
    assert!(
        said.contains(&format!(
            "table clients has {rows} rows; the manifest says {}",
            rows + 1
        )),
        "{said}"
    );

    // Nothing was restored: no scratch copy is left, and a restore over the live
    // organisation refuses the same file and leaves it as it was.
    assert_eq!(scratch_databases(&app).await, 0);
    let out = app
        .haven_env(
            &[
                "backup",
                "restore",
                lying_file.to_str().unwrap(),
                "--tenant",
                "default",
                "--force",
            ],
            &env,
        )
        .await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(client_count(&app).await, rows);
}

async fn client_count(app: &TestApp) -> i64 {
    let mut db = app.superuser("default").await;
    sqlx::query_scalar("SELECT count(*) FROM clients")
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// PostgreSQL's tool `name` beside the server binaries (as Haven finds them).
fn haven_pg_tool(name: &str) -> String {
    let binaries = haven_pg_embed::Binaries::locate(None, None).unwrap();
    let real = std::fs::canonicalize(binaries.bin_dir.join("postgres")).unwrap();
    real.parent().unwrap().join(name).display().to_string()
}

/// Reads the control database (where backups are recorded).
async fn control(app: &TestApp) -> sqlx::PgConnection {
    crate::support::cluster().connect(&format!("t{}_ctl", app.id)).await
}

/// The state of the organisation's daily backup job of 2 March.
async fn daily_job(app: &TestApp) -> Option<(String, i32)> {
    let mut db = app.superuser("default").await;
    sqlx::query_as(
        "SELECT state, attempts FROM jobs WHERE kind = 'backups.daily' AND run_at = '2026-03-02 02:00:00+00'",
    )
    .fetch_optional(&mut db)
    .await
    .unwrap()
}

fn backups_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar.age"))
        .collect();
    names.sort();
    names
}

/// The daily backup runs from the job queue at the organisation's time (a manual clock
/// here), is verified, and prunes what the retention rule no longer keeps; when its
/// target fails it is tried three times, then every admin is emailed.
#[tokio::test]
async fn the_daily_backup_verifies_prunes_and_tells_the_admins_when_it_keeps_failing() {
    use chrono::TimeZone as _;
    let smtp = crate::support::smtp::SmtpServer::start();
    let smtp_url = smtp.url();
    let start = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
    let clock = std::sync::Arc::new(haven::clock::ManualClock::new(start));
    let app = TestApp::spawn_full(
        |c| {
            c.smtp_url = Some(haven::config::Secret::new(smtp_url));
            c.jobs.poll_interval = std::time::Duration::from_millis(50);
        },
        clock.clone(),
    )
    .await;
    let admin_id = app
        .create_user(
            "admin@example.org",
            &[haven::identity::Role::OrgAdmin],
            Some(crate::clients::PASSWORD),
        )
        .await;
    let mut db = app.superuser("default").await;
    sqlx::query(
        "UPDATE organisation_settings SET backup_keep_daily = 2, backup_keep_weekly = 0, backup_keep_monthly = 0",
    )
    .execute(&mut db)
    .await
    .unwrap();
    app.tenant("default").settings.forget();
    // Three earlier days' backups.
    let dir = app.config.data_dir.join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    for day in ["20260227", "20260228", "20260301"] {
        std::fs::write(dir.join(format!("haven-default-{day}T020000.000Z.tar.age")), b"earlier").unwrap();
    }

    // The 02:00 backup is queued ahead; at 02:01 it runs, verifies and prunes.
    let mut queued = 0;
    for _ in 0..200 {
        queued = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM jobs WHERE kind = 'backups.daily' AND run_at = '2026-03-02 02:00:00+00'",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        if queued == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(queued, 1, "today's backup is queued ahead");
    clock.advance(chrono::TimeDelta::minutes(61));
    let mut state = None;
    for _ in 0..400 {
        state = daily_job(&app).await;
        if state.as_ref().is_some_and(|(s, _)| s == "done") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, Some(("done".to_owned(), 1)));
    let kept = backups_in(&dir);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0], "haven-default-20260301T020000.000Z.tar.age");
    assert!(kept[1].starts_with("haven-default-20260302T0201"), "{kept:?}");
    let (outcome, detail): (String, String) = sqlx::query_as(
        "SELECT outcome, detail FROM backup_runs WHERE slug = 'default' ORDER BY started_at DESC LIMIT 1",
    )
    .fetch_one(&mut control(&app).await)
    .await
    .unwrap();
    assert_eq!(outcome, "verified");
    assert!(detail.starts_with("verified:"), "{detail}");
    let tomorrow: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'backups.daily' AND run_at = '2026-03-03 02:00:00+00'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(tomorrow, 1, "the next day's backup is queued");

    // Visible to operators (by name on their listener, as counts elsewhere), to their
    // automation, and to the organisation's admins.
    let health = app.admin_get("/api/v1/health/backups").await;
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["organisations"][0]["slug"], "default", "{health}");
    assert_eq!(health["organisations"][0]["fresh"], true, "{health}");
    let public: Value = app.get("/api/v1/health/backups").await.json().await.unwrap();
    assert_eq!(
        public,
        json!({ "status": "ok", "fresh_for_hours": 24, "organisations": 1, "stale": 0 })
    );
    let watcher = crate::platform::key(9);
    let kid = crate::platform::register(&app, "backup-watch", &watcher, "platform:read").await;
    let token = crate::platform::jwt(&watcher, &kid, haven::clock::Clock::now(&*clock).timestamp(), 60);
    let platform: Value = reqwest::Client::new()
        .get(app.url("/api/platform/backups"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        platform["organisations"][0]["last_verified"]["outcome"], "verified",
        "{platform}"
    );
    let admin = Staff::sign_in_again(&app, "admin@example.org", admin_id).await;
    let (status, page) = crate::notes::page(&app, &admin, "/admin/backups").await;
    assert_eq!(status, 200);
    assert!(page.contains("Recent backups") && page.contains(">verified<"), "{page}");
    // The schedule: bad values are named, the cloud target is refused here (no cloud,
    // records local_only), and only admins see any of it.
    let schedule = |keep_daily: u32, target: &str| json!({ "enabled": true, "time": "03:30:00", "target": target, "keep": { "daily": keep_daily, "weekly": 4, "monthly": 12 } });
    let put = |body: Value| {
        let admin = &admin;
        let app = &app;
        async move {
            admin
                .send(app, reqwest::Method::PUT, "/api/v1/backups/schedule", &body)
                .await
        }
    };
    let bad = crate::support::assert_envelope(put(schedule(0, "local")).await, 422, "validation_failed").await;
    assert_eq!(crate::support::field_names(&bad), ["keep_daily"]);
    let cloud = crate::support::assert_envelope(put(schedule(7, "cloud")).await, 422, "validation_failed").await;
    assert_eq!(crate::support::field_names(&cloud), ["target"]);
    assert_eq!(put(schedule(7, "local")).await.status(), 200);
    let counsellor = Staff::sign_in(&app, "cal@example.org", &[haven::identity::Role::Clinician]).await;
    crate::support::assert_envelope(counsellor.get(&app, "/api/v1/backups").await, 403, "forbidden").await;
    sqlx::query("UPDATE organisation_settings SET backup_time = '02:00'")
        .execute(&mut db)
        .await
        .unwrap();
    app.tenant("default").settings.forget();

    // The backup folder becomes a plain file: the next backup fails, is retried, and
    // when the third attempt fails the admin hears of it.
    std::fs::rename(&dir, app.config.data_dir.join("backups-moved")).unwrap();
    std::fs::write(&dir, b"not a folder").unwrap();
    clock.advance(chrono::TimeDelta::hours(24));
    for _ in 0..400 {
        if smtp.messages().iter().any(|m| m.contains("the daily backup failed")) {
            break;
        }
        // Past each retry's backoff.
        clock.advance(chrono::TimeDelta::minutes(30));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let alert = smtp
        .messages()
        .into_iter()
        .find(|m| m.contains("To: admin@example.org") && m.contains("the daily backup failed"))
        .unwrap_or_else(|| panic!("no alert: {:?}", smtp.messages()));
    assert!(alert.contains("/admin/backups"), "{alert}");
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM backup_runs WHERE slug = 'default' AND outcome = 'failed'")
            .fetch_one(&mut control(&app).await)
            .await
            .unwrap();
    assert_eq!(failed, 3, "three attempts");
    let health = app.admin_get("/api/v1/health/backups").await;
    assert_eq!(health.status(), 503, "no verified backup in the last 24 hours");
}

/// The storage policy decides where a backup may go: a `local_only` organisation's backup
/// to the S3-compatible target (s3s-fs, checking signatures) is refused and audited with
/// nothing written there; once the organisation is `cloud_allowed` and its every client
/// `hipaa_exempt`, the backup lands there encrypted and verifies from there.
#[tokio::test]
async fn the_cloud_target_takes_a_backup_only_where_the_storage_policy_lets_records_leave() {
    let s3 = crate::support::s3::S3Server::start();
    let app = TestApp::spawn_with(|c| s3.configure(c)).await;
    let staff = Staff::sign_in(&app, "front@example.org", &[haven::identity::Role::FrontDesk]).await;
    staff
        .register(
            &app,
            &json!({ "legal_given_name": "Quillon", "legal_family_name": "Marsh" }),
        )
        .await;
    let endpoint = s3.endpoint();
    let env = [
        ("HAVEN_S3_BUCKET", crate::support::s3::BUCKET),
        ("HAVEN_S3_ENDPOINT", endpoint.as_str()),
        ("HAVEN_S3_ALLOW_HTTP", "true"),
        ("HAVEN_S3_ACCESS_KEY_ID", crate::support::s3::ACCESS_KEY),
        ("HAVEN_S3_SECRET_ACCESS_KEY", crate::support::s3::SECRET_KEY),
    ];
    let to_cloud = ["backup", "create", "--tenant", "default", "--to", "cloud"];
    let refused = app.haven_env(&to_cloud, &env).await;
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("local_only"));
    assert!(s3.objects().is_empty(), "{:?}", s3.objects());
    let mut db = app.superuser("default").await;
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'storage.refused' AND outcome = 'denied'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(audited, 1);

    sqlx::query("UPDATE organisation_settings SET storage_policy = 'cloud_allowed'")
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE clients SET hipaa_exempt = true")
        .execute(&mut db)
        .await
        .unwrap();
    let made = app.haven_env(&to_cloud, &env).await;
    let said = String::from_utf8_lossy(&made.stdout).into_owned();
    assert!(made.status.success(), "{said}{}", String::from_utf8_lossy(&made.stderr));
    let objects = s3.objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let bytes = std::fs::read(&objects[0]).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    for plain in [&b"manifest.json"[..], b"database.dump", b"Quillon", b"PGDMP"] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain),
            "the bucket holds plaintext"
        );
    }
    let key = said
        .split_whitespace()
        .find(|w| w.starts_with("backups/default/"))
        .unwrap_or_else(|| panic!("{said}"));
    let verified = app
        .haven_env(&["backup", "verify", &format!("cloud:{key}")], &env)
        .await;
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

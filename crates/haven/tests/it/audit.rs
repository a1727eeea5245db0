//! The audit trail: group-committed, gapless, append-only in the database, and every
//! kind of tampering found at the exact event.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use haven::compliance::audit::{self, ActorKind, AuditEvent, EventFilter, Outcome};
use sqlx::{Connection, PgConnection};

use crate::support::{TestApp, assert_envelope};

fn now() -> DateTime<Utc> {
    haven::clock::system().now()
}

fn read_event(n: usize, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent::new(at, "client.read", Outcome::Allowed)
        .actor(ActorKind::User, Some(format!("user-{}", n % 7)))
        .resource("client", format!("client-{n}"))
        .request(
            &format!("req-{n}"),
            Some("203.0.113.7".parse().unwrap()),
            Some("Firefox 120 / Linux / desktop".to_owned()),
        )
}

/// Records `count` reads concurrently, each waiting for its commit; returns their seqs.
async fn record_reads(app: &TestApp, count: usize) -> Vec<i64> {
    let writer = app.tenant("default").audit.clone();
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(read_event(n, now())).await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs
}

/// What this installation's verification trusts: its checkpoint key and archive folder.
fn trust(app: &TestApp) -> audit::Trust {
    audit::Trust::of(&app.config, &app.state.audit_key)
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `haven audit verify` and returns (exit code, output).
async fn cli_verify(app: &TestApp, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["audit", "verify", "--tenant", "default"];
    args.extend_from_slice(extra);
    let output = app.haven(&args).await;
    let text = format!("{}{}", stdout(&output), String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), text)
}

/// Tampering needs what an attacker with superuser access has: triggers switched off.
async fn tamper(app: &TestApp, statements: &[&str]) {
    let mut db = app.superuser("default").await;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut db)
        .await
        .unwrap();
    for statement in statements {
        sqlx::query(statement).execute(&mut db).await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_reads_are_group_committed_into_one_gapless_chain() {
    let app = TestApp::spawn().await;
    let mut seqs = record_reads(&app, 300).await;
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<i64>>(),
        "every read got its own place in the chain"
    );

    let status = app.tenant("default").audit.status().await;
    assert!(
        status.batches < 300,
        "reads shared transactions: {} batches for 300 events",
        status.batches
    );

    let report = audit::verify(&app.tenant("default").pool, &trust(&app), &|_| {})
        .await
        .unwrap();
    assert!(report.ok(), "{}", report.summary());
    assert_eq!((report.events, report.last_seq), (300, 300));

    let body: serde_json::Value = app.admin_get("/api/v1/health/audit-status").await.json().await.unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["tenants"][0]["head_seq"], 300);
    assert_eq!(body["tenants"][0]["writer"]["state"], "running");
}

/// Pages waiting in the pending list of the index on list and search events' subjects.
async fn subjects_pending(db: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pending_pages FROM pgstatginindex('audit_events_subjects')")
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn list_subjects_are_merged_into_their_index_beside_the_chain() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("default");
    let mut db = app.superuser("default").await;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        .execute(&mut db)
        .await
        .unwrap();
    let list = |n: usize| {
        read_event(n, now())
            .resource("client", "all")
            .subjects((0..100).map(|k| format!("0190f1a2-0000-7000-9000-{k:012}")))
    };
    // A writer of its own (the command line's) leaves them in the pending list for its
    // inserts, or autovacuum, to merge once the list is full.
    let alone = audit::AuditWriter::spawn(tenant.pool.clone(), haven::clock::system(), Duration::ZERO);
    alone.record(list(1)).await.unwrap();
    assert!(
        subjects_pending(&mut db).await > 0,
        "the subjects wait in the pending list"
    );
    // The serving writer has them merged from the serving pool, as the app role, soon after.
    tenant.audit.record(list(2)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while subjects_pending(&mut db).await > 0 {
        assert!(std::time::Instant::now() < deadline, "the pending list was not merged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sqlx::query("SET enable_seqscan = off").execute(&mut db).await.unwrap();
    let seen: Vec<i64> = sqlx::query_scalar(
        "SELECT seq FROM audit_events WHERE subjects @> ARRAY['0190f1a2-0000-7000-9000-000000000042'] ORDER BY seq",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(seen, [1, 2], "both list events are found by a subject in the index");
}

#[tokio::test]
async fn a_write_event_commits_with_its_transaction_or_not_at_all() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("default");
    let write = |id: &str| {
        AuditEvent::new(now(), "client.update", Outcome::Allowed)
            .actor(ActorKind::User, Some("user-1".to_owned()))
            .resource("client", id)
    };
    let mut tx = tenant.pool.begin().await.unwrap();
    audit::stage(&mut tx, &write("kept")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = tenant.pool.begin().await.unwrap();
    audit::stage(&mut tx, &write("rolled-back")).await.unwrap();
    tx.rollback().await.unwrap();
    tenant.audit.nudge();

    let mut events = Vec::new();
    for _ in 0..100 {
        events = audit::list_events(&tenant.pool, &EventFilter::default(), 10)
            .await
            .unwrap();
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids: Vec<_> = events.iter().map(|e| e.event.resource_id.clone().unwrap()).collect();
    assert_eq!(
        ids,
        ["kept"],
        "the committed write's event is chained; the rolled-back one never is"
    );
    assert_eq!(audit::outbox_len(&tenant.pool).await.unwrap(), 0);
}

#[tokio::test]
async fn the_app_role_cannot_rewrite_history() {
    let app = TestApp::spawn().await;
    record_reads(&app, 3).await;
    let mut as_app =
        PgConnection::connect_with(&app.state.tenants.server().app_options(&app.tenant("default").database))
            .await
            .unwrap();
    for statement in [
        "UPDATE audit_events SET reason = 'x' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
        "TRUNCATE audit_events",
        "UPDATE audit_head SET seq = 0",
        "TRUNCATE audit_archives",
        "UPDATE audit_checkpoints SET seq = 0",
    ] {
        let err = sqlx::query(statement).execute(&mut as_app).await.unwrap_err();
        let code = err
            .as_database_error()
            .and_then(sqlx::error::DatabaseError::code)
            .map(std::borrow::Cow::into_owned);
        assert_eq!(code.as_deref(), Some("42501"), "{statement} must be refused: {err}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&mut as_app)
        .await
        .unwrap();
    assert_eq!(count, 3, "the app role can still read");
}

#[tokio::test]
async fn even_the_owner_cannot_change_or_fork_the_chain_while_triggers_stand() {
    let app = TestApp::spawn().await;
    record_reads(&app, 3).await;
    let mut owner = app.superuser("default").await;
    for (statement, code) in [
        ("UPDATE audit_events SET reason = 'x' WHERE seq = 2", "HV002"),
        ("DELETE FROM audit_events WHERE seq = 3", "HV002"),
        ("TRUNCATE audit_events", "HV002"),
        (
            // A fork: the next number, but linked to event 2 instead of the head (event 3).
            "INSERT INTO audit_events SELECT 4, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, \
             action, resource_type, resource_id, outcome, reason, request_id, prev_hash, hash FROM audit_events WHERE seq = 3",
            "HV001",
        ),
        (
            // A rewrite of history: an old number, which the primary key refuses first.
            "INSERT INTO audit_events SELECT 2, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, \
             action, resource_type, resource_id, outcome, reason, request_id, prev_hash, hash FROM audit_events WHERE seq = 3",
            "23505",
        ),
        (
            // Two events in one statement: the first follows the head, the second does
            // not follow the first.
            "INSERT INTO audit_events SELECT seq + 3, occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, \
             action, resource_type, resource_id, outcome, reason, request_id, \
             CASE seq WHEN 1 THEN (SELECT hash FROM audit_head) ELSE decode(repeat('00', 32), 'hex') END, hash \
             FROM audit_events WHERE seq IN (1, 2)",
            "HV001",
        ),
        (
            // A gap: events 4 and 6, each linked to the one it names.
            "INSERT INTO audit_events SELECT seq + 3 + (seq - 1), occurred_at, actor_kind, actor_id, session_id, client_ip, \
             user_agent, action, resource_type, resource_id, outcome, reason, request_id, \
             CASE seq WHEN 1 THEN (SELECT hash FROM audit_head) ELSE (SELECT hash FROM audit_events WHERE seq = 1) END, hash \
             FROM audit_events WHERE seq IN (1, 2)",
            "HV001",
        ),
    ] {
        let err = sqlx::query(statement).execute(&mut owner).await.unwrap_err();
        let got = err
            .as_database_error()
            .and_then(sqlx::error::DatabaseError::code)
            .map(std::borrow::Cow::into_owned);
        assert_eq!(got.as_deref(), Some(code), "{statement}: {err}");
    }
    assert_eq!(cli_verify(&app, &[]).await.0, 0);
}

#[tokio::test]
async fn verify_names_the_first_broken_event_for_every_kind_of_tampering() {
    let cases: [(&str, &[&str], i64); 4] = [
        (
            "a changed field",
            &["UPDATE audit_events SET resource_id = 'client-999' WHERE seq = 7"],
            7,
        ),
        ("a deleted event", &["DELETE FROM audit_events WHERE seq = 7"], 7),
        (
            "two swapped events",
            &[
                "UPDATE audit_events a SET (occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, action, \
               resource_type, resource_id, outcome, reason, request_id, prev_hash, hash) = \
               (SELECT occurred_at, actor_kind, actor_id, session_id, client_ip, user_agent, action, resource_type, \
               resource_id, outcome, reason, request_id, prev_hash, hash FROM audit_events b \
               WHERE b.seq = CASE a.seq WHEN 7 THEN 8 ELSE 7 END) WHERE a.seq IN (7, 8)",
            ],
            7,
        ),
        ("a truncated tail", &["DELETE FROM audit_events WHERE seq > 15"], 16),
    ];
    for (what, statements, first_bad) in cases {
        let app = TestApp::spawn().await;
        record_reads(&app, 20).await;
        assert_eq!(cli_verify(&app, &[]).await.0, 0, "intact before {what}");
        tamper(&app, statements).await;
        let (code, output) = cli_verify(&app, &[]).await;
        assert_eq!(code, 3, "{what}: {output}");
        assert!(
            output.contains(&format!("BROKEN at event {first_bad}:")),
            "{what}: {output}"
        );
    }
}

#[tokio::test]
async fn a_checkpoint_kept_elsewhere_reveals_a_tail_truncated_without_a_trace() {
    let app = TestApp::spawn().await;
    record_reads(&app, 20).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkpoint.json");
    let output = app
        .haven(&[
            "audit",
            "checkpoint",
            "--tenant",
            "default",
            "--out",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // A careful attacker cuts the tail, moves the head back and drops the stored checkpoints.
    tamper(
        &app,
        &[
            "DELETE FROM audit_events WHERE seq > 15",
            "UPDATE audit_head SET seq = 15, hash = (SELECT hash FROM audit_events WHERE seq = 15)",
            "DELETE FROM audit_checkpoints",
        ],
    )
    .await;
    let (code, output) = cli_verify(&app, &[]).await;
    assert_eq!(code, 0, "without the checkpoint the chain looks whole: {output}");
    let (code, output) = cli_verify(&app, &["--checkpoint", file.to_str().unwrap()]).await;
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("BROKEN at event 16:") && output.contains("truncated"),
        "{output}"
    );

    // A forged checkpoint does not pass either.
    let mut forged: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    forged["seq"] = 15.into();
    std::fs::write(&file, forged.to_string()).unwrap();
    let (code, output) = cli_verify(&app, &["--checkpoint", file.to_str().unwrap()]).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("invalid signature"), "{output}");
}

#[tokio::test]
async fn when_the_audit_write_fails_the_read_fails_closed() {
    let app = TestApp::spawn().await;
    let mut owner = app.superuser("default").await;
    sqlx::query("REVOKE INSERT ON audit_events FROM haven_app")
        .execute(&mut owner)
        .await
        .unwrap();
    let writer = app.tenant("default").audit.clone();
    let data = "PHI that must not leave";
    let refused = writer.read(read_event(1, now()), data).await;
    assert!(refused.is_err(), "no audited value without a committed event");

    let status = assert_envelope(
        app.admin_get("/api/v1/health/audit-status").await,
        503,
        "audit_unhealthy",
    )
    .await;
    assert_eq!(status["details"]["tenants"][0]["writer"]["state"], "failing");

    sqlx::query("GRANT INSERT ON audit_events TO haven_app")
        .execute(&mut owner)
        .await
        .unwrap();
    let audited = writer.read(read_event(2, now()), data).await.unwrap();
    assert_eq!(audited.seq(), 1, "the failed batch left no trace in the chain");
    assert_eq!(app.get("/api/v1/health/audit-status").await.status(), 200);
}

#[tokio::test]
async fn two_instances_share_one_chain_without_forking_it() {
    let app = TestApp::spawn().await;
    let server = app.state.tenants.server().clone();
    let second = haven::app::Application::build(
        haven::config::Config {
            admin_listen: None,
            ..app.config.clone()
        },
        server,
    )
    .await
    .unwrap();
    let writers = [
        app.tenant("default").audit.clone(),
        second.state().tenants.tenants()[0].audit.clone(),
    ];
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let writer = writers[n % 2].clone();
            tokio::spawn(async move { writer.record(read_event(n, now())).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // In turns, each writer finds the head moved by the other since its last batch: its
    // append from the head it remembers fails whole, and it chains again from the new one.
    for (n, seq) in (200..206).zip(201_i64..) {
        assert_eq!(writers[n % 2].record(read_event(n, now())).await.unwrap(), seq);
    }
    for writer in &writers {
        let status = writer.status().await;
        assert_eq!((status.state, status.consecutive_failures), ("running", 0));
    }
    let report = audit::verify(&app.tenant("default").pool, &trust(&app), &|_| {})
        .await
        .unwrap();
    assert!(report.ok(), "{}", report.summary());
    assert_eq!(report.events, 206);
}

#[tokio::test]
async fn an_export_is_audited_with_its_reason_and_holds_the_range() {
    let app = TestApp::spawn().await;
    record_reads(&app, 12).await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("events.jsonl");
    let csv = dir.path().join("events.csv");
    let export = async |format: &str, file: &std::path::Path| {
        app.haven(&[
            "audit",
            "export",
            "--tenant",
            "default",
            "--from",
            "2000-01-01",
            "--format",
            format,
            "--out",
            file.to_str().unwrap(),
            "--reason",
            "records request 42",
        ])
        .await
    };
    let output = export("jsonl", &jsonl).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["action"], "client.read");
    assert_eq!(lines[0]["hash"].as_str().unwrap().len(), 64);

    let latest = audit::list_events(&app.tenant("default").pool, &EventFilter::default(), 1)
        .await
        .unwrap();
    assert_eq!(latest[0].event.action, "audit.export");
    assert_eq!(latest[0].event.reason.as_deref(), Some("records request 42"));

    let output = export("csv", &csv).await;
    assert!(output.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("seq,occurred_at,actor_kind"));
    assert_eq!(
        text.lines().count(),
        1 + 13,
        "header and every event, the first export's included"
    );

    let blank = app
        .haven(&[
            "audit",
            "export",
            "--from",
            "2000-01-01",
            "--reason",
            "  ",
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ])
        .await;
    assert!(!blank.status.success(), "an export needs a reason");
    assert!(
        !dir.path().join("x").exists(),
        "nothing is written without the audit record"
    );
}

#[tokio::test]
async fn pruning_archives_and_verifies_before_it_removes() {
    let app = TestApp::spawn().await;
    let writer = app.tenant("default").audit.clone();
    let long_ago = now() - TimeDelta::days(8 * 366);
    for (n, offset) in (0..10).zip(0_i64..) {
        let event = read_event(n, long_ago + TimeDelta::seconds(offset));
        writer.record(event).await.unwrap();
    }
    record_reads(&app, 5).await;

    let dir = tempfile::tempdir().unwrap();
    let output = app
        .haven(&[
            "audit",
            "prune",
            "--tenant",
            "default",
            "--archive-dir",
            dir.path().to_str().unwrap(),
        ])
        .await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout(&output).contains("archived events 1 to 10"),
        "{}",
        stdout(&output)
    );

    let archive = dir.path().join("default-audit-000000000001-000000000010.jsonl");
    assert_eq!(std::fs::read_to_string(&archive).unwrap().lines().count(), 10);
    let checkpoint = audit::Checkpoint::read_file(
        &dir.path()
            .join("default-audit-000000000001-000000000010.jsonl.checkpoint.json"),
    )
    .unwrap();
    assert!(checkpoint.signature_is_valid());
    assert_eq!(checkpoint.seq, 10);

    let archives = dir.path().to_str().unwrap();
    let (code, output) = cli_verify(&app, &["--archive-dir", archives]).await;
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("6 events verified"),
        "5 recent events and the prune itself: {output}"
    );
    // The archive is part of the trail: without its file the chain's start is unproven.
    let (code, output) = cli_verify(&app, &[]).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("archive of events 1 to 10 is missing"), "{output}");
    // A checkpoint from before the chain's start is held to the archive, never ignored.
    let third: audit::ChainedEvent =
        serde_json::from_str(std::fs::read_to_string(&archive).unwrap().lines().nth(2).unwrap()).unwrap();
    let elsewhere = dir.path().join("kept-elsewhere.json");
    for (hash, code) in [(third.hash, 0), ([7u8; 32], 3)] {
        let checkpoint = audit::Checkpoint::sign("default", 3, hash, now(), &app.state.audit_key);
        std::fs::write(&elsewhere, serde_json::to_string(&checkpoint).unwrap()).unwrap();
        let (got, output) = cli_verify(
            &app,
            &["--archive-dir", archives, "--checkpoint", elsewhere.to_str().unwrap()],
        )
        .await;
        assert_eq!(got, code, "{output}");
    }
    // An archive file changed after the fact no longer vouches for the chain's start.
    let mut lines = std::fs::read_to_string(&archive).unwrap();
    lines.push('\n');
    std::fs::write(&archive, lines).unwrap();
    let (code, output) = cli_verify(&app, &["--archive-dir", archives]).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("was changed"), "{output}");

    // The switch removes archived events only.
    let mut owner = app.superuser("default").await;
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SELECT set_config('haven.audit_prune', 'on', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("DELETE FROM audit_events WHERE seq = 11")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error()
            .and_then(sqlx::error::DatabaseError::code)
            .as_deref(),
        Some("HV002")
    );
}

#[tokio::test]
async fn the_audit_benchmark_runs_and_cleans_up() {
    let app = TestApp::spawn().await;
    let output = app
        .haven(&[
            "bench",
            "audit",
            "--writers",
            "4",
            "--seconds",
            "1",
            "--verify-events",
            "2000",
        ])
        .await;
    let text = stdout(&output);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        text.contains("group commit (window") && text.contains("one transaction per event"),
        "{text}"
    );
    assert!(text.contains("(chain intact)"), "{text}");
    let mut admin = crate::support::cluster().connect("postgres").await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE $1")
        .bind(format!("{}bench_%", app.config.tenant_database_prefix))
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "the scratch database is dropped");
}

const PASSWORD: &str = "lantern orbit velvet quarry";

async fn signed_in(app: &TestApp, email: &str, roles: &[haven::identity::Role]) -> (reqwest::Client, String) {
    app.create_user(email, roles, Some(PASSWORD)).await;
    let client = app.browser();
    let (status, body) = app.try_sign_in(&client, email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    (client, body["csrf_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn only_auditors_search_the_trail_and_every_look_is_recorded() {
    use haven::identity::Role;
    let app = TestApp::spawn().await;
    record_reads(&app, 30).await;
    let (auditor, _) = signed_in(&app, "audrey@example.org", &[Role::Auditor]).await;
    for (email, role) in [
        ("admin@example.org", Role::OrgAdmin),
        ("cal@example.org", Role::Clinician),
    ] {
        let (client, _) = signed_in(&app, email, &[role]).await;
        let refused = client.get(app.url("/api/v1/audit/events")).send().await.unwrap();
        assert_envelope(refused, 403, "forbidden").await;
        let page = client
            .get(app.url("/audit"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 403, "{email}");
    }

    let first: serde_json::Value = auditor
        .get(app.url("/api/v1/audit/events?action=client.read&limit=20"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = first["events"].as_array().unwrap();
    assert_eq!(events.len(), 20);
    assert!(events.iter().all(|e| e["action"] == "client.read"));
    let before = first["next_before"].as_i64().unwrap();
    let second: serde_json::Value = auditor
        .get(app.url(&format!(
            "/api/v1/audit/events?action=client.read&limit=20&before={before}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["events"].as_array().unwrap().len(), 10, "the rest");
    assert!(second["next_before"].is_null());
    let by_client: serde_json::Value = auditor
        .get(app.url("/api/v1/audit/events?resource_type=client&resource_id=client-7"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_client["events"].as_array().unwrap().len(), 1);

    let page = auditor
        .get(app.url("/audit?action=client.read&limit=5"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("client.read") && page.contains("Older events"),
        "the page lists and pages"
    );

    let tenant = app.tenant("default");
    let denied = audit::list_events(
        &tenant.pool,
        &EventFilter {
            action: Some("access.denied".to_owned()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(denied.len(), 4, "every refusal is recorded");
    assert!(
        denied
            .iter()
            .all(|e| e.event.reason.as_deref() == Some("audit_trail.read"))
    );
    let looks = audit::list_events(
        &tenant.pool,
        &EventFilter {
            action: Some("audit.read".to_owned()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(looks.len(), 4, "every look by the auditor is recorded");
}

#[tokio::test]
async fn bad_audit_filters_are_named() {
    let app = TestApp::spawn().await;
    let (auditor, _) = signed_in(&app, "audrey@example.org", &[haven::identity::Role::Auditor]).await;
    let response = auditor
        .get(app.url("/api/v1/audit/events?from=yesterday&outcome=maybe&limit=0&before=-3"))
        .send()
        .await
        .unwrap();
    let body = assert_envelope(response, 422, "validation_failed").await;
    let fields = crate::support::field_names(&body);
    assert_eq!(fields, ["from", "outcome", "before", "limit"]);
    let reversed = auditor
        .get(app.url("/api/v1/audit/events?from=2026-02-01&to=2026-01-01"))
        .send()
        .await
        .unwrap();
    assert_envelope(reversed, 422, "validation_failed").await;
}

#[tokio::test]
async fn an_auditor_exports_with_a_reason_by_session_or_token() {
    let app = TestApp::spawn().await;
    record_reads(&app, 7).await;
    let (auditor, csrf) = signed_in(&app, "audrey@example.org", &[haven::identity::Role::Auditor]).await;
    let no_reason = auditor
        .get(app.url("/api/v1/audit/export?from=2000-01-01"))
        .send()
        .await
        .unwrap();
    let body = assert_envelope(no_reason, 422, "validation_failed").await;
    assert!(body["message"].as_str().unwrap().contains("reason"), "{body}");

    // A reason written as a spreadsheet formula: recorded as given, exported inert.
    let formula = auditor
        .get(app.url(
            "/api/v1/audit/export?from=2000-01-01&reason=%3DHYPERLINK(%22https%3A%2F%2Fevil.example%22%2C%22open%22)",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(formula.status(), 200);
    formula.bytes().await.unwrap();

    let csv = auditor
        .get(app.url("/api/v1/audit/export?from=2000-01-01&format=csv&reason=quarterly%20review"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"audit-")
    );
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("seq,occurred_at"));
    let mut cells = csv::Reader::from_reader(text.as_bytes());
    let reasons: Vec<String> = cells
        .records()
        .map(|r| r.unwrap().get(11).unwrap_or_default().to_owned())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r == "'=HYPERLINK(\"https://evil.example\",\"open\")"),
        "the formula is kept, behind an apostrophe: {reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r.starts_with(['=', '+', '-', '@', '\t', '\r'])),
        "no cell a spreadsheet would run: {reasons:?}"
    );
    assert!(text.lines().count() >= 8, "header and the seven reads at least");

    let token = app.make_token(&auditor, &csrf, &["audit:read"]).await;
    let by_token = reqwest::Client::new()
        .get(app.url("/api/v1/audit/export?from=2000-01-01&reason=automated%20archive"))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(by_token.status(), 200);

    let exports = audit::list_events(
        &app.tenant("default").pool,
        &EventFilter {
            action: Some("audit.export".to_owned()),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    let reasons: Vec<&str> = exports.iter().filter_map(|e| e.event.reason.as_deref()).collect();
    assert_eq!(
        reasons,
        [
            "automated archive",
            "quarterly review",
            "=HYPERLINK(\"https://evil.example\",\"open\")"
        ],
        "the trail keeps each reason as given"
    );
    assert_eq!(
        exports[0].event.actor_kind,
        haven::compliance::audit::ActorKind::ApiToken
    );
}

#[tokio::test]
async fn an_audited_read_answers_503_without_its_data_when_the_audit_write_fails() {
    let app = TestApp::spawn().await;
    record_reads(&app, 5).await;
    let (auditor, _) = signed_in(&app, "audrey@example.org", &[haven::identity::Role::Auditor]).await;
    let ok = auditor.get(app.url("/api/v1/audit/events")).send().await.unwrap();
    assert_eq!(ok.status(), 200);

    let mut owner = app.superuser("default").await;
    sqlx::query("REVOKE INSERT ON audit_events FROM haven_app")
        .execute(&mut owner)
        .await
        .unwrap();
    let refused = auditor.get(app.url("/api/v1/audit/events")).send().await.unwrap();
    let body = assert_envelope(refused, 503, "audit_unavailable").await;
    assert!(
        body.get("events").is_none() && !body.to_string().contains("client-"),
        "no data leaves: {body}"
    );
    let page = auditor
        .get(app.url("/audit"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(
        !page.text().await.unwrap().contains("client.read"),
        "the page shows none of it either"
    );

    sqlx::query("GRANT INSERT ON audit_events TO haven_app")
        .execute(&mut owner)
        .await
        .unwrap();
    assert_eq!(
        auditor
            .get(app.url("/api/v1/audit/events"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// `haven audit verify` reads one snapshot: run again and again while the writer keeps
/// appending, it never reports a healthy trail as broken (issue 17, finding 17).
#[tokio::test]
async fn verifying_while_the_writer_appends_never_reports_a_break() {
    let app = TestApp::spawn().await;
    record_reads(&app, 200).await;
    let writer = app.tenant("default").audit.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appending = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let batch: Vec<_> = (0..20)
                    .map(|i| {
                        let writer = writer.clone();
                        tokio::spawn(async move { writer.record(read_event(n + i, now())).await.unwrap() })
                    })
                    .collect();
                for task in batch {
                    task.await.unwrap();
                }
                n += 20;
            }
            n
        })
    };
    let pool = &app.tenant("default").pool;
    let mut last = 0;
    for round in 0..25 {
        let report = audit::verify(pool, &trust(&app), &|_| {}).await.unwrap();
        assert!(report.ok(), "round {round}: {}", report.summary());
        last = report.last_seq;
    }
    let (code, output) = cli_verify(&app, &[]).await;
    assert_eq!(code, 0, "{output}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let appended = appending.await.unwrap();
    assert!(
        appended > 0 && last > 200,
        "the writer appended while verifying ({appended}, {last})"
    );
}

/// A database owner who rewrites history cannot make it verify: checkpoints count only
/// when signed by a key this installation trusts, archived prefixes only with their files,
/// and the database refuses changes to checkpoints, archive records and the head outside
/// the chain's own path (issue 17, finding 3).
#[tokio::test]
async fn a_rewritten_history_re_signed_or_hidden_behind_a_forged_archive_does_not_verify() {
    let app = TestApp::spawn().await;
    record_reads(&app, 20).await;
    let output = app.haven(&["audit", "checkpoint", "--tenant", "default"]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(cli_verify(&app, &[]).await.0, 0);

    // Not even the owner changes checkpoints, archive records or the head directly.
    let mut owner = app.superuser("default").await;
    for statement in [
        "UPDATE audit_checkpoints SET signed_at = now()",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_head SET seq = 19",
        "TRUNCATE audit_archives",
    ] {
        let err = sqlx::query(statement).execute(&mut owner).await.unwrap_err();
        let code = err.as_database_error().and_then(sqlx::error::DatabaseError::code);
        assert_eq!(code.as_deref(), Some("HV002"), "{statement}: {err}");
    }

    // With triggers off: event 7 rewritten, the chain recomputed, the head moved, the
    // checkpoints replaced by one signed with a key of the attacker's own.
    let pool = &app.tenant("default").pool;
    let mut events = audit::list_events(pool, &EventFilter::default(), 100).await.unwrap();
    events.sort_by_key(|e| e.seq);
    let mut prev = events[5].hash;
    let mut statements = Vec::new();
    for mut chained in events.into_iter().skip(6) {
        if chained.seq == 7 {
            chained.event.resource_id = Some("client-rewritten".to_owned());
        }
        let hash = audit::event_hash(chained.seq, &chained.event, &prev);
        statements.push(format!(
            "UPDATE audit_events SET resource_id = '{}', prev_hash = '\\x{}', hash = '\\x{}' WHERE seq = {}",
            chained.event.resource_id.clone().unwrap_or_default(),
            hex::encode(prev),
            hex::encode(hash),
            chained.seq
        ));
        prev = hash;
    }
    let keys = tempfile::tempdir().unwrap();
    let theirs = audit::SigningKey::load_or_create(&keys.path().join("theirs.key")).unwrap();
    let forged = audit::Checkpoint::sign("default", 20, prev, now(), &theirs);
    statements.push(format!("UPDATE audit_head SET hash = '\\x{}'", hex::encode(prev)));
    statements.push("DELETE FROM audit_checkpoints".to_owned());
    statements.push(format!(
        "INSERT INTO audit_checkpoints (seq, hash, signed_at, public_key, signature) VALUES (20, '\\x{}', '{}', '\\x{}', '\\x{}')",
        hex::encode(forged.hash),
        forged.signed_at.to_rfc3339(),
        hex::encode(forged.public_key),
        hex::encode(forged.signature)
    ));
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    tamper(&app, &statements).await;
    let (code, output) = cli_verify(&app, &[]).await;
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("does not trust"), "{output}");

    // A forged archive record and the prune switch hide the first five events.
    let app = TestApp::spawn().await;
    record_reads(&app, 10).await;
    tamper(
        &app,
        &[
            "INSERT INTO audit_archives (through_seq, through_hash, first_seq, archived_at, file_name, file_sha256) \
             SELECT 5, hash, 1, now(), 'default-audit-forged.jsonl', hash FROM audit_events WHERE seq = 5",
            "DELETE FROM audit_events WHERE seq <= 5",
        ],
    )
    .await;
    let (code, output) = cli_verify(&app, &[]).await;
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("BROKEN at event 1:") && output.contains("is missing"),
        "{output}"
    );
}

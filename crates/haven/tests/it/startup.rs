//! Start-up and shutdown of the `haven` process: configuration errors and graceful stop.

use std::time::Duration;

use sqlx::Connection;

use crate::support::process::{HavenProcess, haven, serve_on_fresh_databases};

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it_and_the_fix() {
    let output = haven().args(["serve"]).env("HAVEN_LISTEN", "nowhere").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`listen`") && stderr.contains("HAVEN_LISTEN") && stderr.contains("HOST:PORT"),
        "{stderr}"
    );

    let output = haven().args(["serve", "--listen", "also bad"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("command line"));
}

#[test]
fn an_unknown_setting_in_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("haven.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nrequest_timout = \"5s\"\n").unwrap();
    let output = haven().arg("--config").arg(&file).arg("serve").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("request_timout") && stderr.contains("no such setting"),
        "{stderr}"
    );
}

#[test]
fn sigterm_lets_requests_in_flight_finish_and_refuses_new_ones() {
    let (command, tenant_url) = serve_on_fresh_databases();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut process = HavenProcess::start(command);
    let base = process.url.clone();

    runtime.block_on(async {
        // Make /ready wait on a lock, so that it is in flight when SIGTERM arrives.
        let mut blocker = sqlx::PgConnection::connect(&tenant_url).await.unwrap();
        let mut tx = blocker.begin().await.unwrap();
        sqlx::query("LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .unwrap();
        let in_flight = tokio::spawn(reqwest::get(format!("{base}/ready")));
        tokio::time::sleep(Duration::from_millis(300)).await;
        nix::sys::signal::kill(process.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        let refused = reqwest::Client::new()
            .get(format!("{base}/health"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        assert!(refused.is_err(), "a new connection after SIGTERM is refused");

        tx.rollback().await.unwrap();
        let finished = in_flight.await.unwrap().expect("the in-flight request got its answer");
        assert_eq!(finished.status(), 200);
    });
    let status = process.wait(Duration::from_secs(30));
    assert!(status.success(), "clean exit: {status}");
}

#[test]
fn sigterm_while_starting_ends_start_up_cleanly() {
    let (command, _) = serve_on_fresh_databases();
    let control_url = command
        .get_envs()
        .find(|(key, _)| *key == "DATABASE_URL")
        .and_then(|(_, value)| value)
        .and_then(|value| value.to_str())
        .expect("DATABASE_URL")
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Another instance holds the migration lock, so this one waits in start-up.
    let mut holder = runtime.block_on(async {
        let mut holder = sqlx::PgConnection::connect(&control_url).await.unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(haven::platform::database::MIGRATION_LOCK_KEY)
            .execute(&mut holder)
            .await
            .unwrap();
        holder
    });
    let (mut process, ready) = HavenProcess::spawn(command);
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .fetch_one(&mut holder)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "haven never waited for the lock: {}",
                process.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    nix::sys::signal::kill(process.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = process.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "a clean exit, not death by the signal: {status}\n{}",
        process.stderr()
    );
    assert!(ready.try_recv().is_err(), "it never announced itself ready");
    assert!(
        process.stdout().contains("stopped while starting"),
        "{}",
        process.stdout()
    );
    runtime.block_on(holder.close()).unwrap();
}

#[test]
fn demo_mode_prints_a_working_account_for_every_role() {
    let (mut command, _) = serve_on_fresh_databases();
    command.arg("--demo");
    let mut process = HavenProcess::start(command);
    let stderr = process.stderr();
    assert!(stderr.contains("Sign in with any of these"), "{stderr}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (email, _, role) in haven::demo::DEMO_STAFF {
        assert!(stderr.contains(email), "{role} is listed");
        let status = runtime.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/api/v1/auth/sign-in", process.url))
                .json(&serde_json::json!({ "email": email, "password": haven::demo::DEMO_PASSWORD }))
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, 200, "{email}");
    }
    process.stop_cleanly();
}

//! Nothing acknowledged is lost: under concurrent audited reads and writes, `kill -9`
//! Haven and then PostgreSQL; after a restart the chain verifies and every request that
//! got a 2xx has its audit event.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sqlx::Connection as _;

use crate::support::process::{HavenProcess, haven, wait_for_200};

fn serve_in(data_dir: &Path) -> std::process::Command {
    let mut command = haven();
    command
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir);
    command
}

async fn sign_in(base: &str, email: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let body: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/sign-in"))
        .json(&serde_json::json!({ "email": email, "password": haven::demo::DEMO_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (client, body["csrf_token"].as_str().unwrap().to_owned())
}

/// Runs audited requests until `stop`; returns the request ids that got a 2xx.
async fn load(base: String, stop: Instant) -> Vec<String> {
    let (auditor, _) = sign_in(&base, "auditor@demo.haven.example").await;
    let (clinician, csrf) = sign_in(&base, "clinician@demo.haven.example").await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let (auditor, clinician, csrf, base, acknowledged) = (
            auditor.clone(),
            clinician.clone(),
            csrf.clone(),
            base.clone(),
            Arc::clone(&acknowledged),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            while Instant::now() < stop {
                n += 1;
                let request = if worker % 2 == 0 {
                    // A read whose audit event must be durable before the answer.
                    auditor.get(format!("{base}/api/v1/audit/events?limit=1"))
                } else {
                    // A write whose audit event commits in the write's transaction.
                    clinician
                        .post(format!("{base}/api/v1/auth/tokens"))
                        .header("x-csrf-token", &csrf)
                        .json(&serde_json::json!({ "name": format!("load {worker}-{n}"), "scopes": ["account:read"] }))
                };
                let Ok(response) = request.timeout(Duration::from_secs(2)).send().await else {
                    break; // Haven is gone.
                };
                if response.status().is_success()
                    && let Some(id) = response.headers().get("x-request-id")
                {
                    acknowledged.lock().unwrap().push(id.to_str().unwrap().to_owned());
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Arc::try_unwrap(acknowledged).unwrap().into_inner().unwrap()
}

fn postmaster_pid(data_dir: &Path) -> i32 {
    let text = std::fs::read_to_string(data_dir.join("pg/data/postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

#[test]
fn after_kill_9_of_haven_and_postgres_every_acknowledged_request_is_in_a_verifiable_chain() {
    let dir = tempfile::Builder::new()
        .prefix("haven-it-crash-")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("data");
    let mut first = HavenProcess::start(serve_in(&data_dir));
    let postgres = postmaster_pid(&data_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // Load for a while; kill both while requests are in flight.
    let base = first.url.clone();
    let stop = Instant::now() + Duration::from_secs(3);
    let loader = runtime.spawn(load(base, stop + Duration::from_secs(5)));
    std::thread::sleep(stop - Instant::now());
    first.kill9();
    let _ = kill(Pid::from_raw(postgres), Signal::SIGKILL);
    let acknowledged = runtime.block_on(loader).unwrap();
    assert!(
        acknowledged.len() > 50,
        "the load ran: {} acknowledged",
        acknowledged.len()
    );
    eprintln!("{} requests acknowledged before the crash", acknowledged.len());

    // Restart on the same data: the cluster recovers and the writer drains the outbox.
    let mut second = HavenProcess::start(serve_in(&data_dir));
    wait_for_200(&format!("{}/ready", second.url), Duration::from_secs(10));
    let database = format!(
        "postgres://haven@localhost/haven_tenant_default?host={}",
        data_dir.join("pg/run").display()
    );
    let missing = runtime.block_on(async {
        let mut db = sqlx::PgConnection::connect(&database).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let recorded: HashSet<String> =
                sqlx::query_scalar::<_, String>("SELECT request_id FROM audit_events WHERE request_id IS NOT NULL")
                    .fetch_all(&mut db)
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
            let missing: Vec<&String> = acknowledged.iter().filter(|id| !recorded.contains(*id)).collect();
            if missing.is_empty() || Instant::now() > deadline {
                return missing.into_iter().cloned().collect::<Vec<_>>();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(
        missing.is_empty(),
        "{} acknowledged requests have no audit event: {missing:?}",
        missing.len()
    );
    second.stop_cleanly();

    let verify = haven()
        .args(["audit", "verify", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(report.contains("OK:"), "{report}");
}

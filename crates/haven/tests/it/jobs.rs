//! The durable job queue against real PostgreSQL: restarts and crashes lose nothing,
//! failures back off and end dead, two workers never run a job twice, and admins see,
//! retry and discard jobs (audited).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use haven::clock::{Clock as _, ManualClock};
use haven::identity::Role;
use haven::platform::jobs::{self, Handlers, JobFailure, JobRun, NewJob, Worker, WorkerSettings};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::clients::Staff;
use crate::support::{TestApp, assert_envelope, hidden_csrf};

fn settings() -> WorkerSettings {
    WorkerSettings {
        poll_every: Duration::from_millis(20),
        concurrency: 4,
        lease: Duration::from_millis(600),
        backoff_base: Duration::from_secs(60),
        backoff_cap: Duration::from_secs(3600),
        keep_finished: Duration::from_secs(3600),
        grace: Duration::from_millis(200),
    }
}

/// Which worker ran which job, how often.
type Runs = Arc<Mutex<HashMap<jobs::JobId, Vec<String>>>>;

fn record(runs: &Runs, run: &JobRun, worker: &str) {
    runs.lock().unwrap().entry(run.id).or_default().push(worker.to_owned());
}

fn start<C: Clone + Send + Sync + 'static>(
    app: &TestApp,
    context: C,
    handlers: Handlers<C>,
    clock: &Arc<ManualClock>,
    settings: WorkerSettings,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(
        context,
        handlers,
        Arc::downgrade(&app.state.tenants),
        clock.clone(),
        settings,
    );
    (stop, worker.spawn(stopped))
}

async fn enqueue(app: &TestApp, job: NewJob) -> jobs::JobId {
    let tenant = app.tenant("default");
    jobs::enqueue(&tenant.pool, &job, app.state.clock.now())
        .await
        .unwrap()
        .expect("queued")
}

/// Polls the job until `done` holds (or fails the test after ten seconds).
async fn wait_for(app: &TestApp, id: jobs::JobId, what: &str, done: impl Fn(&jobs::Job) -> bool) -> jobs::Job {
    let tenant = app.tenant("default");
    for _ in 0..500 {
        let job = jobs::store::find(&tenant.pool, id).await.unwrap().expect("job");
        if done(&job) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} never became {what}");
}

#[tokio::test]
async fn a_job_outlives_a_crashed_worker_and_a_shutdown() {
    let clock = Arc::new(ManualClock::new(haven::clock::system().now()));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let runs: Runs = Arc::default();

    // A worker takes the job and dies mid-run (its task is gone, as in a crash).
    let stuck = Handlers::default().on("test.stuck", |runs: Runs, run: JobRun| async move {
        record(&runs, &run, "first");
        std::future::pending::<()>().await;
        Ok(())
    });
    let (_stop, crashed) = start(&app, runs.clone(), stuck, &clock, settings());
    let id = enqueue(&app, NewJob::new("test.stuck", json!({ "n": 1 }), clock.now())).await;
    wait_for(&app, id, "running", |j| j.state == jobs::JobState::Running).await;
    // The job is marked running just before its handler starts: crash inside the handler.
    for _ in 0..500 {
        if runs.lock().unwrap().contains_key(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    crashed.abort();
    let _ = crashed.await;

    // Until its lease lapses nobody else takes it; then the next worker does.
    let finish = Handlers::default().on("test.stuck", |runs: Runs, run: JobRun| async move {
        record(&runs, &run, "second");
        Ok(())
    });
    let (stop, second) = start(&app, runs.clone(), finish, &clock, settings());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs.lock().unwrap()[&id], ["first"]);
    clock.advance(TimeDelta::seconds(5));
    // Upkeep runs at the worker's start, then every ten seconds: restart it to look now.
    stop.send(true).unwrap();
    second.await.unwrap();
    let finish = Handlers::default().on("test.stuck", |runs: Runs, run: JobRun| async move {
        record(&runs, &run, "second");
        Ok(())
    });
    let (stop, third) = start(&app, runs.clone(), finish, &clock, settings());
    let job = wait_for(&app, id, "done", |j| j.state == jobs::JobState::Done).await;
    assert_eq!(runs.lock().unwrap()[&id], ["first", "second"]);
    assert_eq!(job.attempts, 2, "the crashed attempt counts");
    stop.send(true).unwrap();
    third.await.unwrap();

    // Shutdown: a job still running when the grace period ends is handed back untouched,
    // and the next instance runs it.
    let slow = Handlers::default().on("test.slow", |runs: Runs, run: JobRun| async move {
        record(&runs, &run, "before shutdown");
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    });
    let (stop, worker) = start(&app, runs.clone(), slow, &clock, settings());
    let id = enqueue(&app, NewJob::new("test.slow", json!({}), clock.now())).await;
    wait_for(&app, id, "running", |j| j.state == jobs::JobState::Running).await;
    stop.send(true).unwrap();
    worker.await.unwrap();
    let job = jobs::store::find(&app.tenant("default").pool, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, jobs::JobState::Queued);
    assert_eq!(job.attempts, 0, "a handed-back attempt does not count");
    assert_eq!(job.locked_by, None);
    let quick = Handlers::default().on("test.slow", |runs: Runs, run: JobRun| async move {
        record(&runs, &run, "after restart");
        Ok(())
    });
    let (stop, worker) = start(&app, runs.clone(), quick, &clock, settings());
    wait_for(&app, id, "done", |j| j.state == jobs::JobState::Done).await;
    assert_eq!(runs.lock().unwrap()[&id], ["before shutdown", "after restart"]);
    stop.send(true).unwrap();
    worker.await.unwrap();
}

#[tokio::test]
async fn failures_back_off_then_die_and_admins_retry_or_discard() {
    let clock = Arc::new(ManualClock::new(haven::clock::system().now()));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let runs: Runs = Arc::default();
    let failing = Handlers::default()
        .on("test.flaky", |runs: Runs, run: JobRun| async move {
            record(&runs, &run, "w");
            Err(JobFailure::retry(format!(
                "smtp 451 try later (attempt {})",
                run.attempt
            )))
        })
        .on("test.hopeless", |_: Runs, _: JobRun| async move {
            Err(JobFailure::permanent("the appointment no longer exists"))
        });
    let (stop, worker) = start(&app, runs.clone(), failing, &clock, settings());
    let id = enqueue(&app, NewJob::new("test.flaky", json!({}), clock.now()).attempts(3)).await;

    // Each retry waits about twice as long as the one before (60 s base, with jitter in
    // the upper half).
    let mut previous_delay = TimeDelta::zero();
    for attempt in 1..=2 {
        let failed_at = clock.now();
        let job = wait_for(&app, id, "failed", |j| {
            j.attempts == attempt && j.state == jobs::JobState::Queued
        })
        .await;
        let delay = job.run_at - failed_at;
        let full = TimeDelta::seconds(60 * (1 << (attempt - 1)));
        assert!(delay >= full / 2 && delay <= full, "attempt {attempt}: {delay}");
        assert!(delay > previous_delay);
        previous_delay = delay;
        assert_eq!(
            job.last_error.as_deref(),
            Some(format!("smtp 451 try later (attempt {attempt})").as_str())
        );
        // Not before it is due.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(runs.lock().unwrap()[&id].len(), usize::try_from(attempt).unwrap());
        clock.advance(delay + TimeDelta::seconds(1));
    }
    let dead = wait_for(&app, id, "dead", |j| j.state == jobs::JobState::Dead).await;
    assert_eq!(dead.attempts, 3);
    assert!(dead.finished_at.is_some());
    let hopeless = enqueue(&app, NewJob::new("test.hopeless", json!({}), clock.now())).await;
    let job = wait_for(&app, hopeless, "dead", |j| j.state == jobs::JobState::Dead).await;
    assert_eq!(job.attempts, 1, "a permanent failure is not retried");
    stop.send(true).unwrap();
    worker.await.unwrap();

    // Admins see the dead jobs and act on them; nobody else does.
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let clinician = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let page = admin.client.get(app.url("/admin/jobs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("test.flaky") && page.contains("smtp 451 try later (attempt 3)"));
    assert!(page.contains("Dead (2)"), "tab counts");
    let denied = clinician.client.get(app.url("/admin/jobs")).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let bad = admin
        .client
        .get(app.url("/admin/jobs?state=stuck"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let detail = admin
        .client
        .get(app.url(&format!("/admin/jobs/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_csrf(&detail);
    let post = |path: String, csrf: String| {
        let client = admin.client.clone();
        let url = app.url(&path);
        async move {
            client
                .post(url)
                .header("accept", "application/json")
                .form(&[("_csrf", csrf)])
                .send()
                .await
                .unwrap()
        }
    };
    let retried = post(format!("/admin/jobs/{id}/retry"), csrf.clone()).await;
    assert_eq!(retried.status(), 303);
    let job = jobs::store::find(&app.tenant("default").pool, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.state, job.attempts), (jobs::JobState::Queued, 0));
    // A queued job cannot be retried; it can be discarded, once.
    assert_envelope(
        post(format!("/admin/jobs/{id}/retry"), csrf.clone()).await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(
        post(format!("/admin/jobs/{id}/discard"), csrf.clone()).await.status(),
        303
    );
    assert_envelope(
        post(format!("/admin/jobs/{id}/discard"), csrf.clone()).await,
        409,
        "conflict",
    )
    .await;
    let missing = post(format!("/admin/jobs/{}/retry", Uuid::now_v7()), csrf.clone()).await;
    assert_eq!(missing.status(), 404);
    // Without the CSRF token nothing happens.
    let forged = post(format!("/admin/jobs/{hopeless}/retry"), "forged".to_owned()).await;
    assert_eq!(forged.status(), 403);
    let job = jobs::store::find(&app.tenant("default").pool, hopeless)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, jobs::JobState::Dead);

    app.settle_audit().await;
    let mut db = app.superuser("default").await;
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE resource_type = 'job' AND resource_id = $1 ORDER BY seq",
    )
    .bind(id.to_string())
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(actions, ["job.retry", "job.discard"]);
}

#[tokio::test]
async fn two_workers_never_run_the_same_job_twice() {
    let clock = Arc::new(ManualClock::new(haven::clock::system().now()));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let runs: Runs = Arc::default();
    let mut ids = Vec::new();
    for n in 0..200 {
        ids.push(enqueue(&app, NewJob::new("test.count", json!({ "n": n }), clock.now())).await);
    }
    let handlers = |name: &'static str| {
        Handlers::default().on("test.count", move |runs: Runs, run: JobRun| async move {
            record(&runs, &run, name);
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(())
        })
    };
    let (stop_a, a) = start(&app, runs.clone(), handlers("a"), &clock, settings());
    let (stop_b, b) = start(&app, runs.clone(), handlers("b"), &clock, settings());
    for id in &ids {
        wait_for(&app, *id, "done", |j| j.state == jobs::JobState::Done).await;
    }
    stop_a.send(true).unwrap();
    stop_b.send(true).unwrap();
    a.await.unwrap();
    b.await.unwrap();
    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), 200);
    assert!(runs.values().all(|workers| workers.len() == 1), "a job ran twice");
    let by_a = runs.values().filter(|w| w[0] == "a").count();
    assert!(by_a > 0 && by_a < 200, "both workers took jobs: a ran {by_a}");
}

#[tokio::test]
async fn a_unique_key_queues_one_job() {
    let app = TestApp::spawn().await;
    let now = app.state.clock.now();
    let tenant = app.tenant("default");
    let job = NewJob::new("test.once", json!({}), now).unique("reminder:abc:48h");
    assert!(jobs::enqueue(&tenant.pool, &job, now).await.unwrap().is_some());
    assert!(jobs::enqueue(&tenant.pool, &job, now).await.unwrap().is_none());
    // A kind outside the naming rule is refused by the database.
    let bad = NewJob::new("Not A Kind", json!({}), now);
    assert!(jobs::enqueue(&tenant.pool, &bad, now).await.is_err());
}

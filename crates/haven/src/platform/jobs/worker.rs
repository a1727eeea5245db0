//! Running jobs: one worker per Haven process polls every tenant's queue, runs what it
//! claims (up to its concurrency), renews the leases of what is running, and on shutdown
//! stops claiming, lets running jobs finish within the grace period and hands back the
//! rest.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{backoff, random_jitter, store};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::platform::tenancy::{Tenant, TenantDirectory};

/// A claimed job, handed to its handler.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub tenant: Arc<Tenant>,
    pub id: super::JobId,
    pub kind: String,
    pub payload: serde_json::Value,
    /// This attempt's number, from 1.
    pub attempt: i32,
    pub max_attempts: i32,
}

/// Why a job did not finish. The message is stored on the job and logged: it must name
/// what went wrong without PHI (an SMTP reply code, "appointment not found").
#[derive(Debug, Clone)]
pub struct JobFailure {
    pub message: String,
    /// False: no later attempt can succeed; the job is dead at once.
    pub retry: bool,
}

impl JobFailure {
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry: false,
        }
    }
}

impl From<sqlx::Error> for JobFailure {
    fn from(err: sqlx::Error) -> Self {
        Self::retry(format!("database: {err}"))
    }
}

type Handler<C> = Arc<dyn Fn(C, JobRun) -> BoxFuture<'static, Result<(), JobFailure>> + Send + Sync>;

/// Plans a recurring job's next occurrence for one organisation (`None`: none is due).
/// The job's unique key makes planning it again harmless.
pub type Planner<C> =
    fn(C, Arc<Tenant>, DateTime<Utc>) -> BoxFuture<'static, Result<Option<super::NewJob>, sqlx::Error>>;

/// What each kind of job does. A worker claims only the kinds it has a handler for, so
/// instances of different versions can share a queue.
pub struct Handlers<C> {
    by_kind: HashMap<&'static str, Handler<C>>,
    planners: Vec<Planner<C>>,
}

impl<C> Default for Handlers<C> {
    fn default() -> Self {
        Self {
            by_kind: HashMap::new(),
            planners: Vec::new(),
        }
    }
}

impl<C: Send + 'static> Handlers<C> {
    #[must_use]
    pub fn on<F, Fut>(mut self, kind: &'static str, handler: F) -> Self
    where
        F: Fn(C, JobRun) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobFailure>> + Send + 'static,
    {
        self.by_kind
            .insert(kind, Arc::new(move |context, run| Box::pin(handler(context, run))));
        self
    }

    /// Adds a recurring job: every worker's upkeep asks `planner` for each organisation's
    /// next occurrence and queues it (a job usually queues its successor itself too).
    #[must_use]
    pub fn plan(mut self, planner: Planner<C>) -> Self {
        self.planners.push(planner);
        self
    }

    /// The kinds of job these handlers run.
    pub fn kinds(&self) -> Vec<String> {
        self.by_kind.keys().map(|k| (*k).to_owned()).collect()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    pub poll_every: Duration,
    pub concurrency: usize,
    pub lease: Duration,
    /// The first retry waits about this long; each later one twice as long.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Finished jobs are kept this long for the admin page.
    pub keep_finished: Duration,
    /// How long running jobs may go on after shutdown is asked for.
    pub grace: Duration,
}

impl WorkerSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            poll_every: config.jobs.poll_interval,
            concurrency: config.jobs.concurrency,
            lease: config.jobs.lease,
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(3600),
            keep_finished: Duration::from_secs(7 * 24 * 3600),
            grace: config.shutdown_grace,
        }
    }
}

/// Upkeep (lapsed leases, pruning) runs at most this often per worker.
const UPKEEP_EVERY: Duration = Duration::from_secs(10);

pub struct Worker<C> {
    /// Names this worker on the jobs it holds.
    id: Arc<str>,
    context: C,
    handlers: Arc<Handlers<C>>,
    tenants: Weak<TenantDirectory>,
    clock: SharedClock,
    settings: WorkerSettings,
}

/// Jobs running now, so that those still running at the end of the grace period can be
/// handed back.
type InFlight = Arc<Mutex<HashMap<super::JobId, Arc<Tenant>>>>;

impl<C: Clone + Send + Sync + 'static> Worker<C> {
    pub fn new(
        context: C,
        handlers: Handlers<C>,
        tenants: Weak<TenantDirectory>,
        clock: SharedClock,
        settings: WorkerSettings,
    ) -> Self {
        let suffix = Uuid::now_v7().simple().to_string();
        Self {
            id: format!("{}-{}", std::process::id(), &suffix[suffix.len() - 8..]).into(),
            context,
            handlers: Arc::new(handlers),
            tenants,
            clock,
            settings,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `stop` turns true, then winds down (see the module's doc).
    pub fn spawn(self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let kinds = self.handlers.kinds();
            let in_flight: InFlight = Arc::default();
            let mut running = JoinSet::new();
            let mut last_upkeep: Option<Instant> = None;
            loop {
                while running.try_join_next().is_some() {}
                if *stop.borrow() {
                    break;
                }
                let Some(directory) = self.tenants.upgrade() else {
                    return;
                };
                let upkeep_due = last_upkeep.is_none_or(|at| at.elapsed() >= UPKEEP_EVERY);
                for tenant in directory.tenants() {
                    if upkeep_due {
                        self.upkeep(&tenant).await;
                    }
                    let free = self.settings.concurrency.saturating_sub(running.len());
                    if free == 0 || kinds.is_empty() {
                        continue;
                    }
                    let now = self.clock.now();
                    let claimed = store::claim(
                        &tenant.pool,
                        &self.id,
                        &kinds,
                        i64::try_from(free).unwrap_or(1),
                        now,
                        now + lease(self.settings.lease),
                    )
                    .await;
                    match claimed {
                        Ok(jobs) => {
                            for job in jobs {
                                self.start(&mut running, &in_flight, &tenant, job);
                            }
                        }
                        Err(err) => tracing::warn!(tenant = %tenant.record.slug, error = %err, "could not claim jobs"),
                    }
                }
                drop(directory);
                if upkeep_due {
                    last_upkeep = Some(Instant::now());
                }
                tokio::select! {
                    () = tokio::time::sleep(self.settings.poll_every) => {}
                    _ = stop.changed() => {}
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                }
            }
            self.wind_down(running, &in_flight).await;
        })
    }

    fn start(&self, running: &mut JoinSet<()>, in_flight: &InFlight, tenant: &Arc<Tenant>, job: store::Claimed) {
        let Some(handler) = self.handlers.by_kind.get(job.kind.as_str()).cloned() else {
            return;
        };
        in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(job.id, Arc::clone(tenant));
        let run = JobRun {
            tenant: Arc::clone(tenant),
            id: job.id,
            kind: job.kind,
            payload: job.payload,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
        };
        let execution = Execution {
            worker: Arc::clone(&self.id),
            clock: Arc::clone(&self.clock),
            settings: self.settings,
            in_flight: Arc::clone(in_flight),
        };
        running.spawn(execution.run(handler, self.context.clone(), run));
    }

    async fn upkeep(&self, tenant: &Arc<Tenant>) {
        let now = self.clock.now();
        for planner in &self.handlers.planners {
            let planned = planner(self.context.clone(), Arc::clone(tenant), now).await;
            let queued = match planned {
                Ok(Some(job)) => store::enqueue(&tenant.pool, &job, now).await.map(|_| ()),
                Ok(None) => Ok(()),
                Err(err) => Err(err),
            };
            if let Err(err) = queued {
                tracing::warn!(tenant = %tenant.record.slug, error = %err, "could not plan a recurring job");
            }
        }
        match store::requeue_lapsed(&tenant.pool, now).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(tenant = %tenant.record.slug, jobs = n, "jobs whose worker stopped were queued again");
            }
            Err(err) => tracing::warn!(tenant = %tenant.record.slug, error = %err, "could not check job leases"),
        }
        let keep = TimeDelta::from_std(self.settings.keep_finished).unwrap_or(TimeDelta::MAX);
        if let Err(err) = store::prune(&tenant.pool, now - keep).await {
            tracing::warn!(tenant = %tenant.record.slug, error = %err, "could not prune finished jobs");
        }
    }

    async fn wind_down(&self, mut running: JoinSet<()>, in_flight: &InFlight) {
        let finished = tokio::time::timeout(self.settings.grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if finished.is_ok() {
            return;
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
        let left: Vec<(super::JobId, Arc<Tenant>)> = in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        for (id, tenant) in left {
            match store::release(&tenant.pool, id, &self.id, self.clock.now()).await {
                Ok(_) => tracing::info!(job = %id, "job handed back at shutdown"),
                Err(err) => tracing::warn!(job = %id, error = %err, "could not hand a job back; its lease will lapse"),
            }
        }
    }
}

fn lease(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// One job's run: the handler, a heartbeat that renews the lease, and the outcome
/// recorded.
struct Execution {
    worker: Arc<str>,
    clock: SharedClock,
    settings: WorkerSettings,
    in_flight: InFlight,
}

impl Execution {
    async fn run<C>(self, handler: Handler<C>, context: C, run: JobRun) {
        let (tenant, id, kind, attempt) = (Arc::clone(&run.tenant), run.id, run.kind.clone(), run.attempt);
        let started = Instant::now();
        let work = handler(context, run);
        let outcome = tokio::select! {
            outcome = work => Some(outcome),
            () = self.heartbeat(&tenant, id) => None,
        };
        let now = self.clock.now();
        let recorded = match &outcome {
            None => Ok(false),
            Some(Ok(())) => store::complete(&tenant.pool, id, &self.worker, now).await,
            Some(Err(failure)) => {
                let retry_at = failure.retry.then(|| now + self.retry_delay(attempt));
                store::fail(&tenant.pool, id, &self.worker, &failure.message, retry_at, now).await
            }
        };
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let slug = tenant.record.slug.as_str();
        match (&outcome, recorded) {
            (None, _) => {
                tracing::warn!(tenant = slug, job = %id, kind, "job lost its lease to another worker; abandoned");
            }
            (_, Err(err)) => {
                tracing::warn!(tenant = slug, job = %id, kind, error = %err, "could not record a job's outcome; its lease will lapse");
            }
            (_, Ok(false)) => {
                tracing::warn!(tenant = slug, job = %id, kind, "job was taken away while running; outcome dropped");
            }
            (Some(Ok(())), Ok(true)) => tracing::info!(tenant = slug, job = %id, kind, attempt, elapsed_ms, "job done"),
            (Some(Err(failure)), Ok(true)) => tracing::warn!(
                tenant = slug, job = %id, kind, attempt, elapsed_ms, error = %failure.message, retry = failure.retry,
                "job failed"
            ),
        }
    }

    fn retry_delay(&self, attempt: i32) -> TimeDelta {
        lease(backoff(
            attempt,
            self.settings.backoff_base,
            self.settings.backoff_cap,
            random_jitter(),
        ))
    }

    /// Renews the lease every third of it; completes only when the job is no longer
    /// this worker's.
    async fn heartbeat(&self, tenant: &Tenant, id: super::JobId) {
        let every = self.settings.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let until: DateTime<Utc> = self.clock.now() + lease(self.settings.lease);
            match store::renew(&tenant.pool, id, &self.worker, until).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => tracing::warn!(job = %id, error = %err, "could not renew a job's lease"),
            }
        }
    }
}

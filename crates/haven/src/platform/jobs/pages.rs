//! `/admin/jobs`: what the queue holds, why a job died, and retrying or discarding it.
//! Admins only; payloads hold identifiers, never PHI, so the page shows them.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Job, JobId, JobState, store};
use crate::actor::Actor;
use crate::error::Error;
use crate::policy::Action;
use crate::web::page::{Chrome, render};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::filters;

const PAGE: i64 = 50;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/admin/jobs", jobs_page)
        .add(Access::Full, Method::GET, "/admin/jobs/{id}", job_page)
        .add(Access::Full, Method::POST, "/admin/jobs/{id}/retry", retry_form)
        .add(Access::Full, Method::POST, "/admin/jobs/{id}/discard", discard_form)
}

#[derive(Template)]
#[template(path = "platform/jobs.html")]
struct JobsPage {
    chrome: Chrome,
    tabs: Vec<(JobState, i64, bool)>,
    state: JobState,
    jobs: Vec<Job>,
    has_more: bool,
}

async fn jobs_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    caller.authorize(&Action::ManageJobs).await?;
    let state = match params.iter().find(|(k, _)| k == "state") {
        None => JobState::Dead,
        Some((_, v)) => {
            JobState::parse(v).ok_or_else(|| Error::Malformed(format!("state: {}", JobState::choices())))?
        }
    };
    let pool = &caller.tenant.pool;
    let tabs = store::counts(pool)
        .await?
        .into_iter()
        .map(|(s, count)| (s, count, s == state))
        .collect();
    let mut jobs = store::list(pool, state, PAGE + 1, 0).await?;
    let has_more = jobs.len() > usize::try_from(PAGE).unwrap_or(usize::MAX);
    jobs.truncate(usize::try_from(PAGE).unwrap_or(0));
    render(&JobsPage {
        chrome: caller.chrome().await?.at("jobs"),
        tabs,
        state,
        jobs,
        has_more,
    })
}

#[derive(Template)]
#[template(path = "platform/job.html")]
struct JobPage {
    chrome: Chrome,
    job: Job,
    payload: String,
}

async fn job_page(
    caller: Actor,
    Path(id): Path<JobId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    caller.authorize(&Action::ManageJobs).await?;
    let job = store::find(&caller.tenant.pool, id).await?.ok_or(Error::NotFound)?;
    let toast = match params.iter().find(|(k, _)| k == "done").map(|(_, v)| v.as_str()) {
        Some("retry") => Some("Queued to run again.".to_owned()),
        Some("discard") => Some("Discarded.".to_owned()),
        _ => None,
    };
    let payload = serde_json::to_string_pretty(&job.payload).unwrap_or_default();
    render(&JobPage {
        chrome: caller.chrome().await?.at("jobs").toast(toast),
        job,
        payload,
    })
}

async fn retry_form(caller: Actor, Path(id): Path<JobId>) -> Result<Response, Error> {
    change(&caller, id, super::Change::Retry).await
}

async fn discard_form(caller: Actor, Path(id): Path<JobId>) -> Result<Response, Error> {
    change(&caller, id, super::Change::Discard).await
}

async fn change(caller: &Actor, id: JobId, change: super::Change) -> Result<Response, Error> {
    super::change(caller, id, change).await?;
    let done = match change {
        super::Change::Retry => "retry",
        super::Change::Discard => "discard",
    };
    Ok(Redirect::to(&format!("/admin/jobs/{id}?done={done}")).into_response())
}

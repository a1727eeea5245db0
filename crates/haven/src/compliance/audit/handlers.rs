//! The auditor's view of the trail: search by person, client, action, outcome and time,
//! page through, export. Only auditors (policy), and every look is itself recorded.

use askama::Template;
use axum::Json;
use axum::extract::Query;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::export::{self, ExportFormat};
use super::{ChainedEvent, EventFilter, Outcome, list_events};
use crate::actor::Actor;
use crate::actor::RequestMeta;
use crate::error::{Error, FieldError, FieldErrors};
use crate::identity::auth::Identity;
use crate::identity::service::event;
use crate::policy::{self, Action};
use crate::state::AppState;
use crate::web::page::{Chrome, render};
use crate::web::routes::{Access, RouteTable};

const PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;
/// Larger exports go through `haven audit export`, which streams with a progress bar.
const MAX_EXPORT: u64 = 100_000;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/audit", events_page)
        .add(Access::Full, Method::GET, "/api/v1/audit/events", events_api)
        .add(Access::Full, Method::GET, "/api/v1/audit/export", export_api)
}

/// The filters as they arrive (query string), every field optional.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterQuery {
    /// Start, inclusive: YYYY-MM-DD (UTC) or an RFC 3339 time.
    from: Option<String>,
    /// End, exclusive.
    to: Option<String>,
    /// A person's or token's id.
    actor: Option<String>,
    /// `client`, `user`, `session`, ...
    resource_type: Option<String>,
    resource_id: Option<String>,
    /// e.g. `client.read`, `auth.login_failed`.
    action: Option<String>,
    /// `allowed`, `denied` or `failed`.
    outcome: Option<String>,
    /// Events older than this event number (the previous page's `next_before`).
    before: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<String>,
    /// Export only: `jsonl` (default) or `csv`.
    format: Option<String>,
    /// Export only, required: why the export is made.
    reason: Option<String>,
}

fn blank(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn parse_time(field: &'static str, value: &str, problems: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    problems.push(FieldError::new(
        field,
        "must be a date (YYYY-MM-DD) or an RFC 3339 time",
    ));
    None
}

fn too_long(field: &'static str, value: &str, max: usize, problems: &mut Vec<FieldError>) -> bool {
    if value.len() > max {
        problems.push(FieldError::new(field, format!("must be at most {max} characters")));
        return true;
    }
    false
}

impl FilterQuery {
    /// The filter and page size, or every problem at once.
    fn parse(&self) -> Result<(EventFilter, i64), Vec<FieldError>> {
        let mut problems = Vec::new();
        let mut filter = EventFilter::default();
        if let Some(from) = blank(self.from.as_ref()) {
            filter.from = parse_time("from", from, &mut problems);
        }
        if let Some(to) = blank(self.to.as_ref()) {
            filter.to = parse_time("to", to, &mut problems);
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from >= to
        {
            problems.push(FieldError::new("to", "must be after from"));
        }
        for (field, value, target) in [
            ("actor", blank(self.actor.as_ref()), &mut filter.actor_id),
            ("resource_id", blank(self.resource_id.as_ref()), &mut filter.resource_id),
            (
                "resource_type",
                blank(self.resource_type.as_ref()),
                &mut filter.resource_type,
            ),
            ("action", blank(self.action.as_ref()), &mut filter.action),
        ] {
            if let Some(value) = value
                && !too_long(field, value, 100, &mut problems)
            {
                *target = Some(value.to_owned());
            }
        }
        if let Some(outcome) = blank(self.outcome.as_ref()) {
            filter.outcome = Outcome::parse(outcome);
            if filter.outcome.is_none() {
                problems.push(FieldError::new("outcome", "must be allowed, denied or failed"));
            }
        }
        if let Some(before) = blank(self.before.as_ref()) {
            match before.parse::<i64>() {
                Ok(seq) if seq > 0 => filter.before_seq = Some(seq),
                _ => problems.push(FieldError::new("before", "must be a positive event number")),
            }
        }
        let limit = match blank(self.limit.as_ref()).map(str::parse::<i64>) {
            None => PAGE,
            Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
            Some(_) => {
                problems.push(FieldError::new("limit", format!("must be between 1 and {MAX_PAGE}")));
                PAGE
            }
        };
        if problems.is_empty() {
            Ok((filter, limit))
        } else {
            Err(problems)
        }
    }
}

/// Records that the auditor looked, then hands back what they asked for.
async fn audited_read<T>(
    state: &AppState,
    tenant: &crate::platform::tenancy::Tenant,
    meta: &RequestMeta,
    identity: &Identity,
    action: &str,
    reason: Option<&str>,
    value: T,
) -> Result<T, Error> {
    let (kind, actor) = identity.audit_actor();
    let mut look = event(meta, &state.clock, action, Outcome::Allowed)
        .actor(kind, actor)
        .resource("audit_trail", "events");
    if let Some(session) = identity.session_id() {
        look = look.session(session.to_string());
    }
    look.reason = reason.map(str::to_owned);
    Ok(tenant.audit.read(look, value).await?.into_inner())
}

/// A page of the trail, newest first; ask for the next with `before` = `next_before`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    events: Vec<ChainedEvent>,
    /// Null on the last page.
    next_before: Option<i64>,
}

fn next_before(events: &[ChainedEvent], limit: i64) -> Option<i64> {
    (i64::try_from(events.len()).unwrap_or(0) == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten()
}

/// Search the audit trail, newest first. Pages with `before` (the `next_before` of the previous page). Auditors only; each search is itself recorded.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(FilterQuery), security(("session" = []), ("bearer" = [])), responses((status = 200, description = "`events` and `next_before`", body = AuditPage), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope), (status = 503, description = "`audit_unavailable`: the look could not be recorded, so nothing is shown", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn events_api(caller: Actor, Query(query): Query<FilterQuery>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ReadAuditTrail).await?;
    let (filter, limit) = query.parse().map_err(Error::Invalid)?;
    let events = list_events(&tenant.pool, &filter, limit).await?;
    let next = next_before(&events, limit);
    let body = AuditPage {
        events,
        next_before: next,
    };
    let body = audited_read(&state, &tenant, &meta, &identity, "audit.read", None, body).await?;
    Ok(Json(body).into_response())
}

/// Export events of `[from, to)` as JSON lines or CSV (at most 100,000; larger through `haven audit export`). Needs a `reason`, recorded before the export.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(FilterQuery), security(("session" = []), ("bearer" = [])), responses((status = 200, description = "The file, as an attachment", content((String = "application/x-ndjson"), (String = "text/csv"))), (status = 401, description = "Not signed in", body = crate::web::openapi::ErrorEnvelope), (status = 403, description = "Refused by the policy, a missing CSRF token, or a pending second factor", body = crate::web::openapi::ErrorEnvelope), (status = 422, description = "Invalid input; `details.fields` names each field", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn export_api(caller: Actor, Query(query): Query<FilterQuery>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ExportAuditTrail).await?;
    let mut problems = Vec::new();
    let reason = blank(query.reason.as_ref()).map(str::to_owned);
    if reason.is_none() {
        problems.push(FieldError::new("reason", "is required: say why the export is made"));
    }
    let format = match blank(query.format.as_ref()).unwrap_or("jsonl") {
        "jsonl" => ExportFormat::Jsonl,
        "csv" => ExportFormat::Csv,
        _ => {
            problems.push(FieldError::new("format", "must be jsonl or csv"));
            ExportFormat::Jsonl
        }
    };
    let (filter, _) = query.parse().unwrap_or_else(|mut more| {
        problems.append(&mut more);
        (EventFilter::default(), PAGE)
    });
    let (Some(from), to) = (filter.from, filter.to.unwrap_or_else(|| state.clock.now())) else {
        problems.push(FieldError::new("from", "is required"));
        return Err(Error::Invalid(problems));
    };
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    if export::count(&tenant.pool, from, to).await? > MAX_EXPORT {
        return Err(Error::Invalid(vec![FieldError::new(
            "to",
            format!("the range holds more than {MAX_EXPORT} events: narrow it, or use `haven audit export`"),
        )]));
    }
    // Recorded, with its reason, before a byte is produced.
    let mut bytes = Vec::new();
    audited_read(&state, &tenant, &meta, &identity, "audit.export", reason.as_deref(), ()).await?;
    export::export(&tenant.pool, from, to, format, &mut bytes, &|_| {})
        .await
        .map_err(|e| Error::internal(e.into()))?;
    let (content_type, extension) = match format {
        ExportFormat::Jsonl => ("application/x-ndjson", "jsonl"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let disposition = format!(
        "attachment; filename=\"audit-{}-{}.{extension}\"",
        from.date_naive(),
        to.date_naive()
    );
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response())
}

struct Row {
    seq: i64,
    when: String,
    action: String,
    outcome: &'static str,
    actor: String,
    resource: String,
    address: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "audit/events.html")]
struct EventsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    query: FilterQuery,
    errors: FieldErrors,
    next_before: Option<i64>,
}

impl EventsPage {
    fn value(value: Option<&String>) -> &str {
        value.map_or("", String::as_str)
    }

    /// The query string of the next page: these filters, older events.
    fn next_link(&self, before: i64) -> String {
        let q = &self.query;
        let pairs: Vec<(&str, &str)> = [
            ("from", q.from.as_ref()),
            ("to", q.to.as_ref()),
            ("actor", q.actor.as_ref()),
            ("resource_type", q.resource_type.as_ref()),
            ("resource_id", q.resource_id.as_ref()),
            ("action", q.action.as_ref()),
            ("outcome", q.outcome.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| blank(v).map(|v| (k, v)))
        .collect();
        let mut query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        if !query.is_empty() {
            query.push('&');
        }
        format!("/audit?{query}before={before}")
    }
}

async fn events_page(caller: Actor, Query(query): Query<FilterQuery>) -> Result<Response, Error> {
    let (state, tenant, meta, identity) = caller.into_parts();
    policy::authorize(&state, &tenant, &meta, &identity, &Action::ReadAuditTrail).await?;
    let chrome = Chrome::for_user(&state.modules, &tenant, &identity).await?;
    let (filter, limit) = match query.parse() {
        Ok(parsed) => parsed,
        Err(errors) => {
            let page = EventsPage {
                chrome,
                rows: Vec::new(),
                query,
                errors: errors.into(),
                next_before: None,
            };
            return crate::web::page::render_with_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let events = list_events(&tenant.pool, &filter, limit).await?;
    let next = next_before(&events, limit);
    let events = audited_read(&state, &tenant, &meta, &identity, "audit.read", None, events).await?;
    let zone = tenant.settings().await?.time_zone;
    let rows = events
        .into_iter()
        .map(|e| Row {
            seq: e.seq,
            when: crate::web::time::show(e.event.occurred_at, zone, crate::web::time::Style::DateTime),
            action: e.event.action,
            outcome: e.event.outcome.as_str(),
            actor: format!(
                "{} {}",
                e.event.actor_kind.as_str(),
                e.event.actor_id.unwrap_or_default()
            ),
            resource: match (e.event.resource_type, e.event.resource_id) {
                (Some(kind), Some(id)) => format!("{kind} {id}"),
                _ => String::new(),
            },
            address: e.event.client_ip.unwrap_or_default(),
            reason: e.event.reason.unwrap_or_default(),
        })
        .collect();
    render(&EventsPage {
        chrome,
        rows,
        query,
        errors: FieldErrors::default(),
        next_before: next,
    })
}

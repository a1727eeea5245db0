//! The appointment pages: a day's agenda (front desk: everyone's, with check-in;
//! clinicians: theirs and their clients'), and an appointment with its next steps.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use super::service::{self, StatusFields};
use super::store::{self, Filter};
use super::{Appointment, AppointmentStatus, EditScope};
use crate::identity::Role;
use crate::web::caller::Caller;
use crate::web::error::{FieldErrors, WebError};
use crate::web::form::{Field, Kind, Problem, Section, Submitted, attach_errors};
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/appointments", day_page)
        .add(Access::Full, Method::GET, "/appointments/{id}", appointment_page)
        .add(Access::Full, Method::POST, "/appointments/{id}/status", status_form)
}

/// An appointment as a list shows it, in the organisation's time.
pub struct Row {
    pub appointment: Appointment,
    pub date: String,
    pub from: String,
    pub to: String,
}

fn rows(appointments: Vec<Appointment>, zone: chrono_tz::Tz) -> Vec<Row> {
    appointments
        .into_iter()
        .map(|a| Row {
            date: a.starts_at.with_timezone(&zone).format("%a %-d %b %Y").to_string(),
            from: a.starts_at.with_timezone(&zone).format("%H:%M").to_string(),
            to: a.ends_at.with_timezone(&zone).format("%H:%M").to_string(),
            appointment: a,
        })
        .collect()
}

/// A client's appointments the caller may see, upcoming first, then the past.
pub async fn client_rows(caller: &Caller, client: Uuid) -> Result<Vec<Row>, WebError> {
    let zone = store::organisation_zone(&caller.tenant.pool).await?;
    let now = caller.now();
    let filter = Filter {
        client: Some(client),
        limit: 200,
        ..Filter::default()
    };
    let mut appointments = service::list(caller, &filter).await?.into_inner();
    // Upcoming in order, then the past from the most recent.
    appointments.sort_by_key(|a| {
        (
            a.ends_at < now,
            if a.ends_at < now {
                -a.starts_at.timestamp()
            } else {
                a.starts_at.timestamp()
            },
        )
    });
    Ok(rows(appointments, zone))
}

/// Today's appointments within the caller's scope, for the home page.
pub async fn today_rows(caller: &Caller) -> Result<Vec<Row>, WebError> {
    let zone = store::organisation_zone(&caller.tenant.pool).await?;
    let (from, to) = day_bounds(caller.now().with_timezone(&zone).date_naive(), zone);
    let filter = Filter {
        from: Some(from),
        to: Some(to),
        limit: 50,
        ..Filter::default()
    };
    Ok(rows(service::list(caller, &filter).await?.into_inner(), zone))
}

#[derive(Template)]
#[template(path = "appointments/day.html")]
struct DayPage {
    chrome: Chrome,
    day: String,
    previous: NaiveDate,
    next: NaiveDate,
    today: NaiveDate,
    rows: Vec<Row>,
    front_desk: bool,
}

/// The start and end of `day` in `zone`.
fn day_bounds(day: NaiveDate, zone: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |d: NaiveDate| {
        zone.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map_or_else(
                || d.and_time(chrono::NaiveTime::MIN).and_utc(),
                |t| t.with_timezone(&Utc),
            )
    };
    let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
    (start(day), start(next))
}

async fn day_page(caller: Caller, Query(params): Query<Vec<(String, String)>>) -> Result<Response, WebError> {
    let params = Submitted(params);
    let zone = store::organisation_zone(&caller.tenant.pool).await?;
    let today = caller.now().with_timezone(&zone).date_naive();
    let day = match params.get("date").filter(|d| !d.is_empty()) {
        None => today,
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| WebError::BadRequest("date: use YYYY-MM-DD".to_owned()))?,
    };
    let (from, to) = day_bounds(day, zone);
    let filter = Filter {
        from: Some(from),
        to: Some(to),
        limit: 200,
        ..Filter::default()
    };
    let appointments = service::list(&caller, &filter).await?.into_inner();
    render(&DayPage {
        chrome: caller.chrome().at("appointments"),
        day: day.format("%A %-d %B %Y").to_string(),
        previous: day.pred_opt().unwrap_or(day),
        next: day.succ_opt().unwrap_or(day),
        today,
        rows: rows(appointments, zone),
        front_desk: caller.identity.user.has_role(Role::FrontDesk),
    })
}

#[derive(Template)]
#[template(path = "appointments/appointment.html")]
struct AppointmentPage {
    chrome: Chrome,
    row: Row,
    date: String,
    next: Vec<AppointmentStatus>,
    cancel: Vec<Section>,
    errors: Vec<Problem>,
}

/// The cancellation form, with what was sent (after a refusal).
fn cancel_sections(appointment: &Appointment, sent: &StatusFields) -> Vec<Section> {
    let mut fields = vec![
        Field::new("cancelled_by", "Cancelled by", Kind::Select)
            .options([("", "Choose"), ("client", "The client"), ("staff", "Staff")])
            .value(sent.cancelled_by.clone().unwrap_or_default())
            .required(),
        Field::text("reason", "Reason")
            .value(sent.reason.clone().unwrap_or_default())
            .hint("A client's cancellation close to the start is marked late.")
            .required()
            .max(500),
    ];
    if appointment.series_id.is_some() {
        fields.push(
            Field::new("scope", "Which appointments", Kind::Select)
                .options(EditScope::ALL.iter().map(|s| (s.as_str(), s.label())))
                .value(sent.scope.clone().unwrap_or_else(|| "one".to_owned()))
                .required(),
        );
    }
    vec![Section::new("Cancel", fields)]
}

impl AppointmentPage {
    fn can(&self, to: &str) -> bool {
        self.next.iter().any(|s| s.as_str() == to)
    }
}

async fn appointment_view(
    caller: &Caller,
    id: Uuid,
    sent: &StatusFields,
    errors: FieldErrors,
    toast: Option<String>,
) -> Result<Response, WebError> {
    let appointment = service::view(caller, id).await?.into_inner();
    let zone = store::organisation_zone(&caller.tenant.pool).await?;
    let date = appointment
        .starts_at
        .with_timezone(&zone)
        .format("%A %-d %B %Y")
        .to_string();
    let next = appointment.status.next();
    let mut cancel = cancel_sections(&appointment, sent);
    let problems = attach_errors(&mut cancel, &errors);
    let status = if errors.0.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = AppointmentPage {
        chrome: caller.chrome().at("appointments").toast(toast),
        row: rows(vec![appointment], zone).pop().ok_or(WebError::NotFound)?,
        date,
        next,
        cancel,
        errors: problems,
    };
    render_with_status(status, &page)
}

async fn appointment_page(
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let toast = Submitted(params).get("done").map(|_| "Appointment updated.".to_owned());
    appointment_view(&caller, id, &StatusFields::default(), FieldErrors::default(), toast).await
}

async fn status_form(
    caller: Caller,
    Path(id): Path<Uuid>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = Submitted(form);
    let fields = StatusFields {
        to: form.text("to"),
        cancelled_by: form.text("cancelled_by"),
        reason: form.text("reason"),
        scope: form.text("scope").filter(|s| !s.is_empty() && s != "one"),
    };
    match service::set_status(&caller, id, &fields).await {
        Ok(_) => {
            let back = form.get("back").filter(|b| b.starts_with("/appointments"));
            Ok(Redirect::to(&back.map_or_else(|| format!("/appointments/{id}?done=1"), str::to_owned)).into_response())
        }
        Err(WebError::Validation(problems)) => {
            appointment_view(&caller, id, &fields, FieldErrors(problems), None).await
        }
        Err(other) => Err(other),
    }
}

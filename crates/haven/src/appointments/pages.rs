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
use super::store::Filter;
use super::{Appointment, AppointmentStatus, EditScope};
use crate::actor::Actor;
use crate::appointments::AppointmentId;
use crate::appointments::RoomId;
use crate::clients::ClientId;
use crate::clients::chart::ChartHead;
use crate::error::{Error, FieldErrors};
use crate::identity::Role;
use crate::identity::UserId;
use crate::web::form::{Field, Kind, Problem, Section, Submitted, attach_errors};
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::{Style, filters, show};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/appointments", day_page)
        .add(Access::Full, Method::GET, "/clients/{id}/appointments", client_tab)
        .add(Access::Full, Method::GET, "/appointments/week", week_page)
        .add(Access::Full, Method::GET, "/appointments/new", new_page)
        .add(Access::Full, Method::POST, "/appointments/new", create_form)
        .add(Access::Full, Method::GET, "/appointments/{id}", appointment_page)
        .add(Access::Full, Method::POST, "/appointments/{id}/status", status_form)
        .add(Access::Full, Method::POST, "/appointments/{id}/change", change_form)
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
            date: show(a.starts_at, zone, Style::Day),
            from: show(a.starts_at, zone, Style::Time),
            to: show(a.ends_at, zone, Style::Time),
            appointment: a,
        })
        .collect()
}

/// A client's appointments the caller may see, upcoming first, then the past.
pub async fn client_rows(caller: &Actor, client: ClientId) -> Result<Vec<Row>, Error> {
    let zone = caller.zone().await?;
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
pub async fn today_rows(caller: &Actor) -> Result<Vec<Row>, Error> {
    let zone = caller.zone().await?;
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

async fn day_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    let params = Submitted(params);
    let zone = caller.zone().await?;
    let today = caller.now().with_timezone(&zone).date_naive();
    let day = match params.get("date").filter(|d| !d.is_empty()) {
        None => today,
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| Error::Malformed("date: use YYYY-MM-DD".to_owned()))?,
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
        chrome: caller.chrome().await?.help("appointments.day").at("appointments"),
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
    change: Vec<Section>,
    clash: Option<String>,
    errors: Vec<Problem>,
    /// (when, for whom, which reminder, outcome, detail)
    reminders: Vec<(String, String, String, super::reminders::LogEntry)>,
}

/// The move-or-change form: a new date, time and length, and for a series which ones.
fn change_sections(
    appointment: &Appointment,
    zone: chrono_tz::Tz,
    sent: Option<&Submitted>,
    clashed: bool,
) -> Vec<Section> {
    let local = appointment.starts_at.with_timezone(&zone);
    let value = |name: &str, default: String| sent.and_then(|f| f.get(name)).map_or(default, str::to_owned);
    let mut fields = vec![
        Field::new("date", "Date", Kind::Date)
            .value(value("date", local.format("%Y-%m-%d").to_string()))
            .required(),
        Field::new("time", "Start time", Kind::Time)
            .value(value("time", local.format("%H:%M").to_string()))
            .required(),
        Field::text("duration_minutes", "Length in minutes")
            .value(value(
                "duration_minutes",
                (appointment.ends_at - appointment.starts_at).num_minutes().to_string(),
            ))
            .required()
            .max(3),
    ];
    if appointment.series_id.is_some() {
        fields.push(
            Field::new("scope", "Which appointments", Kind::Select)
                .options(EditScope::ALL.iter().map(|s| (s.as_str(), s.label())))
                .value(value("scope", "one".to_owned()))
                .required(),
        );
    }
    if clashed {
        fields.push(
            Field::text("override_reason", "Reason to move it over the clash")
                .value(value("override_reason", String::new()))
                .hint("Recorded in the audit trail.")
                .max(500),
        );
    }
    vec![Section::new("New time", fields)]
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

/// A refused change: what was sent, the clash (if that was why) and the field errors.
type Refused<'a> = (&'a Submitted, Option<String>, Vec<crate::error::FieldError>);

async fn appointment_view(
    caller: &Actor,
    id: AppointmentId,
    sent: &StatusFields,
    errors: FieldErrors,
    changed: Option<Refused<'_>>,
    toast: Option<String>,
) -> Result<Response, Error> {
    let refused = changed.is_some();
    let appointment = service::view(caller, id).await?.into_inner();
    let zone = caller.zone().await?;
    let date = show(appointment.starts_at, zone, Style::LongDate);
    let next = appointment.status.next();
    let mut cancel = cancel_sections(&appointment, sent);
    let mut problems = attach_errors(&mut cancel, &errors);
    let mut change = change_sections(
        &appointment,
        zone,
        changed.as_ref().map(|c| c.0),
        changed.as_ref().is_some_and(|c| c.1.is_some()),
    );
    problems.extend(attach_errors(
        &mut change,
        &changed
            .as_ref()
            .map_or_else(FieldErrors::default, |c| FieldErrors(c.2.clone())),
    ));
    let clash = changed.and_then(|c| c.1);
    let reminders = super::reminders::log_of(&caller.tenant.pool, id)
        .await?
        .into_iter()
        .map(|entry| {
            let who = entry
                .client_id
                .and_then(|c| appointment.clients.iter().find(|x| x.id == c))
                .map_or_else(|| "All clients".to_owned(), |c| c.name.clone());
            let before = if entry.offset_minutes % 60 == 0 {
                format!("{} h before", entry.offset_minutes / 60)
            } else {
                format!("{} min before", entry.offset_minutes)
            };
            (show(entry.at, zone, Style::DateTime), who, before, entry)
        })
        .collect();
    let status = if errors.0.is_empty() && !refused {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = AppointmentPage {
        chrome: caller.chrome().await?.at("appointments").toast(toast),
        row: rows(vec![appointment], zone).pop().ok_or(Error::NotFound)?,
        date,
        next,
        cancel,
        change,
        clash,
        errors: problems,
        reminders,
    };
    render_with_status(status, &page)
}

async fn appointment_page(
    caller: Actor,
    Path(id): Path<AppointmentId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let toast = Submitted(params).get("done").map(|_| "Appointment updated.".to_owned());
    appointment_view(
        &caller,
        id,
        &StatusFields::default(),
        FieldErrors::default(),
        None,
        toast,
    )
    .await
}

async fn status_form(
    caller: Actor,
    Path(id): Path<AppointmentId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
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
        Err(Error::Invalid(problems)) => {
            appointment_view(&caller, id, &fields, FieldErrors(problems), None, None).await
        }
        Err(other) => Err(other),
    }
}

/// The booking form's values, as typed.
#[derive(Debug, Clone, Default)]
struct BookingForm {
    clients: String,
    clinician_id: String,
    co_facilitator_id: String,
    place: String,
    room_id: String,
    telehealth_url: String,
    location_note: String,
    service_type: String,
    date: String,
    time: String,
    duration_minutes: String,
    repeat: String,
    interval: String,
    count: String,
    until: String,
    scheduling_note: String,
    override_reason: String,
}

impl BookingForm {
    fn from(form: &Submitted) -> Self {
        let text = |name: &str| form.get(name).unwrap_or_default().trim().to_owned();
        Self {
            clients: text("clients"),
            clinician_id: text("clinician_id"),
            co_facilitator_id: text("co_facilitator_id"),
            place: text("place"),
            room_id: text("room_id"),
            telehealth_url: text("telehealth_url"),
            location_note: text("location_note"),
            service_type: text("service_type"),
            date: text("date"),
            time: text("time"),
            duration_minutes: text("duration_minutes"),
            repeat: text("repeat"),
            interval: text("interval"),
            count: text("count"),
            until: text("until"),
            scheduling_note: text("scheduling_note"),
            override_reason: text("override_reason"),
        }
    }
}

struct Choices {
    staff: Vec<(String, String)>,
    rooms: Vec<(String, String)>,
}

async fn choices(caller: &Actor) -> Result<Choices, Error> {
    let mut staff = vec![(String::new(), "Choose".to_owned())];
    staff.extend(
        crate::identity::service::clinical_staff(caller)
            .await?
            .into_iter()
            .map(|u| (u.id.0.to_string(), u.display_name)),
    );
    let mut rooms = vec![(String::new(), "Choose".to_owned())];
    rooms.extend(
        service::rooms(caller)
            .await?
            .into_iter()
            .map(|r| (r.id.to_string(), r.name)),
    );
    Ok(Choices { staff, rooms })
}

fn when_section(form: &BookingForm) -> Section {
    Section::new(
        "When",
        vec![
            Field::new("date", "Date", Kind::Date)
                .value(form.date.clone())
                .required(),
            Field::new("time", "Start time", Kind::Time)
                .value(form.time.clone())
                .required(),
            Field::text("duration_minutes", "Length in minutes")
                .value(if form.duration_minutes.is_empty() {
                    "50".to_owned()
                } else {
                    form.duration_minutes.clone()
                })
                .required()
                .max(3),
            Field::new("repeat", "Repeats", Kind::Select)
                .options([
                    ("", "Does not repeat"),
                    ("weekly", "Every week or every few weeks"),
                    ("monthly_weekday", "Every month on the same weekday"),
                ])
                .value(form.repeat.clone()),
            Field::text("interval", "Every how many weeks or months")
                .value(if form.interval.is_empty() {
                    "1".to_owned()
                } else {
                    form.interval.clone()
                })
                .max(2),
            Field::text("count", "How many times in all")
                .value(form.count.clone())
                .hint("Or give the last date below.")
                .max(3),
            Field::new("until", "Last date", Kind::Date).value(form.until.clone()),
        ],
    )
    .hint("In the organisation's time zone.")
}

fn booking_sections(form: &BookingForm, choices: &Choices, clashed: bool) -> Vec<Section> {
    let optional_staff: Vec<(String, String)> = std::iter::once((String::new(), "Nobody".to_owned()))
        .chain(choices.staff.iter().skip(1).cloned())
        .collect();
    let mut sections = vec![
        Section::new(
            "Who",
            vec![
                Field::text("clients", "Clients")
                    .value(form.clients.clone())
                    .hint("Record numbers, separated by commas (HV0001234, HV0001235) for a couple, family or group.")
                    .required()
                    .max(200),
                Field::new("clinician_id", "Clinician", Kind::Select)
                    .options(choices.staff.clone())
                    .value(form.clinician_id.clone())
                    .required(),
                Field::new("co_facilitator_id", "Co-facilitator", Kind::Select)
                    .options(optional_staff)
                    .value(form.co_facilitator_id.clone()),
                Field::text("service_type", "Service")
                    .value(form.service_type.clone())
                    .hint("For example Counselling, Family session, Intake.")
                    .required()
                    .max(80),
            ],
        ),
        when_section(form),
        Section::new(
            "Where",
            vec![
                Field::new("place", "Place", Kind::Select)
                    .options([
                        ("room", "A room"),
                        ("telehealth", "Telehealth"),
                        ("elsewhere", "Elsewhere"),
                    ])
                    .value(if form.place.is_empty() {
                        "room".to_owned()
                    } else {
                        form.place.clone()
                    })
                    .required(),
                Field::new("room_id", "Room", Kind::Select)
                    .options(choices.rooms.clone())
                    .value(form.room_id.clone()),
                Field::text("telehealth_url", "Telehealth link")
                    .value(form.telehealth_url.clone())
                    .hint("An https:// link, for telehealth.")
                    .max(500),
                Field::text("location_note", "Where, if elsewhere")
                    .value(form.location_note.clone())
                    .max(200),
                Field::text("scheduling_note", "Scheduling note")
                    .value(form.scheduling_note.clone())
                    .hint("For scheduling only: nothing clinical.")
                    .max(500),
            ],
        ),
    ];
    if clashed {
        sections.push(Section::new(
            "Book anyway?",
            vec![
                Field::text("override_reason", "Reason to book over the clash")
                    .value(form.override_reason.clone())
                    .hint("Recorded in the audit trail.")
                    .max(500),
            ],
        ));
    }
    sections
}

#[derive(Template)]
#[template(path = "appointments/new.html")]
struct NewPage {
    chrome: Chrome,
    sections: Vec<Section>,
    errors: Vec<Problem>,
    clash: Option<String>,
}

async fn new_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    caller.authorize(&crate::policy::Action::ViewSchedule).await?;
    let params = Submitted(params);
    let mut form = BookingForm::default();
    if let Some(client) = params.get("client_id").and_then(|v| v.parse::<ClientId>().ok()) {
        // Only a client the caller may open is filled in.
        let facts = crate::clients::service::facts(&caller, client).await?;
        if caller.may(&crate::policy::Action::ViewClient(facts)) {
            form.clients = crate::clients::service::record_number(&caller, client).await?;
        }
    }
    if caller.identity.user.has_role(Role::Clinician) || caller.identity.user.has_role(Role::CaseManager) {
        form.clinician_id = caller.identity.user.id.0.to_string();
    }
    let choices = choices(&caller).await?;
    render(&NewPage {
        chrome: caller.chrome().await?.at("appointments"),
        sections: booking_sections(&form, &choices, false),
        errors: Vec::new(),
        clash: None,
    })
}

/// The form as the API's fields; record numbers that name nobody are field errors.
async fn booking_fields(caller: &Actor, form: &BookingForm) -> Result<service::AppointmentFields, Error> {
    let mut problems = Vec::new();
    let mut client_ids = Vec::new();
    let records: Vec<&str> = form
        .clients
        .split([',', ' '])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    if records.len() > service::MAX_CLIENTS {
        return Err(Error::Invalid(vec![crate::error::FieldError::new(
            "clients",
            format!("at most {} clients", service::MAX_CLIENTS),
        )]));
    }
    for record in records {
        let record = record.to_uppercase();
        match crate::clients::service::id_by_record_number(caller, &record).await? {
            Some(id) => client_ids.push(id),
            None => problems.push(crate::error::FieldError::new("clients", format!("no client {record}"))),
        }
    }
    let number = |field: &'static str, value: &str, problems: &mut Vec<crate::error::FieldError>| {
        if value.is_empty() {
            return None;
        }
        if let Ok(n) = value.parse::<i64>() {
            Some(n)
        } else {
            problems.push(crate::error::FieldError::new(field, "must be a whole number"));
            None
        }
    };
    let duration = number("duration_minutes", &form.duration_minutes, &mut problems);
    let interval = number("interval", &form.interval, &mut problems);
    let count = number("count", &form.count, &mut problems);
    let until = if form.until.is_empty() {
        None
    } else {
        let parsed = NaiveDate::parse_from_str(&form.until, "%Y-%m-%d").ok();
        if parsed.is_none() {
            problems.push(crate::error::FieldError::new("until", "use a date"));
        }
        parsed
    };
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let recurrence = match form.repeat.as_str() {
        "" => None,
        repeat => Some(super::recurrence::Recurrence {
            repeat: super::recurrence::RepeatEvery::parse(repeat).unwrap_or(super::recurrence::RepeatEvery::Week),
            interval: u16::try_from(interval.unwrap_or(1)).unwrap_or(0),
            count: count.map(|c| u16::try_from(c).unwrap_or(u16::MAX)),
            until,
        }),
    };
    let starts_at = (!form.date.is_empty() || !form.time.is_empty()).then(|| format!("{}T{}", form.date, form.time));
    let optional = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    Ok(service::AppointmentFields {
        client_ids,
        clinician_id: form.clinician_id.parse().ok(),
        co_facilitator_id: form.co_facilitator_id.parse().ok(),
        place: optional(&form.place),
        room_id: form.room_id.parse().ok(),
        telehealth_url: optional(&form.telehealth_url),
        location_note: optional(&form.location_note),
        service_type: optional(&form.service_type),
        starts_at,
        duration_minutes: duration,
        scheduling_note: optional(&form.scheduling_note),
        recurrence,
        override_reason: optional(&form.override_reason),
    })
}

/// Field names of the API that the form shows under another name.
fn form_field(api: &str) -> &str {
    match api {
        "client_ids" => "clients",
        "starts_at" => "date",
        "recurrence" | "recurrence.repeat" => "repeat",
        "recurrence.count" => "count",
        "recurrence.interval" => "interval",
        "recurrence.until" => "until",
        other => other,
    }
}

async fn create_form(caller: Actor, Form(form): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    // Before any record number is looked up, so the form is no way to probe the register.
    caller.authorize(&crate::policy::Action::ViewSchedule).await?;
    let form = BookingForm::from(&Submitted(form));
    let outcome = match booking_fields(&caller, &form).await {
        Ok(fields) => service::book(&caller, &fields).await,
        Err(err) => Err(err),
    };
    let (errors, clash) = match outcome {
        Ok(booked) => {
            let first = booked.appointments.first().map(|a| a.id).ok_or(Error::NotFound)?;
            return Ok(Redirect::to(&format!("/appointments/{first}?done=1")).into_response());
        }
        Err(Error::Invalid(problems)) => (
            problems
                .into_iter()
                .map(|p| crate::error::FieldError::new(form_field(&p.field).to_owned(), p.message))
                .collect(),
            None,
        ),
        Err(Error::Conflict { message, .. }) => (Vec::new(), Some(message)),
        Err(other) => return Err(other),
    };
    let choices = choices(&caller).await?;
    let mut sections = booking_sections(&form, &choices, clash.is_some() || !form.override_reason.is_empty());
    let problems = attach_errors(&mut sections, &FieldErrors(errors));
    render_with_status(
        if clash.is_some() {
            axum::http::StatusCode::CONFLICT
        } else {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        },
        &NewPage {
            chrome: caller.chrome().await?.at("appointments"),
            sections,
            errors: problems,
            clash,
        },
    )
}

async fn change_form(
    caller: Actor,
    Path(id): Path<AppointmentId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let form = Submitted(form);
    let text = |name: &str| {
        form.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let duration = match text("duration_minutes").map(|d| d.parse::<i64>()) {
        None => None,
        Some(Ok(minutes)) => Some(minutes),
        Some(Err(_)) => {
            let problems = vec![crate::error::FieldError::new(
                "duration_minutes",
                "must be a whole number",
            )];
            return appointment_view(
                &caller,
                id,
                &StatusFields::default(),
                FieldErrors::default(),
                Some((&form, None, problems)),
                None,
            )
            .await;
        }
    };
    let fields = service::ChangeFields {
        scope: text("scope"),
        starts_at: match (text("date"), text("time")) {
            (Some(date), Some(time)) => Some(format!("{date}T{time}")),
            (None, None) => None,
            _ => Some(String::new()),
        },
        duration_minutes: duration,
        override_reason: text("override_reason"),
        ..service::ChangeFields::default()
    };
    match service::change(&caller, id, &fields).await {
        Ok(_) => Ok(Redirect::to(&format!("/appointments/{id}?done=1")).into_response()),
        Err(Error::Invalid(problems)) => {
            let problems = problems
                .into_iter()
                .map(|p| {
                    crate::error::FieldError::new(
                        if p.field == "starts_at" {
                            "date".to_owned()
                        } else {
                            p.field.into_owned()
                        },
                        p.message,
                    )
                })
                .collect();
            appointment_view(
                &caller,
                id,
                &StatusFields::default(),
                FieldErrors::default(),
                Some((&form, None, problems)),
                None,
            )
            .await
        }
        Err(Error::Conflict { message, .. }) if message.starts_with("This clashes") => {
            appointment_view(
                &caller,
                id,
                &StatusFields::default(),
                FieldErrors::default(),
                Some((&form, Some(message), Vec::new())),
                None,
            )
            .await
        }
        Err(other) => Err(other),
    }
}

/// One day of a week view.
pub struct WeekDay {
    pub label: String,
    pub rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "appointments/week.html")]
struct WeekPage {
    chrome: Chrome,
    title: String,
    days: Vec<WeekDay>,
    monday: NaiveDate,
    previous: NaiveDate,
    next: NaiveDate,
    /// `staff=<id>` or `room=<id>`, kept when paging.
    whose: String,
    staff: Vec<(String, String)>,
    rooms: Vec<(String, String)>,
}

/// A clinician's or a room's week (Monday to Sunday), in the organisation's time.
async fn week_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    use chrono::Datelike;
    caller.authorize(&crate::policy::Action::ViewSchedule).await?;
    let params = Submitted(params);
    let zone = caller.zone().await?;
    let today = caller.now().with_timezone(&zone).date_naive();
    let day = match params.get("date").filter(|d| !d.is_empty()) {
        None => today,
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| Error::Malformed("date: use YYYY-MM-DD".to_owned()))?,
    };
    let monday = day - chrono::TimeDelta::days(i64::from(day.weekday().num_days_from_monday()));
    let id = |name: &str| -> Result<Option<Uuid>, Error> {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| Uuid::parse_str(v).map_err(|_| Error::Malformed(format!("{name}: not an id"))))
            .transpose()
    };
    let (staff, room) = (id("staff")?, id("room")?);
    let staff = if staff.is_none() && room.is_none() {
        Some(caller.identity.user.id.0)
    } else {
        staff
    };
    let choices = choices(&caller).await?;
    let title = match (staff, room) {
        (_, Some(room)) => choices
            .rooms
            .iter()
            .find(|(v, _)| *v == room.to_string())
            .map_or_else(|| "A room".to_owned(), |(_, n)| n.clone()),
        (Some(person), None) => choices
            .staff
            .iter()
            .find(|(v, _)| *v == person.to_string())
            .map_or_else(|| "Your week".to_owned(), |(_, n)| n.clone()),
        (None, None) => "Your week".to_owned(),
    };
    let (from, _) = day_bounds(monday, zone);
    let (_, to) = day_bounds(monday + chrono::TimeDelta::days(6), zone);
    let filter = Filter {
        from: Some(from),
        to: Some(to),
        staff: if room.is_some() { None } else { staff.map(UserId) },
        room: room.map(RoomId),
        limit: 200,
        ..Filter::default()
    };
    let all = rows(service::list(&caller, &filter).await?.into_inner(), zone);
    let mut days: Vec<WeekDay> = (0..7)
        .map(|d| WeekDay {
            label: (monday + chrono::TimeDelta::days(d)).format("%A %-d %B").to_string(),
            rows: Vec::new(),
        })
        .collect();
    for row in all {
        let local = row.appointment.starts_at.with_timezone(&zone).date_naive();
        let index = usize::try_from((local - monday).num_days()).unwrap_or(0).min(6);
        if let Some(day) = days.get_mut(index) {
            day.rows.push(row);
        }
    }
    let whose = match (staff, room) {
        (_, Some(room)) => format!("room={room}"),
        (Some(person), None) => format!("staff={person}"),
        (None, None) => String::new(),
    };
    render(&WeekPage {
        chrome: caller.chrome().await?.at("appointments"),
        title: format!("{title}: week of {}", monday.format("%-d %B %Y")),
        days,
        monday,
        previous: monday - chrono::TimeDelta::days(7),
        next: monday + chrono::TimeDelta::days(7),
        whose,
        staff: choices.staff.into_iter().skip(1).collect(),
        rooms: choices.rooms.into_iter().skip(1).collect(),
    })
}

#[derive(Template)]
#[template(path = "appointments/client_tab.html")]
struct ClientTab {
    chrome: Chrome,
    head: ChartHead,
    appointments: Vec<Row>,
}

/// The appointments tab of a client's chart.
async fn client_tab(caller: Actor, Path(id): Path<ClientId>) -> Result<Response, Error> {
    caller.authorize(&crate::policy::Action::ViewSchedule).await?;
    let head = crate::clients::chart::head(&caller, id, "appointments").await?;
    let appointments = client_rows(&caller, id).await?;
    render(&ClientTab {
        chrome: caller.chrome().await?.at("clients"),
        head,
        appointments,
    })
}

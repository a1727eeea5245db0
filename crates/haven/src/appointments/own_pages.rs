//! A clinician's own settings under Appointments: the private calendar feed's page
//! (make, replace, stop) and weekly hours.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};

use super::service;
use crate::actor::Actor;
use crate::error::{Error, FieldErrors};
use crate::identity::UserId;
use crate::web::form::{Field, Kind, Problem, Section, Submitted, attach_errors};
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::{Style, show};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/appointments/hours", hours_page)
        .add(Access::Full, Method::POST, "/appointments/hours", hours_form)
        .add(Access::Full, Method::GET, "/appointments/calendar", calendar_page)
        .add(Access::Full, Method::POST, "/appointments/calendar", calendar_form)
}

#[derive(Template)]
#[template(path = "appointments/calendar.html")]
struct CalendarPage {
    chrome: Chrome,
    since: Option<String>,
    /// Shown once, right after it was made.
    new_url: Option<String>,
}

/// Subscribing a calendar app: the private feed's address, made, replaced or ended here.
async fn calendar_page(caller: Actor) -> Result<Response, Error> {
    caller.authorize(&crate::policy::Action::ViewSchedule).await?;
    calendar_view(&caller, None).await
}

async fn calendar_view(caller: &Actor, new_url: Option<String>) -> Result<Response, Error> {
    let zone = caller.zone().await?;
    let since = super::feeds::feed_since(caller)
        .await?
        .map(|at| show(at, zone, Style::DateTime));
    render(&CalendarPage {
        chrome: caller.chrome().await?.at("appointments"),
        since,
        new_url,
    })
}

async fn calendar_form(caller: Actor, Form(form): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    match Submitted(form).get("do") {
        Some("revoke") => {
            super::feeds::withdraw(&caller).await?;
            Ok(Redirect::to("/appointments/calendar").into_response())
        }
        Some("issue") => {
            let feed = super::feeds::issue(&caller).await?;
            // Shown on this response only: the address is not kept anywhere to show again.
            let mut response = calendar_view(&caller, Some(feed.url)).await?;
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        _ => Err(Error::Malformed("do: issue or revoke".to_owned())),
    }
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

#[derive(Template)]
#[template(path = "appointments/hours.html")]
struct HoursPage {
    chrome: Chrome,
    name: String,
    staff: UserId,
    sections: Vec<Section>,
    errors: Vec<Problem>,
}

fn hours_sections(values: &[(String, String); 7]) -> Vec<Section> {
    vec![
        Section::new(
            "Weekly hours",
            WEEKDAYS
                .iter()
                .zip(values)
                .enumerate()
                .flat_map(|(i, (day, (from, to)))| {
                    [
                        Field::new(format!("from_{}", i + 1), format!("{day} from"), Kind::Time).value(from.clone()),
                        Field::new(format!("to_{}", i + 1), format!("{day} until"), Kind::Time).value(to.clone()),
                    ]
                })
                .collect(),
        )
        .hint(
            "Leave a day empty when you do not take appointments then. With no hours at all, any time can be booked.",
        ),
    ]
}

/// Whose hours a request is about: `?staff=`, or the person asking.
fn hours_of(caller: &Actor, params: &Submitted) -> Result<UserId, Error> {
    params
        .get("staff")
        .filter(|v| !v.is_empty())
        .map_or(Ok(caller.identity.user.id), |v| {
            v.parse().map_err(|_| Error::Malformed("staff: not an id".to_owned()))
        })
}

async fn hours_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    let params = Submitted(params);
    let staff = hours_of(&caller, &params)?;
    let (name, hours) = service::hours_to_edit(&caller, staff).await?;
    let mut values: [(String, String); 7] = Default::default();
    for (weekday, from, to) in hours {
        if let Some(slot) = usize::try_from(weekday - 1).ok().and_then(|i| values.get_mut(i))
            && slot.0.is_empty()
        {
            *slot = (from.format("%H:%M").to_string(), to.format("%H:%M").to_string());
        }
    }
    let saved = params.get("saved").is_some();
    render(&HoursPage {
        chrome: caller
            .chrome()
            .await?
            .at("appointments")
            .toast(saved.then(|| "Hours saved.".to_owned())),
        name,
        staff,
        sections: hours_sections(&values),
        errors: Vec::new(),
    })
}

async fn hours_form(caller: Actor, Form(form): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    let form = Submitted(form);
    let staff = hours_of(&caller, &form)?;
    caller
        .authorize(&crate::policy::Action::SetAvailability { of: staff })
        .await?;
    let mut values: [(String, String); 7] = Default::default();
    let mut problems = Vec::new();
    let mut hours = Vec::new();
    for (i, slot) in values.iter_mut().enumerate() {
        let from = form
            .get(&format!("from_{}", i + 1))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let to = form.get(&format!("to_{}", i + 1)).unwrap_or_default().trim().to_owned();
        let parse = |t: &str| chrono::NaiveTime::parse_from_str(t, "%H:%M");
        match (from.is_empty(), to.is_empty()) {
            (true, true) => {}
            (false, false) => match (parse(&from), parse(&to)) {
                (Ok(a), Ok(b)) if b > a => hours.push((i16::try_from(i + 1).unwrap_or(1), a, b)),
                (Ok(_), Ok(_)) => problems.push(crate::error::FieldError::new(
                    format!("to_{}", i + 1),
                    "must be after the start",
                )),
                _ => problems.push(crate::error::FieldError::new(format!("from_{}", i + 1), "use HH:MM")),
            },
            (true, false) => problems.push(crate::error::FieldError::new(
                format!("from_{}", i + 1),
                "give both times, or neither",
            )),
            (false, true) => problems.push(crate::error::FieldError::new(
                format!("to_{}", i + 1),
                "give both times, or neither",
            )),
        }
        *slot = (from, to);
    }
    if problems.is_empty() {
        service::save_hours(&caller, staff, &hours).await?;
        return Ok(Redirect::to(&format!("/appointments/hours?staff={staff}&saved")).into_response());
    }
    let (name, _) = service::hours_to_edit(&caller, staff).await?;
    let mut sections = hours_sections(&values);
    let errors = attach_errors(&mut sections, &FieldErrors(problems));
    render_with_status(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        &HoursPage {
            chrome: caller.chrome().await?.at("appointments"),
            name,
            staff,
            sections,
            errors,
        },
    )
}

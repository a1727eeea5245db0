//! The organisation's reminder settings: when reminders go, which details beyond the
//! organisation, date, time and place they may carry, and the late-cancellation notice.
//! Organisation admins change them on `/admin/reminders` or over the API; audited.

use askama::Template;
use axum::extract::Query;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};

use crate::actor::Actor;
use crate::compliance::audit::{self, Outcome};
use crate::error::{Error, FieldError, FieldErrors};
use crate::policy::Action;
use crate::web::form::{Field, Kind, Problem, Section, Submitted, attach_errors};
use crate::web::json::ApiJson;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/admin/reminders", page)
        .add(Access::Full, Method::POST, "/admin/reminders", form)
        .add(Access::Full, Method::GET, "/api/v1/organisation/reminders", get_api)
        .add(Access::Full, Method::PUT, "/api/v1/organisation/reminders", put_api)
}

pub use crate::organisation::ReminderSettings;

fn validate(settings: &ReminderSettings) -> Result<Vec<i32>, Vec<FieldError>> {
    let mut problems = Vec::new();
    let mut offsets = settings.offsets_minutes.clone();
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    offsets.dedup();
    if offsets.len() > 5 {
        problems.push(FieldError::new("offsets_minutes", "at most 5 reminders"));
    }
    if offsets.iter().any(|m| !(1..=20_160).contains(m)) {
        problems.push(FieldError::new("offsets_minutes", "each from 1 minute to 14 days"));
    }
    if !(0..=168).contains(&settings.late_cancel_hours) {
        problems.push(FieldError::new("late_cancel_hours", "must be 0 to 168"));
    }
    if problems.is_empty() {
        Ok(offsets)
    } else {
        Err(problems)
    }
}

async fn load(caller: &Actor) -> Result<ReminderSettings, Error> {
    Ok(caller.tenant.settings().await?.reminders.clone())
}

async fn save(caller: &Actor, settings: &ReminderSettings) -> Result<ReminderSettings, Error> {
    caller.authorize(&Action::ManageOrganisation).await?;
    let offsets = validate(settings).map_err(Error::Invalid)?;
    let saved = ReminderSettings {
        offsets_minutes: offsets,
        ..settings.clone()
    };
    let mut tx = caller.tenant.pool.begin().await?;
    crate::organisation::store::set_reminders(&mut *tx, &saved, caller.now()).await?;
    audit::stage(
        &mut tx,
        &caller
            .event("organisation.reminders_set", Outcome::Allowed)
            .reason(format!(
                "offsets {:?} min; clinician {}, service {}, client name {}; late within {} h",
                saved.offsets_minutes,
                settings.show_clinician,
                settings.show_service,
                settings.show_client_name,
                settings.late_cancel_hours
            )),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.settings.forget();
    caller.tenant.audit.nudge();
    Ok(saved)
}

/// The reminder settings.
#[utoipa::path(get, path = "/api/v1/organisation/reminders", tag = "appointments",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = ReminderSettings),
        (status = 403, description = "Only organisation admins", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn get_api(caller: Actor) -> Result<Response, Error> {
    caller.authorize(&Action::ManageOrganisation).await?;
    Ok(Json(load(&caller).await?).into_response())
}

/// Replace the reminder settings (organisation admins; audited).
#[utoipa::path(put, path = "/api/v1/organisation/reminders", tag = "appointments", request_body = ReminderSettings,
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Saved", body = ReminderSettings),
        (status = 403, description = "Only organisation admins, or a missing CSRF token", body = crate::web::openapi::ErrorEnvelope),
        (status = 422, description = "Invalid settings; `details.fields` names each", body = crate::web::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn put_api(caller: Actor, ApiJson(wanted): ApiJson<ReminderSettings>) -> Result<Response, Error> {
    Ok((StatusCode::OK, Json(save(&caller, &wanted).await?)).into_response())
}

#[derive(Template)]
#[template(path = "appointments/reminder_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    sections: Vec<Section>,
    errors: Vec<Problem>,
}

fn sections(offsets: &str, settings: &ReminderSettings) -> Vec<Section> {
    vec![
        Section::new(
            "When",
            vec![
                Field::text("offsets_hours", "Hours before the appointment")
                    .value(offsets.to_owned())
                    .hint("Up to five, separated by commas: 48, 2 sends one two days before and one two hours before.")
                    .max(40),
                Field::text("late_cancel_hours", "A cancellation is late within (hours)")
                    .value(settings.late_cancel_hours.to_string())
                    .required()
                    .max(3),
            ],
        ),
        Section::new(
            "What a reminder may say",
            vec![
                Field::new("show_clinician", "The clinician's name", Kind::Checkbox).checked(settings.show_clinician),
                Field::new("show_service", "The service type", Kind::Checkbox).checked(settings.show_service),
                Field::new("show_client_name", "The client's name", Kind::Checkbox).checked(settings.show_client_name),
            ],
        )
        .hint("Reminders always say the organisation, date, time and place, and nothing else unless turned on here. Each detail turned on can reveal to whoever reads the client's email that they see you."),
    ]
}

fn hours(offsets: &[i32]) -> String {
    offsets
        .iter()
        .map(|m| {
            if m % 60 == 0 {
                (m / 60).to_string()
            } else {
                format!("{:.2}", f64::from(*m) / 60.0)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    caller.authorize(&Action::ManageOrganisation).await?;
    let settings = load(&caller).await?;
    let saved = params.iter().any(|(k, _)| k == "saved");
    render(&SettingsPage {
        chrome: caller
            .chrome()
            .await?
            .at("reminders")
            .toast(saved.then(|| "Reminder settings saved.".to_owned())),
        sections: sections(&hours(&settings.offsets_minutes), &settings),
        errors: Vec::new(),
    })
}

async fn form(caller: Actor, Form(form): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    let form = Submitted(form);
    let offsets_text = form.get("offsets_hours").unwrap_or_default().to_owned();
    let mut problems = Vec::new();
    let mut offsets = Vec::new();
    for part in offsets_text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<f64>() {
            #[allow(clippy::cast_possible_truncation)]
            Ok(h) if h.is_finite() && h > 0.0 && h <= 336.0 => offsets.push((h * 60.0).round() as i32),
            _ => problems.push(FieldError::new(
                "offsets_hours",
                format!("`{part}` is not a number of hours from 0 to 336"),
            )),
        }
    }
    let late = form
        .get("late_cancel_hours")
        .unwrap_or_default()
        .trim()
        .parse::<i32>()
        .unwrap_or(-1);
    let settings = ReminderSettings {
        offsets_minutes: offsets,
        show_clinician: form.checkbox("show_clinician"),
        show_service: form.checkbox("show_service"),
        show_client_name: form.checkbox("show_client_name"),
        late_cancel_hours: late,
    };
    let outcome = if problems.is_empty() {
        save(&caller, &settings).await.map(|_| ())
    } else {
        Err(Error::Invalid(problems))
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/reminders?saved").into_response()),
        Err(Error::Invalid(problems)) => {
            let problems: Vec<FieldError> = problems
                .into_iter()
                .map(|p| {
                    let field = if p.field == "offsets_minutes" {
                        "offsets_hours".to_owned()
                    } else {
                        p.field.into_owned()
                    };
                    FieldError::new(field, p.message)
                })
                .collect();
            let mut shown = sections(&offsets_text, &settings);
            let errors = attach_errors(&mut shown, &FieldErrors(problems));
            render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SettingsPage {
                    chrome: caller.chrome().await?.at("reminders"),
                    sections: shown,
                    errors,
                },
            )
        }
        Err(other) => Err(other),
    }
}

//! Status moves of an appointment: check-in, completion, cancellation (by the client or
//! staff, late ones flagged) and no-shows, for one occurrence or a series in scope.

use chrono::TimeDelta;
use serde::Deserialize;

use super::service::{chosen, edit_scope, facts};
use super::store;
use super::{Appointment, AppointmentStatus, CancelledBy, EditScope};
use crate::actor::Actor;
use crate::appointments::AppointmentId;
use crate::compliance::audit::{self, Outcome};
use crate::error::Error;
use crate::policy::Action;
use crate::validate::Problems;

/// A status change as sent by the API or a button.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusFields {
    /// `arrived`, `completed`, `cancelled`, `no_show` or `scheduled` (undo).
    pub to: Option<String>,
    /// For `cancelled`: `client` or `staff`.
    pub cancelled_by: Option<String>,
    /// For `cancelled`.
    pub reason: Option<String>,
    /// For `cancelled` in a series: `one` (default), `following` or `all` (the
    /// occurrences still scheduled; those edited on their own keep theirs).
    pub scope: Option<String>,
}

crate::redacted_debug!(StatusFields { to, cancelled_by });

/// Checks in, completes, cancels (by client or staff, with a reason; a client's
/// cancellation within the organisation's notice period is marked late) or marks a
/// no-show; audited with the change.
pub async fn set_status(caller: &Actor, id: AppointmentId, fields: &StatusFields) -> Result<Appointment, Error> {
    let (facts, appointment) = facts(caller, id).await?;
    caller.authorize(&Action::ChangeAppointment(facts)).await?;
    let mut problems = Problems::default();
    let to = problems.required_choice(
        "to",
        fields.to.as_deref(),
        AppointmentStatus::parse,
        AppointmentStatus::choices,
    );
    if let Some(to) = to
        && !appointment.status.can_move_to(to)
    {
        return Err(refuse_move(appointment.status));
    }
    let cancelled = to == Some(AppointmentStatus::Cancelled);
    let cancelled_by = if cancelled {
        problems.required_choice(
            "cancelled_by",
            fields.cancelled_by.as_deref(),
            CancelledBy::parse,
            CancelledBy::choices,
        )
    } else {
        None
    };
    let reason = if cancelled {
        problems.required("reason", fields.reason.as_deref(), 500)
    } else {
        None
    };
    if fields.scope.is_some() && !cancelled {
        problems.add("scope", "only a cancellation applies to several appointments");
    }
    problems.check()?;
    let Some(to) = to else {
        return Err(Error::Malformed("to: missing".to_owned()));
    };
    let from = appointment.status;
    let scope = if cancelled {
        edit_scope(&appointment, fields.scope.as_deref())?
    } else {
        EditScope::One
    };
    let now = caller.now();
    let notice = TimeDelta::hours(i64::from(caller.tenant.settings().await?.reminders.late_cancel_hours));
    let mut tx = caller.tenant.pool.begin().await?;
    let late = cancelled_by == Some(CancelledBy::Client) && appointment.starts_at - now < notice;
    for occurrence in chosen(&mut tx, &appointment, scope).await? {
        let late = occurrence.id == id && late;
        let occurrence_from = if occurrence.id == id {
            from
        } else {
            AppointmentStatus::Scheduled
        };
        if !store::move_status(
            &mut tx,
            occurrence.id,
            occurrence_from,
            to,
            cancelled_by,
            reason.as_deref(),
            late,
            now,
        )
        .await?
        {
            return Err(Error::conflict(
                "someone else changed this appointment just now; reload and try again".to_owned(),
            ));
        }
    }
    audit::stage(
        &mut tx,
        &caller
            .event("appointment.status", Outcome::Allowed)
            .resource("appointment", id.to_string())
            .subjects(appointment.clients.iter().map(|c| c.id))
            .reason(format!(
                "{} -> {}{}{}",
                from.as_str(),
                to.as_str(),
                if late { " (late)" } else { "" },
                if scope == EditScope::One {
                    String::new()
                } else {
                    format!(", scope {}", scope.as_str())
                }
            )),
    )
    .await?;
    let updated = store::find(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(updated)
}

/// A 409 naming the moves a status allows.
fn refuse_move(from: AppointmentStatus) -> Error {
    let allowed: Vec<&str> = from.next().into_iter().map(AppointmentStatus::as_str).collect();
    Error::conflict(format!(
        "this appointment is {}; it can move to {}",
        from.as_str(),
        if allowed.is_empty() {
            "nothing else".to_owned()
        } else {
            allowed.join(", ")
        }
    ))
}

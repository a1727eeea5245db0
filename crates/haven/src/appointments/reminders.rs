//! Appointment reminders, sent through the job queue at the organisation's offsets
//! (default 48 hours and 2 hours before). A reminder says the organisation, the date,
//! the time and the place; the clinician's name, the service type and the client's name
//! only when the organisation turns each on. It goes only to a channel the client has
//! marked safe, and every reminder is logged (queued, sent with the server's reply,
//! failed with the error, or skipped with why), never with its text.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Appointment, AppointmentStatus, Place, store};
use crate::appointments::AppointmentId;
use crate::clients::ClientId;
use crate::mail::Mailer;
use crate::organisation::OrganisationSettings;
use crate::platform::jobs::{self, JobFailure, JobRun, NewJob};
use crate::state::AppState;
use crate::web::time::{Style, show};

pub const JOB_KIND: &str = "appointment.reminder";

/// What a reminder job names: identifiers and the start it was queued for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    appointment: AppointmentId,
    offset_minutes: i32,
    /// A moved appointment gets new reminders; the old ones find it moved and stop.
    for_start: DateTime<Utc>,
}

/// Queues the reminders of an appointment starting at `starts_at`, in the transaction
/// that booked or moved it; offsets already past are left out.
pub async fn schedule(
    conn: &mut PgConnection,
    appointment: AppointmentId,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    offsets_minutes: &[i32],
) -> Result<(), sqlx::Error> {
    for &offset in offsets_minutes {
        let due = starts_at - TimeDelta::minutes(i64::from(offset));
        if due <= now {
            continue;
        }
        let payload = Payload {
            appointment,
            offset_minutes: offset,
            for_start: starts_at,
        };
        let job = NewJob::new(JOB_KIND, serde_json::to_value(&payload).unwrap_or_default(), due)
            .attempts(5)
            .unique(format!("reminder:{appointment}:{offset}:{}", starts_at.timestamp()));
        if jobs::enqueue(&mut *conn, &job, now).await?.is_some() {
            log(
                &mut *conn,
                appointment,
                None,
                offset,
                Outcome::Queued,
                None,
                starts_at,
                now,
            )
            .await?;
        }
    }
    Ok(())
}

crate::word_enum!(
    Outcome {
        Queued => "queued", "Queued",
        Sent => "sent", "Sent",
        Failed => "failed", "Failed",
        Skipped => "skipped", "Skipped",
    }
);

#[allow(clippy::too_many_arguments)]
async fn log(
    db: impl PgExecutor<'_>,
    appointment: AppointmentId,
    client: Option<Uuid>,
    offset: i32,
    outcome: Outcome,
    detail: Option<&str>,
    for_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let detail: Option<String> = detail.map(|d| d.chars().take(1000).collect());
    sqlx::query!(
        r#"
        INSERT INTO reminder_log (id, appointment_id, client_id, offset_minutes, channel, outcome, detail, for_start, at)
        VALUES ($1, $2, $3, $4, 'email', $5, $6, $7, $8)
        "#,
        Uuid::now_v7(),
        appointment as _,
        client,
        offset,
        outcome.as_str(),
        detail,
        for_start,
        now
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The message itself: no PHI beyond what the organisation allowed.
#[derive(Clone, PartialEq, Eq)]
pub struct Reminder {
    pub subject: String,
    pub body: String,
}

crate::redacted_debug!(Reminder {});

pub fn compose(
    organisation: &str,
    appointment: &Appointment,
    client_name: Option<&str>,
    settings: &OrganisationSettings,
) -> Reminder {
    let zone = settings.time_zone;
    let place = match appointment.place {
        Place::Room => format!("{organisation}, {}", appointment.place_label()),
        Place::Telehealth => format!(
            "Online (telehealth): {}",
            appointment
                .telehealth_url
                .as_deref()
                .unwrap_or("the link you were sent")
        ),
        Place::Elsewhere => appointment.place_label(),
    };
    let mut lines = Vec::new();
    if let Some(name) = client_name.filter(|_| settings.reminders.show_client_name) {
        lines.push(format!("Hello {name},"));
        lines.push(String::new());
    }
    lines.push(format!("This is a reminder of your appointment with {organisation}."));
    lines.push(String::new());
    lines.push(format!(
        "When:  {} to {} ({})",
        show(appointment.starts_at, zone, Style::Long),
        show(appointment.ends_at, zone, Style::Time),
        zone.name()
    ));
    lines.push(format!("Where: {place}"));
    if settings.reminders.show_clinician {
        lines.push(format!("With:  {}", appointment.clinician.name));
    }
    if settings.reminders.show_service {
        lines.push(format!("For:   {}", appointment.service_type));
    }
    lines.push(String::new());
    lines.push(format!(
        "If you cannot come, please let {organisation} know as soon as you can."
    ));
    let body = lines.join("\n") + "\n";
    Reminder {
        subject: format!("Appointment reminder from {organisation}"),
        body,
    }
}

/// How a reminder reaches a client. Email is the only one: SMS stays off until an
/// organisation has a provider and its clients' consent.
pub trait ReminderChannel {
    fn name(&self) -> &'static str;
    /// The server's reply on success.
    fn send(&self, to: &str, reminder: &Reminder) -> impl Future<Output = Result<String, String>> + Send;
}

pub struct Email<'a>(pub &'a Mailer);

impl ReminderChannel for Email<'_> {
    fn name(&self) -> &'static str {
        "email"
    }

    async fn send(&self, to: &str, reminder: &Reminder) -> Result<String, String> {
        self.0
            .send(to, &reminder.subject, reminder.body.clone())
            .await
            .map_err(|e| e.to_string())
    }
}

struct Recipient {
    id: Uuid,
    email: Option<String>,
    ok_to_email: bool,
    legal_given_name: String,
    preferred_name: Option<String>,
}

/// The job: re-reads the appointment (it may have moved or been cancelled since), then
/// reminds each client by a safe channel, once.
pub async fn run(state: AppState, run: JobRun) -> Result<(), JobFailure> {
    let payload: Payload = serde_json::from_value(run.payload.clone())
        .map_err(|_| JobFailure::permanent("the job's payload is not a reminder"))?;
    let pool = &run.tenant.pool;
    let now = state.clock.now();
    let mut conn = pool.acquire().await?;
    let Some(appointment) = store::find(&mut conn, payload.appointment).await? else {
        return Ok(());
    };
    let skipped = if appointment.status != AppointmentStatus::Scheduled {
        Some("the appointment is no longer scheduled")
    } else if appointment.starts_at != payload.for_start {
        Some("the appointment has moved; its new time has reminders of its own")
    } else {
        None
    };
    if let Some(why) = skipped {
        log(
            &mut *conn,
            payload.appointment,
            None,
            payload.offset_minutes,
            Outcome::Skipped,
            Some(why),
            payload.for_start,
            now,
        )
        .await?;
        return Ok(());
    }
    let settings = run.tenant.settings().await?;
    let recipients = sqlx::query_as!(
        Recipient,
        r#"
        SELECT c.id, c.email, c.ok_to_email, c.legal_given_name, c.preferred_name
        FROM appointment_clients ac JOIN clients c ON c.id = ac.client_id
        WHERE ac.appointment_id = $1
        ORDER BY c.id
        "#,
        appointment.id as _
    )
    .fetch_all(&mut *conn)
    .await?;
    let channel = Email(&state.mailer);
    let mut failures = Vec::new();
    for client in recipients {
        let already = sqlx::query_scalar!(
            r#"
            SELECT EXISTS (SELECT 1 FROM reminder_log
                           WHERE appointment_id = $1 AND client_id = $2 AND offset_minutes = $3
                             AND for_start = $4 AND outcome IN ('sent', 'skipped')) AS "done!"
            "#,
            appointment.id as _,
            client.id,
            payload.offset_minutes,
            payload.for_start
        )
        .fetch_one(&mut *conn)
        .await?;
        if already {
            continue;
        }
        let (outcome, detail) = match (&client.email, client.ok_to_email) {
            (None, _) => (Outcome::Skipped, "no email address".to_owned()),
            (Some(_), false) => (Outcome::Skipped, "email is not marked safe for this client".to_owned()),
            (Some(address), true) => {
                let name = client.preferred_name.as_deref().unwrap_or(&client.legal_given_name);
                let reminder = compose(&run.tenant.record.display_name, &appointment, Some(name), &settings);
                match channel.send(address, &reminder).await {
                    Ok(reply) => (Outcome::Sent, reply),
                    Err(error) => {
                        failures.push(error.clone());
                        (Outcome::Failed, error)
                    }
                }
            }
        };
        log(
            &mut *conn,
            appointment.id,
            Some(client.id),
            payload.offset_minutes,
            outcome,
            Some(&format!("{}: {detail}", channel.name())),
            payload.for_start,
            now,
        )
        .await?;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(JobFailure::retry(format!(
            "{} reminder(s) not sent: {}",
            failures.len(),
            failures.join("; ")
        )))
    }
}

/// The log of an appointment's reminders, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    pub client_id: Option<ClientId>,
    pub offset_minutes: i32,
    pub channel: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub for_start: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

pub async fn log_of(db: impl PgExecutor<'_>, appointment: AppointmentId) -> Result<Vec<LogEntry>, sqlx::Error> {
    sqlx::query_as!(
        LogEntry,
        r#"
        SELECT client_id AS "client_id: ClientId", offset_minutes, channel, outcome, detail, for_start, at
        FROM reminder_log WHERE appointment_id = $1 ORDER BY at DESC, id DESC
        "#,
        appointment as _
    )
    .fetch_all(db)
    .await
}

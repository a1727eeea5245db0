//! Standardised measures recorded for a client, their trend, and the safety alerts an
//! answer can raise. Answers are sealed; totals and bands stay in the clear for trends.
//! A positive PHQ-9 item 9 raises an alert on the chart, in the same transaction, and
//! queues an email (with no PHI) to the client's counsellors.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};

use super::Person;
use super::instruments::Instrument;
use super::notes::{client_facts, record_policy};
use crate::actor::Actor;
use crate::appointments::AppointmentId;
use crate::clients::ClientId;
use crate::clinical::AlertId;
use crate::clinical::AssessmentId;
use crate::compliance::audit::{self, Audited, Outcome};
use crate::compliance::networks;
use crate::error::{Error, FieldError};
use crate::platform::jobs::{self, JobFailure, JobRun, NewJob};
use crate::policy::Action;
use crate::state::AppState;

pub const ALERT_JOB: &str = "clinical.safety_alert";

#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentInput {
    /// `phq9` or `gad7`.
    pub instrument: Option<String>,
    /// One answer per item, each 0 (not at all) to 3 (nearly every day).
    #[serde(default)]
    pub answers: Vec<u8>,
    /// The session it was taken in (optional).
    pub appointment_id: Option<AppointmentId>,
}

crate::redacted_debug!(AssessmentInput {
    instrument,
    appointment_id
});

/// One measure, without its answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssessmentSummary {
    pub id: AssessmentId,
    pub client_id: ClientId,
    pub instrument: Instrument,
    pub total: i16,
    pub severity: String,
    pub self_harm_risk: bool,
    pub administered_at: DateTime<Utc>,
    pub recorded_by: Person,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Assessment {
    #[serde(flatten)]
    pub summary: AssessmentSummary,
    pub answers: Vec<u8>,
}

crate::redacted_debug!(Assessment {});

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recorded {
    pub id: AssessmentId,
    pub total: u8,
    pub severity: String,
    pub self_harm_risk: bool,
    /// The safety alert raised, when item 9 was answered above zero.
    pub alert_id: Option<AlertId>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SafetyAlert {
    pub id: AlertId,
    pub client_id: ClientId,
    pub kind: String,
    pub assessment_id: Option<AssessmentId>,
    pub raised_at: DateTime<Utc>,
}

fn answers_context(id: AssessmentId) -> String {
    format!("assessment.answers:{id}")
}

fn response_context(id: AlertId) -> String {
    format!("safety_alert.response:{id}")
}

fn parse_instrument(word: Option<&str>) -> Result<Instrument, Error> {
    match word.map(str::trim) {
        None | Some("") => Err(Error::Invalid(vec![FieldError::new(
            "instrument",
            "choose the measure",
        )])),
        Some(word) => Instrument::parse(word)
            .ok_or_else(|| Error::Invalid(vec![FieldError::new("instrument", Instrument::choices())])),
    }
}

/// Records a measure; scores it; raises a safety alert when item 9 is positive.
pub async fn record(caller: &Actor, client: ClientId, input: &AssessmentInput) -> Result<Recorded, Error> {
    let facts = client_facts(caller, client).await?;
    caller.authorize(&Action::RecordAssessment(facts)).await?;
    let pool = &caller.tenant.pool;
    let exempt = super::note_store::client_exempt(pool, client)
        .await?
        .ok_or(Error::NotFound)?;
    let policy = record_policy(caller, exempt).await?;
    networks::require_approved_network(caller, policy, ("client", client.to_string()), client).await?;
    let instrument = parse_instrument(input.instrument.as_deref())?;
    let score = instrument.score(&input.answers).map_err(Error::Invalid)?;
    if let Some(appointment) = input.appointment_id
        && !super::note_store::appointment_has_client(pool, appointment, client).await?
    {
        return Err(Error::Invalid(vec![FieldError::new(
            "appointment_id",
            "not an appointment of this client",
        )]));
    }
    let id = AssessmentId::new();
    let now = caller.now();
    let sealed = caller
        .keyring()
        .seal(pool, &input.answers, &answers_context(id), now)
        .await?;
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"
        INSERT INTO assessments (id, client_id, instrument, answers, total, severity, self_harm_risk,
                                 administered_at, recorded_by, appointment_id, hipaa_exempt, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $8)
        "#,
        id as _,
        client as _,
        instrument.as_str(),
        sealed,
        i16::from(score.total),
        score.severity,
        score.self_harm_risk,
        now,
        caller.identity.user.id.0,
        input.appointment_id as _,
        exempt
    )
    .execute(&mut *tx)
    .await?;
    audit::stage(
        &mut tx,
        &caller
            .event("assessment.record", Outcome::Allowed)
            .resource("assessment", id.to_string())
            .subjects([client.to_string()])
            .reason(instrument.as_str()),
    )
    .await?;
    let alert_id = if score.self_harm_risk {
        Some(raise_alert(&mut tx, caller, client, id).await?)
    } else {
        None
    };
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(Recorded {
        id,
        total: score.total,
        severity: score.severity.to_owned(),
        self_harm_risk: score.self_harm_risk,
        alert_id,
    })
}

async fn raise_alert(
    tx: &mut PgConnection,
    caller: &Actor,
    client: ClientId,
    assessment: AssessmentId,
) -> Result<AlertId, Error> {
    let alert = AlertId::new();
    let now = caller.now();
    sqlx::query!(
        r#"
        INSERT INTO safety_alerts (id, client_id, kind, assessment_id, raised_at)
        VALUES ($1, $2, 'self_harm', $3, $4)
        "#,
        alert as _,
        client as _,
        assessment as _,
        now
    )
    .execute(&mut *tx)
    .await?;
    audit::stage(
        &mut *tx,
        &caller
            .event("safety_alert.raise", Outcome::Allowed)
            .resource("safety_alert", alert.to_string())
            .subjects([client.to_string()])
            .reason("PHQ-9 item 9 answered above zero"),
    )
    .await?;
    let job = NewJob::new(ALERT_JOB, serde_json::json!({ "alert": alert }), now)
        .attempts(5)
        .unique(format!("safety-alert:{alert}"));
    jobs::store::enqueue(&mut *tx, &job, now).await?;
    Ok(alert)
}

/// The client's measures the caller may see, oldest first, recorded in the audit trail.
pub async fn list(caller: &Actor, client: ClientId) -> Result<Audited<Vec<AssessmentSummary>>, Error> {
    let facts = client_facts(caller, client).await?;
    caller.authorize(&Action::ViewClinical(facts)).await?;
    super::notes::require_client_network(caller, client).await?;
    let rows = sqlx::query!(
        r#"
        SELECT a.id, a.client_id, a.instrument, a.total, a.severity, a.self_harm_risk, a.administered_at,
               a.recorded_by, u.display_name
        FROM assessments a JOIN users u ON u.id = a.recorded_by
        WHERE a.client_id = $1
        ORDER BY a.administered_at
        LIMIT 1000
        "#,
        client as _
    )
    .fetch_all(&caller.tenant.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(AssessmentSummary {
            id: r.id.into(),
            client_id: r.client_id.into(),
            instrument: Instrument::parse(&r.instrument)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown instrument {}", r.instrument).into()))?,
            total: r.total,
            severity: r.severity,
            self_harm_risk: r.self_harm_risk,
            administered_at: r.administered_at,
            recorded_by: Person {
                id: r.recorded_by.into(),
                name: r.display_name,
            },
        });
    }
    let event = caller
        .event("assessment.list", Outcome::Allowed)
        .resource("client", client.to_string())
        .subjects([client.to_string()]);
    Ok(caller.tenant.audit.read(event, out).await?)
}

/// One measure with its answers, opened and recorded.
pub async fn view(caller: &Actor, id: AssessmentId) -> Result<Audited<Assessment>, Error> {
    let row = sqlx::query!(
        r#"
        SELECT a.id, a.client_id, a.instrument, a.answers, a.total, a.severity, a.self_harm_risk,
               a.administered_at, a.recorded_by, u.display_name, a.hipaa_exempt
        FROM assessments a JOIN users u ON u.id = a.recorded_by
        WHERE a.id = $1
        "#,
        id as _
    )
    .fetch_optional(&caller.tenant.pool)
    .await?
    .ok_or(Error::NotFound)?;
    let client = ClientId(row.client_id);
    let facts = client_facts(caller, client).await?;
    caller.authorize(&Action::ViewClinical(facts)).await?;
    let policy = record_policy(caller, row.hipaa_exempt).await?;
    networks::require_approved_network(caller, policy, ("assessment", id.to_string()), client).await?;
    let answers = caller
        .keyring()
        .open(&caller.tenant.pool, &row.answers, &answers_context(id))
        .await?
        .to_vec();
    let assessment = Assessment {
        summary: AssessmentSummary {
            id: row.id.into(),
            client_id: row.client_id.into(),
            instrument: Instrument::parse(&row.instrument)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown instrument {}", row.instrument).into()))?,
            total: row.total,
            severity: row.severity,
            self_harm_risk: row.self_harm_risk,
            administered_at: row.administered_at,
            recorded_by: Person {
                id: row.recorded_by.into(),
                name: row.display_name,
            },
        },
        answers,
    };
    let event = caller
        .event("assessment.read", Outcome::Allowed)
        .resource("assessment", id.to_string())
        .subjects([row.client_id.to_string()]);
    Ok(caller.tenant.audit.read(event, assessment).await?)
}

/// Open safety alerts of one client (what the chart shows to everyone who may see its
/// clinical side; the alert says that, not what was answered).
pub async fn open_alerts(db: impl PgExecutor<'_>, client: ClientId) -> Result<Vec<SafetyAlert>, sqlx::Error> {
    sqlx::query_as!(
        SafetyAlert,
        r#"
        SELECT id AS "id: AlertId", client_id AS "client_id: ClientId", kind,
               assessment_id AS "assessment_id: AssessmentId", raised_at
        FROM safety_alerts WHERE client_id = $1 AND acknowledged_at IS NULL
        ORDER BY raised_at
        "#,
        client as _
    )
    .fetch_all(db)
    .await
}

/// A clinician says what was done about an alert; it leaves the chart.
pub async fn acknowledge(caller: &Actor, alert: AlertId, response: Option<&str>) -> Result<ClientId, Error> {
    let client = sqlx::query_scalar!(
        "SELECT client_id FROM safety_alerts WHERE id = $1 AND acknowledged_at IS NULL",
        alert as _
    )
    .fetch_optional(&caller.tenant.pool)
    .await?
    .map(ClientId)
    .ok_or(Error::NotFound)?;
    let facts = client_facts(caller, client).await?;
    caller.authorize(&Action::AcknowledgeAlert(facts)).await?;
    super::notes::require_client_network(caller, client).await?;
    let response = response.map(str::trim).filter(|r| !r.is_empty()).ok_or_else(|| {
        Error::Invalid(vec![FieldError::new(
            "response",
            "say what was done (safety plan reviewed, crisis team contacted, ...)",
        )])
    })?;
    if response.chars().count() > 2000 {
        return Err(Error::Invalid(vec![FieldError::new(
            "response",
            "at most 2000 characters",
        )]));
    }
    let now = caller.now();
    let sealed = caller
        .keyring()
        .seal(&caller.tenant.pool, response.as_bytes(), &response_context(alert), now)
        .await?;
    let mut tx = caller.tenant.pool.begin().await?;
    let done = sqlx::query!(
        r#"
        UPDATE safety_alerts SET acknowledged_by = $2, acknowledged_at = $3, response = $4
        WHERE id = $1 AND acknowledged_at IS NULL
        "#,
        alert as _,
        caller.identity.user.id.0,
        now,
        sealed
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::conflict("Someone acknowledged this alert meanwhile.".to_owned()));
    }
    audit::stage(
        &mut tx,
        &caller
            .event("safety_alert.acknowledge", Outcome::Allowed)
            .resource("safety_alert", alert.to_string())
            .subjects([client.to_string()]),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(client)
}

/// Emails each counsellor on the client's care team that an alert needs them: a link,
/// never the client's name or the answers.
pub async fn notify(state: AppState, run: JobRun) -> Result<(), JobFailure> {
    #[derive(Deserialize)]
    struct Payload {
        alert: AlertId,
    }
    let payload: Payload = serde_json::from_value(run.payload.clone())
        .map_err(|_| JobFailure::permanent("the job's payload is not a safety alert"))?;
    let pool = &run.tenant.pool;
    let Some(client) = sqlx::query_scalar!("SELECT client_id FROM safety_alerts WHERE id = $1", payload.alert as _)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(());
    };
    let recipients = sqlx::query_scalar!(
        r#"
        SELECT u.email FROM care_team_members m JOIN users u ON u.id = m.user_id
        WHERE m.client_id = $1 AND m.team_role IN ('primary', 'clinician') AND u.status = 'active'
        ORDER BY u.email
        "#,
        client
    )
    .fetch_all(pool)
    .await?;
    if !state.mailer.is_configured() {
        return Err(JobFailure::permanent("no mail server is configured (smtp_url)"));
    }
    let base = state.config.public_url.clone().unwrap_or_default();
    let body = format!(
        "A measure recorded for one of your clients signals a risk of self-harm.\n\nOpen the client's chart in Haven to see the alert and record what was done:\n{}/clients/{client}\n",
        base.trim_end_matches('/')
    );
    for email in recipients {
        state
            .mailer
            .send(&email, "Haven: a safety alert needs your attention", body.clone())
            .await
            .map_err(|e| JobFailure::retry(format!("mail: {e}")))?;
    }
    Ok(())
}

/// Moves a measure's date into the past: the demo's history of scores only.
pub async fn backdate(db: impl PgExecutor<'_>, id: AssessmentId, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE assessments SET administered_at = $2, created_at = $2 WHERE id = $1",
        id as _,
        at
    )
    .execute(db)
    .await?;
    Ok(())
}

//! `/api/v1/.../notes`, `/api/v1/.../assessments` and safety alerts.

use axum::Json;
use axum::extract::Path;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::assessments::{self, AssessmentInput};
use super::notes::{self, NoteInput};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::clinical::AlertId;
use crate::clinical::AssessmentId;
use crate::clinical::NoteId;
use crate::error::Error;
use crate::web::json::ApiJson;
use crate::web::openapi::ErrorEnvelope;
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/api/v1/clients/{id}/notes", list_notes)
        .add(Access::Full, Method::POST, "/api/v1/clients/{id}/notes", create_note)
        .add(Access::Full, Method::GET, "/api/v1/notes/cosign-queue", cosign_queue)
        .add(Access::Full, Method::GET, "/api/v1/notes/owed", notes_owed)
        .add(Access::Full, Method::GET, "/api/v1/notes/{id}", get_note)
        .add(Access::Full, Method::PATCH, "/api/v1/notes/{id}", update_note)
        .add(Access::Full, Method::DELETE, "/api/v1/notes/{id}", discard_note)
        .add(Access::Full, Method::POST, "/api/v1/notes/{id}/sign", sign_note)
        .add(Access::Full, Method::POST, "/api/v1/notes/{id}/amendments", amend_note)
        .add(Access::Full, Method::POST, "/api/v1/notes/{id}/cosign", cosign_note)
        .add(
            Access::Full,
            Method::GET,
            "/api/v1/clients/{id}/assessments",
            list_assessments,
        )
        .add(
            Access::Full,
            Method::POST,
            "/api/v1/clients/{id}/assessments",
            record_assessment,
        )
        .add(Access::Full, Method::GET, "/api/v1/assessments/{id}", get_assessment)
        .add(
            Access::Full,
            Method::POST,
            "/api/v1/safety-alerts/{id}/acknowledge",
            acknowledge_alert,
        )
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    pub id: Uuid,
}

fn created(id: impl Into<Uuid>, location: String) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(Created { id: id.into() }),
    )
        .into_response()
}

/// The client's notes you may see, newest first, every version (psychotherapy notes only
/// your own or your supervisees'). No bodies; recorded in the audit trail.
#[utoipa::path(get, path = "/api/v1/clients/{id}/notes", tag = "notes",
    params(("id" = Uuid, Path, description = "The client")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Notes", body = Vec<super::NoteSummary>),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy", body = ErrorEnvelope),
        (status = 404, description = "No such client", body = ErrorEnvelope),
    ))]
pub(crate) async fn list_notes(caller: Actor, Path(id): Path<ClientId>) -> Result<Response, Error> {
    Ok(Json(notes::list(&caller, id).await?.into_inner()).into_response())
}

/// Start a note (a draft) on a template: `progress`, `soap`, `dap`, `intake`,
/// `discharge`, or `psychotherapy` (kept apart: its author and their supervisors only).
#[utoipa::path(post, path = "/api/v1/clients/{id}/notes", tag = "notes", request_body = NoteInput,
    params(("id" = Uuid, Path, description = "The client")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "The draft", body = Created),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy, from outside approved networks, or a missing CSRF token", body = ErrorEnvelope),
        (status = 404, description = "No such client", body = ErrorEnvelope),
        (status = 422, description = "Invalid input; `details.fields` names each field", body = ErrorEnvelope),
    ))]
pub(crate) async fn create_note(
    caller: Actor,
    Path(id): Path<ClientId>,
    ApiJson(input): ApiJson<NoteInput>,
) -> Result<Response, Error> {
    let note = notes::create(&caller, id, &input).await?;
    Ok(created(note, format!("/api/v1/notes/{note}")))
}

/// One note with its versions. A signed note carries its signer, its content hash and
/// whether the hash still matches.
#[utoipa::path(get, path = "/api/v1/notes/{id}", tag = "notes",
    params(("id" = Uuid, Path, description = "The note")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The note", body = notes::NoteWithHistory),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy, or from outside approved networks", body = ErrorEnvelope),
        (status = 404, description = "No such note", body = ErrorEnvelope),
    ))]
pub(crate) async fn get_note(caller: Actor, Path(id): Path<NoteId>) -> Result<Response, Error> {
    Ok(Json(notes::view(&caller, id).await?.into_inner()).into_response())
}

/// Save a draft's fields (send `version`). A signed note is final: 409.
#[utoipa::path(patch, path = "/api/v1/notes/{id}", tag = "notes", request_body = NoteInput,
    params(("id" = Uuid, Path, description = "The note")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Saved"),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Not the author, or refused by the policy", body = ErrorEnvelope),
        (status = 404, description = "No such note", body = ErrorEnvelope),
        (status = 409, description = "The note is signed, or the draft changed since `version`", body = ErrorEnvelope),
        (status = 422, description = "Invalid input", body = ErrorEnvelope),
    ))]
pub(crate) async fn update_note(
    caller: Actor,
    Path(id): Path<NoteId>,
    ApiJson(input): ApiJson<NoteInput>,
) -> Result<Response, Error> {
    notes::save_draft(&caller, id, &input).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Discard a draft. A signed note is never deleted: 409.
#[utoipa::path(delete, path = "/api/v1/notes/{id}", tag = "notes",
    params(("id" = Uuid, Path, description = "The note")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Discarded"),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Not the author", body = ErrorEnvelope),
        (status = 404, description = "No such note", body = ErrorEnvelope),
        (status = 409, description = "The note is signed", body = ErrorEnvelope),
    ))]
pub(crate) async fn discard_note(caller: Actor, Path(id): Path<NoteId>) -> Result<Response, Error> {
    notes::discard(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInput {
    /// The draft's version as you read it.
    pub version: i32,
}

/// Sign a draft: every required field filled; then it is final. A trainee's signed note
/// waits for their supervisor's co-signature.
#[utoipa::path(post, path = "/api/v1/notes/{id}/sign", tag = "notes", request_body = SignInput,
    params(("id" = Uuid, Path, description = "The note")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Signed"),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Not the author", body = ErrorEnvelope),
        (status = 404, description = "No such note", body = ErrorEnvelope),
        (status = 409, description = "Already signed, or changed since `version`", body = ErrorEnvelope),
        (status = 422, description = "Required fields are empty", body = ErrorEnvelope),
    ))]
pub(crate) async fn sign_note(
    caller: Actor,
    Path(id): Path<NoteId>,
    ApiJson(input): ApiJson<SignInput>,
) -> Result<Response, Error> {
    notes::sign(&caller, id, input.version).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendInput {
    /// Why the signed note needs amending.
    pub reason: Option<String>,
}

crate::redacted_debug!(AmendInput {});

/// Amend a signed note: a new draft version with the signed content and your reason.
/// The signed version is never changed; the history keeps both.
#[utoipa::path(post, path = "/api/v1/notes/{id}/amendments", tag = "notes", request_body = AmendInput,
    params(("id" = Uuid, Path, description = "The signed note (its latest version)")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "The amendment's draft", body = Created),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy", body = ErrorEnvelope),
        (status = 404, description = "No such note", body = ErrorEnvelope),
        (status = 409, description = "Not the latest version, or an amendment is under way", body = ErrorEnvelope),
        (status = 422, description = "No reason", body = ErrorEnvelope),
    ))]
pub(crate) async fn amend_note(
    caller: Actor,
    Path(id): Path<NoteId>,
    ApiJson(input): ApiJson<AmendInput>,
) -> Result<Response, Error> {
    let amendment = notes::amend(&caller, id, input.reason.as_deref()).await?;
    Ok(created(amendment, format!("/api/v1/notes/{amendment}")))
}

/// Co-sign a trainee's signed note (their supervisor).
#[utoipa::path(post, path = "/api/v1/notes/{id}/cosign", tag = "notes",
    params(("id" = Uuid, Path, description = "The note")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Co-signed"),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Not the author's supervisor", body = ErrorEnvelope),
        (status = 404, description = "No such note", body = ErrorEnvelope),
        (status = 409, description = "Not waiting for a co-signature", body = ErrorEnvelope),
    ))]
pub(crate) async fn cosign_note(caller: Actor, Path(id): Path<NoteId>) -> Result<Response, Error> {
    notes::cosign(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Your trainees' signed notes waiting for your co-signature (supervisors).
#[utoipa::path(get, path = "/api/v1/notes/cosign-queue", tag = "notes",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Notes to co-sign, oldest first", body = Vec<super::note_store::AwaitingCosign>),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Not a supervisor", body = ErrorEnvelope),
    ))]
pub(crate) async fn cosign_queue(caller: Actor) -> Result<Response, Error> {
    Ok(Json(notes::cosign_queue(&caller).await?.into_inner()).into_response())
}

/// Your completed appointments that still have no signed note (late notes).
#[utoipa::path(get, path = "/api/v1/notes/owed", tag = "notes",
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Notes owed, oldest first", body = Vec<super::note_store::NoteOwed>),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Your role writes no notes", body = ErrorEnvelope),
    ))]
pub(crate) async fn notes_owed(caller: Actor) -> Result<Response, Error> {
    Ok(Json(notes::notes_owed(&caller).await?.into_inner()).into_response())
}

/// The client's measures, oldest first (scores and bands; no answers).
#[utoipa::path(get, path = "/api/v1/clients/{id}/assessments", tag = "notes",
    params(("id" = Uuid, Path, description = "The client")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Measures", body = Vec<assessments::AssessmentSummary>),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy", body = ErrorEnvelope),
        (status = 404, description = "No such client", body = ErrorEnvelope),
    ))]
pub(crate) async fn list_assessments(caller: Actor, Path(id): Path<ClientId>) -> Result<Response, Error> {
    Ok(Json(assessments::list(&caller, id).await?.into_inner()).into_response())
}

/// Record a PHQ-9 or GAD-7: one answer (0 to 3) per item. The response has the total and
/// band; a PHQ-9 item 9 above zero raises a safety alert and emails the counsellors.
#[utoipa::path(post, path = "/api/v1/clients/{id}/assessments", tag = "notes", request_body = AssessmentInput,
    params(("id" = Uuid, Path, description = "The client")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Recorded and scored", body = assessments::Recorded),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy, or from outside approved networks", body = ErrorEnvelope),
        (status = 404, description = "No such client", body = ErrorEnvelope),
        (status = 422, description = "Incomplete or out-of-range answers", body = ErrorEnvelope),
    ))]
pub(crate) async fn record_assessment(
    caller: Actor,
    Path(id): Path<ClientId>,
    ApiJson(input): ApiJson<AssessmentInput>,
) -> Result<Response, Error> {
    let recorded = assessments::record(&caller, id, &input).await?;
    let location = format!("/api/v1/assessments/{}", recorded.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(recorded)).into_response())
}

/// One measure with its answers.
#[utoipa::path(get, path = "/api/v1/assessments/{id}", tag = "notes",
    params(("id" = Uuid, Path, description = "The measure")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The measure", body = assessments::Assessment),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy, or from outside approved networks", body = ErrorEnvelope),
        (status = 404, description = "No such measure", body = ErrorEnvelope),
    ))]
pub(crate) async fn get_assessment(caller: Actor, Path(id): Path<AssessmentId>) -> Result<Response, Error> {
    Ok(Json(assessments::view(&caller, id).await?.into_inner()).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeInput {
    /// What was done (kept sealed).
    pub response: Option<String>,
}

crate::redacted_debug!(AcknowledgeInput {});

/// Say what was done about a safety alert; it leaves the chart.
#[utoipa::path(post, path = "/api/v1/safety-alerts/{id}/acknowledge", tag = "notes", request_body = AcknowledgeInput,
    params(("id" = Uuid, Path, description = "The alert")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Acknowledged"),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy", body = ErrorEnvelope),
        (status = 404, description = "No such open alert", body = ErrorEnvelope),
        (status = 422, description = "No response", body = ErrorEnvelope),
    ))]
pub(crate) async fn acknowledge_alert(
    caller: Actor,
    Path(id): Path<AlertId>,
    ApiJson(input): ApiJson<AcknowledgeInput>,
) -> Result<Response, Error> {
    assessments::acknowledge(&caller, id, input.response.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

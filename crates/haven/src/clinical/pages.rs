//! The clinical pages: the chart's notes and measures tabs, writing, signing and amending
//! notes, recording a measure, acknowledging a safety alert, and the clinician's own
//! work list (notes owed, notes awaiting co-signature). Plain forms over the same service
//! functions as the API; script only adds conveniences.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::assessments;
use super::note_store::{AwaitingCosign, NoteOwed};
use super::notes::{self, NoteInput, NoteWithHistory};
use super::{NoteStatus, NoteSummary, NoteTemplate};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::clients::chart::ChartHead;
use crate::clinical::NoteId;
use crate::documents::Document;
use crate::error::{Error, FieldErrors};
use crate::policy::Action;
use crate::web::form::{Problem, Submitted};
use crate::web::page::{Chrome, done_toast, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::{Style, show};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/notes", worklist_page)
        .add(Access::Full, Method::GET, "/clients/{id}/notes", notes_tab)
        .add(Access::Full, Method::GET, "/clients/{id}/notes/new", new_note_page)
        .add(Access::Full, Method::POST, "/clients/{id}/notes/new", create_note_form)
        .add(Access::Full, Method::GET, "/notes/{id}", note_page)
        .add(Access::Full, Method::GET, "/notes/{id}/edit", edit_note_page)
        .add(Access::Full, Method::POST, "/notes/{id}/edit", save_note_form)
        .add(Access::Full, Method::POST, "/notes/{id}/amend", amend_form)
        .add(Access::Full, Method::POST, "/notes/{id}/cosign", cosign_form)
        .add(Access::Full, Method::POST, "/notes/{id}/discard", discard_form)
}

/// A toast after a redirect, chosen by a fixed key (never text from the URL).
pub(super) fn toast(params: &[(String, String)]) -> Option<String> {
    done_toast(
        params,
        &[
            ("saved", "Draft saved."),
            (
                "signed",
                "Note signed. It can no longer be changed; amend it if something needs correcting.",
            ),
            ("cosigned", "Note co-signed."),
            ("discarded", "Draft discarded."),
            ("recorded", "Measure recorded."),
            (
                "alert",
                "Measure recorded. Item 9 was answered above \"Not at all\": a safety alert is on the chart.",
            ),
            ("acknowledged", "Safety alert closed; what was done is in the record."),
        ],
    )
}

pub(super) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Dates and times in the organisation's time zone.
pub(super) struct Clock(Tz);

impl Clock {
    pub(super) async fn of(caller: &Actor) -> Result<Self, Error> {
        Ok(Self(caller.zone().await?))
    }

    pub(super) fn when(&self, at: &DateTime<Utc>) -> String {
        show(*at, self.0, Style::DateTime)
    }

    pub(super) fn day(&self, at: &DateTime<Utc>) -> String {
        show(*at, self.0, Style::Date)
    }
}

pub(super) use crate::clients::chart::head;

// ---------------------------------------------------------------------------------------
// The notes tab

struct NoteLine {
    id: NoteId,
    template: &'static str,
    author: String,
    status: &'static str,
    badge: &'static str,
    when: String,
    psychotherapy: bool,
    amendment: bool,
}

fn note_status(s: &NoteSummary) -> (&'static str, &'static str) {
    if s.superseded {
        ("Amended", "neutral")
    } else if s.status == NoteStatus::Draft {
        ("Draft", "warning")
    } else if s.awaiting_cosign() {
        ("Awaiting co-signature", "warning")
    } else {
        ("Signed", "success")
    }
}

#[derive(Template)]
#[template(path = "clinical/notes_tab.html")]
struct NotesTab {
    chrome: Chrome,
    head: ChartHead,
    notes: Vec<NoteLine>,
    templates: Vec<(&'static str, &'static str)>,
    can_write: bool,
}

async fn notes_tab(
    caller: Actor,
    Path(client): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let head = head(&caller, client, "notes").await?;
    let listed = notes::list(&caller, client).await?.into_inner();
    let clock = Clock::of(&caller).await?;
    let notes = listed
        .iter()
        .map(|s| {
            let (status, badge) = note_status(s);
            NoteLine {
                id: s.id,
                template: s.template.label(),
                author: s.author.name.clone(),
                status,
                badge,
                when: clock.when(s.signed_at.as_ref().unwrap_or(&s.created_at)),
                psychotherapy: s.template.is_psychotherapy(),
                amendment: s.amends_id.is_some(),
            }
        })
        .collect();
    let templates = writable_templates(&caller, &head);
    render(&NotesTab {
        chrome: caller.chrome().await?.at("clients").toast(toast(&params)),
        can_write: !templates.is_empty(),
        head,
        notes,
        templates,
    })
}

/// The templates this person may start for this client.
fn writable_templates(caller: &Actor, head: &ChartHead) -> Vec<(&'static str, &'static str)> {
    NoteTemplate::ALL
        .iter()
        .filter(|t| {
            caller.may(&Action::WriteNote {
                client: head.facts,
                psychotherapy: t.is_psychotherapy(),
            })
        })
        .map(|t| (t.as_str(), t.label()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Writing a note

struct EditorField {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    required: bool,
    value: String,
    error: Option<String>,
}

impl EditorField {
    fn id(&self) -> String {
        format!("field-{}", self.name)
    }
}

/// A recent score, offered to the note being written.
struct ScoreLine {
    text: String,
    risk: bool,
}

#[derive(Template)]
#[template(path = "clinical/editor.html")]
struct EditorPage {
    chrome: Chrome,
    title: String,
    client_id: ClientId,
    client_name: String,
    action: String,
    template: NoteTemplate,
    /// New notes: the session choice.
    appointments: Vec<(String, String)>,
    appointment_id: String,
    version: Option<i32>,
    amendment_reason: Option<String>,
    fields: Vec<EditorField>,
    scores: Vec<ScoreLine>,
    /// The field a score is inserted into.
    scores_field: &'static str,
    errors: Vec<Problem>,
    /// Drafts: attached documents and the upload form.
    note_id: Option<NoteId>,
    documents: Vec<Document>,
    can_sign: bool,
}

/// Where scores belong in each template.
fn scores_field(template: NoteTemplate) -> &'static str {
    match template {
        NoteTemplate::Progress => "summary",
        NoteTemplate::Discharge => "outcomes",
        NoteTemplate::Soap => "objective",
        NoteTemplate::Dap => "data",
        NoteTemplate::Intake => "mental_state",
        NoteTemplate::Psychotherapy => "process",
    }
}

fn editor_fields(template: NoteTemplate, values: &BTreeMap<String, String>, errors: &FieldErrors) -> Vec<EditorField> {
    template
        .fields()
        .iter()
        .map(|f| EditorField {
            name: f.name,
            label: f.label,
            hint: f.hint,
            required: f.required,
            value: values.get(f.name).cloned().unwrap_or_default(),
            error: errors
                .0
                .iter()
                .find(|e| e.field == format!("fields.{}", f.name))
                .map(|e| e.message.clone()),
        })
        .collect()
}

/// Problems that belong to no field of the editor, and every problem for the summary.
fn summary_of(fields: &[EditorField], errors: &FieldErrors) -> Vec<Problem> {
    errors
        .0
        .iter()
        .map(|e| {
            let target = fields
                .iter()
                .find(|f| e.field == format!("fields.{}", f.name))
                .map(EditorField::id);
            Problem {
                text: if target.is_some() {
                    e.message.clone()
                } else {
                    format!("{}: {}", e.field, e.message)
                },
                target,
            }
        })
        .collect()
}

async fn recent_scores(caller: &Actor, client: ClientId, clock: &Clock) -> Result<Vec<ScoreLine>, Error> {
    let mut all = assessments::list(caller, client).await?.into_inner();
    all.reverse();
    Ok(all
        .iter()
        .take(6)
        .map(|a| ScoreLine {
            text: format!(
                "{} {} ({}) on {}",
                a.instrument.short_name(),
                a.total,
                a.severity,
                clock.day(&a.administered_at)
            ),
            risk: a.self_harm_risk,
        })
        .collect())
}

/// The form's `fields.<name>` values.
fn submitted_fields(form: &Submitted) -> BTreeMap<String, String> {
    form.0
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("fields.").map(|name| (name.to_owned(), v.clone())))
        .collect()
}

struct NewNoteView<'a> {
    client: ClientId,
    template: NoteTemplate,
    appointment_id: &'a str,
    values: &'a BTreeMap<String, String>,
    errors: &'a FieldErrors,
}

async fn new_note_editor(caller: &Actor, view: &NewNoteView<'_>) -> Result<EditorPage, Error> {
    let chart = crate::clients::service::chart(caller, view.client).await?.into_inner();
    let clock = Clock::of(caller).await?;
    let appointments = if caller.may(&Action::ViewSchedule) {
        crate::appointments::pages::client_rows(caller, view.client)
            .await?
            .into_iter()
            .filter(|r| r.appointment.starts_at <= caller.now())
            .map(|r| {
                (
                    r.appointment.id.to_string(),
                    format!("{}, {} with {}", r.date, r.from, r.appointment.clinician.name),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let fields = editor_fields(view.template, view.values, view.errors);
    let errors = summary_of(&fields, view.errors);
    Ok(EditorPage {
        chrome: caller.chrome().await?.help("notes.editor").at("clients"),
        title: format!("New {}", view.template.label()),
        client_id: view.client,
        client_name: chart.client.details.display_name(),
        action: format!("/clients/{}/notes/new", view.client),
        template: view.template,
        appointments,
        appointment_id: view.appointment_id.to_owned(),
        version: None,
        amendment_reason: None,
        fields,
        scores: recent_scores(caller, view.client, &clock).await?,
        scores_field: scores_field(view.template),
        errors,
        note_id: None,
        documents: Vec::new(),
        can_sign: true,
    })
}

async fn new_note_page(
    caller: Actor,
    Path(client): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let template = param(&params, "template")
        .and_then(NoteTemplate::parse)
        .unwrap_or(NoteTemplate::Progress);
    let facts = notes::client_facts(&caller, client).await?;
    caller
        .authorize(&Action::WriteNote {
            client: facts,
            psychotherapy: template.is_psychotherapy(),
        })
        .await?;
    let page = new_note_editor(
        &caller,
        &NewNoteView {
            client,
            template,
            appointment_id: param(&params, "appointment_id").unwrap_or_default(),
            values: &BTreeMap::new(),
            errors: &FieldErrors::default(),
        },
    )
    .await?;
    render(&page)
}

async fn create_note_form(
    caller: Actor,
    Path(client): Path<ClientId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let form = Submitted(form);
    let values = submitted_fields(&form);
    let appointment_text = form.text("appointment_id").unwrap_or_default();
    let mut problems = crate::validate::Problems::default();
    let appointment_id = problems.id("appointment_id", Some(appointment_text.as_str()));
    problems.check()?;
    let input = NoteInput {
        template: form.text("template"),
        appointment_id,
        fields: values.clone(),
        version: None,
    };
    let signing = form.get("intent") == Some("sign");
    match notes::create(&caller, client, &input).await {
        Ok(id) if signing => sign_or_show(&caller, id, 1).await,
        Ok(id) => Ok(Redirect::to(&format!("/notes/{id}/edit?done=saved")).into_response()),
        Err(Error::Invalid(problems)) => {
            let template = form
                .get("template")
                .and_then(NoteTemplate::parse)
                .unwrap_or(NoteTemplate::Progress);
            let page = new_note_editor(
                &caller,
                &NewNoteView {
                    client,
                    template,
                    appointment_id: &appointment_text,
                    values: &values,
                    errors: &FieldErrors(problems),
                },
            )
            .await?;
            render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => Err(other),
    }
}

/// Signs a saved draft. When it is not complete, the draft (already saved) opens again
/// with what signing needs.
async fn sign_or_show(caller: &Actor, id: NoteId, version: i32) -> Result<Response, Error> {
    match notes::sign(caller, id, version).await {
        Ok(()) => Ok(Redirect::to(&format!("/notes/{id}?done=signed")).into_response()),
        Err(Error::Invalid(_)) => Ok(Redirect::to(&format!("/notes/{id}/edit?check=sign")).into_response()),
        Err(other) => Err(other),
    }
}

/// The editor for a saved draft: its stored values, or `shown` (a submitted form).
async fn draft_editor(
    caller: &Actor,
    id: NoteId,
    shown: Option<&BTreeMap<String, String>>,
    errors: &FieldErrors,
    check_signing: bool,
) -> Result<EditorPage, Error> {
    let NoteWithHistory { note, facts, .. } = notes::view(caller, id).await?.into_inner();
    if note.status == NoteStatus::Signed {
        return Err(Error::conflict(
            "This note is signed and cannot be changed. Amend it instead.".to_owned(),
        ));
    }
    caller.authorize(&Action::EditDraft(facts)).await?;
    let stored: BTreeMap<String, String> = note.fields.iter().map(|f| (f.name.clone(), f.value.clone())).collect();
    let values = shown.unwrap_or(&stored);
    // After a refused signature: what signing needs, on the saved draft.
    let signing_needs;
    let errors = if check_signing && errors.0.is_empty() {
        signing_needs = FieldErrors(note.template.check(values, true).err().unwrap_or_default());
        &signing_needs
    } else {
        errors
    };
    let clock = Clock::of(caller).await?;
    let chart = crate::clients::service::chart(caller, note.client_id)
        .await?
        .into_inner();
    let documents = crate::documents::service::list(caller, note.client_id)
        .await?
        .into_inner()
        .into_iter()
        .filter(|d| d.note_id == Some(id))
        .collect();
    let fields = editor_fields(note.template, values, errors);
    let problems = summary_of(&fields, errors);
    Ok(EditorPage {
        chrome: caller.chrome().await?.at("clients"),
        title: if note.amends_id.is_some() {
            format!("Amendment: {}", note.template.label())
        } else {
            format!("Draft: {}", note.template.label())
        },
        client_id: note.client_id,
        client_name: chart.client.details.display_name(),
        action: format!("/notes/{id}/edit"),
        template: note.template,
        appointments: Vec::new(),
        appointment_id: String::new(),
        version: Some(note.version),
        amendment_reason: note.amendment_reason.clone(),
        fields,
        scores: recent_scores(caller, note.client_id, &clock).await?,
        scores_field: scores_field(note.template),
        errors: problems,
        note_id: Some(id),
        documents,
        can_sign: caller.may(&Action::SignNote(facts)),
    })
}

async fn edit_note_page(
    caller: Actor,
    Path(id): Path<NoteId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let check_signing = param(&params, "check") == Some("sign");
    let mut page = draft_editor(&caller, id, None, &FieldErrors::default(), check_signing).await?;
    page.chrome = page.chrome.toast(toast(&params).or_else(|| upload_toast(&params)));
    render(&page)
}

fn upload_toast(params: &[(String, String)]) -> Option<String> {
    (param(params, "done") == Some("uploaded")).then(|| "Document attached.".to_owned())
}

async fn save_note_form(
    caller: Actor,
    Path(id): Path<NoteId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let form = Submitted(form);
    let values = submitted_fields(&form);
    let version = form.get("version").and_then(|v| v.parse::<i32>().ok());
    let input = NoteInput {
        template: None,
        appointment_id: None,
        fields: values.clone(),
        version,
    };
    match notes::save_draft(&caller, id, &input).await {
        // A save moves the version on by one; the signature names the saved one.
        Ok(()) if form.get("intent") == Some("sign") => sign_or_show(&caller, id, version.unwrap_or(0) + 1).await,
        Ok(()) => Ok(Redirect::to(&format!("/notes/{id}/edit?done=saved")).into_response()),
        Err(Error::Invalid(problems)) => {
            let page = draft_editor(&caller, id, Some(&values), &FieldErrors(problems), false).await?;
            render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => Err(other),
    }
}

// ---------------------------------------------------------------------------------------
// Reading a note

struct VersionLine {
    id: NoteId,
    label: String,
    status: &'static str,
    current: bool,
}

#[derive(Template)]
#[template(path = "clinical/note.html")]
struct NotePage {
    chrome: Chrome,
    client_id: ClientId,
    client_name: String,
    note: super::Note,
    status: &'static str,
    badge: &'static str,
    hash_verified: Option<bool>,
    signed: Option<String>,
    cosigned: Option<String>,
    created: String,
    versions: Vec<VersionLine>,
    documents: Vec<Document>,
    can_edit: bool,
    can_amend: bool,
    can_cosign: bool,
    amend_error: Option<String>,
}

async fn note_view(caller: &Actor, id: NoteId, amend_error: Option<String>) -> Result<NotePage, Error> {
    let NoteWithHistory {
        note,
        versions,
        hash_verified,
        facts,
    } = notes::view(caller, id).await?.into_inner();
    let clock = Clock::of(caller).await?;
    let chart = crate::clients::service::chart(caller, note.client_id)
        .await?
        .into_inner();
    let documents = if caller.may(&Action::ViewDocuments(facts.client)) {
        crate::documents::service::list(caller, note.client_id)
            .await?
            .into_inner()
            .into_iter()
            .filter(|d| d.note_id == Some(id))
            .collect()
    } else {
        Vec::new()
    };
    let summary_of_this = versions.iter().find(|v| v.id == id);
    let (status, badge) = summary_of_this.map_or(("Signed", "success"), note_status);
    let versions = versions
        .iter()
        .enumerate()
        .map(|(i, v)| VersionLine {
            id: v.id,
            label: format!(
                "Version {}{}, {}",
                i + 1,
                if v.amends_id.is_some() { " (amendment)" } else { "" },
                clock.when(v.signed_at.as_ref().unwrap_or(&v.created_at))
            ),
            status: note_status(v).0,
            current: v.id == id,
        })
        .collect();
    let signed = note.signed_at.as_ref().map(|at| {
        format!(
            "{} on {}",
            note.signed_by.as_ref().map_or("", |p| p.name.as_str()),
            clock.when(at)
        )
    });
    let cosigned = note.cosigned_at.as_ref().map(|at| {
        format!(
            "{} on {}",
            note.cosigned_by.as_ref().map_or("", |p| p.name.as_str()),
            clock.when(at)
        )
    });
    let is_draft = note.status == NoteStatus::Draft;
    Ok(NotePage {
        chrome: caller.chrome().await?.at("clients"),
        client_id: note.client_id,
        client_name: chart.client.details.display_name(),
        status,
        badge,
        hash_verified,
        signed,
        cosigned,
        created: clock.when(&note.created_at),
        versions,
        documents,
        can_edit: is_draft && caller.may(&Action::EditDraft(facts)),
        can_amend: !is_draft && !note.superseded && caller.may(&Action::AmendNote(facts)),
        can_cosign: note.awaiting_cosign() && caller.may(&Action::CosignNote(facts)),
        amend_error,
        note,
    })
}

async fn note_page(
    caller: Actor,
    Path(id): Path<NoteId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let mut page = note_view(&caller, id, None).await?;
    page.chrome = page.chrome.toast(toast(&params));
    render(&page)
}

async fn amend_form(
    caller: Actor,
    Path(id): Path<NoteId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let reason = Submitted(form).text("reason");
    match notes::amend(&caller, id, reason.as_deref()).await {
        Ok(new_id) => Ok(Redirect::to(&format!("/notes/{new_id}/edit")).into_response()),
        Err(Error::Invalid(problems)) => {
            let message = problems.into_iter().map(|p| p.message).collect::<Vec<_>>().join("; ");
            let page = note_view(&caller, id, Some(message)).await?;
            render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(other) => Err(other),
    }
}

async fn cosign_form(
    caller: Actor,
    Path(id): Path<NoteId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    notes::cosign(&caller, id).await?;
    // Back to where the supervisor came from: the work list or the note.
    if Submitted(form).get("next") == Some("worklist") {
        Ok(Redirect::to("/notes?done=cosigned").into_response())
    } else {
        Ok(Redirect::to(&format!("/notes/{id}?done=cosigned")).into_response())
    }
}

async fn discard_form(caller: Actor, Path(id): Path<NoteId>) -> Result<Response, Error> {
    let client = notes::discard(&caller, id).await?;
    Ok(Redirect::to(&format!("/clients/{client}/notes?done=discarded")).into_response())
}

// ---------------------------------------------------------------------------------------
// The clinician's work list

struct OwedLine {
    owed: NoteOwed,
    when: String,
}

struct CosignLine {
    note: AwaitingCosign,
    signed: String,
}

#[derive(Template)]
#[template(path = "clinical/worklist.html")]
struct WorklistPage {
    chrome: Chrome,
    owed: Vec<OwedLine>,
    cosign: Vec<CosignLine>,
    can_cosign: bool,
}

async fn worklist_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    let clock = Clock::of(&caller).await?;
    let owed = notes::notes_owed(&caller)
        .await?
        .into_inner()
        .into_iter()
        .map(|owed| OwedLine {
            when: clock.when(&owed.starts_at),
            owed,
        })
        .collect();
    let can_cosign = caller.may(&Action::ViewCosignQueue);
    let cosign = if can_cosign {
        notes::cosign_queue(&caller)
            .await?
            .into_inner()
            .into_iter()
            .map(|note| CosignLine {
                signed: clock.when(&note.signed_at),
                note,
            })
            .collect()
    } else {
        Vec::new()
    };
    render(&WorklistPage {
        chrome: caller.chrome().await?.at("notes").toast(toast(&params)),
        owed,
        cosign,
        can_cosign,
    })
}

// ---------------------------------------------------------------------------------------
// Measures

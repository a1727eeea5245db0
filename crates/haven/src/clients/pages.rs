//! The clients pages: search, registration, the chart with its tabs, editing, care team,
//! emergency access. Plain forms; the same service functions as the API.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::{BreakGlassGrant, TeamRole};
use super::api::parse_list_params;
use super::chart::ChartHead;
use super::search::Term;
use super::service::{self, BreakGlassRequest, Chart, ResultPage};
use super::validation::{ClientFields, IdentifierFields, RelatedFields};
use super::{ClientStatus, RelatedKind};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::error::{Error, FieldErrors};
use crate::identity::{self, UserId};
use crate::policy::Action;
use crate::web::form::{Field, Kind, Problem, Section, Submitted, attach_errors};
use crate::web::page::{Chrome, done_toast, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::filters;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/clients", search_page)
        .add(Access::Full, Method::GET, "/clients/new", new_page)
        .add(Access::Full, Method::POST, "/clients/new", create_form)
        .add(Access::Full, Method::GET, "/clients/{id}", chart_page)
        .add(Access::Full, Method::GET, "/clients/{id}/edit", edit_page)
        .add(Access::Full, Method::POST, "/clients/{id}/edit", edit_form)
        .add(Access::Full, Method::POST, "/clients/{id}/care-team", team_form)
        .add(Access::Full, Method::POST, "/clients/{id}/hipaa-exempt", hipaa_form)
        .add(Access::Full, Method::GET, "/emergency-access", emergency_page)
        .add(Access::Full, Method::POST, "/emergency-access", emergency_form)
        .add(Access::Full, Method::GET, "/break-glass", break_glass_page)
}

/// A toast after a redirect, chosen by a fixed key (never text from the URL).
fn toast(params: &[(String, String)]) -> Option<String> {
    done_toast(
        params,
        &[
            ("created", "Client registered."),
            ("saved", "Changes saved."),
            ("team", "Care team updated."),
            ("exempt", "Storage policy updated."),
            ("referral", "Referral recorded."),
            ("acknowledged", "Safety alert closed; what was done is in the record."),
        ],
    )
}

#[derive(Template)]
#[template(path = "clients/search.html")]
struct SearchPage {
    chrome: Chrome,
    q: String,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    page: i64,
    results: ResultPage,
    can_create: bool,
    can_break_glass: bool,
    searched: bool,
    errors: Vec<String>,
}

impl SearchPage {
    fn page_link(&self, page: i64) -> String {
        let query = serde_urlencoded::to_string([
            ("q", self.q.as_str()),
            ("status", self.status.as_str()),
            ("page", &page.to_string()),
        ])
        .unwrap_or_default();
        format!("/clients?{query}")
    }
}

async fn search_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    let value = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (query, errors) = match parse_list_params(&params) {
        Ok(query) => (query, Vec::new()),
        Err(Error::Invalid(fields)) => (
            super::search::Query {
                term: Term::Everyone,
                status: None,
                limit: 25,
                offset: 0,
            },
            fields
                .into_iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect(),
        ),
        Err(other) => return Err(other),
    };
    let page = query.offset / query.limit.max(1) + 1;
    let results = service::find_clients(&caller, &query).await?.into_inner();
    let mut statuses = vec![("", "Any status")];
    statuses.extend(ClientStatus::ALL.iter().map(|s| (s.as_str(), s.label())));
    render(&SearchPage {
        chrome: caller.chrome().await?.help("clients.search").at("clients"),
        searched: query.term != Term::Everyone,
        q: value("q"),
        status: value("status"),
        statuses,
        page,
        results,
        can_create: caller.may(&Action::CreateClient),
        can_break_glass: caller.may(&Action::OpenBreakGlass(crate::policy::ClientFacts::default())),
        errors,
    })
}

/// One section per guardian or emergency contact, and an empty one to add another.
fn related_sections(related: &[RelatedFields]) -> Vec<Section> {
    let mut related_sections = Vec::new();
    for i in 0..(related.len() + 1).max(1) {
        let row = related.get(i).cloned().unwrap_or_default();
        related_sections.push(
            Section::new(
                format!("Guardian or emergency contact {}", i + 1),
                vec![
                    Field::new(format!("related_people[{i}].kind"), "Kind", Kind::Select)
                        .value(if row.kind.is_empty() {
                            "guardian".to_owned()
                        } else {
                            row.kind
                        })
                        .options([
                            (RelatedKind::Guardian.as_str(), RelatedKind::Guardian.label()),
                            (
                                RelatedKind::EmergencyContact.as_str(),
                                RelatedKind::EmergencyContact.label(),
                            ),
                        ]),
                    Field::text(format!("related_people[{i}].name"), "Name")
                        .value(row.name)
                        .max(200),
                    Field::text(format!("related_people[{i}].relationship"), "Relationship")
                        .value(row.relationship.unwrap_or_default())
                        .max(60),
                    Field::new(format!("related_people[{i}].phone"), "Phone", Kind::Tel)
                        .value(row.phone.unwrap_or_default())
                        .max(40),
                    Field::new(format!("related_people[{i}].email"), "Email", Kind::Email)
                        .value(row.email.unwrap_or_default())
                        .max(254),
                ],
            )
            .hint("Leave the name empty to leave this out."),
        );
    }
    related_sections
}

/// The registration and edit form's sections, filled from `values`.
fn client_sections(values: &ClientFields) -> Vec<Section> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let on = |v: Option<bool>| v.unwrap_or(false);
    let identifiers = values.identifiers.clone().unwrap_or_default();
    let related = values.related_people.clone().unwrap_or_default();
    let mut id_fields = Vec::new();
    for i in 0..(identifiers.len() + 1).max(2) {
        let row = identifiers.get(i).cloned().unwrap_or_default();
        id_fields.push(
            Field::text(format!("identifiers[{i}].kind"), format!("Identifier {} type", i + 1))
                .value(row.kind)
                .hint("e.g. medicare, school_id")
                .max(40),
        );
        id_fields.push(
            Field::text(
                format!("identifiers[{i}].value"),
                format!("Identifier {} number", i + 1),
            )
            .value(row.value)
            .max(64),
        );
    }
    let related_sections = related_sections(&related);
    let mut sections = vec![
        Section::new(
            "Name",
            vec![
                Field::text("legal_given_name", "Legal given name")
                    .value(text(&values.legal_given_name))
                    .required()
                    .max(100),
                Field::text("legal_family_name", "Legal family name")
                    .value(text(&values.legal_family_name))
                    .required()
                    .max(100),
                Field::text("preferred_name", "Preferred name")
                    .value(text(&values.preferred_name))
                    .hint("What they like to be called; shown everywhere instead of the legal given name.")
                    .max(100),
                Field::text("pronouns", "Pronouns")
                    .value(text(&values.pronouns))
                    .hint("e.g. she/her, they/them")
                    .max(40),
            ],
        ),
        Section::new(
            "Birth and status",
            vec![
                Field::new("date_of_birth", "Date of birth", Kind::Date)
                    .value(text(&values.date_of_birth))
                    .hint("YYYY-MM-DD"),
                Field::new("status", "Status", Kind::Select)
                    .value(values.status.clone().unwrap_or_else(|| "active".to_owned()))
                    .options(ClientStatus::ALL.iter().map(|s| (s.as_str(), s.label())))
                    .required(),
            ],
        ),
        Section::new(
            "Contact",
            vec![
                Field::new("phone", "Phone", Kind::Tel)
                    .value(text(&values.phone))
                    .max(40),
                Field::new("email", "Email", Kind::Email)
                    .value(text(&values.email))
                    .max(254),
                Field::text("address_line", "Address")
                    .value(text(&values.address_line))
                    .max(200),
                Field::text("locality", "Town or suburb")
                    .value(text(&values.locality))
                    .max(100),
                Field::text("postcode", "Postcode")
                    .value(text(&values.postcode))
                    .max(20),
            ],
        ),
        Section::new(
            "Safe contact",
            vec![
                Field::new("ok_to_phone", "Safe to phone", Kind::Checkbox).checked(on(values.ok_to_phone)),
                Field::new("ok_to_text", "Safe to text", Kind::Checkbox).checked(on(values.ok_to_text)),
                Field::new("ok_to_email", "Safe to email", Kind::Checkbox).checked(on(values.ok_to_email)),
                Field::new("ok_to_leave_voicemail", "Safe to leave a voicemail", Kind::Checkbox)
                    .checked(on(values.ok_to_leave_voicemail)),
                Field::new("confidential_address", "Address is confidential", Kind::Checkbox)
                    .checked(on(values.confidential_address))
                    .hint("Never disclosed, printed or sent."),
                Field::text("safe_contact_times", "Safe times to contact")
                    .value(text(&values.safe_contact_times))
                    .hint("e.g. Weekdays after 3pm")
                    .max(200),
            ],
        )
        .hint("Nothing is safe until ticked here: reminders and staff use only the channels ticked."),
        Section::new("Other identifiers", id_fields),
    ];
    sections.extend(related_sections);
    sections
}

/// Reads the registration or edit form. Empty identifier and related-person rows are
/// left out.
fn fields_from_form(form: &Submitted) -> ClientFields {
    let mut identifiers = Vec::new();
    for i in 0..=super::validation::MAX_IDENTIFIERS {
        let kind = form.text(&format!("identifiers[{i}].kind")).unwrap_or_default();
        let value = form.text(&format!("identifiers[{i}].value")).unwrap_or_default();
        if !kind.trim().is_empty() || !value.trim().is_empty() {
            identifiers.push(IdentifierFields { kind, value });
        }
    }
    let mut related_people = Vec::new();
    for i in 0..=super::validation::MAX_RELATED_PEOPLE {
        let name = form.text(&format!("related_people[{i}].name")).unwrap_or_default();
        if name.trim().is_empty() {
            continue;
        }
        related_people.push(RelatedFields {
            kind: form.text(&format!("related_people[{i}].kind")).unwrap_or_default(),
            name,
            relationship: form.text(&format!("related_people[{i}].relationship")),
            phone: form.text(&format!("related_people[{i}].phone")),
            email: form.text(&format!("related_people[{i}].email")),
        });
    }
    ClientFields {
        legal_given_name: form.text("legal_given_name"),
        legal_family_name: form.text("legal_family_name"),
        preferred_name: form.text("preferred_name"),
        pronouns: form.text("pronouns"),
        date_of_birth: form.text("date_of_birth"),
        status: form.text("status"),
        email: form.text("email"),
        phone: form.text("phone"),
        address_line: form.text("address_line"),
        locality: form.text("locality"),
        postcode: form.text("postcode"),
        ok_to_email: Some(form.checkbox("ok_to_email")),
        ok_to_phone: Some(form.checkbox("ok_to_phone")),
        ok_to_text: Some(form.checkbox("ok_to_text")),
        ok_to_leave_voicemail: Some(form.checkbox("ok_to_leave_voicemail")),
        safe_contact_times: form.text("safe_contact_times"),
        confidential_address: Some(form.checkbox("confidential_address")),
        identifiers: Some(identifiers),
        related_people: Some(related_people),
        hipaa_exempt: None,
        version: form.get("version").and_then(|v| v.parse().ok()),
    }
}

#[derive(Template)]
#[template(path = "clients/form.html")]
struct FormPage {
    chrome: Chrome,
    title: String,
    action: String,
    cancel: String,
    submit: &'static str,
    version: Option<i32>,
    sections: Vec<Section>,
    errors: Vec<Problem>,
}

async fn form_page(
    caller: &Actor,
    title: String,
    action: String,
    cancel: String,
    submit: &'static str,
    values: &ClientFields,
    errors: &FieldErrors,
) -> Result<FormPage, Error> {
    let mut sections = client_sections(values);
    let unplaced = attach_errors(&mut sections, errors);
    Ok(FormPage {
        chrome: caller.chrome().await?.at("clients"),
        title,
        action,
        cancel,
        submit,
        version: values.version,
        sections,
        errors: unplaced,
    })
}

async fn new_page(caller: Actor) -> Result<Response, Error> {
    caller.authorize(&Action::CreateClient).await?;
    render(
        &form_page(
            &caller,
            "Register a client".to_owned(),
            "/clients/new".to_owned(),
            "/clients".to_owned(),
            "Register",
            &ClientFields::default(),
            &FieldErrors::default(),
        )
        .await?,
    )
}

async fn create_form(caller: Actor, Form(form): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    let fields = fields_from_form(&Submitted(form));
    match service::create(&caller, &fields).await {
        Ok(id) => Ok(Redirect::to(&format!("/clients/{id}?done=created")).into_response()),
        Err(Error::Invalid(problems)) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(
                &caller,
                "Register a client".to_owned(),
                "/clients/new".to_owned(),
                "/clients".to_owned(),
                "Register",
                &fields,
                &FieldErrors(problems),
            )
            .await?,
        ),
        Err(other) => Err(other),
    }
}

async fn edit_page(caller: Actor, Path(id): Path<ClientId>) -> Result<Response, Error> {
    let facts = service::facts(&caller, id).await?;
    caller.authorize(&Action::EditClient(facts)).await?;
    let chart = service::chart(&caller, id).await?.into_inner();
    let mut values = ClientFields::from_details(&chart.client.details);
    values.version = Some(chart.client.version);
    render(
        &form_page(
            &caller,
            format!("Edit {}", chart.client.details.display_name()),
            format!("/clients/{id}/edit"),
            format!("/clients/{id}"),
            "Save changes",
            &values,
            &FieldErrors::default(),
        )
        .await?,
    )
}

async fn edit_form(
    caller: Actor,
    Path(id): Path<ClientId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let fields = fields_from_form(&Submitted(form));
    match service::update(&caller, id, fields.clone()).await {
        Ok(()) => Ok(Redirect::to(&format!("/clients/{id}?done=saved")).into_response()),
        Err(Error::Invalid(problems)) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(
                &caller,
                "Edit client".to_owned(),
                format!("/clients/{id}/edit"),
                format!("/clients/{id}"),
                "Save changes",
                &fields,
                &FieldErrors(problems),
            )
            .await?,
        ),
        Err(other) => Err(other),
    }
}

struct StaffChoice {
    id: Uuid,
    name: String,
}

#[derive(Template)]
#[template(path = "clients/chart.html")]
struct ChartPage {
    chrome: Chrome,
    head: ChartHead,
    chart: Chart,
    staff: Vec<StaffChoice>,
    team_roles: Vec<(&'static str, &'static str)>,
}

async fn chart_page(
    caller: Actor,
    Path(id): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let chart = service::chart(&caller, id).await?.into_inner();
    let staff = if chart.can_manage_team {
        identity::service::clinical_staff(&caller)
            .await?
            .into_iter()
            .map(|u| StaffChoice {
                id: u.id.0,
                name: u.display_name,
            })
            .collect()
    } else {
        Vec::new()
    };
    render(&ChartPage {
        chrome: caller.chrome().await?.at("clients").toast(toast(&params)),
        head: ChartHead::of(&caller, &chart, "overview").await?,
        chart,
        staff,
        team_roles: TeamRole::ALL.iter().map(|r| (r.as_str(), r.label())).collect(),
    })
}

async fn team_form(
    caller: Actor,
    Path(id): Path<ClientId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let form = Submitted(form);
    let user = form
        .get("user_id")
        .and_then(|v| Uuid::parse_str(v).ok())
        .map(UserId)
        .ok_or_else(|| Error::Malformed("Choose a staff member.".to_owned()))?;
    if form.get("remove").is_some() {
        service::remove_from_team(&caller, id, user).await?;
    } else {
        let role = form
            .get("team_role")
            .and_then(TeamRole::parse)
            .ok_or_else(|| Error::Malformed("Choose a role on the team.".to_owned()))?;
        service::add_to_team(&caller, id, user, role).await?;
    }
    Ok(Redirect::to(&format!("/clients/{id}?done=team")).into_response())
}

async fn hipaa_form(
    caller: Actor,
    Path(id): Path<ClientId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let exempt = Submitted(form).checkbox("hipaa_exempt");
    service::update(
        &caller,
        id,
        ClientFields {
            hipaa_exempt: Some(exempt),
            ..ClientFields::default()
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/clients/{id}?done=exempt")).into_response())
}

#[derive(Template)]
#[template(path = "clients/emergency.html")]
struct EmergencyPage {
    chrome: Chrome,
    sections: Vec<Section>,
    errors: Vec<Problem>,
}

fn emergency_sections(request: &BreakGlassRequest) -> Vec<Section> {
    vec![Section::new(
        "Which client, and why",
        vec![
            Field::text("record_number", "Record number")
                .value(request.record_number.clone())
                .hint("From the client's letters or card, e.g. HV0001234.")
                .required()
                .max(20),
            Field::new("reason", "Reason", Kind::TextArea)
                .value(request.reason.clone())
                .hint("At least 10 characters. Admins and the client's supervisor will read it.")
                .required()
                .max(1000),
        ],
    )]
}

async fn emergency_page(caller: Actor) -> Result<Response, Error> {
    render(&EmergencyPage {
        chrome: caller.chrome().await?.at("clients"),
        sections: emergency_sections(&BreakGlassRequest::default()),
        errors: Vec::new(),
    })
}

async fn emergency_form(caller: Actor, Form(form): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    let form = Submitted(form);
    let request = BreakGlassRequest {
        record_number: form.text("record_number").unwrap_or_default(),
        reason: form.text("reason").unwrap_or_default(),
        minutes: None,
    };
    match service::open_break_glass(&caller, &request).await {
        Ok(opened) => Ok(Redirect::to(&format!("/clients/{}", opened.client_id)).into_response()),
        Err(Error::Invalid(problems)) => {
            let mut sections = emergency_sections(&request);
            let errors = attach_errors(&mut sections, &FieldErrors(problems));
            render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &EmergencyPage {
                    chrome: caller.chrome().await?.at("clients"),
                    sections,
                    errors,
                },
            )
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "clients/break_glass_log.html")]
struct BreakGlassLogPage {
    chrome: Chrome,
    grants: Vec<BreakGlassGrant>,
    now: DateTime<Utc>,
}

impl BreakGlassLogPage {}

async fn break_glass_page(caller: Actor) -> Result<Response, Error> {
    let grants = service::break_glass_log(&caller).await?.into_inner();
    render(&BreakGlassLogPage {
        chrome: caller.chrome().await?.at("break_glass"),
        grants,
        now: caller.now(),
    })
}

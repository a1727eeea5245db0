//! The referral pages: the queue, recording a referral, and a referral with its history
//! and the workflow's next steps.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::ReferralSummary;
use super::api::parse_filter;
use super::service::{self, MoveFields, PersonFields, ReferralFields, ReferralPage, ReferralView};
use super::store::Filter;
use super::{Direction, ReferralStatus, SourceKind, Urgency};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::clients::chart::ChartHead;
use crate::error::{Error, FieldErrors};
use crate::identity;
use crate::referrals::ReferralId;
use crate::web::form::{Field, Kind, Problem, Section, Submitted, attach_errors};
use crate::web::page::{Chrome, done_toast, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::filters;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/referrals", queue_page)
        .add(Access::Full, Method::GET, "/referrals/new", new_page)
        .add(Access::Full, Method::POST, "/referrals/new", create_form)
        .add(Access::Full, Method::GET, "/referrals/{id}", referral_page)
        .add(Access::Full, Method::GET, "/clients/{id}/referrals", client_tab)
        .add(Access::Full, Method::POST, "/referrals/{id}/move", move_form)
}

impl Urgency {
    pub fn badge(self) -> &'static str {
        match self {
            Self::Urgent => "danger",
            Self::Soon => "warning",
            Self::Routine => "neutral",
        }
    }
}

#[derive(Template)]
#[template(path = "referrals/queue.html")]
struct QueuePage {
    chrome: Chrome,
    tabs: Vec<(&'static str, &'static str, bool)>,
    page: ReferralPage,
    empty_message: &'static str,
}

async fn queue_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    let mut filter = parse_filter(&params)?;
    let status = params.iter().find(|(k, _)| k == "status").map(|(_, v)| v.as_str());
    // The queue opens on what awaits triage.
    if status.is_none() {
        filter.status = Some(ReferralStatus::Received);
    }
    let chosen = filter.status.map_or("all", ReferralStatus::as_str);
    let tabs = [
        ("received", "Awaiting triage"),
        ("triaged", "Triaged"),
        ("accepted", "Accepted"),
        ("declined", "Declined"),
        ("all", "All"),
    ]
    .into_iter()
    .map(|(value, label)| (value, label, value == chosen))
    .collect();
    if status == Some("all") {
        filter.status = None;
    }
    let page = service::list(&caller, &filter).await?.into_inner();
    render(&QueuePage {
        chrome: caller.chrome().await?.help("referrals.triage").at("referrals"),
        tabs,
        page,
        empty_message: if chosen == "received" {
            "Nothing awaits triage."
        } else {
            "No referrals here."
        },
    })
}

fn choices<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, label: fn(T) -> &'static str) -> Vec<(String, String)> {
    all.iter()
        .map(|v| (as_str(*v).to_owned(), label(*v).to_owned()))
        .collect()
}

async fn clinical_staff(caller: &Actor) -> Result<Vec<(String, String)>, Error> {
    let mut staff = vec![(String::new(), "Nobody yet".to_owned())];
    staff.extend(
        identity::service::clinical_staff(caller)
            .await?
            .into_iter()
            .map(|u| (u.id.to_string(), u.display_name)),
    );
    Ok(staff)
}

fn referral_sections(values: &ReferralFields, staff: Vec<(String, String)>, for_client: bool) -> Vec<Section> {
    let person = values.person.clone().unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut sections = vec![Section::new(
        "The referral",
        vec![
            Field::new("direction", "Direction", Kind::Select)
                .value(values.direction.clone().unwrap_or_else(|| "inbound".to_owned()))
                .options(choices(Direction::ALL, Direction::as_str, Direction::label))
                .hint("Inbound: to us. Outbound: from us to another service (for an existing client).")
                .required(),
            Field::new("source_kind", "Referred by / to", Kind::Select)
                .value(values.source_kind.clone().unwrap_or_else(|| "professional".to_owned()))
                .options(choices(SourceKind::ALL, SourceKind::as_str, SourceKind::label))
                .required(),
            Field::text("source_name", "Organisation or professional")
                .value(text(&values.source_name))
                .hint("Required unless it is a self-referral.")
                .max(200),
            Field::text("source_contact", "Their contact details")
                .value(text(&values.source_contact))
                .max(200),
            Field::new("urgency", "Urgency", Kind::Select)
                .value(values.urgency.clone().unwrap_or_else(|| "routine".to_owned()))
                .options(choices(Urgency::ALL, Urgency::as_str, Urgency::label)),
            Field::new("received_on", "Received on", Kind::Date)
                .value(text(&values.received_on))
                .hint("Default: today."),
            Field::new("assigned_to", "Assign to", Kind::Select)
                .value(values.assigned_to.map(|u| u.to_string()).unwrap_or_default())
                .options(staff),
            Field::new("reason", "Reason for referral", Kind::TextArea)
                .value(text(&values.reason))
                .required()
                .max(4000),
        ],
    )];
    if !for_client {
        sections.insert(
            0,
            Section::new(
                "Who is referred",
                vec![
                    Field::text("person.given_name", "Given name")
                        .value(text(&person.given_name))
                        .required()
                        .max(100),
                    Field::text("person.family_name", "Family name")
                        .value(text(&person.family_name))
                        .required()
                        .max(100),
                    Field::new("person.date_of_birth", "Date of birth", Kind::Date).value(text(&person.date_of_birth)),
                    Field::new("person.phone", "Phone", Kind::Tel)
                        .value(text(&person.phone))
                        .max(40),
                    Field::new("person.email", "Email", Kind::Email)
                        .value(text(&person.email))
                        .max(254),
                ],
            )
            .hint("Someone who is not a client yet. Accepting the referral registers them."),
        );
    }
    sections
}

fn fields_from_form(form: &Submitted) -> ReferralFields {
    let client_id = form.get("client_id").and_then(|v| v.parse::<ClientId>().ok());
    ReferralFields {
        direction: form.text("direction"),
        client_id,
        person: client_id.is_none().then(|| PersonFields {
            given_name: form.text("person.given_name"),
            family_name: form.text("person.family_name"),
            date_of_birth: form.text("person.date_of_birth"),
            phone: form.text("person.phone"),
            email: form.text("person.email"),
        }),
        source_kind: form.text("source_kind"),
        source_name: form.text("source_name"),
        source_contact: form.text("source_contact"),
        reason: form.text("reason"),
        urgency: form.text("urgency"),
        assigned_to: form.get("assigned_to").and_then(|v| v.parse().ok()),
        received_on: form.text("received_on"),
    }
}

#[derive(Template)]
#[template(path = "referrals/new.html")]
struct NewPage {
    chrome: Chrome,
    client_id: Option<ClientId>,
    sections: Vec<Section>,
    errors: Vec<Problem>,
}

async fn new_view(
    caller: &Actor,
    values: &ReferralFields,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<Response, Error> {
    let mut sections = referral_sections(values, clinical_staff(caller).await?, values.client_id.is_some());
    let unplaced = attach_errors(&mut sections, errors);
    let page = NewPage {
        chrome: caller.chrome().await?.at("referrals"),
        client_id: values.client_id,
        sections,
        errors: unplaced,
    };
    if status.is_success() {
        render(&page)
    } else {
        render_with_status(status, &page)
    }
}

async fn new_page(caller: Actor, Query(params): Query<Vec<(String, String)>>) -> Result<Response, Error> {
    caller.authorize(&crate::policy::Action::CreateReferral).await?;
    let client_id = params
        .iter()
        .find(|(k, _)| k == "client_id")
        .and_then(|(_, v)| v.parse::<ClientId>().ok());
    let values = ReferralFields {
        client_id,
        direction: client_id.map(|_| "outbound".to_owned()),
        ..ReferralFields::default()
    };
    new_view(&caller, &values, &FieldErrors::default(), StatusCode::OK).await
}

async fn create_form(caller: Actor, Form(form): Form<Vec<(String, String)>>) -> Result<Response, Error> {
    let fields = fields_from_form(&Submitted(form));
    match service::create(&caller, &fields).await {
        Ok(id) => Ok(Redirect::to(&format!("/referrals/{id}?done=referral")).into_response()),
        Err(Error::Invalid(problems)) => {
            new_view(
                &caller,
                &fields,
                &FieldErrors(problems),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "referrals/referral.html")]
struct ReferralPageView {
    chrome: Chrome,
    view: ReferralView,
    staff: Vec<(String, String)>,
    urgencies: Vec<(String, String)>,
    errors: FieldErrors,
}

impl ReferralPageView {
    fn assigned(&self, value: &str) -> bool {
        self.view.referral.assigned_to.is_some_and(|a| a.to_string() == value)
    }

    fn can(&self, status: &str) -> bool {
        self.view.next.iter().any(|s| s.as_str() == status)
    }
}

async fn referral_view(
    caller: &Actor,
    id: ReferralId,
    errors: FieldErrors,
    toast: Option<String>,
) -> Result<Response, Error> {
    let view = service::view(caller, id).await?.into_inner();
    let staff = if view.next.is_empty() {
        Vec::new()
    } else {
        clinical_staff(caller).await?
    };
    let status = if errors.0.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ReferralPageView {
        chrome: caller.chrome().await?.at("referrals").toast(toast),
        view,
        staff,
        urgencies: choices(Urgency::ALL, Urgency::as_str, Urgency::label),
        errors,
    };
    if status.is_success() {
        render(&page)
    } else {
        render_with_status(status, &page)
    }
}

async fn referral_page(
    caller: Actor,
    Path(id): Path<ReferralId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let toast = match params.iter().find(|(k, _)| k == "done").map(|(_, v)| v.as_str()) {
        Some("referral") => Some("Referral recorded.".to_owned()),
        Some("moved") => Some("Referral updated.".to_owned()),
        _ => None,
    };
    referral_view(&caller, id, FieldErrors::default(), toast).await
}

async fn move_form(
    caller: Actor,
    Path(id): Path<ReferralId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let form = Submitted(form);
    let fields = MoveFields {
        to: form.text("to"),
        reason: form.text("reason"),
        note: form.text("note"),
        assigned_to: form.get("assigned_to").and_then(|v| v.parse().ok()),
        urgency: form.text("urgency").filter(|u| !u.is_empty()),
    };
    match service::move_on(&caller, id, &fields).await {
        Ok(service::Moved {
            to: ReferralStatus::Accepted,
            client_id,
        }) => {
            // Straight to the client's chart, when the person who accepted may open it.
            let target = match client_id {
                Some(client) => {
                    let facts = crate::clients::service::facts(&caller, client).await?;
                    if caller.may(&crate::policy::Action::ViewClinical(facts)) {
                        format!("/clients/{client}/referrals?done=moved")
                    } else {
                        "/referrals?done=moved".to_owned()
                    }
                }
                None => format!("/referrals/{id}?done=moved"),
            };
            Ok(Redirect::to(&target).into_response())
        }
        Ok(_) => Ok(Redirect::to(&format!("/referrals/{id}?done=moved")).into_response()),
        Err(Error::Invalid(problems)) => referral_view(&caller, id, FieldErrors(problems), None).await,
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "referrals/client_tab.html")]
struct ClientTab {
    chrome: Chrome,
    head: ChartHead,
    referrals: Vec<ReferralSummary>,
}

/// The referrals tab of a client's chart.
async fn client_tab(
    caller: Actor,
    Path(id): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let facts = crate::clients::service::facts(&caller, id).await?;
    caller.authorize(&crate::policy::Action::ViewClinical(facts)).await?;
    let head = crate::clients::chart::head(&caller, id, "referrals").await?;
    let filter = Filter {
        client_id: Some(id),
        limit: 50,
        ..Filter::default()
    };
    let referrals = service::list(&caller, &filter).await?.into_inner().referrals;
    let toast = done_toast(&params, &[("moved", "Referral updated.")]);
    render(&ClientTab {
        chrome: caller.chrome().await?.at("clients").toast(toast),
        head,
        referrals,
    })
}

//! The measures pages of a client's chart: the PHQ-9/GAD-7 trend and list, the form,
//! one measure's answers, and acknowledging a safety alert.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::assessments::{self, AssessmentInput, AssessmentSummary};
use super::instruments::{ANSWERS, Instrument};
use super::notes;
use super::pages::{Clock, head, param, toast};
use super::trend::{self, Trend};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::clients::chart::ChartHead;
use crate::clinical::AlertId;
use crate::clinical::AssessmentId;
use crate::error::{Error, FieldError};
use crate::policy::Action;
use crate::web::form::{Problem, Submitted};
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/clients/{id}/measures", measures_tab)
        .add(
            Access::Full,
            Method::GET,
            "/clients/{id}/measures/new",
            new_measure_page,
        )
        .add(
            Access::Full,
            Method::POST,
            "/clients/{id}/measures/new",
            record_measure_form,
        )
        .add(Access::Full, Method::GET, "/measures/{id}", measure_page)
        .add(
            Access::Full,
            Method::POST,
            "/safety-alerts/{id}/acknowledge",
            acknowledge_form,
        )
}

struct MeasureLine {
    summary: AssessmentSummary,
    when: String,
}

#[derive(Template)]
#[template(path = "clinical/measures_tab.html")]
struct MeasuresTab {
    chrome: Chrome,
    head: ChartHead,
    trends: Vec<Trend>,
    measures: Vec<MeasureLine>,
    instruments: Vec<(&'static str, &'static str)>,
    can_record: bool,
    width: String,
    height: String,
}

async fn measures_tab(
    caller: Actor,
    Path(client): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let head = head(&caller, client, "measures").await?;
    let mut all = assessments::list(&caller, client).await?.into_inner();
    // Oldest first for the trend; the table shows the newest first.
    all.sort_by_key(|a| a.administered_at);
    let trends = Instrument::ALL.iter().filter_map(|i| Trend::of(*i, &all)).collect();
    let clock = Clock::of(&caller).await?;
    let measures = all
        .into_iter()
        .rev()
        .map(|summary| MeasureLine {
            when: clock.when(&summary.administered_at),
            summary,
        })
        .collect();
    render(&MeasuresTab {
        chrome: caller.chrome().await?.at("clients").toast(toast(&params)),
        can_record: caller.may(&Action::RecordAssessment(head.facts)),
        head,
        trends,
        measures,
        instruments: Instrument::ALL.iter().map(|i| (i.as_str(), i.short_name())).collect(),
        width: format!("{:.0}", trend::WIDTH),
        height: format!("{:.0}", trend::HEIGHT),
    })
}

struct Item {
    number: usize,
    text: &'static str,
    answer: Option<u8>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "clinical/measure_form.html")]
struct MeasureForm {
    chrome: Chrome,
    client_id: ClientId,
    client_name: String,
    instrument: Instrument,
    items: Vec<Item>,
    answers: Vec<Answer>,
    errors: Vec<Problem>,
}

impl Item {
    #[allow(clippy::trivially_copy_pass_by_ref)] // the template passes values by reference
    fn has(&self, value: &u8) -> bool {
        self.answer == Some(*value)
    }
}

struct Answer {
    value: u8,
    label: &'static str,
}

async fn measure_form(
    caller: &Actor,
    client: ClientId,
    instrument: Instrument,
    given: &[Option<u8>],
    errors: Vec<FieldError>,
) -> Result<MeasureForm, Error> {
    let chart = crate::clients::service::chart(caller, client).await?.into_inner();
    let items: Vec<Item> = instrument
        .items()
        .iter()
        .enumerate()
        .map(|(i, text)| Item {
            number: i + 1,
            text,
            answer: given.get(i).copied().flatten(),
            error: errors
                .iter()
                .find(|e| e.field == format!("answers[{i}]"))
                .map(|e| e.message.clone()),
        })
        .collect();
    let problems = errors
        .iter()
        .map(|e| Problem {
            text: e.message.clone(),
            target: e
                .field
                .strip_prefix("answers[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|i| i.parse::<usize>().ok())
                .map(|i| format!("item-{}-0", i + 1)),
        })
        .collect();
    Ok(MeasureForm {
        chrome: caller.chrome().await?.at("clients"),
        client_id: client,
        client_name: chart.client.details.display_name(),
        instrument,
        items,
        answers: ANSWERS
            .iter()
            .map(|(value, label)| Answer { value: *value, label })
            .collect(),
        errors: problems,
    })
}

async fn new_measure_page(
    caller: Actor,
    Path(client): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let facts = notes::client_facts(&caller, client).await?;
    caller.authorize(&Action::RecordAssessment(facts)).await?;
    let instrument = param(&params, "instrument")
        .and_then(Instrument::parse)
        .unwrap_or(Instrument::Phq9);
    render(&measure_form(&caller, client, instrument, &[], Vec::new()).await?)
}

async fn record_measure_form(
    caller: Actor,
    Path(client): Path<ClientId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let form = Submitted(form);
    let instrument = form
        .get("instrument")
        .and_then(Instrument::parse)
        .ok_or_else(|| Error::Invalid(vec![FieldError::new("instrument", Instrument::choices())]))?;
    let given: Vec<Option<u8>> = (1..=instrument.items().len())
        .map(|n| form.get(&format!("item{n}")).and_then(|v| v.parse::<u8>().ok()))
        .collect();
    // Each item must be answered: the page names the ones left out.
    let missing: Vec<FieldError> = given
        .iter()
        .enumerate()
        .filter(|(_, a)| a.is_none())
        .map(|(i, _)| FieldError::new(format!("answers[{i}]"), format!("Answer item {}", i + 1)))
        .collect();
    let outcome = if missing.is_empty() {
        let input = AssessmentInput {
            instrument: Some(instrument.as_str().to_owned()),
            answers: given.iter().map(|a| a.unwrap_or_default()).collect(),
            appointment_id: None,
        };
        assessments::record(&caller, client, &input).await
    } else {
        Err(Error::Invalid(missing))
    };
    match outcome {
        Ok(recorded) => {
            let done = if recorded.alert_id.is_some() {
                "alert"
            } else {
                "recorded"
            };
            Ok(Redirect::to(&format!("/clients/{client}/measures?done={done}")).into_response())
        }
        Err(Error::Invalid(problems)) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &measure_form(&caller, client, instrument, &given, problems).await?,
        ),
        Err(other) => Err(other),
    }
}

struct AnswerLine {
    number: usize,
    text: &'static str,
    answer: &'static str,
    value: u8,
}

#[derive(Template)]
#[template(path = "clinical/measure.html")]
struct MeasurePage {
    chrome: Chrome,
    client_name: String,
    summary: AssessmentSummary,
    when: String,
    answers: Vec<AnswerLine>,
}

async fn measure_page(caller: Actor, Path(id): Path<AssessmentId>) -> Result<Response, Error> {
    let assessment = assessments::view(&caller, id).await?.into_inner();
    let clock = Clock::of(&caller).await?;
    let chart = crate::clients::service::chart(&caller, assessment.summary.client_id)
        .await?
        .into_inner();
    let items = assessment.summary.instrument.items();
    let answers = assessment
        .answers
        .iter()
        .zip(items)
        .enumerate()
        .map(|(i, (value, text))| AnswerLine {
            number: i + 1,
            text,
            answer: ANSWERS.iter().find(|(v, _)| v == value).map_or("", |(_, label)| label),
            value: *value,
        })
        .collect();
    render(&MeasurePage {
        chrome: caller.chrome().await?.at("clients"),
        client_name: chart.client.details.display_name(),
        when: clock.when(&assessment.summary.administered_at),
        summary: assessment.summary,
        answers,
    })
}

async fn acknowledge_form(
    caller: Actor,
    Path(id): Path<AlertId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let response = Submitted(form).text("response");
    let client = assessments::acknowledge(&caller, id, response.as_deref()).await?;
    Ok(Redirect::to(&format!("/clients/{client}?done=acknowledged")).into_response())
}

//! The demo's clinical records, written through the same services as the pages (policy,
//! sealing, signing, audit): for the demo counsellor's first sessions, a signed SOAP note
//! and its amendment, a draft, PHQ-9 and GAD-7 histories (one with item 9 positive, so
//! the safety alert shows), and a consent form.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::{FromRequest, Multipart};
use chrono::TimeDelta;

use crate::actor::Actor;
use crate::appointments::AppointmentId;
use crate::clients::ClientId;
use crate::clinical::AlertId;
use crate::clinical::assessments::{self, AssessmentInput};
use crate::clinical::note_store;
use crate::clinical::notes::{self, NoteInput};
use crate::documents::service::{self as documents, UploadOptions};
use crate::error::Error;
use crate::identity::store;
use crate::platform::tenancy::Tenant;
use crate::state::AppState;

/// What went wrong, in words (the services' errors carry no Display for every case).
fn failed(what: &str) -> impl FnOnce(Error) -> anyhow::Error + '_ {
    move |err| anyhow::anyhow!("{what}: {err}")
}

async fn acting_as(state: &AppState, tenant: &Arc<Tenant>, email: &str) -> anyhow::Result<Actor> {
    let user = store::find_by_email(&tenant.pool, email)
        .await?
        .with_context(|| format!("the demo account {email} is missing"))?;
    Ok(Actor::acting_as(state, tenant.clone(), user, "demo-seed"))
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

pub fn seed(state: &AppState) -> futures_util::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        for tenant in state.tenants.tenants() {
            records(state, &tenant).await?;
        }
        Ok(())
    })
}

/// Seeds the records once: nothing is written when the organisation has any note.
async fn records(state: &AppState, tenant: &Arc<Tenant>) -> anyhow::Result<()> {
    if note_store::any(&tenant.pool).await? {
        return Ok(());
    }
    let counsellor = acting_as(state, tenant, "clinician@demo.haven.example").await?;
    let owed = notes::notes_owed(&counsellor)
        .await
        .map_err(failed("notes owed"))?
        .into_inner();
    let mut clients: Vec<(ClientId, AppointmentId)> = Vec::new();
    for o in &owed {
        if !clients.iter().any(|(c, _)| *c == o.client_id) {
            clients.push((o.client_id, o.appointment_id));
        }
    }
    let (Some((first, session)), Some((second, _))) = (clients.first().copied(), clients.get(1).copied()) else {
        return Ok(());
    };
    signed_and_amended(&counsellor, first, session).await?;
    // Early risk, since followed up: the alerts are closed with what was done.
    for alert in measures(&counsellor, first, &[(16, 1), (12, 1), (9, 0), (6, 0)], &[11, 8, 5]).await? {
        assessments::acknowledge(
            &counsellor,
            alert,
            Some("Phoned the same day; safety plan reviewed with the client and their parent."),
        )
        .await
        .map_err(failed("acknowledging"))?;
    }
    consent_form(&counsellor, first).await?;
    let draft = NoteInput {
        template: Some("progress".to_owned()),
        fields: fields(&[("summary", "Started on the family's routine after the move; to finish.")]),
        ..NoteInput::default()
    };
    notes::create(&counsellor, second, &draft)
        .await
        .map_err(failed("draft note"))?;
    // The latest PHQ-9 answers item 9 above zero: the chart shows the safety alert.
    measures(&counsellor, second, &[(8, 0), (14, 1)], &[]).await?;
    tenant.audit.nudge();
    Ok(())
}

async fn signed_and_amended(counsellor: &Actor, client: ClientId, session: AppointmentId) -> anyhow::Result<()> {
    let soap = NoteInput {
        template: Some("soap".to_owned()),
        appointment_id: Some(session),
        fields: fields(&[
            (
                "subjective",
                "Reports sleeping better since last week; still wakes early on school days.",
            ),
            (
                "objective",
                "Engaged and on time. Affect brighter than at intake. PHQ-9 6 (Minimal).",
            ),
            (
                "assessment",
                "Mood improving with the sleep routine; anxiety about school remains.",
            ),
            (
                "plan",
                "Keep the sleep diary; practise the breathing exercise before school. Next session in one week.",
            ),
        ]),
        version: None,
    };
    let id = notes::create(counsellor, client, &soap)
        .await
        .map_err(failed("SOAP note"))?;
    notes::sign(counsellor, id, 1).await.map_err(failed("signing"))?;
    let amendment = notes::amend(counsellor, id, Some("Added the safety plan check discussed at the end"))
        .await
        .map_err(failed("amendment"))?;
    let mut changed = soap.fields.clone();
    changed.insert(
        "plan".to_owned(),
        "Keep the sleep diary; practise the breathing exercise before school. Safety plan checked and unchanged. Next session in one week."
            .to_owned(),
    );
    let edit = NoteInput {
        fields: changed,
        version: Some(1),
        ..NoteInput::default()
    };
    notes::save_draft(counsellor, amendment, &edit)
        .await
        .map_err(failed("amendment draft"))?;
    notes::sign(counsellor, amendment, 2)
        .await
        .map_err(failed("signing the amendment"))?;
    Ok(())
}

/// PHQ-9 totals (with item 9's answer) and GAD-7 totals, a fortnight apart, the last
/// today. Answers are spread over the items to reach each total. Returns the safety
/// alerts raised.
async fn measures(
    counsellor: &Actor,
    client: ClientId,
    phq9: &[(u8, u8)],
    gad7: &[u8],
) -> anyhow::Result<Vec<AlertId>> {
    let mut alerts = Vec::new();
    let now = counsellor.now();
    let series = phq9
        .iter()
        .map(|(total, item9)| ("phq9", answers_for(*total, 9, Some(*item9))))
        .collect::<Vec<_>>();
    let series = [
        series,
        gad7.iter()
            .map(|total| ("gad7", answers_for(*total, 7, None)))
            .collect(),
    ];
    for list in series {
        let count = list.len();
        for (i, (instrument, answers)) in list.into_iter().enumerate() {
            let input = AssessmentInput {
                instrument: Some(instrument.to_owned()),
                answers,
                appointment_id: None,
            };
            let recorded = assessments::record(counsellor, client, &input)
                .await
                .map_err(failed("measure"))?;
            alerts.extend(recorded.alert_id);
            let weeks_ago = i64::try_from(count - 1 - i).unwrap_or(0) * 2;
            if weeks_ago > 0 {
                assessments::backdate(&counsellor.tenant.pool, recorded.id, now - TimeDelta::weeks(weeks_ago)).await?;
            }
        }
    }
    Ok(alerts)
}

/// Answers (0 to 3 each) to `items` items adding up to `total`, the last item's answer
/// fixed when given.
fn answers_for(total: u8, items: usize, last: Option<u8>) -> Vec<u8> {
    let mut answers = vec![0u8; items];
    let open = if last.is_some() { items - 1 } else { items };
    let mut left = total.saturating_sub(last.unwrap_or(0));
    for round in 0..3 {
        for answer in answers.iter_mut().take(open) {
            if left > 0 && *answer == round {
                *answer += 1;
                left -= 1;
            }
        }
    }
    if let (Some(fixed), Some(slot)) = (last, answers.last_mut()) {
        *slot = fixed;
    }
    answers
}

/// A one-page PDF saying what it is, uploaded as a real multipart form would be.
async fn consent_form(counsellor: &Actor, client: ClientId) -> anyhow::Result<()> {
    let boundary = "haven-demo-consent";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"Consent to counselling (demo).pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&demo_pdf("Consent to counselling: demo document, no real person."));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = axum::http::Request::builder()
        .method("POST")
        .header(
            axum::http::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(axum::body::Body::from(body))?;
    let multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| anyhow::anyhow!("demo upload: {e}"))?;
    documents::upload(counsellor, client, &UploadOptions::default(), multipart)
        .await
        .map_err(failed("consent form"))?;
    Ok(())
}

/// A minimal, valid one-page PDF with one line of text.
pub fn demo_pdf(line: &str) -> Vec<u8> {
    let text: String = line
        .chars()
        .filter(|c| c.is_ascii() && !matches!(c, '(' | ')' | '\\'))
        .collect();
    let stream = format!("BT /F1 14 Tf 56 760 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::demo_pdf;

    #[test]
    fn demo_answers_add_up_to_their_totals() {
        let phq9 = super::answers_for(16, 9, Some(1));
        assert_eq!(phq9.iter().map(|a| u32::from(*a)).sum::<u32>(), 16);
        assert_eq!(phq9[8], 1);
        assert!(phq9.iter().all(|a| *a <= 3));
        assert_eq!(super::answers_for(5, 7, None).iter().sum::<u8>(), 5);
    }

    #[test]
    fn the_demo_pdf_is_one_the_upload_accepts() {
        let pdf = demo_pdf("Hello (world)");
        assert_eq!(crate::documents::sniff(&pdf), Ok("application/pdf"));
        let text = String::from_utf8(pdf).unwrap();
        assert!(text.contains("(Hello world) Tj"), "{text}");
        assert!(text.ends_with("%%EOF\n"));
    }
}

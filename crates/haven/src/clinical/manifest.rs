//! Clinical records declare themselves: notes, measures and safety alerts (pages and
//! API), the alert job, the sealed columns and the tables of clinical records.

use utoipa::OpenApi;

use super::{api, assessments, measures_pages, pages};
use crate::compliance::rotation::SealedColumn;
use crate::module::{ClientTable, Module};
use crate::policy::{Action, Scope};

#[derive(OpenApi)]
#[openapi(
    paths(
        api::list_notes,
        api::create_note,
        api::get_note,
        api::update_note,
        api::discard_note,
        api::sign_note,
        api::amend_note,
        api::cosign_note,
        api::cosign_queue,
        api::notes_owed,
        api::list_assessments,
        api::record_assessment,
        api::get_assessment,
        api::acknowledge_alert,
    ),
    tags((name = "notes", description = "Clinical notes, measures and safety alerts. Bodies and answers are encrypted at rest; every read is in the audit trail; local_only records only from approved networks."))
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("clinical")
        .demo(50, super::demo::seed)
        .routes(api::routes)
        .routes(pages::routes)
        .routes(measures_pages::routes)
        .openapi(ApiDoc::openapi)
        .jobs(|handlers| handlers.on(assessments::ALERT_JOB, assessments::notify))
        .nav(30, "/notes", "My notes", "notes", Some(Action::ViewLateNotes))
        .chart_tab(20, "notes", "Notes", Action::ViewClinical)
        .chart_tab(30, "measures", "Measures", Action::ViewClinical)
        .scope(
            Scope::ClinicalRead,
            "notes, assessments and documents of the clients you may reach",
        )
        .scope(
            Scope::ClinicalWrite,
            "write and sign notes, record assessments, upload documents",
        )
        .sealed(SealedColumn::new("notes", "body", "note.body"))
        .sealed(SealedColumn::new("assessments", "answers", "assessment.answers"))
        .sealed(SealedColumn::new("safety_alerts", "response", "safety_alert.response"))
        .client_table(ClientTable::Flagged("notes"))
        .client_table(ClientTable::Flagged("assessments"))
        .client_table(ClientTable::Records("safety_alerts"))
}

//! The client chart's frame: the head every tab shares (who, safety alerts, emergency
//! access) and the row of tabs, which the modules supply in their manifests
//! (`Module::chart_tab`). Each module renders its own tab under `/clients/{id}/...`,
//! starting from [`head`].

use super::ClientId;
use super::service::{self, Chart};
use crate::actor::Actor;
use crate::error::Error;
use crate::policy::Action;

/// A tab in the chart's row of tabs.
pub struct TabLink {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// Opens the client's chart (an audited read) and builds the head of tab `tab`.
pub async fn head(caller: &Actor, client: ClientId, tab: &'static str) -> Result<ChartHead, Error> {
    let chart = service::chart(caller, client).await?.into_inner();
    ChartHead::of(caller, &chart, tab).await
}

/// The top of every tab of a client's chart: who, the safety alerts, emergency access,
/// and the tabs this person may open.
#[allow(clippy::struct_excessive_bools)] // each a separate answer of the policy
pub struct ChartHead {
    pub client_id: ClientId,
    pub name: String,
    pub record_number: String,
    pub pronouns: Option<String>,
    pub age: Option<i64>,
    pub status_label: &'static str,
    pub status_badge: &'static str,
    pub tab: &'static str,
    /// The tabs the modules supply, those this person may open, in order.
    pub tabs: Vec<TabLink>,
    pub can_edit: bool,
    pub can_refer: bool,
    pub can_view_clinical: bool,
    pub can_acknowledge: bool,
    /// Open safety alerts, shown on every tab to those who see the clinical record.
    pub alerts: Vec<AlertLine>,
    pub break_glass_until: Option<String>,
    pub facts: crate::policy::ClientFacts,
}

pub struct AlertLine {
    pub id: crate::clinical::AlertId,
    pub raised_at: String,
}

impl ChartHead {
    pub async fn of(caller: &Actor, chart: &Chart, tab: &'static str) -> Result<Self, Error> {
        let zone = caller.zone().await?;
        let id = chart.client.id;
        let alerts = if chart.can_view_clinical {
            crate::clinical::assessments::open_alerts(&caller.tenant.pool, id)
                .await?
                .into_iter()
                .map(|a| AlertLine {
                    id: a.id,
                    raised_at: crate::web::time::show(a.raised_at, zone, crate::web::time::Style::DateTime),
                })
                .collect()
        } else {
            Vec::new()
        };
        let details = &chart.client.details;
        let today = caller.now().date_naive();
        Ok(Self {
            client_id: id,
            name: details.display_name(),
            record_number: chart.client.record_number.clone(),
            pronouns: details.pronouns.clone(),
            age: details
                .date_of_birth
                .and_then(|dob| today.years_since(dob))
                .map(i64::from),
            status_label: details.status.label(),
            status_badge: details.status.badge(),
            tab,
            tabs: caller
                .modules()
                .chart_tabs_for(chart.facts, |action| caller.may(action))
                .into_iter()
                .map(|t| TabLink {
                    href: if t.path.is_empty() {
                        format!("/clients/{id}")
                    } else {
                        format!("/clients/{id}/{}", t.path)
                    },
                    label: t.label,
                    current: t.path == tab || (t.path.is_empty() && tab == "overview"),
                })
                .collect(),
            can_edit: chart.can_edit,
            can_refer: chart.can_view_clinical && caller.may(&Action::CreateReferral),
            can_view_clinical: chart.can_view_clinical,
            can_acknowledge: caller.may(&Action::AcknowledgeAlert(chart.facts)),
            alerts,
            break_glass_until: chart
                .break_glass_until
                .map(|at| crate::web::time::show(at, zone, crate::web::time::Style::DateTime)),
            facts: chart.facts,
        })
    }
}

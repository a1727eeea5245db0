//! Each role's home page: what they need first. Counsellors and case managers: their
//! caseload and the referrals awaiting triage; supervisors also their team's emergency
//! access; front desk: finding and registering clients; admins: people and oversight;
//! auditors: the trail. Later modules (appointments, notes) add their own panels.

use askama::Template;
use axum::http::Method;
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::actor::Actor;
use crate::clients::access::BreakGlassGrant;
use crate::clients::search::{Query, Term};
use crate::clients::service as clients;
use crate::clients::{ClientStatus, ClientSummary};
use crate::error::Error;
use crate::identity::Role;
use crate::policy::Action;
use crate::referrals::store::Filter;
use crate::referrals::{ReferralStatus, ReferralSummary, service as referrals};
use crate::web::page::{Chrome, render};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::filters;

fn routes(table: RouteTable) -> RouteTable {
    table.add(Access::Full, Method::GET, "/", home)
}

/// Each role's home page.
pub fn module() -> crate::module::Module {
    crate::module::Module::new("home")
        .routes(routes)
        .nav(0, "/", "Home", "home", None)
}

#[allow(clippy::struct_excessive_bools)] // the policy's answers, one per link
#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    roles: Vec<&'static str>,
    caseload: Option<Vec<ClientSummary>>,
    waitlisted: Option<Vec<ClientSummary>>,
    awaiting_triage: Option<Vec<ReferralSummary>>,
    assigned_to_me: Option<Vec<ReferralSummary>>,
    break_glass: Option<Vec<BreakGlassGrant>>,
    /// Today's appointments: front desk's whole day, a clinician's own and their clients'.
    today: Option<Vec<crate::appointments::pages::Row>>,
    can_search: bool,
    can_create: bool,
    can_manage_users: bool,
    can_read_audit: bool,
    /// The request comes from outside the approved networks of an organisation that
    /// keeps every record local: no client record is shown, and the page says why.
    outside_network: bool,
    now: DateTime<Utc>,
}

#[allow(clippy::struct_excessive_bools)]
struct Panels {
    caseload: bool,
    waitlist: bool,
    triage: bool,
    break_glass: bool,
}

fn panels(caller: &Actor) -> Panels {
    let has = |role| caller.identity.user.has_role(role);
    let clinical = caller.identity.user.is_clinical_staff();
    Panels {
        caseload: clinical,
        waitlist: has(Role::FrontDesk),
        triage: clinical,
        break_glass: caller.may(&Action::ReviewBreakGlass),
    }
}

async fn home(caller: Actor) -> Result<Response, Error> {
    let mut show = panels(&caller);
    let lists_records = show.caseload || show.waitlist || show.triage || caller.may(&Action::ViewSchedule);
    let outside_network = lists_records
        && match crate::compliance::networks::list_reach(&caller, "home").await {
            Ok(_) => false,
            Err(Error::Forbidden {
                code: "outside_approved_network",
                ..
            }) => true,
            Err(other) => return Err(other),
        };
    if outside_network {
        (show.caseload, show.waitlist, show.triage) = (false, false, false);
    }
    let caseload = if show.caseload {
        let query = Query {
            term: Term::Everyone,
            status: Some(ClientStatus::Active),
            limit: 10,
            offset: 0,
        };
        Some(clients::find_clients(&caller, &query).await?.into_inner().clients)
    } else {
        None
    };
    let waitlisted = if show.waitlist {
        let query = Query {
            term: Term::Everyone,
            status: Some(ClientStatus::Waitlisted),
            limit: 10,
            offset: 0,
        };
        Some(clients::find_clients(&caller, &query).await?.into_inner().clients)
    } else {
        None
    };
    let (awaiting_triage, assigned_to_me) = if show.triage {
        let waiting = Filter {
            status: Some(ReferralStatus::Received),
            limit: 5,
            ..Filter::default()
        };
        let mine = Filter {
            status: Some(ReferralStatus::Triaged),
            assigned_to: Some(caller.identity.user.id),
            limit: 5,
            ..Filter::default()
        };
        (
            Some(referrals::list(&caller, &waiting).await?.into_inner().referrals),
            Some(referrals::list(&caller, &mine).await?.into_inner().referrals),
        )
    } else {
        (None, None)
    };
    let break_glass = if show.break_glass {
        let mut grants = clients::break_glass_log(&caller).await?.into_inner();
        grants.truncate(5);
        Some(grants)
    } else {
        None
    };
    let today = if caller.may(&Action::ViewSchedule) && !outside_network {
        Some(crate::appointments::pages::today_rows(&caller).await?)
    } else {
        None
    };
    render(&HomePage {
        chrome: caller.chrome().await?.at("home"),
        name: caller.identity.user.display_name.clone(),
        roles: caller.identity.user.roles.iter().map(|r| r.label()).collect(),
        caseload,
        waitlisted,
        awaiting_triage,
        assigned_to_me,
        break_glass,
        today,
        can_search: caller.may(&Action::ListClients),
        can_create: caller.may(&Action::CreateClient),
        can_manage_users: caller.may(&Action::ManageUsers),
        can_read_audit: caller.may(&Action::ReadAuditTrail),
        outside_network,
        now: caller.now(),
    })
}

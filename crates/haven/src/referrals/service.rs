//! What the API and the pages do with referrals: ask the policy, validate, work in one
//! transaction, record in the audit trail.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::store::{self, Filter, Move, NewReferral};
use super::{Direction, Referral, ReferralStatus, ReferralSummary, ReferredPerson, SourceKind, Transition, Urgency};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::clients::access::{self as client_access, TeamRole};
use crate::clients::{self, ClientDetails, ClientStatus, ContactRules};
use crate::compliance::audit::{self, Audited, Outcome};
use crate::compliance::networks;
use crate::error::{Error, FieldError};
use crate::identity::{Role, UserId};
use crate::policy::{Action, ReferralFacts};
use crate::referrals::ReferralId;
use crate::validate::Problems;

/// A new referral as sent by the API or the form.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralFields {
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// An existing client (required for outbound referrals).
    pub client_id: Option<ClientId>,
    /// Who an inbound referral is about, when they are not a client yet.
    pub person: Option<PersonFields>,
    /// `organisation`, `professional` or `self`.
    pub source_kind: Option<String>,
    /// Who referred, or where to; required unless `self`.
    pub source_name: Option<String>,
    pub source_contact: Option<String>,
    pub reason: Option<String>,
    /// `routine` (default), `soon` or `urgent`.
    pub urgency: Option<String>,
    /// A counsellor, case manager or supervisor to take it.
    pub assigned_to: Option<UserId>,
    /// `YYYY-MM-DD`, default today; not in the future.
    pub received_on: Option<String>,
}

crate::redacted_debug!(ReferralFields {
    direction,
    client_id,
    source_kind,
    urgency,
    assigned_to
});

#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonFields {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

crate::redacted_debug!(PersonFields {});

fn validate(fields: &ReferralFields, today: NaiveDate) -> Result<NewReferral, Vec<FieldError>> {
    let mut problems = Problems::default();
    let direction = problems.required_choice(
        "direction",
        fields.direction.as_deref(),
        Direction::parse,
        Direction::choices,
    );
    let source_kind = problems.required_choice(
        "source_kind",
        fields.source_kind.as_deref(),
        SourceKind::parse,
        SourceKind::choices,
    );
    let source_name = problems.optional("source_name", fields.source_name.as_deref(), 200);
    if source_name.is_none() && source_kind.is_some_and(|k| k != SourceKind::SelfReferral) {
        problems.add("source_name", "is required unless this is a self-referral");
    }
    let source_contact = problems.optional("source_contact", fields.source_contact.as_deref(), 200);
    let reason = problems.required("reason", fields.reason.as_deref(), 4000);
    let urgency = problems.choice("urgency", fields.urgency.as_deref(), Urgency::parse, Urgency::choices);
    let received_on = match fields.received_on.as_deref().map(str::trim) {
        None | Some("") => Some(today),
        Some(text) => problems.date_of_birth("received_on", text, today),
    };
    let person = match (&fields.person, fields.client_id) {
        (Some(_), Some(_)) => {
            problems.add("person", "leave out when the referral is for an existing client");
            None
        }
        (Some(p), None) => {
            let given_name = problems.required("person.given_name", p.given_name.as_deref(), 100);
            let family_name = problems.required("person.family_name", p.family_name.as_deref(), 100);
            let date_of_birth = match p.date_of_birth.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(text) => problems.date_of_birth("person.date_of_birth", text, today),
            };
            let phone = problems.phone("person.phone", p.phone.as_deref());
            let email = problems.email("person.email", p.email.as_deref());
            given_name
                .zip(family_name)
                .map(|(given_name, family_name)| ReferredPerson {
                    given_name,
                    family_name,
                    date_of_birth,
                    phone,
                    email,
                })
        }
        (None, None) => {
            problems.add("person", "is required: who is being referred (or a client_id)");
            None
        }
        (None, Some(_)) => None,
    };
    if direction == Some(Direction::Outbound) && fields.client_id.is_none() {
        problems.add("client_id", "is required for an outbound referral");
    }
    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    match (direction, source_kind, reason, received_on) {
        (Some(direction), Some(source_kind), Some(reason), Some(received_on)) => Ok(NewReferral {
            direction,
            client_id: fields.client_id,
            person,
            source_kind,
            source_name,
            source_contact,
            reason,
            urgency: urgency.unwrap_or(Urgency::Routine),
            assigned_to: fields.assigned_to,
            received_on,
        }),
        _ => Err(vec![FieldError::new("body", "is incomplete")]),
    }
}

async fn referral_facts(caller: &Actor, referral: &Referral) -> Result<ReferralFacts, Error> {
    let client = match referral.client_id {
        Some(client) => Some(clients::service::facts(caller, client).await?),
        None => None,
    };
    Ok(ReferralFacts {
        client,
        assigned_to_them: referral.assigned_to == Some(caller.identity.user.id),
    })
}

pub async fn create(caller: &Actor, fields: &ReferralFields) -> Result<ReferralId, Error> {
    caller.authorize(&Action::CreateReferral).await?;
    let new = validate(fields, caller.now().date_naive()).map_err(Error::Invalid)?;
    if let Some(client) = new.client_id {
        let facts = clients::service::facts(caller, client).await.map_err(|err| match err {
            Error::NotFound => Error::Invalid(vec![FieldError::new("client_id", "no such client")]),
            other => other,
        })?;
        caller.authorize(&Action::ViewClinical(facts)).await?;
    }
    if let Some(assignee) = new.assigned_to {
        clients::service::clinical_staff(caller, assignee, "assigned_to").await?;
    }
    let id = ReferralId::new();
    let mut tx = caller.tenant.pool.begin().await?;
    store::insert(&mut tx, id, &new, Some(caller.identity.user.id), caller.now()).await?;
    audit::stage(
        &mut tx,
        &caller
            .event("referral.create", Outcome::Allowed)
            .resource("referral", id.to_string()),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(id)
}

/// A referral with its history and where it may go next.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReferralView {
    #[serde(flatten)]
    pub referral: Referral,
    pub history: Vec<Transition>,
    pub next: Vec<ReferralStatus>,
}

pub async fn view(caller: &Actor, id: ReferralId) -> Result<Audited<ReferralView>, Error> {
    let pool = &caller.tenant.pool;
    let referral = store::find(pool, id).await?.ok_or(Error::NotFound)?;
    let facts = referral_facts(caller, &referral).await?;
    caller.authorize(&Action::ViewReferral(facts)).await?;
    networks::require_for_clients(caller, ("referral", id.to_string()), referral.client_id.as_slice()).await?;
    let history = store::transitions(pool, id).await?;
    let next = if caller.may(&Action::MoveReferral(facts)) {
        referral.status.next()
    } else {
        Vec::new()
    };
    let event = caller
        .event("referral.read", Outcome::Allowed)
        .resource("referral", id.to_string());
    Ok(caller
        .tenant
        .audit
        .read(
            event,
            ReferralView {
                referral,
                history,
                next,
            },
        )
        .await?)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReferralPage {
    pub referrals: Vec<ReferralSummary>,
    pub has_more: bool,
}

pub async fn list(caller: &Actor, filter: &Filter) -> Result<Audited<ReferralPage>, Error> {
    caller.authorize(&Action::ListReferrals).await?;
    let user = &caller.identity.user;
    let mut asked = filter.clone();
    asked.limit = filter.limit + 1;
    let mut referrals = store::list(
        &caller.tenant.pool,
        user.id,
        user.has_role(Role::Supervisor),
        caller.now(),
        &asked,
    )
    .await?;
    if networks::list_reach(caller, "referrals").await? == networks::ListReach::ExemptClientsOnly {
        let ids: Vec<ClientId> = referrals.iter().filter_map(|r| r.client_id).collect();
        let exempt = clients::store::exempt_among(&caller.tenant.pool, &ids).await?;
        referrals.retain(|r| r.client_id.is_some_and(|c| exempt.contains(&c)));
    }
    let limit = usize::try_from(filter.limit).unwrap_or(25);
    let has_more = referrals.len() > limit;
    referrals.truncate(limit);
    let event = caller
        .event("referral.list", Outcome::Allowed)
        .subjects(referrals.iter().map(|r| r.id));
    Ok(caller
        .tenant
        .audit
        .read(event, ReferralPage { referrals, has_more })
        .await?)
}

/// A move in the workflow.
#[derive(Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveFields {
    /// `triaged`, `accepted`, `declined` or `closed`.
    pub to: Option<String>,
    /// Required when declining: why.
    pub reason: Option<String>,
    /// Anything the next person should know.
    pub note: Option<String>,
    /// Who takes it (when triaging or accepting).
    pub assigned_to: Option<UserId>,
    /// `routine`, `soon` or `urgent` (when triaging).
    pub urgency: Option<String>,
}

crate::redacted_debug!(MoveFields {
    to,
    assigned_to,
    urgency
});

/// Moves a referral on. Accepting an inbound referral for someone new registers them as
/// a client, with the assignee (or whoever accepted) as primary counsellor.
/// Where a referral went, and the client it is about (set when accepting registered one).
#[derive(Debug, Clone, Copy)]
pub struct Moved {
    pub to: ReferralStatus,
    pub client_id: Option<ClientId>,
}

pub async fn move_on(caller: &Actor, id: ReferralId, fields: &MoveFields) -> Result<Moved, Error> {
    let pool = &caller.tenant.pool;
    let referral = store::find(pool, id).await?.ok_or(Error::NotFound)?;
    let facts = referral_facts(caller, &referral).await?;
    caller.authorize(&Action::MoveReferral(facts)).await?;
    networks::require_for_clients(caller, ("referral", id.to_string()), referral.client_id.as_slice()).await?;

    let mut problems = Problems::default();
    let to = problems.required_choice(
        "to",
        fields.to.as_deref(),
        ReferralStatus::parse,
        ReferralStatus::choices,
    );
    let urgency = problems.choice("urgency", fields.urgency.as_deref(), Urgency::parse, Urgency::choices);
    let note = problems.optional("note", fields.note.as_deref(), 1000);
    let reason = problems.optional("reason", fields.reason.as_deref(), 1000);
    if to == Some(ReferralStatus::Declined) && reason.is_none() {
        problems.add("reason", "is required when declining: say why");
    }
    let Some(to) = to.filter(|_| problems.0.is_empty()) else {
        return Err(Error::Invalid(problems.0));
    };
    if !referral.status.can_move_to(to) {
        return Err(Error::conflict(format!(
            "A referral that is {} cannot become {}; next it can be: {}.",
            referral.status.as_str(),
            to.as_str(),
            match referral.status.next().as_slice() {
                [] => "nothing (it is closed)".to_owned(),
                next => next.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or "),
            }
        )));
    }
    if let Some(assignee) = fields.assigned_to {
        clients::service::clinical_staff(caller, assignee, "assigned_to").await?;
    }
    let now = caller.now();
    let me = caller.identity.user.id;
    let assignee = fields.assigned_to.or(referral.assigned_to);
    // Accepting a referral about a client puts its assignee on the care team: that is
    // changing who has access, the care team's rule (never through break-glass).
    if to == ReferralStatus::Accepted
        && let (Some(client), Some(assignee), Some(client_facts)) = (referral.client_id, assignee, facts.client)
        && !client_access::care_team(pool, client)
            .await?
            .iter()
            .any(|member| member.user_id == assignee.0)
    {
        caller.authorize(&Action::ManageCareTeam(client_facts)).await?;
    }
    let mut tx = pool.begin().await?;
    let mut new_client = None;
    if to == ReferralStatus::Accepted
        && referral.client_id.is_none()
        && let Some(person) = &referral.person
    {
        new_client = Some(register(&mut tx, caller, person, assignee, id).await?);
    } else if to == ReferralStatus::Accepted
        && let (Some(client), Some(assignee)) = (referral.client_id, assignee)
    {
        client_access::join_if_absent(&mut tx, client, assignee, TeamRole::Clinician, Some(me), now).await?;
    }
    let moved = store::apply_move(
        &mut tx,
        id,
        &Move {
            from: referral.status,
            to,
            by: me,
            note: note.as_deref(),
            decline_reason: reason.as_deref().filter(|_| to == ReferralStatus::Declined),
            assigned_to: fields.assigned_to,
            urgency,
            client_id: new_client,
            at: now,
        },
    )
    .await?;
    if !moved {
        return Err(Error::conflict(
            "Someone else moved this referral just now. Reload to see where it is.".to_owned(),
        ));
    }
    audit::stage(
        &mut tx,
        &caller
            .event("referral.move", Outcome::Allowed)
            .resource("referral", id.to_string())
            .reason(format!("{} -> {}", referral.status.as_str(), to.as_str())),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(Moved {
        to,
        client_id: new_client.or(referral.client_id),
    })
}

/// Registers the person an accepted referral is about, with `assignee` (or whoever
/// accepted) as primary counsellor; active when someone is assigned, else waitlisted.
async fn register(
    tx: &mut sqlx::PgConnection,
    caller: &Actor,
    person: &ReferredPerson,
    assignee: Option<UserId>,
    referral: ReferralId,
) -> Result<ClientId, Error> {
    let now = caller.now();
    let me = caller.identity.user.id;
    let client = ClientId(Uuid::now_v7());
    let details = ClientDetails {
        legal_given_name: person.given_name.clone(),
        legal_family_name: person.family_name.clone(),
        preferred_name: None,
        pronouns: None,
        date_of_birth: person.date_of_birth,
        status: if assignee.is_some() {
            ClientStatus::Active
        } else {
            ClientStatus::Waitlisted
        },
        email: person.email.clone(),
        phone: person.phone.clone(),
        address_line: None,
        locality: None,
        postcode: None,
        contact: ContactRules::default(),
        identifiers: Vec::new(),
        related_people: Vec::new(),
    };
    let new = clients::store::NewClient {
        id: client,
        details: &details,
        hipaa_exempt: false,
        by: Some(me),
        at: now,
    };
    clients::store::insert_all(tx, &[new]).await?;
    client_access::add_member(tx, client, assignee.unwrap_or(me), TeamRole::Primary, Some(me), now).await?;
    // A case manager who takes someone in stays with them as their case manager.
    if assignee.is_some_and(|a| a != me) && caller.identity.user.has_role(Role::CaseManager) {
        client_access::join_if_absent(tx, client, me, TeamRole::CaseManager, Some(me), now).await?;
    }
    audit::stage(
        tx,
        &caller
            .event("client.create", Outcome::Allowed)
            .resource("client", client.to_string())
            .reason(format!("accepted referral {referral}")),
    )
    .await?;
    Ok(client)
}

//! What the API and the pages do with clients: each operation asks the policy, works in
//! one transaction, and records itself in the audit trail (reads before they are shown,
//! writes in their own transaction).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::access::{self, BREAK_GLASS_MINUTES, BreakGlassGrant, GrantsOf, TeamMember, TeamRole};
use super::search::{self, Query};
use super::store::{self, ClientError};
use super::validation::ClientFields;
use super::{Client, ClientDetails, ClientSummary};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::compliance::audit::{self, Audited, Outcome};
use crate::compliance::networks;
use crate::error::{Error, FieldError};
use crate::identity::{self, Role, UserId};
use crate::platform::batch::Batcher;
use crate::policy::{self, Action, ClientFacts};
use crate::validate::Problems;

impl From<ClientError> for Error {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::NotFound => Self::NotFound,
            ClientError::VersionMismatch => Self::conflict(
                "Someone else changed this client since you opened it. Reload to see their changes, then try again."
                    .to_owned(),
            ),
            ClientError::IdentifierTaken => {
                Self::conflict("One of these identifiers is already recorded for another client.".to_owned())
            }
            ClientError::Database(err) => err.into(),
        }
    }
}

/// How the caller stands to the client; 404 when there is no such client.
pub async fn facts(caller: &Actor, client: ClientId) -> Result<ClientFacts, Error> {
    access::facts(&caller.tenant.pool, caller.identity.user.id, client, caller.now())
        .await?
        .ok_or(Error::NotFound)
}

/// The chart: the record with what the caller may do with it.
#[allow(clippy::struct_excessive_bools)] // the policy's answers, one per button
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Chart {
    #[serde(flatten)]
    pub client: Client,
    pub care_team: Vec<TeamMember>,
    /// Until when the caller's emergency access lasts, when that is how they see this.
    pub break_glass_until: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub can_edit: bool,
    #[serde(skip)]
    pub can_manage_team: bool,
    #[serde(skip)]
    pub can_view_clinical: bool,
    #[serde(skip)]
    pub can_set_hipaa_exempt: bool,
    /// How the caller stands to the client, for the chart's other questions.
    #[serde(skip)]
    pub facts: crate::policy::ClientFacts,
}

/// Opens a client's chart; the read is in the audit trail before anything is shown.
pub async fn chart(caller: &Actor, id: ClientId) -> Result<Audited<Chart>, Error> {
    let (chart, via_break_glass) = build_chart(caller, id).await?;
    let mut event = caller
        .event("client.read", Outcome::Allowed)
        .resource("client", id.to_string());
    if via_break_glass {
        event = event.reason("break-glass access");
    }
    Ok(caller.tenant.audit.read(event, chart).await?)
}

/// The chart, as the policy lets the caller see it, and whether only emergency access
/// reaches it.
async fn build_chart(caller: &Actor, id: ClientId) -> Result<(Chart, bool), Error> {
    let reading = store::chart(&caller.tenant.pool, id, caller.identity.user.id, caller.now())
        .await?
        .ok_or(Error::NotFound)?;
    chart_of(caller, reading).await
}

/// The chart `reading` shows the caller, once the policy allows it; whether the caller
/// sees it through emergency access.
async fn chart_of(caller: &Actor, reading: store::ChartReading) -> Result<(Chart, bool), Error> {
    let store::ChartReading {
        mut client,
        care_team,
        facts,
        break_glass_until,
    } = reading;
    caller.authorize(&Action::ViewClient(facts)).await?;
    networks::require_for_client(caller, client.id, client.hipaa_exempt).await?;
    let via_break_glass = facts.break_glass && !facts.on_care_team && !facts.supervises_care_team;
    let can_set_hipaa_exempt = caller.may(&Action::SetHipaaExempt);
    if !can_set_hipaa_exempt {
        // Shown and changed by admins only.
        client.hipaa_exempt = false;
    }
    let chart = Chart {
        client,
        care_team,
        break_glass_until: break_glass_until.filter(|_| via_break_glass),
        can_edit: caller.may(&Action::EditClient(facts)),
        can_manage_team: caller.may(&Action::ManageCareTeam(facts)),
        can_view_clinical: caller.may(&Action::ViewClinical(facts)),
        can_set_hipaa_exempt,
        facts,
    };
    // The whole record at debug level: its Debug shows the id and flags, never PHI.
    tracing::debug!(client = ?chart.client, "client chart read");
    Ok((chart, via_break_glass))
}

/// The client with this record number, when there is one (a booking form names clients
/// by record number; the booking itself checks who may reach each one).
pub async fn id_by_record_number(caller: &Actor, record_number: &str) -> Result<Option<ClientId>, Error> {
    Ok(store::id_by_record_number(&caller.tenant.pool, record_number).await?)
}

/// A client's record number, for a form that names the client (the booking form opened
/// from a chart): asked of the policy and read through the audited path like the chart.
pub async fn record_number(caller: &Actor, id: ClientId) -> Result<String, Error> {
    let facts = facts(caller, id).await?;
    caller.authorize(&Action::ViewClient(facts)).await?;
    let client = store::find(&caller.tenant.pool, id).await?.ok_or(Error::NotFound)?;
    let event = caller
        .event("client.read", Outcome::Allowed)
        .resource("client", id.to_string())
        .reason("record number for a booking");
    Ok(caller
        .tenant
        .audit
        .read(event, client.record_number)
        .await?
        .into_inner())
}

/// Clinical staff who register a client join its care team; front desk does not.
fn team_role_for_creator(caller: &Actor) -> Option<TeamRole> {
    let user = &caller.identity.user;
    if user.has_role(Role::Clinician) || user.has_role(Role::Supervisor) {
        Some(TeamRole::Primary)
    } else if user.has_role(Role::CaseManager) {
        Some(TeamRole::CaseManager)
    } else {
        None
    }
}

/// Registers a client. Returns its id.
pub async fn create(caller: &Actor, fields: &ClientFields) -> Result<ClientId, Error> {
    let admitted = admit(caller, fields).await?;
    let id = admitted.id;
    write(caller, Registration::new(caller, admitted, false)).await?;
    Ok(id)
}

/// Registers a client and answers with its chart. The chart is read, and its read
/// recorded, in the transaction that writes the registration (with any that arrived
/// together): one commit makes both events durable before the answer (rather than a
/// second wait on the audit writer), and the answer takes no second connection.
pub async fn register(caller: &Actor, fields: &ClientFields) -> Result<(ClientId, Chart), Error> {
    let admitted = admit(caller, fields).await?;
    let id = admitted.id;
    let reading = write(caller, Registration::new(caller, admitted, true))
        .await?
        .ok_or(Error::NotFound)?;
    // The policy's answers after the commit: they may read settings through the pool.
    let (chart, _) = chart_of(caller, reading).await?;
    Ok((id, chart))
}

/// A registration the policy allows, its details valid, before anything is written.
struct Admitted {
    id: ClientId,
    details: ClientDetails,
    hipaa_exempt: bool,
}

/// Asks the policy and checks the details, holding no connection while it does.
async fn admit(caller: &Actor, fields: &ClientFields) -> Result<Admitted, Error> {
    caller.authorize(&Action::CreateClient).await?;
    let hipaa_exempt = fields.hipaa_exempt.unwrap_or(false);
    if hipaa_exempt {
        caller.authorize(&Action::SetHipaaExempt).await?;
    }
    let details = fields.validate(caller.now().date_naive()).map_err(Error::Invalid)?;
    let id = ClientId(Uuid::now_v7());
    networks::require_for_client(caller, id, hipaa_exempt).await?;
    Ok(Admitted {
        id,
        details,
        hipaa_exempt,
    })
}

/// An admitted registration with everything its writing needs: who registers the client,
/// whether they join its care team, and its audit events.
struct Registration {
    admitted: Admitted,
    by: UserId,
    team_role: Option<TeamRole>,
    events: Vec<audit::AuditEvent>,
    at: DateTime<Utc>,
    /// Whether the chart answers it (and its read is recorded).
    answered_with_chart: bool,
}

impl Registration {
    fn new(caller: &Actor, admitted: Admitted, answered_with_chart: bool) -> Self {
        let client = admitted.id.to_string();
        let mut events = vec![
            caller
                .event("client.create", Outcome::Allowed)
                .resource("client", client.clone()),
        ];
        if admitted.hipaa_exempt {
            events.push(
                caller
                    .event("client.hipaa_exempt_set", Outcome::Allowed)
                    .resource("client", client.clone())
                    .reason("marked hipaa_exempt at registration"),
            );
        }
        if answered_with_chart {
            events.push(caller.event("client.read", Outcome::Allowed).resource("client", client));
        }
        Self {
            admitted,
            by: caller.identity.user.id,
            team_role: team_role_for_creator(caller),
            events,
            at: caller.now(),
            answered_with_chart,
        }
    }
}

/// Registrations that arrive together are written together, in one transaction (see
/// `platform::batch`); each is answered once that commits.
type Registrations = Batcher<Registration, Result<Option<store::ChartReading>, Error>>;

/// At most this many registrations in one transaction.
const REGISTRATIONS_PER_BATCH: usize = 64;
/// Batches written at once: while one waits for its commit to reach the disk, others are
/// written. On 2 cores under 50 connections, 1, 2 and 3 at once gave 4,377 to 4,556,
/// 4,549 to 4,579 and 4,998 to 5,282 registrations/s.
const REGISTRATION_BATCHES_IN_FLIGHT: usize = 3;

async fn write(caller: &Actor, registration: Registration) -> Result<Option<store::ChartReading>, Error> {
    let tenant = &caller.tenant;
    let registrations = tenant.locals.get_or_insert_with(|| {
        let (pool, audit) = (tenant.pool.clone(), tenant.audit.clone());
        Registrations::spawn(REGISTRATIONS_PER_BATCH, REGISTRATION_BATCHES_IN_FLIGHT, move |batch| {
            write_batch(pool.clone(), audit.clone(), batch)
        })
    });
    registrations
        .submit(registration)
        .await
        .map_err(|unanswered| Error::internal(anyhow::Error::new(unanswered)))?
}

/// Writes a batch of registrations. When one of them fails (an identifier already
/// recorded, say) it takes the whole transaction with it; each is then written again on
/// its own, so that each gets its own answer.
async fn write_batch(
    pool: sqlx::PgPool,
    audit: audit::AuditWriter,
    batch: Vec<Registration>,
) -> Vec<Result<Option<store::ChartReading>, Error>> {
    let results = match write_together(&pool, &batch).await {
        Ok(readings) => readings.into_iter().map(Ok).collect(),
        Err(err) if batch.len() == 1 => vec![Err(err)],
        Err(_) => {
            let mut results = Vec::with_capacity(batch.len());
            for one in batch.chunks(1) {
                results.push(
                    write_together(&pool, one)
                        .await
                        .map(|mut readings| readings.pop().flatten()),
                );
            }
            results
        }
    };
    audit.nudge();
    results
}

/// Writes `batch` in one transaction and reads the charts that answer it there.
async fn write_together(
    pool: &sqlx::PgPool,
    batch: &[Registration],
) -> Result<Vec<Option<store::ChartReading>>, Error> {
    let mut tx = pool.begin().await?;
    stage_registrations(&mut tx, batch).await?;
    let wanted: Vec<_> = batch
        .iter()
        .filter(|r| r.answered_with_chart)
        .map(|r| (r.admitted.id, r.by, r.at))
        .collect();
    let mut charts = if wanted.is_empty() {
        Vec::new()
    } else {
        store::charts(&mut *tx, &wanted).await?
    }
    .into_iter();
    let readings = batch
        .iter()
        .map(|r| {
            if !r.answered_with_chart {
                return Ok(None);
            }
            // In the order asked for, and every one was just written.
            charts
                .next()
                .filter(|reading| reading.client.id == r.admitted.id)
                .map(Some)
                .ok_or(Error::NotFound)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    tx.commit().await?;
    Ok(readings)
}

/// Writes registrations and their audit events in `tx`: the client rows in one
/// statement, the events in another.
async fn stage_registrations(tx: &mut PgConnection, batch: &[Registration]) -> Result<(), Error> {
    let clients: Vec<store::NewClient<'_>> = batch
        .iter()
        .map(|r| store::NewClient {
            id: r.admitted.id,
            details: &r.admitted.details,
            hipaa_exempt: r.admitted.hipaa_exempt,
            by: Some(r.by),
            at: r.at,
        })
        .collect();
    store::insert_all(tx, &clients).await?;
    for registration in batch {
        if let Some(role) = registration.team_role {
            let (client, by) = (registration.admitted.id, registration.by);
            access::add_member(tx, client, by, role, Some(by), registration.at).await?;
        }
    }
    let events: Vec<audit::AuditEvent> = batch.iter().flat_map(|r| r.events.iter().cloned()).collect();
    audit::stage_all(tx, &events).await?;
    Ok(())
}

/// Changes what `change` names. `hipaa_exempt` needs an admin; the rest needs the right
/// to edit the client.
pub async fn update(caller: &Actor, id: ClientId, change: ClientFields) -> Result<(), Error> {
    let facts = facts(caller, id).await?;
    let touches_details = change.touches_details();
    if touches_details || change.hipaa_exempt.is_none() {
        caller.authorize(&Action::EditClient(facts)).await?;
    }
    if change.hipaa_exempt.is_some() {
        caller.authorize(&Action::SetHipaaExempt).await?;
    }
    let now = caller.now();
    let mut tx = caller.tenant.pool.begin().await?;
    let current = store::find(&mut *tx, id).await?.ok_or(Error::NotFound)?;
    networks::require_for_client(caller, id, current.hipaa_exempt).await?;
    if let Some(expected) = change.version
        && expected != current.version
    {
        return Err(ClientError::VersionMismatch.into());
    }
    let exempt = change.hipaa_exempt;
    let expected_version = Some(current.version);
    if touches_details {
        let details = ClientFields::from_details(&current.details)
            .overlay(change)
            .validate(now.date_naive())
            .map_err(Error::Invalid)?;
        store::update(&mut tx, id, &details, expected_version, now).await?;
        audit::stage(
            &mut tx,
            &caller
                .event("client.update", Outcome::Allowed)
                .resource("client", id.to_string()),
        )
        .await?;
    }
    if let Some(exempt) = exempt
        && exempt != current.hipaa_exempt
    {
        store::set_hipaa_exempt(&mut tx, id, exempt, now, &caller.modules().flagged_client_tables()).await?;
        audit::stage(
            &mut tx,
            &caller
                .event("client.hipaa_exempt_set", Outcome::Allowed)
                .resource("client", id.to_string())
                .reason(if exempt {
                    "hipaa_exempt set to true"
                } else {
                    "hipaa_exempt set to false"
                }),
        )
        .await?;
    }
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}

/// A page of search or list results, recorded (with which clients it showed) before it
/// is shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResultPage {
    pub clients: Vec<ClientSummary>,
    pub has_more: bool,
}

pub async fn find_clients(caller: &Actor, query: &Query) -> Result<Audited<ResultPage>, Error> {
    caller.authorize(&Action::ListClients).await?;
    let scope = policy::client_scope(&caller.identity);
    // From outside the approved networks only records that may leave them are listed:
    // none when the organisation keeps everything local, else the hipaa_exempt clients.
    let reach = networks::list_reach(caller, "clients").await?;
    let mut clients = search::search(&caller.tenant.pool, scope, query, caller.now()).await?;
    if reach == networks::ListReach::ExemptClientsOnly {
        let exempt =
            store::exempt_among(&caller.tenant.pool, &clients.iter().map(|c| c.id).collect::<Vec<_>>()).await?;
        clients.retain(|c| exempt.contains(&c.id));
    }
    let limit = usize::try_from(query.limit.clamp(1, search::MAX_PAGE)).unwrap_or(100);
    let has_more = clients.len() > limit;
    clients.truncate(limit);
    let action = if query.term == search::Term::Everyone {
        "client.list"
    } else {
        "client.search"
    };
    // Which clients were shown, never what was typed (a name is PHI).
    let event = caller
        .event(action, Outcome::Allowed)
        .subjects(clients.iter().map(|c| c.id));
    Ok(caller
        .tenant
        .audit
        .read(event, ResultPage { clients, has_more })
        .await?)
}

/// Staff who may be on a care team or take a referral: active or invited, with a
/// clinical role. Otherwise a validation error on `field`.
pub async fn clinical_staff(caller: &Actor, user: UserId, field: &'static str) -> Result<identity::User, Error> {
    identity::store::find_clinical_staff(&caller.tenant.pool, user)
        .await?
        .ok_or_else(|| {
            Error::invalid(
                field,
                "must be a counsellor, case manager or supervisor whose account is not disabled",
            )
        })
}

pub async fn add_to_team(caller: &Actor, client: ClientId, user: UserId, role: TeamRole) -> Result<(), Error> {
    let facts = facts(caller, client).await?;
    caller.authorize(&Action::ManageCareTeam(facts)).await?;
    clinical_staff(caller, user, "user_id").await?;
    let mut tx = caller.tenant.pool.begin().await?;
    access::add_member(&mut tx, client, user, role, Some(caller.identity.user.id), caller.now()).await?;
    audit::stage(
        &mut tx,
        &caller
            .event("care_team.add", Outcome::Allowed)
            .resource("client", client.to_string())
            .reason(format!("{user} as {}", role.as_str())),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}

pub async fn remove_from_team(caller: &Actor, client: ClientId, user: UserId) -> Result<(), Error> {
    let facts = facts(caller, client).await?;
    caller.authorize(&Action::ManageCareTeam(facts)).await?;
    let mut tx = caller.tenant.pool.begin().await?;
    if !access::remove_member(&mut tx, client, user).await? {
        return Err(Error::NotFound);
    }
    audit::stage(
        &mut tx,
        &caller
            .event("care_team.remove", Outcome::Allowed)
            .resource("client", client.to_string())
            .reason(user.to_string()),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(())
}

/// What emergency access needs: which client, and why.
#[derive(Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The client's record number, e.g. `HV0001234`.
    pub record_number: String,
    /// Why: at least 10 characters. Admins and the client's supervisor will read it.
    pub reason: String,
    /// How long, 5 to 60 minutes (default 60).
    pub minutes: Option<i64>,
}

crate::redacted_debug!(BreakGlassRequest { minutes });

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BreakGlassOpened {
    pub grant_id: Uuid,
    pub client_id: ClientId,
    pub expires_at: DateTime<Utc>,
}

/// Opens time-boxed access to a client outside the caller's care team. The event names
/// the reason and is flagged `break_glass.open` in the audit trail.
pub async fn open_break_glass(caller: &Actor, request: &BreakGlassRequest) -> Result<BreakGlassOpened, Error> {
    let mut problems = Problems::default();
    let record_number = search::Term::parse(&request.record_number);
    let reason = problems.required("reason", Some(&request.reason), 1000);
    if reason.as_ref().is_some_and(|r| r.chars().count() < 10) {
        problems.add("reason", "must say why, in at least 10 characters");
    }
    let minutes = request.minutes.unwrap_or(BREAK_GLASS_MINUTES);
    if !(5..=BREAK_GLASS_MINUTES).contains(&minutes) {
        problems.add("minutes", format!("must be between 5 and {BREAK_GLASS_MINUTES}"));
    }
    let record_number = if let search::Term::Exact {
        record_number: Some(number),
        ..
    } = record_number
    {
        Some(number)
    } else {
        problems.add("record_number", "must be a record number such as HV0001234");
        None
    };
    let (Some(record_number), Some(reason), true) = (record_number, reason, problems.0.is_empty()) else {
        return Err(Error::Invalid(problems.0));
    };
    let client = store::id_by_record_number(&caller.tenant.pool, &record_number)
        .await?
        .ok_or_else(|| {
            Error::Invalid(vec![FieldError::new(
                "record_number",
                "no client has this record number",
            )])
        })?;
    let facts = facts(caller, client).await?;
    caller.authorize(&Action::OpenBreakGlass(facts)).await?;
    let now = caller.now();
    let mut tx = caller.tenant.pool.begin().await?;
    let (grant_id, expires_at) =
        access::open_grant(&mut tx, client, caller.identity.user.id, &reason, minutes, now).await?;
    audit::stage(
        &mut tx,
        &caller
            .event("break_glass.open", Outcome::Allowed)
            .resource("client", client.to_string())
            .reason(reason),
    )
    .await?;
    tx.commit().await?;
    caller.tenant.audit.nudge();
    Ok(BreakGlassOpened {
        grant_id,
        client_id: client,
        expires_at,
    })
}

/// Recent emergency access: everyone's for admins, their team's for supervisors.
pub async fn break_glass_log(caller: &Actor) -> Result<Audited<Vec<BreakGlassGrant>>, Error> {
    caller.authorize(&Action::ReviewBreakGlass).await?;
    let of = if caller.identity.user.has_role(Role::OrgAdmin) {
        GrantsOf::Everyone
    } else {
        GrantsOf::SupervisedBy(caller.identity.user.id)
    };
    let grants = access::recent_grants(&caller.tenant.pool, of, 100).await?;
    let event = caller
        .event("break_glass.review", Outcome::Allowed)
        .subjects(grants.iter().map(|g| g.client_id));
    Ok(caller.tenant.audit.read(event, grants).await?)
}

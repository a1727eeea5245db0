//! Authorization: one place that answers "may this person do this?".
//!
//! Handlers ask [`authorize`], which records every denial in the audit trail and, when
//! allowed, hands back a [`Permit`]. Store functions that reach protected data take the
//! permit for their action, so data cannot be reached without the policy's yes.

use std::marker::PhantomData;

use crate::actor::RequestMeta;
use crate::compliance::audit::Outcome;
use crate::error::Error;
use crate::identity::auth::Identity;
use crate::identity::service::event;
use crate::identity::{Role, UserId};
use crate::platform::tenancy::Tenant;
use crate::state::AppState;

mod scope;

pub use scope::Scope;

/// How the person asking stands to one client: loaded by the clients module, judged here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientFacts {
    /// They are on the client's care team.
    pub on_care_team: bool,
    /// Someone they supervise is on the client's care team.
    pub supervises_care_team: bool,
    /// They hold live break-glass access to the client.
    pub break_glass: bool,
}

/// How the person asking stands to one referral.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReferralFacts {
    /// The referral's client, once it has one (an inbound referral for someone new has none).
    pub client: Option<ClientFacts>,
    pub assigned_to_them: bool,
}

/// How the person asking stands to one appointment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppointmentFacts {
    /// They lead or co-facilitate it.
    pub involves_them: bool,
    /// They reach at least one of its clients (care team, supervision, break-glass).
    pub reaches_a_client: bool,
}

/// How the person asking stands to one note.
#[allow(clippy::struct_excessive_bools)] // separate facts, each loaded on its own
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoteFacts {
    pub client: ClientFacts,
    /// A psychotherapy note: its author and the author's supervisors only.
    pub psychotherapy: bool,
    pub signed: bool,
    /// Wrote this version (a draft is changed and signed by its author only).
    pub is_author: bool,
    /// This version's author's supervisor (`users.supervisor_id`): co-signs it.
    pub supervises_author: bool,
    /// Wrote the note's first version. An amendment keeps the original author's access
    /// rule, whoever wrote the amendment.
    pub is_original_author: bool,
    /// The original author's supervisor.
    pub supervises_original_author: bool,
}

/// How the person asking stands to one document: the client's, and the note's when it
/// is attached to one (an attachment takes the note's rules).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentFacts {
    pub client: ClientFacts,
    pub note: Option<NoteFacts>,
}

/// Which psychotherapy notes of one client a list may show: the policy's rule for many
/// notes at once, applied by the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsychotherapyScope {
    /// Those whose original author is `user`, or (`through_supervision`) whose original
    /// author `user` supervises.
    Own {
        user: UserId,
        through_supervision: bool,
    },
    Nothing,
}

/// Which appointments a list or calendar may show: the policy's answer for many at once,
/// applied by the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleScope {
    /// Front desk: the whole schedule.
    All,
    /// Clinical staff: what they lead or co-facilitate, and their clients' appointments.
    Involving {
        user: UserId,
        through_supervision: bool,
    },
    Nothing,
}

/// Which clients a list or search may show: the policy's answer for many clients at
/// once, applied by the query so that nobody sees a client they may not reach, not even
/// in a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientScope {
    /// Every client (demographics): front desk and organisation admins.
    All,
    /// Clients whose care team they are on, with live break-glass access, and (for a
    /// supervisor) whose care team holds someone they supervise.
    Reachable {
        user: UserId,
        through_supervision: bool,
    },
    Nothing,
}

/// What someone wants to do. Resources that need facts (a client's care team, a note's
/// author) carry them, loaded by the module that owns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Their own profile, sessions, second factor, sign-in history.
    ManageOwnAccount,
    /// See the staff list.
    ViewUsers,
    /// Invite, change roles, disable, unlock, reset a second factor.
    ManageUsers,
    /// See someone's sign-in history.
    ViewSignInHistory {
        of: UserId,
    },
    /// Search and read the audit trail.
    ReadAuditTrail,
    /// Export the audit trail.
    ExportAuditTrail,
    /// Organisation settings: security policy, modules, integrations, retention.
    ManageOrganisation,
    /// Inspect the job queue; retry or discard jobs.
    ManageJobs,
    /// Search and list clients (what the list shows follows [`client_scope`]).
    ListClients,
    /// Register a new client.
    CreateClient,
    /// A client's demographics and contact rules.
    ViewClient(ClientFacts),
    /// Change a client's demographics and contact rules.
    EditClient(ClientFacts),
    /// Mark a client's records `hipaa_exempt` (changes where they may be stored).
    SetHipaaExempt,
    /// Add or remove people on a client's care team.
    ManageCareTeam(ClientFacts),
    /// Clinical content about a client: referrals now, notes and assessments later.
    ViewClinical(ClientFacts),
    /// Open emergency access to a client outside one's care team.
    OpenBreakGlass(ClientFacts),
    /// See who opened emergency access (admins: everyone's; supervisors: their team's).
    ReviewBreakGlass,
    /// The referral queues.
    ListReferrals,
    CreateReferral,
    ViewReferral(ReferralFacts),
    /// Triage, assign, accept, decline, close.
    MoveReferral(ReferralFacts),
    /// Day and week views and appointment lists (what they show follows [`schedule_scope`]).
    ViewSchedule,
    /// Book an appointment for clients; clinical staff need to reach every one of them.
    BookAppointment {
        reaches_every_client: bool,
    },
    ViewAppointment(AppointmentFacts),
    /// Move, edit, check in, complete, cancel, mark a no-show.
    ChangeAppointment(AppointmentFacts),
    /// Someone's weekly hours: their own, or anyone's for front desk and admins.
    SetAvailability {
        of: UserId,
    },
    /// Rooms that can be booked.
    ManageRooms,
    /// Write a note about a client (a draft until signed).
    WriteNote {
        client: ClientFacts,
        psychotherapy: bool,
    },
    /// Read one note (psychotherapy notes: author and their supervisors only).
    ViewNote(NoteFacts),
    /// Change or discard a draft.
    EditDraft(NoteFacts),
    /// Sign a draft, making it final.
    SignNote(NoteFacts),
    /// Start an amendment of a signed note.
    AmendNote(NoteFacts),
    /// Co-sign a trainee's signed note.
    CosignNote(NoteFacts),
    /// The queue of trainees' notes awaiting co-signature.
    ViewCosignQueue,
    /// Notes owed: one's own completed appointments without a signed note.
    ViewLateNotes,
    /// Record a PHQ-9, GAD-7 or other measure.
    RecordAssessment(ClientFacts),
    /// Say what was done about a safety alert.
    AcknowledgeAlert(ClientFacts),
    /// Attach a document to a client or to a draft note.
    UploadDocument(DocumentFacts),
    /// A client's documents tab and list (each document in it is then held to
    /// [`Action::OpenDocument`]).
    ViewDocuments(ClientFacts),
    /// See one document in a list and download it.
    OpenDocument(DocumentFacts),
    /// Write, publish and archive help articles; manage categories and images; see the
    /// help centre's anonymous usage counts.
    EditHelp,
}

impl Action {
    /// The API-token scope this action needs.
    pub fn scope(&self) -> Scope {
        match self {
            Self::ManageOwnAccount => Scope::AccountRead,
            Self::ViewUsers | Self::ViewSignInHistory { .. } => Scope::UsersRead,
            Self::ManageUsers => Scope::UsersWrite,
            Self::ReadAuditTrail | Self::ExportAuditTrail => Scope::AuditRead,
            Self::ManageOrganisation | Self::ManageJobs => Scope::OrganisationWrite,
            Self::ListClients | Self::ViewClient(_) | Self::ViewClinical(_) | Self::ReviewBreakGlass => {
                Scope::ClientsRead
            }
            Self::CreateClient
            | Self::EditClient(_)
            | Self::SetHipaaExempt
            | Self::ManageCareTeam(_)
            | Self::OpenBreakGlass(_) => Scope::ClientsWrite,
            Self::ListReferrals | Self::ViewReferral(_) => Scope::ReferralsRead,
            Self::CreateReferral | Self::MoveReferral(_) => Scope::ReferralsWrite,
            Self::ViewSchedule | Self::ViewAppointment(_) => Scope::AppointmentsRead,
            Self::BookAppointment { .. }
            | Self::ChangeAppointment(_)
            | Self::SetAvailability { .. }
            | Self::ManageRooms => Scope::AppointmentsWrite,
            Self::ViewNote(_)
            | Self::ViewCosignQueue
            | Self::ViewLateNotes
            | Self::ViewDocuments(_)
            | Self::OpenDocument(_) => Scope::ClinicalRead,
            Self::WriteNote { .. }
            | Self::EditDraft(_)
            | Self::SignNote(_)
            | Self::AmendNote(_)
            | Self::CosignNote(_)
            | Self::RecordAssessment(_)
            | Self::AcknowledgeAlert(_)
            | Self::UploadDocument(_) => Scope::ClinicalWrite,
            Self::EditHelp => Scope::HelpWrite,
        }
    }

    /// Names the action in the audit trail's `access.denied` events.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ManageOwnAccount => "own_account",
            Self::ViewUsers => "users.view",
            Self::ManageUsers => "users.manage",
            Self::ViewSignInHistory { .. } => "sign_in_history.view",
            Self::ReadAuditTrail => "audit_trail.read",
            Self::ExportAuditTrail => "audit_trail.export",
            Self::ManageOrganisation => "organisation.manage",
            Self::ManageJobs => "jobs.manage",
            Self::ListClients => "clients.list",
            Self::CreateClient => "client.create",
            Self::ViewClient(_) => "client.view",
            Self::EditClient(_) => "client.edit",
            Self::SetHipaaExempt => "client.hipaa_exempt",
            Self::ManageCareTeam(_) => "care_team.manage",
            Self::ViewClinical(_) => "client.clinical",
            Self::OpenBreakGlass(_) => "break_glass.open",
            Self::ReviewBreakGlass => "break_glass.review",
            Self::ListReferrals => "referrals.list",
            Self::CreateReferral => "referral.create",
            Self::ViewReferral(_) => "referral.view",
            Self::MoveReferral(_) => "referral.move",
            Self::ViewSchedule => "schedule.view",
            Self::BookAppointment { .. } => "appointment.book",
            Self::ViewAppointment(_) => "appointment.view",
            Self::ChangeAppointment(_) => "appointment.change",
            Self::SetAvailability { .. } => "availability.set",
            Self::ManageRooms => "rooms.manage",
            Self::WriteNote { .. } => "note.write",
            Self::ViewNote(_) => "note.view",
            Self::EditDraft(_) => "note.edit",
            Self::SignNote(_) => "note.sign",
            Self::AmendNote(_) => "note.amend",
            Self::CosignNote(_) => "note.cosign",
            Self::ViewCosignQueue => "notes.cosign_queue",
            Self::ViewLateNotes => "notes.late",
            Self::RecordAssessment(_) => "assessment.record",
            Self::AcknowledgeAlert(_) => "safety_alert.acknowledge",
            Self::UploadDocument(_) => "document.upload",
            Self::ViewDocuments(_) => "documents.view",
            Self::OpenDocument(_) => "document.open",
            Self::EditHelp => "help.edit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(&'static str),
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Self::Allow
    }
}

fn allow_if(condition: bool, otherwise: &'static str) -> Decision {
    if condition {
        Decision::Allow
    } else {
        Decision::Deny(otherwise)
    }
}

/// Reaches the client through the care team, supervision or break-glass.
fn reaches(identity: &Identity, facts: ClientFacts) -> bool {
    identity.user.is_clinical_staff() && (reaches_without_break_glass(identity, facts) || facts.break_glass)
}

fn reaches_without_break_glass(identity: &Identity, facts: ClientFacts) -> bool {
    facts.on_care_team || (facts.supervises_care_team && identity.user.has_role(Role::Supervisor))
}

/// Front desk keeps the whole register for scheduling; admins for care-team assignment.
fn sees_every_client(identity: &Identity) -> bool {
    identity.user.has_role(Role::FrontDesk) || identity.user.has_role(Role::OrgAdmin)
}

/// Which clients lists and searches may show this person.
pub fn client_scope(identity: &Identity) -> ClientScope {
    if !may(identity, &Action::ListClients).is_allowed() {
        ClientScope::Nothing
    } else if sees_every_client(identity) {
        ClientScope::All
    } else {
        ClientScope::Reachable {
            user: identity.user.id,
            through_supervision: identity.user.has_role(Role::Supervisor),
        }
    }
}

const NOT_ON_CARE_TEAM: &str = "this client is not on your caseload; emergency access needs a written reason";
const NO_CLINICAL: &str = "your role does not include clinical content";

/// The policy. Roles of SPEC.md: org admins manage people and settings but see no
/// clinical content; auditors read the audit trail and nothing clinical; front desk sees
/// demographics and scheduling, never clinical content; clinicians reach the clients on
/// whose care team they are, supervisors also their team's; everyone manages their own
/// account.
pub fn may(identity: &Identity, action: &Action) -> Decision {
    if let Some(token) = &identity.api_token
        && !token.scopes.iter().any(|s| s == action.scope().as_str())
    {
        return Decision::Deny("the API token lacks the scope for this");
    }
    let user = &identity.user;
    let has = |role| user.has_role(role);
    match action {
        Action::ManageOwnAccount => Decision::Allow,
        Action::ViewUsers | Action::ManageUsers | Action::ManageOrganisation | Action::ManageJobs => allow_if(
            has(Role::OrgAdmin),
            "only organisation admins manage staff accounts and settings",
        ),
        Action::ViewSignInHistory { of } => allow_if(
            *of == user.id || has(Role::OrgAdmin),
            "you may see your own sign-ins; admins see everyone's",
        ),
        Action::ReadAuditTrail | Action::ExportAuditTrail => {
            allow_if(has(Role::Auditor), "only auditors read the audit trail")
        }
        Action::ListClients => allow_if(
            identity.user.is_clinical_staff() || sees_every_client(identity),
            "your role does not include client records",
        ),
        Action::CreateClient => allow_if(
            identity.user.is_clinical_staff() || has(Role::FrontDesk),
            "only front desk and clinical staff register clients",
        ),
        Action::ViewClient(facts) => {
            if sees_every_client(identity) || reaches(identity, *facts) {
                Decision::Allow
            } else if identity.user.is_clinical_staff() {
                Decision::Deny(NOT_ON_CARE_TEAM)
            } else {
                Decision::Deny("your role does not include client records")
            }
        }
        Action::EditClient(facts) => {
            if has(Role::FrontDesk) || reaches(identity, *facts) {
                Decision::Allow
            } else if identity.user.is_clinical_staff() {
                Decision::Deny(NOT_ON_CARE_TEAM)
            } else {
                Decision::Deny("your role does not change client records")
            }
        }
        Action::SetHipaaExempt => allow_if(has(Role::OrgAdmin), "only organisation admins change hipaa_exempt"),
        // Never through break-glass: emergency access must not turn into lasting access.
        Action::ManageCareTeam(facts) => allow_if(
            has(Role::OrgAdmin) || (has(Role::Supervisor) && reaches_without_break_glass(identity, *facts)),
            "only organisation admins and the client's supervisor change the care team",
        ),
        Action::ViewClinical(facts) => {
            if reaches(identity, *facts) {
                Decision::Allow
            } else if identity.user.is_clinical_staff() {
                Decision::Deny(NOT_ON_CARE_TEAM)
            } else {
                Decision::Deny(NO_CLINICAL)
            }
        }
        Action::OpenBreakGlass(facts) => {
            if !identity.user.is_clinical_staff() {
                Decision::Deny(NO_CLINICAL)
            } else if reaches_without_break_glass(identity, *facts) {
                Decision::Deny("you already have access to this client")
            } else {
                Decision::Allow
            }
        }
        Action::ReviewBreakGlass => allow_if(
            has(Role::OrgAdmin) || has(Role::Supervisor),
            "only organisation admins and supervisors review emergency access",
        ),
        Action::ListReferrals | Action::CreateReferral => allow_if(identity.user.is_clinical_staff(), NO_CLINICAL),
        Action::ViewReferral(facts) | Action::MoveReferral(facts) => may_see_referral(identity, *facts),
        Action::ViewSchedule
        | Action::BookAppointment { .. }
        | Action::ViewAppointment(_)
        | Action::ChangeAppointment(_)
        | Action::SetAvailability { .. }
        | Action::ManageRooms => may_schedule(identity, action),
        Action::WriteNote { .. }
        | Action::ViewNote(_)
        | Action::EditDraft(_)
        | Action::SignNote(_)
        | Action::AmendNote(_)
        | Action::CosignNote(_)
        | Action::ViewCosignQueue
        | Action::ViewLateNotes
        | Action::RecordAssessment(_)
        | Action::AcknowledgeAlert(_)
        | Action::UploadDocument(_)
        | Action::ViewDocuments(_)
        | Action::OpenDocument(_) => may_keep_records(identity, action),
        // The help centre is shared by every organisation of the installation: only the
        // help editors of the organisation that keeps it edit it.
        Action::EditHelp => allow_if(
            has(Role::HelpEditor) && identity.installation_help,
            "only the help editors of the organisation that keeps this installation's help centre write it",
        ),
    }
}

/// Counsellors and supervisors: the people who write and sign clinical notes (case
/// managers read them).
fn writes_notes(identity: &Identity) -> bool {
    identity.user.has_role(Role::Clinician) || identity.user.has_role(Role::Supervisor)
}

const PSYCHOTHERAPY_ONLY: &str = "psychotherapy notes are read only by their author and the author's supervisors";

/// A psychotherapy note: its original author and the original author's supervisor,
/// while they reach the client through the care team or supervision (someone taken off
/// the care team loses it); never through break-glass, never for admins, auditors,
/// front desk or case managers. Amendments follow the original author's rule.
fn opens_psychotherapy(identity: &Identity, facts: NoteFacts) -> bool {
    reaches_without_break_glass(identity, facts.client)
        && ((facts.is_original_author && writes_notes(identity))
            || (facts.supervises_original_author && identity.user.has_role(Role::Supervisor)))
}

/// Which psychotherapy notes of a client lists show this person: [`opens_psychotherapy`]
/// for many notes at once.
pub fn psychotherapy_scope(identity: &Identity, client: ClientFacts) -> PsychotherapyScope {
    let supervisor = identity.user.has_role(Role::Supervisor);
    if reaches_without_break_glass(identity, client) && (writes_notes(identity) || supervisor) {
        PsychotherapyScope::Own {
            user: identity.user.id,
            through_supervision: supervisor,
        }
    } else {
        PsychotherapyScope::Nothing
    }
}

/// Reading one note: a psychotherapy note by [`opens_psychotherapy`], any other by
/// whoever reaches the client.
fn views_note(identity: &Identity, facts: NoteFacts, reached: impl Fn(ClientFacts) -> Decision) -> Decision {
    if facts.psychotherapy {
        allow_if(opens_psychotherapy(identity, facts), PSYCHOTHERAPY_ONLY)
    } else {
        reached(facts.client)
    }
}

/// Changing a draft (its body, its attachments) or signing it: its author only.
fn edits_draft(identity: &Identity, facts: NoteFacts) -> Decision {
    if facts.signed {
        Decision::Deny("a signed note is final; amend it instead")
    } else {
        allow_if(
            facts.is_author && writes_notes(identity),
            "only the note's author changes or signs it",
        )
    }
}

/// Clinical records: notes, assessments, safety alerts and documents. Clinical staff who
/// reach the client read them; counsellors and supervisors write and sign notes; only a
/// note's author changes its draft; supervisors co-sign their trainees' notes.
fn may_keep_records(identity: &Identity, action: &Action) -> Decision {
    let reached = |facts: ClientFacts| {
        if reaches(identity, facts) {
            Decision::Allow
        } else if identity.user.is_clinical_staff() {
            Decision::Deny(NOT_ON_CARE_TEAM)
        } else {
            Decision::Deny(NO_CLINICAL)
        }
    };
    match action {
        Action::WriteNote { client, psychotherapy } => {
            if !writes_notes(identity) {
                Decision::Deny("only counsellors and supervisors write clinical notes")
            } else if *psychotherapy && !reaches_without_break_glass(identity, *client) {
                Decision::Deny(PSYCHOTHERAPY_ONLY)
            } else {
                reached(*client)
            }
        }
        Action::ViewNote(facts) => views_note(identity, *facts, reached),
        Action::EditDraft(facts) | Action::SignNote(facts) => edits_draft(identity, *facts),
        Action::AmendNote(facts) => {
            if !facts.signed {
                Decision::Deny("a draft is changed, not amended")
            } else if facts.psychotherapy {
                allow_if(opens_psychotherapy(identity, *facts), PSYCHOTHERAPY_ONLY)
            } else if !writes_notes(identity) {
                Decision::Deny("only counsellors and supervisors amend clinical notes")
            } else {
                reached(facts.client)
            }
        }
        Action::CosignNote(facts) => allow_if(
            facts.signed && facts.supervises_author && identity.user.has_role(Role::Supervisor),
            "only the author's supervisor co-signs a signed note",
        ),
        Action::ViewCosignQueue => allow_if(
            identity.user.has_role(Role::Supervisor),
            "only supervisors co-sign notes",
        ),
        Action::ViewLateNotes => allow_if(writes_notes(identity), "only counsellors and supervisors write notes"),
        Action::RecordAssessment(facts) | Action::AcknowledgeAlert(facts) | Action::ViewDocuments(facts) => {
            reached(*facts)
        }
        // A document attached to a note takes the note's rules.
        Action::UploadDocument(DocumentFacts { client, note }) => match (reached(*client), note) {
            (Decision::Allow, Some(note)) => edits_draft(identity, *note),
            (decision, _) => decision,
        },
        Action::OpenDocument(DocumentFacts { client, note }) => match note {
            Some(note) => views_note(identity, *note, reached),
            None => reached(*client),
        },
        _ => Decision::Deny("not a clinical records action"),
    }
}

fn may_see_referral(identity: &Identity, facts: ReferralFacts) -> Decision {
    if !identity.user.is_clinical_staff() {
        Decision::Deny(NO_CLINICAL)
    } else if facts.assigned_to_them || facts.client.is_none_or(|client| reaches(identity, client)) {
        Decision::Allow
    } else {
        Decision::Deny(NOT_ON_CARE_TEAM)
    }
}

/// Scheduling: front desk keeps the whole schedule; clinical staff book for the clients
/// they reach and see what they lead or their clients'; admins manage rooms.
fn may_schedule(identity: &Identity, action: &Action) -> Decision {
    let user = &identity.user;
    let has = |role| user.has_role(role);
    match action {
        Action::ViewSchedule => allow_if(
            identity.user.is_clinical_staff() || has(Role::FrontDesk),
            "only front desk and clinical staff see the schedule",
        ),
        Action::BookAppointment { reaches_every_client } => {
            if has(Role::FrontDesk) || (identity.user.is_clinical_staff() && *reaches_every_client) {
                Decision::Allow
            } else if identity.user.is_clinical_staff() {
                Decision::Deny(NOT_ON_CARE_TEAM)
            } else {
                Decision::Deny("only front desk and clinical staff book appointments")
            }
        }
        Action::ViewAppointment(facts) | Action::ChangeAppointment(facts) => {
            if has(Role::FrontDesk)
                || (identity.user.is_clinical_staff() && (facts.involves_them || facts.reaches_a_client))
            {
                Decision::Allow
            } else if identity.user.is_clinical_staff() {
                Decision::Deny("this appointment is neither yours nor with a client on your caseload")
            } else {
                Decision::Deny("only front desk and clinical staff see appointments")
            }
        }
        Action::SetAvailability { of } => allow_if(
            has(Role::FrontDesk) || has(Role::OrgAdmin) || (*of == user.id && identity.user.is_clinical_staff()),
            "clinical staff set their own hours; front desk and admins set anyone's",
        ),
        Action::ManageRooms => allow_if(has(Role::OrgAdmin), "only organisation admins manage rooms"),
        _ => Decision::Deny("not a scheduling action"),
    }
}

/// Which appointments lists and calendars may show this person.
pub fn schedule_scope(identity: &Identity) -> ScheduleScope {
    if !may(identity, &Action::ViewSchedule).is_allowed() {
        ScheduleScope::Nothing
    } else if identity.user.has_role(Role::FrontDesk) {
        ScheduleScope::All
    } else {
        ScheduleScope::Involving {
            user: identity.user.id,
            through_supervision: identity.user.has_role(Role::Supervisor),
        }
    }
}

/// Proof that the policy allowed `A` for this request. Only [`authorize`] makes one.
#[derive(Debug)]
pub struct Permit<'a> {
    pub action: &'a Action,
    _private: PhantomData<()>,
}

/// Asks the policy; a denial is recorded in the audit trail (durably, before the 403).
pub async fn authorize<'a>(
    state: &AppState,
    tenant: &Tenant,
    meta: &RequestMeta,
    identity: &Identity,
    action: &'a Action,
) -> Result<Permit<'a>, Error> {
    match may(identity, action) {
        Decision::Allow => Ok(Permit {
            action,
            _private: PhantomData,
        }),
        Decision::Deny(why) => {
            let (kind, actor) = identity.audit_actor();
            let mut denial = event(meta, &state.clock, "access.denied", Outcome::Denied).actor(kind, actor);
            denial.reason = Some(action.name().to_owned());
            if let Some(session) = identity.session_id() {
                denial = denial.session(session.to_string());
            }
            tenant.audit.record(denial).await?;
            Err(Error::Forbidden {
                code: "forbidden",
                message: format!("You do not have access to this: {why}."),
            })
        }
    }
}

#[cfg(test)]
mod tests;

//! Administering accounts: create, change roles, disable, enable, unlock, reset a
//! second factor. Each change is audited in its own transaction.

use sqlx::PgPool;

use super::password::{PasswordError, PasswordHasher, check_strength};
use super::session::{self, EndReason};
use super::store::GrantRequest;
use super::throttle::{self, ThrottleKey};
use super::{Email, GrantRequestId, Role, User, UserId, UserStatus, store, two_factor};
use crate::clock::SharedClock;
use crate::compliance::audit::{self, ActorKind, AuditEvent, Outcome};
use crate::error::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("no such account")]
    NoSuchUser,
    #[error("no such grant is waiting")]
    NoSuchRequest,
    #[error("a grant is decided by another admin than the one who asked, and not by the person it is for")]
    OwnRequest,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Who made a change, for the audit trail: an administrator or the command line.
#[derive(Debug, Clone)]
pub struct ChangedBy {
    pub kind: ActorKind,
    pub id: Option<String>,
    pub user: Option<UserId>,
    pub request_id: Option<String>,
}

impl ChangedBy {
    pub fn command_line(operator: &str) -> Self {
        Self {
            kind: ActorKind::System,
            id: Some(format!("cli:{operator}")),
            user: None,
            request_id: None,
        }
    }

    fn event(&self, clock: &SharedClock, action: &str, target: UserId) -> AuditEvent {
        let mut event = AuditEvent::new(clock.now(), action, Outcome::Allowed)
            .actor(self.kind, self.id.clone())
            .resource("user", target.to_string());
        event.request_id.clone_from(&self.request_id);
        event
    }
}

/// The job that tells every other organisation admin that someone was given access to
/// clinical records, the audit trail or administration.
pub const GRANT_JOB: &str = "identity.access_granted";

/// Roles whose grant opens clinical records, the audit trail or administration: every
/// other admin hears of it.
fn opens_records(role: Role) -> bool {
    matches!(
        role,
        Role::Clinician | Role::CaseManager | Role::Supervisor | Role::Auditor | Role::OrgAdmin
    )
}

/// Queues the notice of a grant to every other admin, in the grant's transaction.
async fn queue_grant_notice(
    tx: &mut sqlx::PgConnection,
    clock: &SharedClock,
    by: &ChangedBy,
    user: UserId,
    what: &str,
    held: bool,
) -> Result<(), sqlx::Error> {
    let now = clock.now();
    let job = crate::platform::jobs::NewJob::new(
        GRANT_JOB,
        serde_json::json!({ "user": user, "what": what, "by": by.user, "held": held }),
        now,
    )
    .attempts(5);
    crate::platform::jobs::enqueue(&mut *tx, &job, now).await?;
    Ok(())
}

/// Emails every active organisation admin but the one who made the grant: who was given
/// what, by whom, with a link to their account. Without a mail server the grant is still
/// listed on the staff page.
pub async fn notify_grant(
    state: crate::state::AppState,
    run: crate::platform::jobs::JobRun,
) -> Result<(), crate::platform::jobs::JobFailure> {
    use crate::platform::jobs::JobFailure;
    #[derive(serde::Deserialize)]
    struct Payload {
        user: UserId,
        what: String,
        by: Option<UserId>,
        #[serde(default)]
        held: bool,
    }
    let payload: Payload = serde_json::from_value(run.payload.clone())
        .map_err(|_| JobFailure::permanent("the job's payload is not a grant"))?;
    if !state.mailer.is_configured() {
        tracing::info!("a grant notice was not emailed: no mail server is configured");
        return Ok(());
    }
    let pool = &run.tenant.pool;
    let everyone = store::list(pool).await?;
    let name = |id: Option<UserId>| {
        id.and_then(|id| everyone.iter().find(|u| u.id == id))
            .map_or_else(|| "the command line".to_owned(), |u| u.display_name.clone())
    };
    let grantee = name(Some(payload.user));
    let base = state.config.public_url.clone().unwrap_or_default();
    let base = base.trim_end_matches('/');
    let (subject, body) = if payload.held {
        (
            "Haven: access waits for your approval",
            format!(
                "{} asks to give {grantee} {}.\n\nNothing changes until another admin approves it. Approve or refuse it on the staff page:\n{base}/admin/users\n",
                name(payload.by),
                payload.what,
            ),
        )
    } else {
        (
            "Haven: access was granted",
            format!(
                "{grantee} was given {} by {}.\n\nIf you did not expect this, review their account now:\n{base}/admin/users/{}\n",
                payload.what,
                name(payload.by),
                payload.user
            ),
        )
    };
    for admin in everyone.iter().filter(|u| {
        u.has_role(Role::OrgAdmin)
            && u.status == UserStatus::Active
            && Some(u.id) != payload.by
            && !(payload.held && u.id == payload.user)
    }) {
        state
            .mailer
            .send(&admin.email, subject, body.clone())
            .await
            .map_err(|e| JobFailure::retry(format!("mail: {e}")))?;
    }
    Ok(())
}

/// The email addresses of the organisation's active admins.
pub async fn active_admins(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    Ok(store::list(pool)
        .await?
        .into_iter()
        .filter(|u| u.has_role(Role::OrgAdmin) && u.status == UserStatus::Active)
        .map(|u| u.email)
        .collect())
}

/// A grant as the staff page lists it.
pub struct Grant {
    pub at: chrono::DateTime<chrono::Utc>,
    pub user: String,
    pub what: String,
    pub by: String,
}

/// The grants of roles and supervisor links of the last `days` days, newest first, from
/// the audit trail.
pub async fn recent_grants(
    pool: &PgPool,
    now: chrono::DateTime<chrono::Utc>,
    days: i64,
) -> Result<Vec<Grant>, sqlx::Error> {
    let everyone = store::list(pool).await?;
    let name_of = |id: Option<&str>| match id {
        Some(id) if id.starts_with("cli:") => format!("{} on the command line", &id[4..]),
        Some(id) => everyone
            .iter()
            .find(|u| u.id.to_string() == id)
            .map_or_else(|| "a former account".to_owned(), |u| u.display_name.clone()),
        None => "someone".to_owned(),
    };
    let mut grants = Vec::new();
    for action in ["role.grant", "user.supervisor_set"] {
        let filter = crate::compliance::audit::EventFilter {
            action: Some(action.to_owned()),
            from: Some(now - chrono::TimeDelta::days(days)),
            ..Default::default()
        };
        for e in crate::compliance::audit::list_events(pool, &filter, 50).await? {
            let reason = e.event.reason.clone().unwrap_or_default();
            let what = if action == "role.grant" {
                Role::parse(&reason).map_or(reason, |r| format!("the {} role", r.label()))
            } else if reason == "none" {
                continue;
            } else {
                format!("{} as supervisor", name_of(Some(reason.as_str())))
            };
            let by = e.event.actor_id.clone();
            grants.push(Grant {
                at: e.event.occurred_at,
                user: name_of(e.event.resource_id.as_deref()),
                what,
                by: name_of(by.as_deref().map(|b| b.strip_prefix("user:").unwrap_or(b))),
            });
        }
    }
    grants.sort_by_key(|g| std::cmp::Reverse(g.at));
    Ok(grants)
}

pub struct NewAccount<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub roles: &'a [Role],
    /// Set now (command line, demo); `None` makes an invited account that sets its own.
    pub password: Option<&'a str>,
}

/// Checks the fields of a new account; every problem at once.
pub fn validate_new(account: &NewAccount<'_>) -> Result<Email, AdminError> {
    let mut problems = Vec::new();
    let email = Email::parse(account.email);
    if let Err(problem) = &email {
        problems.push(FieldError::new("email", *problem));
    }
    let name = account.display_name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        problems.push(FieldError::new("display_name", "must have 1 to 100 characters"));
    }
    if account.roles.is_empty() {
        problems.push(FieldError::new("roles", "must name at least one role"));
    }
    if let Some(password) = account.password
        && let Err(weak) = check_strength(password, &[account.email, name])
    {
        problems.push(FieldError::new("password", weak.0));
    }
    match email {
        Ok(email) if problems.is_empty() => Ok(email),
        _ => Err(AdminError::Invalid(problems)),
    }
}

pub async fn create(
    pool: &PgPool,
    passwords: &PasswordHasher,
    clock: &SharedClock,
    by: &ChangedBy,
    account: &NewAccount<'_>,
) -> Result<UserId, AdminError> {
    let email = validate_new(account)?;
    let hash = match account.password {
        Some(password) => Some(passwords.hash(password).await?),
        None => None,
    };
    let id = UserId(uuid::Uuid::now_v7());
    let now = clock.now();
    let mut tx = pool.begin().await?;
    let inserted = store::insert(
        &mut tx,
        &store::NewUser {
            id,
            email: email.as_str(),
            display_name: account.display_name.trim(),
            status: if hash.is_some() {
                UserStatus::Active
            } else {
                UserStatus::Invited
            },
            password_hash: hash.as_deref(),
            at: now,
        },
    )
    .await?;
    if !inserted {
        return Err(AdminError::EmailTaken);
    }
    audit::stage(&mut tx, &by.event(clock, "user.create", id)).await?;
    grant_roles(&mut tx, clock, by, id, &[], account.roles).await?;
    tx.commit().await?;
    Ok(id)
}

/// The admin whose grants wait for a second admin, when the organisation asks for that.
/// The command line is the operator of the server, whose grants apply at once.
async fn holds_grants(tx: &mut sqlx::PgConnection, by: &ChangedBy) -> Result<Option<UserId>, sqlx::Error> {
    let Some(admin) = by.user else {
        return Ok(None);
    };
    let settings = crate::organisation::store::load(&mut *tx).await?;
    Ok(settings.security.grants_need_approval.then_some(admin))
}

/// Gives `user` the roles `wanted` in place of `current`. Each grant and revocation is
/// audited; a grant that opens records is announced to the other admins, and when the
/// organisation asks for a second admin it is held instead of made (everything else
/// applies at once).
async fn grant_roles(
    tx: &mut sqlx::PgConnection,
    clock: &SharedClock,
    by: &ChangedBy,
    user: UserId,
    current: &[Role],
    wanted: &[Role],
) -> Result<(), sqlx::Error> {
    let held_by = holds_grants(tx, by).await?;
    let held = |role: &Role| held_by.is_some() && opens_records(*role) && !current.contains(role);
    let now_roles: Vec<Role> = wanted.iter().copied().filter(|r| !held(r)).collect();
    store::set_roles(tx, user, &now_roles, by.user, clock.now()).await?;
    for role in Role::ALL {
        let (had, has) = (current.contains(&role), wanted.contains(&role));
        if had == has {
            continue;
        }
        let action = match (has, held(&role)) {
            (false, _) => "role.revoke",
            (true, false) => "role.grant",
            (true, true) => "role.grant_held",
        };
        let mut event = by.event(clock, action, user);
        event.reason = Some(role.as_str().to_owned());
        audit::stage(tx, &event).await?;
        if let (true, Some(requester)) = (held(&role), held_by) {
            let request = GrantRequest {
                id: GrantRequestId::new(),
                user,
                role: Some(role),
                supervisor: None,
                requested_by: requester,
                requested_at: clock.now(),
            };
            store::hold_grant(tx, &request).await?;
        }
        if has && opens_records(role) {
            queue_grant_notice(tx, clock, by, user, &format!("the {} role", role.label()), held(&role)).await?;
        }
    }
    Ok(())
}

/// Replaces an account's roles; each grant and revocation is audited.
pub async fn set_roles(
    pool: &PgPool,
    clock: &SharedClock,
    by: &ChangedBy,
    user: UserId,
    roles: &[Role],
) -> Result<(), AdminError> {
    if roles.is_empty() {
        return Err(AdminError::Invalid(vec![FieldError::new(
            "roles",
            "must name at least one role",
        )]));
    }
    let current = store::find(pool, user).await?.ok_or(AdminError::NoSuchUser)?;
    let mut tx = pool.begin().await?;
    grant_roles(&mut tx, clock, by, user, &current.roles, roles).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets who supervises `user` (`None`: nobody). A supervisor must hold the supervisor
/// role; supervision decides which clients a supervisor reaches, so it is audited.
pub async fn set_supervisor(
    pool: &PgPool,
    clock: &SharedClock,
    by: &ChangedBy,
    user: UserId,
    supervisor: Option<UserId>,
) -> Result<(), AdminError> {
    store::find(pool, user).await?.ok_or(AdminError::NoSuchUser)?;
    if let Some(supervisor) = supervisor {
        check_supervisor(pool, user, supervisor).await?;
    }
    let mut tx = pool.begin().await?;
    if let (Some(supervisor), Some(requester)) = (supervisor, holds_grants(&mut tx, by).await?) {
        let request = GrantRequest {
            id: GrantRequestId::new(),
            user,
            role: None,
            supervisor: Some(supervisor),
            requested_by: requester,
            requested_at: clock.now(),
        };
        store::hold_grant(&mut tx, &request).await?;
        let mut event = by.event(clock, "user.supervisor_held", user);
        event.reason = Some(supervisor.to_string());
        audit::stage(&mut tx, &event).await?;
        let what = supervision(pool, supervisor).await?;
        queue_grant_notice(&mut tx, clock, by, user, &what, true).await?;
        tx.commit().await?;
        return Ok(());
    }
    link_supervisor(&mut tx, clock, by, user, supervisor).await?;
    tx.commit().await?;
    Ok(())
}

/// A supervisor must be another active staff member with the supervisor role.
async fn check_supervisor(pool: &PgPool, user: UserId, supervisor: UserId) -> Result<(), AdminError> {
    let found = store::find(pool, supervisor).await?;
    if supervisor == user || !found.is_some_and(|s| s.has_role(Role::Supervisor) && s.status != UserStatus::Disabled) {
        return Err(AdminError::Invalid(vec![FieldError::new(
            "supervisor_id",
            "must be another active staff member with the supervisor role",
        )]));
    }
    Ok(())
}

/// What a supervisor link gives, as the notice to admins says it.
async fn supervision(db: impl sqlx::PgExecutor<'_>, supervisor: UserId) -> Result<String, sqlx::Error> {
    let name = store::find(db, supervisor)
        .await?
        .map(|s| s.display_name)
        .unwrap_or_default();
    Ok(format!("{name} as supervisor (who then reads their notes)"))
}

/// Sets the supervisor link now, audited, and announces a new link to the other admins.
async fn link_supervisor(
    tx: &mut sqlx::PgConnection,
    clock: &SharedClock,
    by: &ChangedBy,
    user: UserId,
    supervisor: Option<UserId>,
) -> Result<(), sqlx::Error> {
    store::set_supervisor(&mut *tx, user, supervisor, clock.now()).await?;
    let mut event = by.event(clock, "user.supervisor_set", user);
    event.reason = Some(supervisor.map_or_else(|| "none".to_owned(), |s| s.to_string()));
    audit::stage(tx, &event).await?;
    if let Some(supervisor) = supervisor {
        let what = supervision(&mut *tx, supervisor).await?;
        queue_grant_notice(tx, clock, by, user, &what, false).await?;
    }
    Ok(())
}

/// The grants waiting for a second admin.
pub async fn waiting_grants(pool: &PgPool) -> Result<Vec<GrantRequest>, AdminError> {
    Ok(store::waiting_grants(pool).await?)
}

/// Approves or refuses a held grant. The admin who decides is neither the one who asked
/// nor the person it is for; an approved grant is made as if given now, by the approver.
pub async fn decide_grant(
    pool: &PgPool,
    clock: &SharedClock,
    by: &ChangedBy,
    id: GrantRequestId,
    approve: bool,
) -> Result<GrantRequest, AdminError> {
    let me = by.user.ok_or(AdminError::OwnRequest)?;
    let waiting = store::waiting_grants(pool).await?;
    let request = waiting.iter().find(|r| r.id == id).ok_or(AdminError::NoSuchRequest)?;
    if request.requested_by == me || request.user == me {
        return Err(AdminError::OwnRequest);
    }
    if let (true, Some(supervisor)) = (approve, request.supervisor) {
        check_supervisor(pool, request.user, supervisor).await?;
    }
    let mut tx = pool.begin().await?;
    let request = store::decide_grant(&mut tx, id, me, approve, clock.now())
        .await?
        .ok_or(AdminError::NoSuchRequest)?;
    let mut decision = by.event(
        clock,
        if approve { "grant.approved" } else { "grant.refused" },
        request.user,
    );
    decision.reason = Some(match (request.role, request.supervisor) {
        (Some(role), _) => role.as_str().to_owned(),
        (None, Some(supervisor)) => format!("supervisor {supervisor}"),
        (None, None) => String::new(),
    });
    audit::stage(&mut tx, &decision).await?;
    if approve {
        if let Some(role) = request.role {
            let user = store::find(&mut *tx, request.user)
                .await?
                .ok_or(AdminError::NoSuchUser)?;
            let mut wanted = user.roles.clone();
            wanted.push(role);
            store::set_roles(&mut tx, request.user, &wanted, Some(me), clock.now()).await?;
            let mut event = by.event(clock, "role.grant", request.user);
            event.reason = Some(role.as_str().to_owned());
            audit::stage(&mut tx, &event).await?;
            queue_grant_notice(
                &mut tx,
                clock,
                by,
                request.user,
                &format!("the {} role", role.label()),
                false,
            )
            .await?;
        }
        if let Some(supervisor) = request.supervisor {
            link_supervisor(&mut tx, clock, by, request.user, Some(supervisor)).await?;
        }
    }
    tx.commit().await?;
    Ok(request)
}

/// Disables an account and ends every one of its sessions at once.
pub async fn disable(pool: &PgPool, clock: &SharedClock, by: &ChangedBy, user: UserId) -> Result<u64, AdminError> {
    let now = clock.now();
    let mut tx = pool.begin().await?;
    if !store::set_status(&mut *tx, user, UserStatus::Disabled, now).await? {
        return Err(AdminError::NoSuchUser);
    }
    let ended = session::end_all(&mut *tx, user, None, EndReason::UserDisabled, now).await?;
    audit::stage(&mut tx, &by.event(clock, "user.disable", user)).await?;
    tx.commit().await?;
    Ok(ended)
}

pub async fn enable(pool: &PgPool, clock: &SharedClock, by: &ChangedBy, user: UserId) -> Result<(), AdminError> {
    let found = store::find(pool, user).await?.ok_or(AdminError::NoSuchUser)?;
    let status = if found.password_hash.is_some() {
        UserStatus::Active
    } else {
        UserStatus::Invited
    };
    let mut tx = pool.begin().await?;
    store::set_status(&mut *tx, user, status, clock.now()).await?;
    audit::stage(&mut tx, &by.event(clock, "user.enable", user)).await?;
    tx.commit().await?;
    Ok(())
}

/// Lifts a sign-in lock on the account's email before it runs out.
pub async fn unlock(pool: &PgPool, clock: &SharedClock, by: &ChangedBy, user: UserId) -> Result<(), AdminError> {
    let found = store::find(pool, user).await?.ok_or(AdminError::NoSuchUser)?;
    let mut tx = pool.begin().await?;
    throttle::clear(&mut *tx, &ThrottleKey::account(&found.email)).await?;
    throttle::clear(&mut *tx, &ThrottleKey::account(&format!("second-factor:{}", found.id))).await?;
    audit::stage(&mut tx, &by.event(clock, "user.unlock", user)).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes the account's second factor and recovery codes (a lost phone); ends its sessions.
pub async fn reset_second_factor(
    pool: &PgPool,
    clock: &SharedClock,
    by: &ChangedBy,
    user: UserId,
) -> Result<(), AdminError> {
    store::find(pool, user).await?.ok_or(AdminError::NoSuchUser)?;
    let now = clock.now();
    let mut tx = pool.begin().await?;
    two_factor::remove_all(&mut tx, user).await?;
    session::end_all(&mut *tx, user, None, EndReason::Revoked, now).await?;
    super::api_token::revoke_all(&mut *tx, user, now).await?;
    audit::stage(&mut tx, &by.event(clock, "user.second_factor_reset", user)).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<User, AdminError> {
    store::find_by_email(pool, email).await?.ok_or(AdminError::NoSuchUser)
}

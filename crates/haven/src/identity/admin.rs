//! Administering accounts: create, change roles, disable, enable, unlock, reset a
//! second factor. Each change is audited in its own transaction.

use sqlx::PgPool;

use super::password::{PasswordError, PasswordHasher, check_strength};
use super::session::{self, EndReason};
use super::throttle::{self, ThrottleKey};
use super::{Email, Role, User, UserId, UserStatus, store, two_factor};
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
    store::set_roles(&mut tx, id, account.roles, by.user, now).await?;
    audit::stage(&mut tx, &by.event(clock, "user.create", id)).await?;
    for role in account.roles {
        let mut grant = by.event(clock, "role.grant", id);
        grant.reason = Some(role.as_str().to_owned());
        audit::stage(&mut tx, &grant).await?;
    }
    tx.commit().await?;
    Ok(id)
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
    store::set_roles(&mut tx, user, roles, by.user, clock.now()).await?;
    for role in Role::ALL {
        let (had, has) = (current.roles.contains(&role), roles.contains(&role));
        if had != has {
            let mut event = by.event(clock, if has { "role.grant" } else { "role.revoke" }, user);
            event.reason = Some(role.as_str().to_owned());
            audit::stage(&mut tx, &event).await?;
        }
    }
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
        let found = store::find(pool, supervisor).await?;
        if supervisor == user
            || !found.is_some_and(|s| s.has_role(Role::Supervisor) && s.status != UserStatus::Disabled)
        {
            return Err(AdminError::Invalid(vec![FieldError::new(
                "supervisor_id",
                "must be another active staff member with the supervisor role",
            )]));
        }
    }
    let mut tx = pool.begin().await?;
    store::set_supervisor(&mut *tx, user, supervisor, clock.now()).await?;
    let mut event = by.event(clock, "user.supervisor_set", user);
    event.reason = Some(supervisor.map_or_else(|| "none".to_owned(), |s| s.to_string()));
    audit::stage(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
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

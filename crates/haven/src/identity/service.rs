//! The rules of signing in and out, shared by the pages and the API.

use chrono::TimeDelta;
use serde::Serialize;

use super::auth::Identity;
use super::password::{PasswordError, PasswordHasher};
use super::session::{self, EndReason, NewSession, SecondFactorKind};
use super::throttle::{self, ADDRESS_FACTOR, Attempt, ThrottleKey};
use super::two_factor::{self, Enrolment};
use super::{UserStatus, secret, store};
use crate::actor::RequestMeta;
use crate::clock::SharedClock;
use crate::compliance::audit::{self, ActorKind, AuditError, AuditEvent, Outcome};
use crate::compliance::sealing::Keyring;
use crate::platform::tenancy::Tenant;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("email or password is incorrect")]
    InvalidCredentials,
    #[error("locked for {minutes} more minutes")]
    Locked { minutes: i64 },
    #[error("the verification code is not valid")]
    InvalidCode,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("no random numbers: {0}")]
    Random(String),
    /// A second factor's secret could not be sealed or opened.
    #[error(transparent)]
    Sealing(#[from] crate::compliance::sealing::SealError),
}

/// What comes after a correct password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// Fully signed in.
    Done,
    /// Enter the code from the authenticator app.
    SecondFactor,
    /// The organisation requires a second factor: set one up.
    Enrol,
}

pub struct SignedIn {
    pub session_token: String,
    pub session_id: super::session::SessionId,
    pub next: NextStep,
    pub display_name: String,
}

/// An event about this request: its id, address and device, at the clock's time.
pub fn event(meta: &RequestMeta, clock: &SharedClock, action: &str, outcome: Outcome) -> AuditEvent {
    AuditEvent::new(clock.now(), action, outcome).request(&meta.request_id, Some(meta.client_ip), meta.device.clone())
}

fn minutes_until(until: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> i64 {
    ((until - now).num_seconds() + 59) / 60
}

/// Checks email and password and opens a session. Unknown, invited and disabled accounts
/// fail exactly like a wrong password, after the same amount of hashing.
pub async fn sign_in(
    tenant: &Tenant,
    passwords: &PasswordHasher,
    clock: &SharedClock,
    meta: &RequestMeta,
    email: &str,
    password: &str,
    previous_session_token: Option<&str>,
) -> Result<SignedIn, SignInError> {
    let now = clock.now();
    let pool = &tenant.pool;
    let settings = tenant.settings().await?.security;
    let window = TimeDelta::minutes(i64::from(settings.lockout_minutes));
    let account_key = ThrottleKey::account(email);
    let address_key = ThrottleKey::Address(meta.client_ip);

    // Counted before the hash: a burst of guesses gets the threshold between them.
    for (key, threshold, what) in [
        (&account_key, settings.lockout_threshold, "account name"),
        (
            &address_key,
            settings.lockout_threshold * ADDRESS_FACTOR,
            "client address",
        ),
    ] {
        if let Attempt::Locked { until, newly } = throttle::attempt(pool, key, now, threshold, window).await? {
            if newly {
                let mut lock = event(meta, clock, "auth.locked", Outcome::Denied).actor(ActorKind::Anonymous, None);
                lock.reason = Some(what.to_owned());
                tenant.audit.record(lock).await?;
            }
            return Err(locked_out(tenant, clock, meta, until).await?);
        }
    }

    let user = store::find_by_email(pool, email.trim()).await?;
    let usable = user.as_ref().filter(|u| u.status == UserStatus::Active);
    let stored = usable.and_then(|u| u.password_hash.as_deref());
    let verification = passwords.verify(password, stored).await?;

    let Some(user) = usable.filter(|_| verification.matches) else {
        let actor = user.as_ref().map(|u| u.id.to_string());
        let kind = if actor.is_some() {
            ActorKind::User
        } else {
            ActorKind::Anonymous
        };
        tenant
            .audit
            .record(event(meta, clock, "auth.login_failed", Outcome::Denied).actor(kind, actor))
            .await?;
        return Err(SignInError::InvalidCredentials);
    };
    // Right, but the burst this guess came in may have locked the name meanwhile.
    if let Some(until) = throttle::locked_until(pool, &account_key, now).await? {
        return Err(locked_out(tenant, clock, meta, until).await?);
    }

    throttle::clear(pool, &account_key).await?;
    throttle::refund(pool, &address_key).await?;
    if verification.needs_rehash
        && let Some(old) = stored
    {
        let upgraded = passwords.hash(password).await?;
        store::upgrade_password_hash(pool, user.id, old, &upgraded).await?;
    }

    let issued = secret::issue("").map_err(|e| SignInError::Random(e.to_string()))?;
    let mut tx = pool.begin().await?;
    // A new session id at every sign-in: a session planted before sign-in is worthless.
    if let Some(previous) = previous_session_token
        && let session::Lookup::Live(old) = session::lookup(pool, &secret::digest(previous), now).await?
    {
        session::end(&mut *tx, old.id, EndReason::SignedOut, now).await?;
    }
    let session_id = session::create(
        &mut *tx,
        &NewSession {
            user: user.id,
            token_hash: &issued.hash,
            now,
            lifetime: TimeDelta::hours(i64::from(settings.session_lifetime_hours)),
            client_ip: Some(meta.client_ip.to_canonical().to_string()),
            device: meta.device.clone(),
        },
    )
    .await?;
    audit::stage(
        &mut tx,
        &event(meta, clock, "auth.login", Outcome::Allowed)
            .actor(ActorKind::User, Some(user.id.to_string()))
            .session(session_id.to_string()),
    )
    .await?;
    tx.commit().await?;
    tenant.audit.nudge();

    let next = if user.has_second_factor {
        NextStep::SecondFactor
    } else if settings.require_two_factor {
        NextStep::Enrol
    } else {
        NextStep::Done
    };
    Ok(SignedIn {
        session_token: issued.value,
        session_id,
        next,
        display_name: user.display_name.clone(),
    })
}

/// A refused sign-in while locked, audited.
async fn locked_out(
    tenant: &Tenant,
    clock: &SharedClock,
    meta: &RequestMeta,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<SignInError, SignInError> {
    tenant
        .audit
        .record(event(meta, clock, "auth.login_locked", Outcome::Denied).actor(ActorKind::Anonymous, None))
        .await?;
    Ok(SignInError::Locked {
        minutes: minutes_until(until, clock.now()),
    })
}

/// Checks a TOTP code or a recovery code for a signed-in session awaiting its second factor.
pub async fn verify_second_factor(
    tenant: &Tenant,
    keyring: &Keyring,
    clock: &SharedClock,
    meta: &RequestMeta,
    identity: &Identity,
    code: &str,
) -> Result<(), SignInError> {
    let now = clock.now();
    let pool = &tenant.pool;
    let user = &identity.user;
    let settings = tenant.settings().await?.security;
    let key = ThrottleKey::account(&format!("second-factor:{}", user.id));
    let actor = || Some(user.id.to_string());
    let session_id = identity.session_id().map(|id| id.to_string()).unwrap_or_default();
    // Counted before the code is checked, like passwords.
    let window = TimeDelta::minutes(i64::from(settings.lockout_minutes));
    if let Attempt::Locked { until, newly } =
        throttle::attempt(pool, &key, now, settings.lockout_threshold, window).await?
    {
        if newly && let Some(id) = identity.session_id() {
            // Too many wrong codes: this session is over; start again from the password.
            session::end(pool, id, EndReason::Revoked, now).await?;
        }
        return Err(SignInError::Locked {
            minutes: minutes_until(until, now),
        });
    }

    let code = code.trim();
    let kind = if code.len() > two_factor::DIGITS {
        two_factor::use_recovery_code(pool, user.id, code, now)
            .await?
            .then_some(SecondFactorKind::RecoveryCode)
    } else {
        match two_factor::totp_factor(pool, keyring, user.id, true).await? {
            Some(factor) => match two_factor::matching_step(&factor.secret, &user.email, code, now) {
                Ok(Some(step)) if two_factor::consume_step(pool, factor.id, step).await? => {
                    Some(SecondFactorKind::Totp)
                }
                _ => None,
            },
            None => None,
        }
    };
    let Some(kind) = kind else {
        tenant
            .audit
            .record(
                event(meta, clock, "auth.second_factor_failed", Outcome::Denied)
                    .actor(ActorKind::User, actor())
                    .session(session_id.clone()),
            )
            .await?;
        return Err(SignInError::InvalidCode);
    };
    if let Some(until) = throttle::locked_until(pool, &key, now).await? {
        return Err(SignInError::Locked {
            minutes: minutes_until(until, now),
        });
    }
    throttle::clear(pool, &key).await?;
    let mut tx = pool.begin().await?;
    if let Some(id) = identity.session_id() {
        session::mark_second_factor(&mut *tx, id, kind, now).await?;
    }
    let action = match kind {
        SecondFactorKind::Totp => "auth.second_factor",
        SecondFactorKind::RecoveryCode => "auth.recovery_code_used",
    };
    audit::stage(
        &mut tx,
        &event(meta, clock, action, Outcome::Allowed)
            .actor(ActorKind::User, actor())
            .session(session_id),
    )
    .await?;
    tx.commit().await?;
    tenant.audit.nudge();
    Ok(())
}

/// The pending TOTP enrolment of the signed-in person, made if there is none.
pub async fn enrolment(
    tenant: &Tenant,
    keyring: &Keyring,
    clock: &SharedClock,
    identity: &Identity,
) -> Result<Enrolment, SignInError> {
    let user = &identity.user;
    let pending = two_factor::totp_factor(&tenant.pool, keyring, user.id, false).await?;
    let secret = if let Some(factor) = pending {
        factor.secret
    } else {
        let secret = two_factor::new_secret().map_err(|e| SignInError::Random(e.to_string()))?;
        two_factor::start_enrolment(&tenant.pool, keyring, user.id, &secret, clock.now()).await?;
        Zeroizing::new(secret.to_vec())
    };
    two_factor::enrolment(&secret, &user.email).map_err(|e| SignInError::Random(e.to_string()))
}

/// Confirms the pending enrolment with a code from the app; returns the recovery codes
/// (shown once). The session counts as having passed its second factor.
pub async fn confirm_enrolment(
    tenant: &Tenant,
    keyring: &Keyring,
    clock: &SharedClock,
    meta: &RequestMeta,
    identity: &Identity,
    code: &str,
) -> Result<Vec<String>, SignInError> {
    let now = clock.now();
    let user = &identity.user;
    let Some(factor) = two_factor::totp_factor(&tenant.pool, keyring, user.id, false).await? else {
        return Err(SignInError::InvalidCode);
    };
    let step =
        two_factor::matching_step(&factor.secret, &user.email, code, now).map_err(|_| SignInError::InvalidCode)?;
    let Some(step) = step else {
        tenant
            .audit
            .record(
                event(meta, clock, "auth.second_factor_enrol_failed", Outcome::Denied)
                    .actor(ActorKind::User, Some(user.id.to_string())),
            )
            .await?;
        return Err(SignInError::InvalidCode);
    };
    let mut tx = tenant.pool.begin().await?;
    if !two_factor::consume_step(&mut *tx, factor.id, step).await? {
        return Err(SignInError::InvalidCode);
    }
    two_factor::confirm(&mut tx, user.id, factor.id, now).await?;
    let codes = two_factor::new_recovery_codes(&mut tx, user.id).await?;
    if let Some(id) = identity.session_id() {
        session::mark_second_factor(&mut *tx, id, SecondFactorKind::Totp, now).await?;
    }
    audit::stage(
        &mut tx,
        &event(meta, clock, "auth.second_factor_enrolled", Outcome::Allowed)
            .actor(ActorKind::User, Some(user.id.to_string()))
            .resource("user", user.id.to_string()),
    )
    .await?;
    tx.commit().await?;
    tenant.tokens.forget();
    tenant.audit.nudge();
    Ok(codes)
}

/// Ends sessions of the signed-in person: this one, one of theirs, or all of them.
pub async fn sign_out(
    tenant: &Tenant,
    clock: &SharedClock,
    meta: &RequestMeta,
    identity: &Identity,
    which: SignOut,
) -> Result<u64, SignInError> {
    let now = clock.now();
    let user = identity.user.id;
    let mut tx = tenant.pool.begin().await?;
    let (ended, action, resource) = match which {
        SignOut::This => {
            let ended = match identity.session_id() {
                Some(id) => u64::from(session::end(&mut *tx, id, EndReason::SignedOut, now).await?),
                None => 0,
            };
            (ended, "auth.logout", None)
        }
        SignOut::Session(id) => (
            u64::from(session::end_own(&mut *tx, user, id, EndReason::Revoked, now).await?),
            "auth.session_revoked",
            Some(id),
        ),
        SignOut::Everywhere => (
            session::end_all(&mut *tx, user, None, EndReason::SignedOutEverywhere, now).await?,
            "auth.logout_everywhere",
            None,
        ),
    };
    let mut event = event(meta, clock, action, Outcome::Allowed).actor(ActorKind::User, Some(user.to_string()));
    if let Some(id) = identity.session_id() {
        event = event.session(id.to_string());
    }
    if let Some(id) = resource {
        event = event.resource("session", id.to_string());
    }
    audit::stage(&mut tx, &event).await?;
    tx.commit().await?;
    tenant.audit.nudge();
    Ok(ended)
}

#[derive(Debug, Clone, Copy)]
pub enum SignOut {
    This,
    Session(super::session::SessionId),
    Everywhere,
}

/// The staff who may be given clinical work, by name: what the pickers of the booking,
/// referral and care-team forms offer (identity's one rule, `User::takes_caseload`).
pub async fn clinical_staff(caller: &crate::actor::Actor) -> Result<Vec<super::User>, crate::error::Error> {
    Ok(store::clinical_staff(&caller.tenant.pool).await?)
}

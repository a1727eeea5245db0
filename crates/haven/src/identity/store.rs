//! Queries on accounts, roles, sessions and the organisation's security settings.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{GrantRequestId, Role, User, UserId, UserStatus};

/// An account as read, before its values are checked.
pub(super) struct UserRow {
    pub(super) id: Uuid,
    pub(super) email: String,
    pub(super) display_name: String,
    pub(super) status: String,
    pub(super) password_hash: Option<String>,
    pub(super) supervisor_id: Option<Uuid>,
    pub(super) is_trainee: bool,
    pub(super) roles: Vec<String>,
    pub(super) has_second_factor: bool,
}

impl TryFrom<UserRow> for User {
    type Error = sqlx::Error;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        let decode = |what: &str| sqlx::Error::Decode(format!("unknown {what}").into());
        Ok(Self {
            id: UserId(row.id),
            email: row.email,
            display_name: row.display_name,
            status: UserStatus::parse(&row.status).ok_or_else(|| decode("user status"))?,
            roles: row
                .roles
                .iter()
                .map(|r| Role::parse(r).ok_or_else(|| decode("role")))
                .collect::<Result<_, _>>()?,
            supervisor_id: row.supervisor_id.map(UserId),
            is_trainee: row.is_trainee,
            has_second_factor: row.has_second_factor,
            password_hash: row.password_hash,
        })
    }
}

/// A live API token with its owner, read in one statement ([`find_by_token`]).
pub(super) struct TokenUserRow {
    pub(super) token_id: Uuid,
    pub(super) scopes: Vec<String>,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) last_used_at: Option<DateTime<Utc>>,
    pub(super) id: Uuid,
    pub(super) email: String,
    pub(super) display_name: String,
    pub(super) status: String,
    pub(super) password_hash: Option<String>,
    pub(super) supervisor_id: Option<Uuid>,
    pub(super) is_trainee: bool,
    pub(super) roles: Vec<String>,
    pub(super) has_second_factor: bool,
}

/// A token's own columns, read with its owner.
pub(super) struct TokenColumns {
    pub(super) id: Uuid,
    pub(super) scopes: Vec<String>,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) last_used_at: Option<DateTime<Utc>>,
}

impl TokenUserRow {
    /// The token's own columns, and its owner's row.
    pub(super) fn split(self) -> (TokenColumns, UserRow) {
        (
            TokenColumns {
                id: self.token_id,
                scopes: self.scopes,
                expires_at: self.expires_at,
                last_used_at: self.last_used_at,
            },
            UserRow {
                id: self.id,
                email: self.email,
                display_name: self.display_name,
                status: self.status,
                password_hash: self.password_hash,
                supervisor_id: self.supervisor_id,
                is_trainee: self.is_trainee,
                roles: self.roles,
                has_second_factor: self.has_second_factor,
            },
        )
    }
}

// One SELECT list for every way of finding users: `$columns` come first (a token's, when
// the user is found by a token), then the user's, then `$from` and `$tail`.
macro_rules! query_users {
    ($tail:tt $(, $arg:expr)*) => {
        query_users!(@ UserRow, "", "FROM users u ", $tail $(, $arg)*)
    };
    (@ $row:ident, $columns:tt, $from:tt, $tail:tt $(, $arg:expr)*) => {
        sqlx::query_as!(
            $row,
            "SELECT " + $columns + r#"u.id, u.email::text AS "email!", u.display_name, u.status, u.password_hash,
                      u.supervisor_id, u.is_trainee,
                      coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_roles r WHERE r.user_id = u.id), '{}')
                          AS "roles!",
                      EXISTS (SELECT 1 FROM user_second_factors f WHERE f.user_id = u.id AND f.confirmed_at IS NOT NULL)
                          AS "has_second_factor!"
               "# + $from + $tail
            $(, $arg)*
        )
    };
}

/// The live (unrevoked, unexpired) token whose secret hashes to `hash`, with its owner:
/// one round trip for every request made with a token.
pub(super) async fn find_by_token(
    db: impl PgExecutor<'_>,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<TokenUserRow>, sqlx::Error> {
    query_users!(
        @ TokenUserRow,
        "t.id AS token_id, t.scopes, t.expires_at, t.last_used_at, ",
        "FROM api_tokens t JOIN users u ON u.id = t.user_id ",
        "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2",
        hash,
        now
    )
    .fetch_optional(db)
    .await
}

pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<User>, sqlx::Error> {
    query_users!("WHERE u.email = $1::text::citext", email)
        .fetch_optional(db)
        .await?
        .map(User::try_from)
        .transpose()
}

pub async fn find(db: impl PgExecutor<'_>, id: UserId) -> Result<Option<User>, sqlx::Error> {
    query_users!("WHERE u.id = $1", id.0)
        .fetch_optional(db)
        .await?
        .map(User::try_from)
        .transpose()
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<User>, sqlx::Error> {
    query_users!("ORDER BY u.display_name, u.email")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(User::try_from)
        .collect()
}

/// The staff who may be given clinical work ([`User::takes_caseload`]), by name.
pub async fn clinical_staff(db: impl PgExecutor<'_>) -> Result<Vec<User>, sqlx::Error> {
    Ok(list(db).await?.into_iter().filter(User::takes_caseload).collect())
}

/// One person, when they may be given clinical work ([`User::takes_caseload`]).
pub async fn find_clinical_staff(db: impl PgExecutor<'_>, id: UserId) -> Result<Option<User>, sqlx::Error> {
    Ok(find(db, id).await?.filter(User::takes_caseload))
}

pub struct NewUser<'a> {
    pub id: UserId,
    pub email: &'a str,
    pub display_name: &'a str,
    pub status: UserStatus,
    pub password_hash: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// Inserts an account; `Ok(false)` when the email is taken.
pub async fn insert(conn: &mut PgConnection, user: &NewUser<'_>) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        INSERT INTO users (id, email, display_name, status, password_hash, password_changed_at, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, CASE WHEN $5::text IS NULL THEN NULL ELSE $6::timestamptz END, $6, $6)
        ON CONFLICT (email) DO NOTHING
        "#,
        user.id.0,
        user.email,
        user.display_name,
        user.status.as_str(),
        user.password_hash,
        user.at,
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Replaces the account's roles.
pub async fn set_roles(
    conn: &mut PgConnection,
    user: UserId,
    roles: &[Role],
    granted_by: Option<UserId>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    sqlx::query!(
        "DELETE FROM user_roles WHERE user_id = $1 AND NOT (role = ANY($2))",
        user.0,
        &names
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"
        INSERT INTO user_roles (user_id, role, granted_at, granted_by)
        SELECT $1, role, $3, $4 FROM UNNEST($2::text[]) AS role
        ON CONFLICT (user_id, role) DO NOTHING
        "#,
        user.0,
        &names,
        at,
        granted_by.map(|g| g.0),
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_password(
    db: impl PgExecutor<'_>,
    user: UserId,
    password_hash: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3,
                         status = CASE WHEN status = 'invited' THEN 'active' ELSE status END
        WHERE id = $1
        "#,
        user.0,
        password_hash,
        at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Replaces a hash made with older parameters, unless the password changed meanwhile.
pub async fn upgrade_password_hash(
    db: impl PgExecutor<'_>,
    user: UserId,
    old_hash: &str,
    new_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
        user.0,
        old_hash,
        new_hash
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_status(
    db: impl PgExecutor<'_>,
    user: UserId,
    status: UserStatus,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE users SET status = $2, updated_at = $3 WHERE id = $1",
        user.0,
        status.as_str(),
        at
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub use crate::organisation::SecuritySettings;

pub async fn set_supervisor(
    db: impl PgExecutor<'_>,
    user: UserId,
    supervisor: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE users SET supervisor_id = $2, updated_at = $3 WHERE id = $1",
        user.0,
        supervisor.map(|s| s.0),
        now
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A grant held for a second admin: a role to add, or a supervisor to link.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub id: GrantRequestId,
    pub user: UserId,
    pub role: Option<Role>,
    pub supervisor: Option<UserId>,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
}

/// Holds a grant; `false` when the same grant is already waiting.
pub async fn hold_grant(conn: &mut PgConnection, request: &GrantRequest) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        r#"
        INSERT INTO grant_requests (id, user_id, role, supervisor_id, requested_by, requested_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT DO NOTHING
        "#,
        request.id.0,
        request.user.0,
        request.role.map(Role::as_str),
        request.supervisor.map(|s| s.0),
        request.requested_by.0,
        request.requested_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The grants waiting for a decision, oldest first.
pub async fn waiting_grants(db: impl PgExecutor<'_>) -> Result<Vec<GrantRequest>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT id AS "id: GrantRequestId", user_id AS "user_id: UserId", role,
               supervisor_id AS "supervisor_id: UserId", requested_by AS "requested_by: UserId", requested_at
        FROM grant_requests WHERE decided_at IS NULL ORDER BY requested_at, id
        "#
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let role = match row.role {
                Some(name) => {
                    Some(Role::parse(&name).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {name}").into()))?)
                }
                None => None,
            };
            Ok(GrantRequest {
                id: row.id,
                user: row.user_id,
                role,
                supervisor: row.supervisor_id,
                requested_by: row.requested_by,
                requested_at: row.requested_at,
            })
        })
        .collect()
}

/// Records the decision on a waiting grant, locking it; `None` when it is not waiting.
pub async fn decide_grant(
    conn: &mut PgConnection,
    id: GrantRequestId,
    by: UserId,
    approved: bool,
    at: DateTime<Utc>,
) -> Result<Option<GrantRequest>, sqlx::Error> {
    let Some(request) = waiting_grants(&mut *conn).await?.into_iter().find(|r| r.id == id) else {
        return Ok(None);
    };
    let updated = sqlx::query!(
        r#"
        UPDATE grant_requests SET decided_by = $2, decided_at = $3, outcome = $4
        WHERE id = $1 AND decided_at IS NULL
        "#,
        id.0,
        by.0,
        at,
        if approved { "approved" } else { "refused" },
    )
    .execute(&mut *conn)
    .await?;
    Ok((updated.rows_affected() == 1).then_some(request))
}

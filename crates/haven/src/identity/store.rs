//! Queries on accounts, roles, sessions and the organisation's security settings.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Role, User, UserId, UserStatus};

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

// One SELECT list for every way of finding users.
macro_rules! query_users {
    ($tail:tt $(, $arg:expr)*) => {
        sqlx::query_as!(
            UserRow,
            r#"SELECT u.id, u.email::text AS "email!", u.display_name, u.status, u.password_hash, u.supervisor_id,
                      u.is_trainee,
                      coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_roles r WHERE r.user_id = u.id), '{}')
                          AS "roles!",
                      EXISTS (SELECT 1 FROM user_second_factors f WHERE f.user_id = u.id AND f.confirmed_at IS NOT NULL)
                          AS "has_second_factor!"
               FROM users u "# + $tail
            $(, $arg)*
        )
    };
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

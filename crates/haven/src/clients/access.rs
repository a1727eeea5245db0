//! Who may reach a client: care teams, supervision and break-glass grants. The facts are
//! loaded here; the policy module judges them.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::store::{client_sql, facts_of_row};
use crate::clients::ClientId;
use crate::identity::UserId;
use crate::policy::ClientFacts;

/// Emergency access lasts this long unless asked for less.
pub const BREAK_GLASS_MINUTES: i64 = 60;

/// How `user` stands to `client`; `None` when there is no such client.
pub async fn facts(
    db: impl PgExecutor<'_>,
    user: UserId,
    client: ClientId,
    now: DateTime<Utc>,
) -> Result<Option<ClientFacts>, sqlx::Error> {
    Ok(client_sql!(facts, client as _, user.0, now)
        .fetch_optional(db)
        .await?
        .map(|row| facts_of_row!(row)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    /// The client's main counsellor (at most one).
    Primary,
    Clinician,
    CaseManager,
}

impl TeamRole {
    pub const ALL: [Self; 3] = [Self::Primary, Self::Clinician, Self::CaseManager];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Clinician => "clinician",
            Self::CaseManager => "case_manager",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Primary => "Primary counsellor",
            Self::Clinician => "Counsellor",
            Self::CaseManager => "Case manager",
        }
    }
}

#[derive(Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TeamMember {
    pub user_id: Uuid,
    pub display_name: String,
    pub team_role: TeamRole,
    pub added_at: DateTime<Utc>,
}

crate::redacted_debug!(TeamMember { user_id, team_role });

pub async fn care_team(db: impl PgExecutor<'_>, client: ClientId) -> Result<Vec<TeamMember>, sqlx::Error> {
    sqlx::query!(
        r#"
        SELECT m.user_id, u.display_name, m.team_role, m.added_at
        FROM care_team_members m JOIN users u ON u.id = m.user_id
        WHERE m.client_id = $1
        ORDER BY m.team_role = 'primary' DESC, u.display_name
        "#,
        client as _
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| {
        Ok(TeamMember {
            user_id: r.user_id,
            display_name: r.display_name,
            team_role: TeamRole::parse(&r.team_role)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown team role {}", r.team_role).into()))?,
            added_at: r.added_at,
        })
    })
    .collect()
}

/// Puts `user` on the care team in `role` (or changes their role). A new primary
/// counsellor makes the previous one an ordinary counsellor.
pub async fn add_member(
    conn: &mut PgConnection,
    client: ClientId,
    user: UserId,
    role: TeamRole,
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if role == TeamRole::Primary {
        sqlx::query!(
            "UPDATE care_team_members SET team_role = 'clinician' WHERE client_id = $1 AND team_role = 'primary' AND user_id <> $2",
            client as _,
            user.0
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query!(
        r#"
        INSERT INTO care_team_members (client_id, user_id, team_role, added_at, added_by)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (client_id, user_id) DO UPDATE SET team_role = EXCLUDED.team_role
        "#,
        client as _,
        user.0,
        role.as_str(),
        now,
        by.map(|u| u.0),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts `user` on the care team unless they are on it already (in whatever role).
pub async fn join_if_absent(
    conn: &mut PgConnection,
    client: ClientId,
    user: UserId,
    role: TeamRole,
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO care_team_members (client_id, user_id, team_role, added_at, added_by)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (client_id, user_id) DO NOTHING
        "#,
        client as _,
        user.0,
        role.as_str(),
        now,
        by.map(|u| u.0),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes `user` off the care team; whether they were on it.
pub async fn remove_member(conn: &mut PgConnection, client: ClientId, user: UserId) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query!(
        "DELETE FROM care_team_members WHERE client_id = $1 AND user_id = $2",
        client as _,
        user.0
    )
    .execute(conn)
    .await?;
    Ok(removed.rows_affected() > 0)
}

/// Emergency access to a client outside one's care team.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct BreakGlassGrant {
    pub id: Uuid,
    pub client_id: ClientId,
    pub record_number: String,
    pub user_id: Uuid,
    pub user_name: String,
    pub reason: String,
    pub opened_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

crate::redacted_debug!(BreakGlassGrant { id, client_id, user_id });

impl BreakGlassGrant {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }
}

pub async fn open_grant(
    conn: &mut PgConnection,
    client: ClientId,
    user: UserId,
    reason: &str,
    minutes: i64,
    now: DateTime<Utc>,
) -> Result<(Uuid, DateTime<Utc>), sqlx::Error> {
    let id = Uuid::now_v7();
    let expires_at = now + TimeDelta::minutes(minutes);
    sqlx::query!(
        r#"
        INSERT INTO break_glass_grants (id, client_id, user_id, reason, opened_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        "#,
        id,
        client as _,
        user.0,
        reason,
        now,
        expires_at
    )
    .execute(conn)
    .await?;
    Ok((id, expires_at))
}

/// Whose grants a reviewer sees.
#[derive(Debug, Clone, Copy)]
pub enum GrantsOf {
    Everyone,
    /// Grants on clients whose care team holds someone this supervisor supervises, and
    /// grants opened by those people.
    SupervisedBy(UserId),
}

/// Recent grants, newest first.
pub async fn recent_grants(
    db: impl PgExecutor<'_>,
    of: GrantsOf,
    limit: i64,
) -> Result<Vec<BreakGlassGrant>, sqlx::Error> {
    let supervisor = match of {
        GrantsOf::Everyone => None,
        GrantsOf::SupervisedBy(user) => Some(user.0),
    };
    sqlx::query_as!(
        BreakGlassGrant,
        r#"
        SELECT g.id, g.client_id, c.record_number, g.user_id, u.display_name AS user_name, g.reason,
               g.opened_at, g.expires_at
        FROM break_glass_grants g
        JOIN clients c ON c.id = g.client_id
        JOIN users u ON u.id = g.user_id
        WHERE $1::uuid IS NULL
           OR u.supervisor_id = $1
           OR EXISTS (SELECT 1 FROM care_team_members m JOIN users t ON t.id = m.user_id
                      WHERE m.client_id = g.client_id AND t.supervisor_id = $1)
        ORDER BY g.opened_at DESC
        LIMIT $2
        "#,
        supervisor,
        limit
    )
    .fetch_all(db)
    .await
}

//! The audit trail: every PHI read and write, sign-in, permission change, export and
//! admin action, as a hash chain per tenant database (see docs/audit.md).
//!
//! How callers record events:
//! - a **read** of PHI: [`AuditWriter::record`] waits until the event is committed and
//!   wraps the data in [`Audited`], the only form a PHI response can take;
//! - a **write**: [`stage`] inserts the event in the write's own transaction (so both
//!   commit or neither does); the writer moves it into the chain moments later.

pub(crate) mod chain; // the chain and its rows: the writer, verification and `crate::bench::audit`
mod checkpoint;
pub mod config;
pub mod export;
pub mod handlers;
pub mod maintenance;
mod manifest;
pub(crate) mod store;
mod verify;
mod writer;

pub use manifest::module;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use chain::{GENESIS_HASH, Hash, event_hash};
pub use checkpoint::{Checkpoint, CheckpointError, SigningKey, create_checkpoint, latest_checkpoint};
pub use store::outbox_len;
pub use store::{ChainedEvent, EventFilter, head, list_events, stage, stage_all};
pub use verify::{
    Break, LastVerification, Trust, VerifyReport, last_good_verification, last_verification, record_verification,
    trust_restored_keys, verify, verify_from,
};
pub use writer::{AuditWriter, WriterStatus, drain_outbox};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiToken,
    ServiceAccount,
    System,
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiToken => "api_token",
            Self::ServiceAccount => "service_account",
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::User,
            Self::ApiToken,
            Self::ServiceAccount,
            Self::System,
            Self::Anonymous,
        ]
        .into_iter()
        .find(|k| k.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allowed,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Allowed, Self::Denied, Self::Failed]
            .into_iter()
            .find(|o| o.as_str() == value)
    }
}

/// How many records one event may name as its subjects: a page of a list.
pub const MAX_SUBJECTS: usize = 200;

/// One audit event before it joins the chain. Identifiers only: never a name, a note or
/// any other PHI (the columns' length limits and the review of every `action` keep it so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub session_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `resource.verb`, e.g. `client.read`, `note.sign`, `auth.login_failed`.
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: Outcome,
    /// Required for break-glass, exports and pruning.
    pub reason: Option<String>,
    pub request_id: Option<String>,
    /// The records a read showed when there were several (a search result, a list):
    /// their ids, so "who has seen this client?" finds list views too. Empty for most.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
}

impl AuditEvent {
    /// An event with no actor (`system`) at `occurred_at`; fill in the rest with the
    /// builder methods.
    pub fn new(occurred_at: DateTime<Utc>, action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            // The database keeps microseconds; so does the hash.
            occurred_at: DateTime::from_timestamp_micros(occurred_at.timestamp_micros()).unwrap_or(occurred_at),
            actor_kind: ActorKind::System,
            actor_id: None,
            session_id: None,
            client_ip: None,
            user_agent: None,
            action: action.into(),
            resource_type: None,
            resource_id: None,
            outcome,
            reason: None,
            request_id: None,
            subjects: Vec::new(),
        }
    }

    #[must_use]
    pub fn actor(mut self, kind: ActorKind, id: Option<String>) -> Self {
        self.actor_kind = kind;
        self.actor_id = id;
        self
    }

    #[must_use]
    pub fn resource(mut self, kind: &str, id: impl Into<String>) -> Self {
        self.resource_type = Some(kind.to_owned());
        self.resource_id = Some(id.into());
        self
    }

    /// The records a list or search showed (at most [`MAX_SUBJECTS`]).
    #[must_use]
    pub fn subjects(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.subjects = ids.into_iter().map(Into::into).collect();
        self
    }

    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    #[must_use]
    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Where the request came from: its id, the client's address and a user-agent summary.
    #[must_use]
    pub fn request(mut self, request_id: &str, client_ip: Option<IpAddr>, user_agent: Option<String>) -> Self {
        self.request_id = Some(request_id.to_owned());
        self.client_ip = client_ip.map(|ip| ip.to_canonical().to_string());
        self.user_agent = user_agent.map(|ua| ua.chars().take(200).collect());
        self
    }
}

/// A value whose audit event is committed. PHI responses are built from this, so a
/// handler cannot answer with PHI it has not recorded reading.
#[derive(Debug)]
pub struct Audited<T> {
    value: T,
    seq: i64,
}

impl<T> Audited<T> {
    /// The sequence number of the event that recorded this read.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: axum::response::IntoResponse> axum::response::IntoResponse for Audited<T> {
    fn into_response(self) -> axum::response::Response {
        self.value.into_response()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit trail cannot be written: {0}")]
    Unavailable(String),
    #[error("the audit writer has stopped")]
    WriterStopped,
    #[error("an audit event is invalid: {0}")]
    Invalid(&'static str),
}

impl From<AuditError> for crate::error::Error {
    /// No audit record, no response: the request fails closed.
    fn from(err: AuditError) -> Self {
        tracing::error!(error = %err, "audit write failed; refusing the request");
        Self::Unavailable {
            code: "audit_unavailable",
            message: "The audit trail cannot be written, so this request was refused. Try again shortly.".to_owned(),
            details: None,
        }
    }
}

impl From<sqlx::Error> for AuditError {
    fn from(err: sqlx::Error) -> Self {
        Self::Unavailable(err.to_string())
    }
}

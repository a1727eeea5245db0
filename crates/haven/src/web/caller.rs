//! The signed-in caller of a handler, with what every module needs from them: the
//! policy's answer, an audit event already naming them, the time.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::context::RequestMeta;
use super::page::Chrome;
use super::tenant::CurrentTenant;
use crate::compliance::audit::{AuditEvent, Outcome};
use crate::error::Error;
use crate::identity::auth::Identity;
use crate::platform::tenancy::Tenant;
use crate::policy::{self, Action, Permit};
use crate::state::AppState;

pub struct Caller {
    pub state: AppState,
    pub tenant: Arc<Tenant>,
    pub meta: RequestMeta,
    pub identity: Identity,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let CurrentTenant(tenant) = CurrentTenant::from_request_parts(parts, state).await?;
        let meta = RequestMeta::from_request_parts(parts, state).await?;
        let identity = Identity::from_request_parts(parts, state).await?;
        Ok(Self {
            state: state.clone(),
            tenant,
            meta,
            identity,
        })
    }
}

impl Caller {
    /// Someone acting outside a request (the demo's records), under the same policy,
    /// checks and audit as a request from the organisation's own network.
    pub fn acting_as(state: &AppState, tenant: Arc<Tenant>, user: crate::identity::User, request_id: &str) -> Self {
        Self {
            state: state.clone(),
            tenant,
            meta: RequestMeta {
                request_id: request_id.to_owned(),
                client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                device: None,
                https: false,
            },
            identity: Identity {
                user,
                session: None,
                api_token: None,
                csrf_token: None,
            },
        }
    }

    /// Asks the policy; a denial is audited and becomes a 403.
    pub async fn authorize<'a>(&self, action: &'a Action) -> Result<Permit<'a>, Error> {
        policy::authorize(&self.state, &self.tenant, &self.meta, &self.identity, action).await
    }

    /// The policy's answer without recording anything: for showing or hiding a button.
    pub fn may(&self, action: &Action) -> bool {
        policy::may(&self.identity, action).is_allowed()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// An audit event about this request, naming the caller and their session.
    pub fn event(&self, action: &str, outcome: Outcome) -> AuditEvent {
        let (kind, actor) = self.identity.audit_actor();
        let event = AuditEvent::new(self.now(), action, outcome).actor(kind, actor).request(
            &self.meta.request_id,
            Some(self.meta.client_ip),
            self.meta.device.clone(),
        );
        match self.identity.session_id() {
            Some(session) => event.session(session.to_string()),
            None => event,
        }
    }

    /// This organisation's data keys (encryption at rest).
    pub fn keyring(&self) -> Arc<crate::compliance::sealing::Keyring> {
        self.state.vault.keyring(self.tenant.database.as_str())
    }

    pub fn chrome(&self) -> Chrome {
        Chrome::for_user(&self.state, &self.tenant, &self.identity)
    }
}

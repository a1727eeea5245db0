//! Who is acting, for whom, from where and when: the context every service takes.
//!
//! A request's [`Actor`] is extracted by the web kit (`web::caller`); work outside a
//! request (the demo's records, commands) builds one with [`Actor::acting_as`]. Services
//! ask the policy through it, stamp audit events with it and read the clock from it; they
//! never see the HTTP request.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::compliance::audit::{AuditEvent, Outcome};
use crate::error::Error;
use crate::identity::auth::Identity;
use crate::platform::tenancy::Tenant;
use crate::policy::{self, Action, Permit};
use crate::state::AppState;

/// Where an action came from, for the audit trail and the sessions page.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub client_ip: IpAddr,
    /// "Firefox 120 on Linux (desktop)": browser, OS and device type, never the raw header.
    pub device: Option<String>,
    /// Reached over TLS (directly, or through a trusted proxy that said so).
    pub https: bool,
}

/// The signed-in person acting, in their organisation, with the request's origin.
///
/// Services reach the application only through the accessors below (the clock, this
/// organisation's keys and settings, configuration, storage, mail): what a service may
/// touch is listed here rather than the whole [`AppState`].
pub struct Actor {
    state: AppState,
    pub tenant: Arc<Tenant>,
    pub meta: RequestMeta,
    pub identity: Identity,
}

impl Actor {
    /// The acting person of a request, as the web kit extracts it.
    pub fn new(state: AppState, tenant: Arc<Tenant>, meta: RequestMeta, identity: Identity) -> Self {
        Self {
            state,
            tenant,
            meta,
            identity,
        }
    }

    /// Someone acting outside a request (the demo's records), under the same policy,
    /// checks and audit as a request from the organisation's own network.
    pub fn acting_as(state: &AppState, tenant: Arc<Tenant>, user: crate::identity::User, request_id: &str) -> Self {
        let installation_help = crate::identity::auth::keeps_installation_help(&state.config, &tenant);
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
                installation_help,
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

    /// The acting person's parts, for handlers that pass them on one by one.
    pub fn into_parts(self) -> (AppState, Arc<Tenant>, RequestMeta, Identity) {
        (self.state, self.tenant, self.meta, self.identity)
    }

    /// The organisation's time zone: every time shown to people is in it.
    pub async fn zone(&self) -> Result<chrono_tz::Tz, Error> {
        Ok(self.tenant.settings().await?.time_zone)
    }

    /// Haven's configuration (read-only).
    pub fn config(&self) -> &crate::config::Config {
        &self.state.config
    }

    /// Local disk and S3-compatible storage, behind the storage policy.
    pub fn storage(&self) -> &crate::compliance::storage::Storage {
        &self.state.storage
    }

    /// Every module's declarations (routes, API document, navigation).
    /// The installation's control database (as `haven_app`): the organisation registry,
    /// service accounts and backup records.
    pub fn control(&self) -> &sqlx::PgPool {
        self.state.tenants.control_pool()
    }

    pub fn modules(&self) -> &crate::module::Modules {
        &self.state.modules
    }

    /// This organisation's data keys (encryption at rest).
    pub fn keyring(&self) -> Arc<crate::compliance::sealing::Keyring> {
        self.state.vault.keyring(&self.tenant.record)
    }
}

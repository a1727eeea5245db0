//! Authorization: one place that answers "may this person do this?".
//!
//! Handlers ask [`authorize`], which records every denial in the audit trail and, when
//! allowed, hands back a [`Permit`]. Store functions that reach protected data take the
//! permit for their action, so data cannot be reached without the policy's yes.

use std::marker::PhantomData;

use crate::compliance::audit::Outcome;
use crate::identity::auth::Identity;
use crate::identity::service::event;
use crate::identity::{Role, UserId};
use crate::platform::tenancy::Tenant;
use crate::state::AppState;
use crate::web::context::RequestMeta;
use crate::web::error::WebError;

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
    ViewSignInHistory { of: UserId },
    /// Search and read the audit trail.
    ReadAuditTrail,
    /// Export the audit trail.
    ExportAuditTrail,
    /// Organisation settings: security policy, modules, integrations, retention.
    ManageOrganisation,
}

impl Action {
    /// The API-token scope this action needs.
    pub fn scope(&self) -> &'static str {
        match self {
            Self::ManageOwnAccount => "account:read",
            Self::ViewUsers | Self::ViewSignInHistory { .. } => "users:read",
            Self::ManageUsers => "users:write",
            Self::ReadAuditTrail | Self::ExportAuditTrail => "audit:read",
            Self::ManageOrganisation => "organisation:write",
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

/// The policy. Roles of SPEC.md: org admins manage people and settings but see no
/// clinical content; auditors read the audit trail and nothing clinical; everyone
/// manages their own account.
pub fn may(identity: &Identity, action: &Action) -> Decision {
    if let Some(token) = &identity.api_token
        && !token.scopes.iter().any(|s| s == action.scope())
    {
        return Decision::Deny("the API token lacks the scope for this");
    }
    let user = &identity.user;
    let has = |role| user.has_role(role);
    match action {
        Action::ManageOwnAccount => Decision::Allow,
        Action::ViewUsers | Action::ManageUsers | Action::ManageOrganisation => allow_if(
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
) -> Result<Permit<'a>, WebError> {
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
            Err(WebError::Forbidden {
                code: "forbidden",
                message: format!("You do not have access to this: {why}."),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{User, UserStatus};

    fn person(roles: &[Role]) -> Identity {
        Identity {
            user: User {
                id: UserId(uuid::Uuid::from_u128(1)),
                email: "x@example.org".to_owned(),
                display_name: "X".to_owned(),
                status: UserStatus::Active,
                roles: roles.to_vec(),
                supervisor_id: None,
                is_trainee: false,
                has_second_factor: false,
                password_hash: None,
            },
            session: None,
            api_token: None,
            csrf_token: None,
        }
    }

    /// Every role of SPEC.md against every action that exists, allowed and denied.
    #[test]
    fn role_by_action_matrix() {
        use Role::{Auditor, CaseManager, Clinician, FrontDesk, HelpEditor, OrgAdmin, Supervisor};
        let someone_else = UserId(uuid::Uuid::from_u128(2));
        let me = UserId(uuid::Uuid::from_u128(1));
        let actions = [
            Action::ManageOwnAccount,
            Action::ViewUsers,
            Action::ManageUsers,
            Action::ViewSignInHistory { of: me },
            Action::ViewSignInHistory { of: someone_else },
            Action::ReadAuditTrail,
            Action::ExportAuditTrail,
            Action::ManageOrganisation,
        ];
        // Columns follow `actions`.
        let expected: [(Role, [bool; 8]); 7] = [
            (Clinician, [true, false, false, true, false, false, false, false]),
            (CaseManager, [true, false, false, true, false, false, false, false]),
            (Supervisor, [true, false, false, true, false, false, false, false]),
            (FrontDesk, [true, false, false, true, false, false, false, false]),
            (OrgAdmin, [true, true, true, true, true, false, false, true]),
            (Auditor, [true, false, false, true, false, true, true, false]),
            (HelpEditor, [true, false, false, true, false, false, false, false]),
        ];
        assert_eq!(expected.len(), Role::ALL.len(), "every role is in the matrix");
        for (role, row) in expected {
            let identity = person(&[role]);
            for (action, allowed) in actions.iter().zip(row) {
                assert_eq!(may(&identity, action).is_allowed(), allowed, "{role} {action:?}");
            }
        }
    }

    #[test]
    fn a_token_can_do_less_than_its_owner_never_more() {
        let mut admin = person(&[Role::OrgAdmin]);
        admin.api_token = Some(crate::identity::auth::ApiTokenInfo {
            id: uuid::Uuid::from_u128(9),
            scopes: vec!["users:read".to_owned(), "audit:read".to_owned()],
        });
        assert!(may(&admin, &Action::ViewUsers).is_allowed());
        assert!(!may(&admin, &Action::ManageUsers).is_allowed(), "no users:write scope");
        assert!(
            !may(&admin, &Action::ReadAuditTrail).is_allowed(),
            "the scope does not add a role"
        );
    }

    #[test]
    fn roles_combine() {
        let both = person(&[Role::OrgAdmin, Role::Auditor]);
        assert!(may(&both, &Action::ManageUsers).is_allowed());
        assert!(may(&both, &Action::ReadAuditTrail).is_allowed());
        assert!(!may(&person(&[]), &Action::ViewUsers).is_allowed());
    }
}

//! Storage policy and approved networks (SPEC module 6). Every record carries
//! `hipaa_exempt`; its storage policy is `local_only` unless it is exempt and the
//! organisation allows `cloud_allowed`. `local_only` records are served only to requests
//! from the configured approved networks (the client address after trusted-proxy
//! handling); a refusal is audited and explained.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::actor::Actor;
use crate::compliance::audit::Outcome;
use crate::error::Error;

crate::word_enum!(
    StoragePolicy {
        LocalOnly => "local_only", "Local storage only",
        CloudAllowed => "cloud_allowed", "Cloud storage allowed",
    }
);

impl StoragePolicy {
    /// A record's policy: cloud only when the record is exempt and the organisation
    /// allows it.
    pub fn of(hipaa_exempt: bool, organisation: StoragePolicy) -> Self {
        if hipaa_exempt && organisation == Self::CloudAllowed {
            Self::CloudAllowed
        } else {
            Self::LocalOnly
        }
    }
}

pub fn is_approved(networks: &[IpNet], address: IpAddr) -> bool {
    let address = address.to_canonical();
    networks.iter().any(|n| n.contains(&address))
}

/// Lets the request reach a client's records (their chart, notes, measures, alerts,
/// documents and the lists of them), whose storage policy follows the client's
/// `hipaa_exempt` and the organisation's policy; or refuses as
/// [`require_approved_network`] does.
pub async fn require_for_client(
    caller: &Actor,
    client: crate::clients::ClientId,
    hipaa_exempt: bool,
) -> Result<(), Error> {
    let organisation = caller.tenant.settings().await?.storage_policy;
    require_approved_network(
        caller,
        StoragePolicy::of(hipaa_exempt, organisation),
        ("client", client.to_string()),
        client,
    )
    .await
}

/// How far a list may reach for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListReach {
    /// From the approved networks: everything the policy allows.
    Everything,
    /// From elsewhere, in an organisation that allows the cloud: only records of
    /// `hipaa_exempt` clients.
    ExemptClientsOnly,
}

/// The reach of a list of client records (`kind`: what is listed) for this request:
/// everything from the approved networks; from elsewhere, refused (and audited) when
/// the organisation keeps every record local, else the `hipaa_exempt` clients' only.
pub async fn list_reach(caller: &Actor, kind: &str) -> Result<ListReach, Error> {
    if from_approved_network(caller) {
        return Ok(ListReach::Everything);
    }
    if caller.tenant.settings().await?.storage_policy == StoragePolicy::LocalOnly {
        return Err(refuse_outside(caller, (kind, "list".to_owned()), None).await);
    }
    Ok(ListReach::ExemptClientsOnly)
}

/// Lets the request reach records about `clients` (an appointment's, a referral's; none
/// for someone not yet a client, whose records are `local_only`), or refuses.
pub async fn require_for_clients(
    caller: &Actor,
    (kind, id): (&str, String),
    clients: &[crate::clients::ClientId],
) -> Result<(), Error> {
    if from_approved_network(caller) {
        return Ok(());
    }
    let exempt = crate::clients::store::exempt_among(&caller.tenant.pool, clients).await?;
    let organisation = caller.tenant.settings().await?.storage_policy;
    if organisation == StoragePolicy::CloudAllowed && !clients.is_empty() && clients.iter().all(|c| exempt.contains(c))
    {
        return Ok(());
    }
    Err(refuse_outside(caller, (kind, id), clients.first().copied()).await)
}

/// Whether the request comes from the approved networks.
pub fn from_approved_network(caller: &Actor) -> bool {
    is_approved(&caller.config().approved_networks, caller.meta.client_ip)
}

/// Lets the request reach a record of `policy`, or refuses with a 403 that says why,
/// recorded in the audit trail first.
pub async fn require_approved_network(
    caller: &Actor,
    policy: StoragePolicy,
    (kind, id): (&str, String),
    subject: crate::clients::ClientId,
) -> Result<(), Error> {
    if policy == StoragePolicy::CloudAllowed || from_approved_network(caller) {
        return Ok(());
    }
    Err(refuse_outside(caller, (kind, id), Some(subject)).await)
}

/// The refusal of a request for `local_only` records from outside the approved
/// networks, recorded in the audit trail first (an audit failure refuses too).
pub async fn refuse_outside(
    caller: &Actor,
    (kind, id): (&str, String),
    subject: Option<crate::clients::ClientId>,
) -> Error {
    let mut event = caller
        .event("access.outside_approved_network", Outcome::Denied)
        .resource(kind, id)
        .reason("local_only record requested from outside the approved networks");
    if let Some(subject) = subject {
        event = event.subjects([subject.to_string()]);
    }
    if let Err(err) = caller.tenant.audit.record(event).await {
        return err.into();
    }
    Error::Forbidden {
        code: "outside_approved_network",
        message: "This record's storage policy is local_only: it can be opened only from the organisation's approved networks, and this request comes from elsewhere. Connect through the organisation's network or VPN.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exempt_records_of_a_cloud_allowing_organisation_may_leave() {
        use StoragePolicy::{CloudAllowed, LocalOnly};
        assert_eq!(StoragePolicy::of(false, CloudAllowed), LocalOnly);
        assert_eq!(StoragePolicy::of(true, LocalOnly), LocalOnly);
        assert_eq!(StoragePolicy::of(false, LocalOnly), LocalOnly);
        assert_eq!(StoragePolicy::of(true, CloudAllowed), CloudAllowed);
    }

    #[test]
    fn addresses_are_matched_in_their_canonical_form() {
        let networks: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(is_approved(&networks, "10.1.2.3".parse().unwrap()));
        assert!(is_approved(&networks, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(!is_approved(&networks, "203.0.113.9".parse().unwrap()));
        assert!(!is_approved(&[], "127.0.0.1".parse().unwrap()));
    }
}

//! Tenancy: each organisation (tenant) has its own database; the control database's
//! registry says which host names lead to which tenant. A single-organisation install
//! has one tenant that answers any host name.

mod directory;
mod locals;
mod provision;
mod store;

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

pub use directory::{ResolveError, Tenant, TenantDirectory};
pub use locals::TenantLocals;
pub use provision::{NewTenant, ProvisionError, adopt, bootstrap, provision, suspend};
pub use store::list_tenants;

/// A tenant's short name: 2 to 32 lower-case letters, digits and hyphens, starting with
/// a letter. It names the tenant's database too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub const DEFAULT: &'static str = "default";

    pub fn parse(value: &str) -> Result<Self, String> {
        let mut chars = value.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && (2..=32).contains(&value.len())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "`{value}` is not a tenant slug: use 2 to 32 lower-case letters, digits and hyphens, starting with a letter"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A host name as tenants are routed by: lower case, no port, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct HostName(String);

impl HostName {
    pub fn parse(value: &str) -> Result<Self, String> {
        let host = value.trim().trim_end_matches('.').to_ascii_lowercase();
        let is_ip = host.parse::<std::net::IpAddr>().is_ok();
        let is_dns = !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if is_ip || is_dns {
            Ok(Self(host))
        } else {
            Err(format!("`{value}` is not a host name"))
        }
    }

    /// The host of a `Host` header value, without its port (`[::1]:8080` gives `::1`).
    pub fn from_header(value: &str) -> Option<Self> {
        let host = if let Some(rest) = value.strip_prefix('[') {
            rest.split(']').next()?
        } else {
            value.rsplit_once(':').map_or(value, |(host, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    host
                } else {
                    value
                }
            })
        };
        Self::parse(host).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Modules an organisation may switch off. Identity, compliance and platform are always on.
pub const SWITCHABLE_MODULES: &[&str] = &[
    "clients",
    "appointments",
    "clinical_records",
    "documents",
    "operations",
    "integrations",
    "help",
    "interoperability",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Registered; its database is being created or migrated.
    Provisioning,
    Active,
    Suspended,
}

/// A row of the tenant registry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantRecord {
    pub id: Uuid,
    pub slug: TenantSlug,
    pub display_name: String,
    pub database_name: String,
    pub hosts: Vec<String>,
    pub enabled_modules: Vec<String>,
    pub status: TenantStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_lower_case_names() {
        assert!(TenantSlug::parse("acme-care").is_ok());
        for bad in ["", "a", "Acme", "1acme", "acme_care", "acme care", &"a".repeat(33)] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_header_loses_its_port_and_case() {
        assert_eq!(
            HostName::from_header("Care.Example.org:8080").unwrap().as_str(),
            "care.example.org"
        );
        assert_eq!(HostName::from_header("[::1]:8080").unwrap().as_str(), "::1");
        assert_eq!(HostName::from_header("127.0.0.1").unwrap().as_str(), "127.0.0.1");
        assert!(HostName::from_header("evil host").is_none());
        assert!(HostName::from_header("a..b").is_none());
    }
}

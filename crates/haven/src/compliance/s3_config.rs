//! The `[s3]` section of `haven.toml`: the S3-compatible cloud target of the storage
//! layer (`compliance::storage`). Only `hipaa_exempt` files of an organisation whose
//! storage policy is `cloud_allowed` ever go there.

use serde::{Deserialize, Serialize};

use crate::config::{Config, Secret, Section};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: Option<String>,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub allow_http: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            bucket: None,
            endpoint: None,
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
        }
    }
}

impl Section for S3Config {
    const NAME: &'static str = "s3";
    const SETTINGS: &'static [(&'static str, &'static str, &'static str)] = &[
        (
            "bucket",
            "s3_bucket",
            "use the bucket name of the S3-compatible store for hipaa_exempt files, or unset it",
        ),
        (
            "endpoint",
            "s3_endpoint",
            "use the store's address, for example https://s3.eu-west-1.amazonaws.com",
        ),
        ("region", "s3_region", "use the store's region, for example us-east-1"),
        (
            "access_key_id",
            "s3_access_key_id",
            "use the access key id (with s3_secret_access_key)",
        ),
        (
            "secret_access_key",
            "s3_secret_access_key",
            "use the secret access key (with s3_access_key_id)",
        ),
        (
            "allow_http",
            "s3_allow_http",
            "use true only for a store on a private network or loopback",
        ),
    ];

    fn validate(&self, _: &Config) -> Result<(), (&'static str, String)> {
        if self.bucket.is_some() && (self.access_key_id.is_none() || self.secret_access_key.is_none()) {
            return Err((
                "access_key_id",
                "the S3 store needs access_key_id and secret_access_key".to_owned(),
            ));
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("https://") || (self.allow_http && endpoint.starts_with("http://")))
        {
            return Err((
                "endpoint",
                format!("`{endpoint}` is not an https:// address (http:// needs allow_http)"),
            ));
        }
        Ok(())
    }
}

impl S3Config {
    /// Empty credentials count as unset.
    pub(crate) fn normalise(&mut self) {
        for secret in [&mut self.access_key_id, &mut self.secret_access_key] {
            if secret.as_ref().is_some_and(|s| s.expose().trim().is_empty()) {
                *secret = None;
            }
        }
    }
}

//! Configuration: built-in defaults, then `haven.toml`, then `HAVEN_*` environment
//! variables (plus the conventional `DATABASE_URL` and `REDIS_URL`), then command-line
//! flags. Validated once at start-up; a bad value stops Haven with one line that names
//! the setting, where it came from and how to fix it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use bytesize::ByteSize;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};

use crate::backups::config::BackupConfig;
use crate::compliance::audit::config::AuditConfig;
use crate::compliance::s3_config::S3Config;
use crate::documents::config::DocumentsConfig;
use crate::help::config::HelpConfig;
use crate::platform::jobs::config::JobsConfig;

/// Every top-level setting (its environment variable is `HAVEN_` and its name) and the
/// fix shown when its value is bad. The modules' sections declare their own
/// ([`Section::SETTINGS`]).
const SETTINGS: &[(&str, &str)] = &[
    ("data_dir", "use a folder path, for example /var/lib/haven"),
    ("listen", "use HOST:PORT, for example 127.0.0.1:8080"),
    ("admin_listen", "use HOST:PORT (for example 127.0.0.1:9464) or \"off\""),
    (
        "database_url",
        "use postgres://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to run the private PostgreSQL",
    ),
    ("redis_url", "use redis://HOST:PORT, or unset it"),
    ("mode", "use \"production\" or \"development\""),
    ("log_format", "use \"json\" or \"text\""),
    (
        "log_level",
        "use a level such as info or debug, or a filter such as haven=debug,info",
    ),
    (
        "trusted_proxies",
        "use a comma-separated list of addresses or CIDR ranges, for example 10.0.0.0/8,127.0.0.1",
    ),
    ("request_body_limit", "use a size such as \"1 MiB\" (at least 1 KiB)"),
    ("request_timeout", "use a duration such as \"30s\" (at least 10ms)"),
    ("shutdown_grace", "use a duration such as \"30s\""),
    (
        "metrics_token",
        "use a random string of at least 24 characters, or unset it",
    ),
    (
        "default_tenant_hosts",
        "use a comma-separated list of host names, for example localhost,care.example.org",
    ),
    (
        "tenant_database_prefix",
        "use 1 to 30 lower-case letters, digits or underscores, starting with a letter",
    ),
    (
        "control_database",
        "use 1 to 63 lower-case letters, digits or underscores, starting with a letter",
    ),
    (
        "pg_bin_dir",
        "use the folder holding initdb and postgres, for example /usr/lib/postgresql/15/bin",
    ),
    (
        "pg_user",
        "use an unprivileged operating-system user, for example postgres",
    ),
    (
        "public_url",
        "use the address people open, for example https://care.example.org",
    ),
    (
        "smtp_url",
        "use smtp://USER:PASS@HOST:587, smtps://USER:PASS@HOST:465 or smtp+plain://HOST:PORT",
    ),
    ("mail_from", "use a sender such as \"Haven <haven@care.example.org>\""),
    (
        "database_app_password",
        "use the password of the haven_app role, or unset it",
    ),
    (
        "master_key_file",
        "use the path of the master key file (see docs/encryption.md)",
    ),
    (
        "master_key",
        "use the master key as base64 (32 bytes), or unset it to use the file",
    ),
    (
        "approved_networks",
        "use a comma-separated list of CIDR ranges, for example 10.0.0.0/8,192.168.0.0/16",
    ),
];

/// A module's section of `haven.toml` (`[documents]`, `[audit]`, ...): its settings,
/// their defaults, and the module's own checks. Each setting keeps a flat environment
/// variable (`HAVEN_DOCUMENT_MAX_SIZE` sets `[documents] max_size`).
pub trait Section {
    /// The table's name in `haven.toml`.
    const NAME: &'static str;
    /// Each setting: its key in the table, its environment variable after `HAVEN_`, and
    /// the fix shown when its value is bad.
    const SETTINGS: &'static [(&'static str, &'static str, &'static str)];
    /// Checks the values; on a bad one, names its key and what is wrong.
    fn validate(&self, config: &Config) -> Result<(), (&'static str, String)>;
}

/// One setting: where it lives in `haven.toml` (`section.key`, or `key` at the top), its
/// environment variable after `HAVEN_`, and its fix.
#[derive(Clone)]
struct Setting {
    path: String,
    env: &'static str,
    fix: &'static str,
}

fn section_settings<S: Section>() -> impl Iterator<Item = Setting> {
    S::SETTINGS.iter().map(|(key, env, fix)| Setting {
        path: format!("{}.{key}", S::NAME),
        env,
        fix,
    })
}

/// Every setting, the top level's and each section's.
fn settings() -> Vec<Setting> {
    let top = SETTINGS.iter().map(|(name, fix)| Setting {
        path: (*name).to_owned(),
        env: name,
        fix,
    });
    top.chain(section_settings::<AuditConfig>())
        .chain(section_settings::<BackupConfig>())
        .chain(section_settings::<DocumentsConfig>())
        .chain(section_settings::<HelpConfig>())
        .chain(section_settings::<JobsConfig>())
        .chain(section_settings::<S3Config>())
        .collect()
}

fn check<S: Section>(section: &S, config: &Config) -> Result<(), (String, String)> {
    section
        .validate(config)
        .map_err(|(key, problem)| (format!("{}.{key}", S::NAME), problem))
}

/// `https://host` or `http://host:port`: what a browser sends as `Origin`.
pub(crate) fn is_web_origin(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")) else {
        return false;
    };
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "443"));
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// Where a setting's values come from, for error messages.
fn env_name(key: &str) -> String {
    match key {
        "database_url" => "DATABASE_URL".to_owned(),
        "redis_url" => "REDIS_URL".to_owned(),
        _ => {
            let env = settings().into_iter().find(|s| s.path == key).map_or(key, |s| s.env);
            format!("HAVEN_{}", env.to_ascii_uppercase())
        }
    }
}

fn fix_for(key: &str) -> &'static str {
    settings()
        .into_iter()
        .find(|s| s.path == key)
        .map_or("see the configuration table in the README", |s| s.fix)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Production,
    Development,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

/// A value that must never be printed: its `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Holds the private PostgreSQL cluster and, later, documents and keys.
    pub data_dir: PathBuf,
    /// The public listener: web app, API, health.
    pub listen: SocketAddr,
    /// The operators' listener for `/metrics`; `off` disables it.
    #[serde(deserialize_with = "optional_addr", serialize_with = "serialize_optional_addr")]
    pub admin_listen: Option<SocketAddr>,
    /// The control database on an external PostgreSQL server; unset runs the private cluster.
    pub database_url: Option<Secret>,
    pub redis_url: Option<Secret>,
    pub mode: Mode,
    /// Defaults to JSON lines in production and text in development.
    pub log_format: Option<LogFormat>,
    pub log_level: String,
    /// Peers whose `X-Forwarded-For` and `X-Request-Id` are believed.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<IpNet>,
    pub request_body_limit: ByteSize,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// When set, `/metrics` on the public listener answers a bearer of this token.
    pub metrics_token: Option<Secret>,
    /// The host names of the tenant created on first start.
    #[serde(deserialize_with = "list")]
    pub default_tenant_hosts: Vec<String>,
    /// Tenant databases are named `<prefix><slug>`.
    pub tenant_database_prefix: String,
    /// The control database's name in the private cluster.
    pub control_database: String,
    pub pg_bin_dir: Option<PathBuf>,
    /// The unprivileged user that runs the private cluster when Haven runs as root.
    pub pg_user: String,
    /// Where people reach Haven (links in emails; https here makes cookies Secure).
    pub public_url: Option<String>,
    /// The mail server for invitations, password resets and reminders.
    pub smtp_url: Option<Secret>,
    pub mail_from: String,
    /// The password of `haven_app`, the role Haven serves as, where the server wants one.
    pub database_app_password: Option<Secret>,
    /// The file holding the master key that wraps every data key (default
    /// `<data_dir>/keys/master.key`, created on first start). Back it up: see docs/encryption.md.
    pub master_key_file: Option<PathBuf>,
    /// The master key itself, base64, instead of the file (from `HAVEN_MASTER_KEY`).
    pub master_key: Option<Secret>,
    /// Where `local_only` clinical records may be opened from (after trusted-proxy
    /// handling of the client address). Default: loopback and private ranges.
    #[serde(deserialize_with = "list")]
    pub approved_networks: Vec<IpNet>,
    pub audit: AuditConfig,
    pub backup: BackupConfig,
    pub documents: DocumentsConfig,
    pub help: HelpConfig,
    pub jobs: JobsConfig,
    pub s3: S3Config,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            database_url: None,
            redis_url: None,
            mode: Mode::Production,
            log_format: None,
            log_level: "info".to_owned(),
            trusted_proxies: Vec::new(),
            request_body_limit: ByteSize::mib(1),
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            metrics_token: None,
            default_tenant_hosts: vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            tenant_database_prefix: "haven_tenant_".to_owned(),
            control_database: "haven_control".to_owned(),
            pg_bin_dir: None,
            pg_user: "postgres".to_owned(),
            public_url: None,
            smtp_url: None,
            mail_from: "Haven <haven@localhost>".to_owned(),
            database_app_password: None,
            master_key_file: None,
            master_key: None,
            approved_networks: [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
            ]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect(),
            audit: AuditConfig::default(),
            backup: BackupConfig::default(),
            documents: DocumentsConfig::default(),
            help: HelpConfig::default(),
            jobs: JobsConfig::default(),
            s3: S3Config::default(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    if nix::unistd::Uid::effective().is_root() {
        return PathBuf::from("/var/lib/haven");
    }
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")))
        .map_or_else(|| PathBuf::from("haven-data"), |base| base.join("haven"))
}

/// Values given on the command line; they override every other source.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

/// One bad setting, printed on one line.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}` ({origin}): {problem}; fix: {fix}")]
pub struct ConfigError {
    pub key: String,
    pub origin: String,
    pub problem: String,
    pub fix: &'static str,
}

impl ConfigError {
    fn new(key: &str, origin: String, problem: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            origin,
            problem: problem.into(),
            fix: fix_for(key),
        }
    }
}

impl Config {
    /// Defaults, then the file (the `--config` path, `HAVEN_CONFIG`, or `./haven.toml` when
    /// it exists), then the environment, then `overrides`.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let explicit_file = config_file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("HAVEN_CONFIG").map(PathBuf::from));
        match explicit_file {
            Some(path) if !path.is_file() => {
                return Err(ConfigError {
                    key: "config".to_owned(),
                    origin: "--config or HAVEN_CONFIG".to_owned(),
                    problem: format!("{} is not a readable file", path.display()),
                    fix: "name an existing haven.toml, or leave it unset",
                });
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("haven.toml").is_file() => figment = figment.merge(Toml::file_exact("haven.toml")),
            None => {}
        }
        // `HAVEN_<ENV>` sets the setting at its path: `HAVEN_LISTEN` sets `listen`,
        // `HAVEN_DOCUMENT_MAX_SIZE` sets `documents.max_size`.
        let known = settings();
        figment = figment
            .merge(
                Env::prefixed("HAVEN_")
                    .filter_map(move |key| known.iter().find(|s| key == s.env).map(|s| s.path.clone().into())),
            )
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            .merge(Serialized::defaults(overrides));
        Self::from_figment(&figment)
    }

    fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let mut config: Config = figment.extract().map_err(|err| figment_error(figment, err))?;
        config.normalise();
        config.validate().map_err(|(key, problem)| {
            let origin = figment
                .find_metadata(&key)
                .map_or_else(|| "default".to_owned(), |meta| describe_source(meta, &key));
            ConfigError::new(&key, origin, problem)
        })?;
        Ok(config)
    }

    fn normalise(&mut self) {
        for url in [
            &mut self.database_url,
            &mut self.redis_url,
            &mut self.metrics_token,
            &mut self.database_app_password,
            &mut self.smtp_url,
        ] {
            if url.as_ref().is_some_and(|u| u.expose().trim().is_empty()) {
                *url = None;
            }
        }
        if self.data_dir.is_relative()
            && let Ok(cwd) = std::env::current_dir()
        {
            self.data_dir = cwd.join(&self.data_dir);
        }
        for host in &mut self.default_tenant_hosts {
            *host = host.trim().to_ascii_lowercase();
        }
        self.s3.normalise();
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, problem: String| Err((key.to_owned(), problem));
        check(&self.audit, self)?;
        check(&self.backup, self)?;
        check(&self.documents, self)?;
        check(&self.help, self)?;
        check(&self.jobs, self)?;
        check(&self.s3, self)?;
        if let Some(url) = &self.database_url
            && (!(url.expose().starts_with("postgres://") || url.expose().starts_with("postgresql://"))
                || sqlx::postgres::PgConnectOptions::from_str(url.expose()).is_err())
        {
            return bad("database_url", "it is not a PostgreSQL connection URL".to_owned());
        }
        if let Some(url) = &self.redis_url
            && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
        {
            return bad("redis_url", "it is not a redis:// or rediss:// URL".to_owned());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return bad(
                "log_level",
                format!("`{}` is not a log level or filter", self.log_level),
            );
        }
        if self.request_body_limit < ByteSize::kib(1) {
            return bad(
                "request_body_limit",
                format!("{} is too small", self.request_body_limit),
            );
        }
        if self.request_timeout < Duration::from_millis(10) {
            return bad("request_timeout", format!("{:?} is too short", self.request_timeout));
        }
        if let Some(token) = &self.metrics_token
            && token.expose().len() < 24
        {
            return bad("metrics_token", "it is shorter than 24 characters".to_owned());
        }
        if !is_identifier(&self.tenant_database_prefix, 30) {
            return bad(
                "tenant_database_prefix",
                format!("`{}` is not a safe database-name prefix", self.tenant_database_prefix),
            );
        }
        if !is_identifier(&self.control_database, 63) {
            return bad(
                "control_database",
                format!("`{}` is not a safe database name", self.control_database),
            );
        }
        if let Some(url) = &self.public_url
            && !((url.starts_with("https://") || url.starts_with("http://"))
                && url.len() > 8
                && !url.contains(char::is_whitespace))
        {
            return bad("public_url", format!("`{url}` is not an http(s) address"));
        }
        if let Some(url) = &self.smtp_url
            && !["smtp://", "smtps://", "smtp+plain://"]
                .iter()
                .any(|s| url.expose().starts_with(s))
        {
            return bad(
                "smtp_url",
                "it is not an smtp://, smtps:// or smtp+plain:// URL".to_owned(),
            );
        }
        if !self.mail_from.contains('@') {
            return bad("mail_from", format!("`{}` has no email address", self.mail_from));
        }
        if self.default_tenant_hosts.is_empty() {
            return bad("default_tenant_hosts", "the list is empty".to_owned());
        }
        if let Some(host) = self
            .default_tenant_hosts
            .iter()
            .find(|h| crate::platform::tenancy::HostName::parse(h).is_err())
        {
            return bad("default_tenant_hosts", format!("`{host}` is not a host name"));
        }
        Ok(())
    }

    pub fn public_url_is_https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }

    /// The base for links in emails: `public_url`, else the listener's address.
    pub fn link_base(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn documents_path(&self) -> PathBuf {
        self.documents.path(self)
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys").join("master.key"))
    }

    pub fn audit_signing_key_path(&self) -> PathBuf {
        self.audit.signing_key_path(self)
    }

    /// The host names of the tenant created on first start (validated at load).
    pub fn default_hosts(&self) -> Vec<crate::platform::tenancy::HostName> {
        self.default_tenant_hosts
            .iter()
            .filter_map(|h| crate::platform::tenancy::HostName::parse(h).ok())
            .collect()
    }

    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(match self.mode {
            Mode::Production => LogFormat::Json,
            Mode::Development => LogFormat::Text,
        })
    }
}

/// Lower-case ASCII letters, digits and underscores, starting with a letter: safe to
/// quote as a PostgreSQL identifier and never folded differently.
pub(crate) fn is_identifier(value: &str, max_len: usize) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && value.len() <= max_len
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn describe_source(meta: &figment::Metadata, key: &str) -> String {
    match meta.source.as_ref() {
        Some(figment::Source::File(path)) => format!("in {}", path.display()),
        _ if meta.name.contains("environment") => format!("environment variable {}", env_name(key)),
        _ if meta.name.contains("Overrides") => "command line".to_owned(),
        _ => meta.name.to_string(),
    }
}

fn figment_error(figment: &Figment, err: figment::Error) -> ConfigError {
    let Some(err) = err.into_iter().next() else {
        return ConfigError::new("config", "unknown".to_owned(), "unreadable configuration");
    };
    let key = err.path.join(".");
    let key = if key.is_empty() { "config".to_owned() } else { key };
    let origin = err
        .metadata
        .as_ref()
        .or_else(|| figment.find_metadata(&key))
        .map_or_else(|| "unknown source".to_owned(), |meta| describe_source(meta, &key));
    let problem = match &err.kind {
        figment::error::Kind::UnknownField(field, _) => {
            return ConfigError {
                key: field.clone(),
                origin,
                problem: "there is no such setting".to_owned(),
                fix: "remove it; the README's configuration table lists every setting",
            };
        }
        // Connection strings can hold passwords: never echo their value.
        _ if matches!(
            key.as_str(),
            "database_url" | "redis_url" | "metrics_token" | "database_app_password" | "smtp_url"
        ) =>
        {
            "the value cannot be read".to_owned()
        }
        kind => kind.to_string(),
    };
    ConfigError::new(&key, origin, problem)
}

/// Accepts a list, or one comma-separated string (as environment variables give).
pub(crate) fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Text(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        OneOrMany::Many(items) => items,
    };
    items
        .iter()
        .map(|item| {
            // A bare address is a one-address network.
            let parsed = T::from_str(item).or_else(|first| {
                item.parse::<std::net::IpAddr>()
                    .map_err(|_| first.to_string())
                    .and_then(|ip| {
                        T::from_str(&format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 })).map_err(|e| e.to_string())
                    })
            });
            parsed.map_err(|e| serde::de::Error::custom(format!("`{item}`: {e}")))
        })
        .collect()
}

fn optional_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.eq_ignore_ascii_case("off") || text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not HOST:PORT or \"off\"")))
}

#[allow(clippy::ref_option)] // serde's serialize_with hands us `&Option<_>`
fn serialize_optional_addr<S: serde::Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    match addr {
        Some(addr) => s.serialize_str(&addr.to_string()),
        None => s.serialize_str("off"),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn every_setting_can_come_from_the_environment() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let known: Vec<String> = settings().into_iter().map(|s| s.path).collect();
        let mut paths = Vec::new();
        for (key, value) in defaults.as_object().unwrap() {
            match value.as_object() {
                Some(section) => paths.extend(section.keys().map(|k| format!("{key}.{k}"))),
                None => paths.push(key.clone()),
            }
        }
        let missing: Vec<&String> = paths
            .iter()
            .filter(|p| !known.contains(p) && p.as_str() != "database_url")
            .collect();
        assert!(missing.is_empty(), "not readable from HAVEN_*: {missing:?}");
        let stale: Vec<&String> = known.iter().filter(|k| !paths.contains(k)).collect();
        assert!(stale.is_empty(), "declared but not settings: {stale:?}");
    }

    #[test]
    fn a_module_section_reads_from_its_table_and_its_flat_variable_and_names_both_when_bad() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "haven.toml",
                "[documents]\nmax_size = \"2 MiB\"\n\n[jobs]\nconcurrency = 8\n",
            )?;
            let config = load_in_jail().map_err(|e| e.to_string())?;
            assert_eq!(config.documents.max_size, ByteSize::mib(2));
            assert_eq!(config.jobs.concurrency, 8);

            jail.set_env("HAVEN_DOCUMENT_MAX_SIZE", "3 MiB");
            assert_eq!(load_in_jail().unwrap().documents.max_size, ByteSize::mib(3));

            jail.set_env("HAVEN_DOCUMENT_MAX_SIZE", "2 GiB");
            let line = load_in_jail().unwrap_err().to_string();
            assert!(line.contains("`documents.max_size`"), "{line}");
            assert!(line.contains("HAVEN_DOCUMENT_MAX_SIZE"), "{line}");
            assert!(line.contains("1 KiB to 1 GiB"), "{line}");

            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.create_file("haven.toml", "[documents]\nmax_size = \"1 B\"\n")?;
            let line = load_in_jail().unwrap_err().to_string();
            assert!(line.contains("`documents.max_size` (in "), "{line}");

            jail.create_file("haven.toml", "[documents]\nmaxsize = \"1 MiB\"\n")?;
            let line = load_in_jail().unwrap_err().to_string();
            assert!(line.contains("maxsize") && line.contains("no such setting"), "{line}");
            Ok(())
        });
    }

    #[test]
    fn the_mail_server_and_master_key_come_from_the_environment() {
        Jail::expect_with(|jail| {
            jail.set_env("HAVEN_SMTP_URL", "smtp+plain://127.0.0.1:2525");
            jail.set_env("HAVEN_MASTER_KEY_FILE", "/srv/keys/master.key");
            let config = load_in_jail().map_err(|e| e.to_string())?;
            assert_eq!(
                config.smtp_url.as_ref().map(Secret::expose),
                Some("smtp+plain://127.0.0.1:2525")
            );
            assert_eq!(
                config.master_key_path(),
                std::path::PathBuf::from("/srv/keys/master.key")
            );
            Ok(())
        });
    }

    fn load_in_jail() -> Result<Config, ConfigError> {
        Config::load(None, &Overrides::default())
    }

    #[test]
    fn defaults_load_without_any_source() {
        Jail::expect_with(|_jail| {
            let config = load_in_jail().unwrap();
            assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
            assert!(config.database_url.is_none());
            assert_eq!(config.log_format(), LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        Jail::expect_with(|jail| {
            jail.create_file("haven.toml", "listen = \"127.0.0.1:7000\"\nmode = \"development\"\n")?;
            jail.set_env("HAVEN_LISTEN", "127.0.0.1:7001");
            jail.set_env("HAVEN_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1");
            let config = load_in_jail().unwrap();
            assert_eq!(config.listen, "127.0.0.1:7001".parse().unwrap());
            assert_eq!(config.mode, Mode::Development);
            assert_eq!(config.log_format(), LogFormat::Text);
            assert_eq!(config.trusted_proxies.len(), 2);
            assert_eq!(config.trusted_proxies[1].to_string(), "127.0.0.1/32");

            let flags = Overrides {
                listen: Some("127.0.0.1:7002".to_owned()),
                ..Overrides::default()
            };
            let config = Config::load(None, &flags).unwrap();
            assert_eq!(config.listen, "127.0.0.1:7002".parse().unwrap());
            Ok(())
        });
    }

    #[test]
    fn bad_listen_from_environment_names_the_variable_and_the_fix() {
        Jail::expect_with(|jail| {
            jail.set_env("HAVEN_LISTEN", "not-an-address");
            let err = load_in_jail().unwrap_err();
            let line = err.to_string();
            assert_eq!(err.key, "listen");
            assert!(line.contains("HAVEN_LISTEN"), "{line}");
            assert!(line.contains("HOST:PORT"), "{line}");
            assert!(!line.contains('\n'));
            Ok(())
        });
    }

    #[test]
    fn unknown_setting_in_file_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("haven.toml", "lisen = \"127.0.0.1:7000\"\n")?;
            let err = load_in_jail().unwrap_err();
            assert_eq!(err.key, "lisen");
            assert!(err.to_string().contains("haven.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_database_url_is_refused_without_echoing_it() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "mysql://user:hunter2@db/haven");
            let err = load_in_jail().unwrap_err();
            assert_eq!(err.key, "database_url");
            assert!(err.to_string().contains("DATABASE_URL"), "{err}");
            assert!(!err.to_string().contains("hunter2"));
            Ok(())
        });
    }

    #[test]
    fn empty_database_url_means_the_private_cluster() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "");
            assert!(load_in_jail().unwrap().database_url.is_none());
            Ok(())
        });
    }

    #[test]
    fn semantic_errors_name_their_source() {
        Jail::expect_with(|jail| {
            jail.set_env("HAVEN_REQUEST_TIMEOUT", "1ms");
            let err = load_in_jail().unwrap_err();
            assert_eq!(err.key, "request_timeout");
            assert!(err.to_string().contains("HAVEN_REQUEST_TIMEOUT"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("HAVEN_TENANT_DATABASE_PREFIX", "x; drop");
            assert_eq!(load_in_jail().unwrap_err().key, "tenant_database_prefix");
            Ok(())
        });
    }

    #[test]
    fn help_cors_origins_are_origins_only() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "HAVEN_HELP_CORS_ORIGINS",
                "https://www.example.org, http://localhost:3000",
            );
            assert_eq!(
                load_in_jail().unwrap().help.cors_origins,
                ["https://www.example.org", "http://localhost:3000"]
            );
            Ok(())
        });
        for bad in [
            "*",
            "https://example.org/",
            "ftp://example.org",
            "https://Example.org",
            "https://x:0",
        ] {
            Jail::expect_with(|jail| {
                jail.set_env("HAVEN_HELP_CORS_ORIGINS", bad);
                assert_eq!(load_in_jail().unwrap_err().key, "help.cors_origins", "{bad}");
                Ok(())
            });
        }
    }

    #[test]
    fn admin_listener_can_be_switched_off() {
        Jail::expect_with(|jail| {
            jail.set_env("HAVEN_ADMIN_LISTEN", "off");
            assert!(load_in_jail().unwrap().admin_listen.is_none());
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("postgres://u:hunter2@h/db");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}

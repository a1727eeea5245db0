//! `haven service-account create|list|disable`: keys for operators' automation.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Subcommand;

use super::DataDirArg;
use crate::clock;
use crate::config::Config;
use crate::platform::database::DatabaseServer;
use crate::platform::service_accounts::{self, SCOPES};

#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Register a service account by the public half of its Ed25519 key; prints its id,
    /// which goes in the JWT header as `kid`.
    Create {
        /// 2 to 63 lower-case letters, digits and hyphens.
        name: String,
        /// The 32-byte Ed25519 public key, as hex or unpadded base64url.
        #[arg(long)]
        public_key: String,
        /// platform:read or platform:write (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// List service accounts.
    List {
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Disable a service account: its tokens stop working at once.
    Disable {
        name: String,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

impl ServiceAccountCommand {
    pub fn data_dir(&self) -> &DataDirArg {
        match self {
            Self::Create { data_dir, .. } | Self::List { data_dir } | Self::Disable { data_dir, .. } => data_dir,
        }
    }
}

fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let text = text.trim();
    let bytes = hex::decode(text)
        .ok()
        .or_else(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok())
        .context("the public key is neither hex nor base64url")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the public key must be 32 bytes (an Ed25519 public key)"))
}

pub async fn run(command: ServiceAccountCommand, config: &Config, server: &DatabaseServer) -> anyhow::Result<ExitCode> {
    let control = super::bootstrap(config, server).await?;
    let now = clock::system().now();
    let result = async {
        match command {
            ServiceAccountCommand::Create {
                name,
                public_key,
                scopes,
                ..
            } => {
                let key = parse_key(&public_key)?;
                if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
                    bail!("`{bad}` is not a scope; use {}", SCOPES.join(" or "));
                }
                let id = service_accounts::create(&control, &name, &key, &scopes, now)
                    .await
                    .map_err(|err| match &err {
                        sqlx::Error::Database(db) if db.is_unique_violation() => {
                            anyhow::anyhow!("a service account named `{name}` exists already")
                        }
                        sqlx::Error::Database(db) if db.is_check_violation() => {
                            anyhow::anyhow!(
                                "`{name}` is not a service-account name: use lower-case letters, digits and hyphens"
                            )
                        }
                        _ => err.into(),
                    })?;
                println!("created service account {name}; its id (the JWT `kid`) is {id}");
            }
            ServiceAccountCommand::List { .. } => {
                for account in service_accounts::list(&control).await? {
                    let state = if account.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "enabled"
                    };
                    println!(
                        "{:<24} {} {:<9} {}",
                        account.name,
                        account.id,
                        state,
                        account.scopes.join(",")
                    );
                }
            }
            ServiceAccountCommand::Disable { name, .. } => {
                if !service_accounts::disable(&control, &name, now).await? {
                    bail!("there is no enabled service account named `{name}`");
                }
                println!("disabled {name}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
    .await;
    control.close().await;
    result
}

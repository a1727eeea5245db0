//! `haven user create|list|roles|disable|enable|unlock|reset-two-factor`.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use sqlx::PgPool;

use super::DataDirArg;
use crate::clock::{self, SharedClock};
use crate::compliance::audit;
use crate::config::Config;
use crate::identity::admin::{self, AdminError, ChangedBy, NewAccount};
use crate::identity::email_token::{self, Purpose};
use crate::identity::password::PasswordHasher;
use crate::identity::{Role, store};
use crate::platform::database::{DatabaseName, DatabaseServer};
use crate::platform::tenancy;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a staff account. Without --password-stdin it is invited: a one-time link to
    /// choose a password is printed (and emailed when mail is configured).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Repeat for several roles: clinician, case_manager, supervisor, front_desk,
        /// org_admin, auditor, help_editor.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Read the password from standard input instead of inviting.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// List staff accounts.
    List {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Replace an account's roles.
    Roles {
        #[arg(long)]
        email: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Disable an account and end its sessions at once.
    Disable {
        #[arg(long)]
        email: String,
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Enable a disabled account.
    Enable {
        #[arg(long)]
        email: String,
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Lift a sign-in lock before it runs out.
    Unlock {
        #[arg(long)]
        email: String,
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
    /// Remove an account's second factor (a lost phone); it sets up a new one at sign-in.
    ResetTwoFactor {
        #[arg(long)]
        email: String,
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[command(flatten)]
        data_dir: DataDirArg,
    },
}

impl UserCommand {
    pub fn data_dir(&self) -> &DataDirArg {
        match self {
            Self::Create { data_dir, .. }
            | Self::List { data_dir, .. }
            | Self::Roles { data_dir, .. }
            | Self::Disable { data_dir, .. }
            | Self::Enable { data_dir, .. }
            | Self::Unlock { data_dir, .. }
            | Self::ResetTwoFactor { data_dir, .. } => data_dir,
        }
    }

    fn tenant(&self) -> Option<&str> {
        match self {
            Self::Create { tenant, .. }
            | Self::List { tenant, .. }
            | Self::Roles { tenant, .. }
            | Self::Disable { tenant, .. }
            | Self::Enable { tenant, .. }
            | Self::Unlock { tenant, .. }
            | Self::ResetTwoFactor { tenant, .. } => tenant.as_deref(),
        }
    }
}

fn parse_roles(names: &[String]) -> anyhow::Result<Vec<Role>> {
    names
        .iter()
        .map(|name| {
            Role::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                anyhow::anyhow!("`{name}` is not a role; use one of {}", known.join(", "))
            })
        })
        .collect()
}

fn explain(err: AdminError) -> anyhow::Error {
    match err {
        AdminError::Invalid(fields) => anyhow::anyhow!(
            "{}",
            fields
                .iter()
                .map(|f| format!("{} {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        AdminError::EmailTaken => anyhow::anyhow!("an account with this email already exists"),
        AdminError::NoSuchUser => anyhow::anyhow!("there is no account with this email"),
        other => other.into(),
    }
}

pub async fn run(command: UserCommand, config: &Config, server: &DatabaseServer) -> anyhow::Result<ExitCode> {
    let clock = clock::system();
    let (slug, pool) = tenant_pool(config, server, command.tenant()).await?;
    let by = ChangedBy::command_line(&super::operator());
    let result = run_on(command, config, &pool, &clock, &by, &slug).await;
    // Chain what the command recorded now: no server may be running to do it.
    audit::drain_outbox(&pool).await.context("chaining the audit events")?;
    pool.close().await;
    result.map(|()| ExitCode::SUCCESS)
}

async fn run_on(
    command: UserCommand,
    config: &Config,
    pool: &PgPool,
    clock: &SharedClock,
    by: &ChangedBy,
    slug: &str,
) -> anyhow::Result<()> {
    let find = |email: String| async move { admin::find_by_email(pool, &email).await.map_err(explain) };
    match command {
        UserCommand::Create {
            email,
            name,
            roles,
            password_stdin,
            ..
        } => {
            let roles = parse_roles(&roles)?;
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the password")?;
                Some(text.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let hasher = PasswordHasher::new(1)?;
            let account = NewAccount {
                email: &email,
                display_name: &name,
                roles: &roles,
                password: password.as_deref(),
            };
            let id = admin::create(pool, &hasher, clock, by, &account)
                .await
                .map_err(explain)?;
            if password.is_some() {
                println!("created {email} in {slug}; they can sign in now");
            } else {
                let mut tx = pool.begin().await?;
                let token = email_token::issue(&mut tx, id, Purpose::Invitation, clock.now()).await?;
                tx.commit().await?;
                println!("invited {email} to {slug}; the link works once, for 7 days:");
                println!("{}/invitation/{token}", config.link_base());
            }
        }
        UserCommand::List { .. } => {
            println!("{:<32} {:<24} {:<9} {:<4} ROLES", "EMAIL", "NAME", "STATUS", "2FA");
            for user in store::list(pool).await? {
                let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{:<32} {:<24} {:<9} {:<4} {}",
                    user.email,
                    user.display_name.chars().take(24).collect::<String>(),
                    user.status.as_str(),
                    if user.has_second_factor { "on" } else { "off" },
                    roles.join(",")
                );
            }
        }
        UserCommand::Roles { email, roles, .. } => {
            let roles = parse_roles(&roles)?;
            let user = find(email.clone()).await?;
            admin::set_roles(pool, clock, by, user.id, &roles)
                .await
                .map_err(explain)?;
            println!(
                "{email} now has: {}",
                roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        UserCommand::Disable { email, .. } => {
            let user = find(email.clone()).await?;
            let ended = admin::disable(pool, clock, by, user.id).await.map_err(explain)?;
            println!("disabled {email}; {ended} session(s) ended");
        }
        UserCommand::Enable { email, .. } => {
            let user = find(email.clone()).await?;
            admin::enable(pool, clock, by, user.id).await.map_err(explain)?;
            println!("enabled {email}");
        }
        UserCommand::Unlock { email, .. } => {
            let user = find(email.clone()).await?;
            admin::unlock(pool, clock, by, user.id).await.map_err(explain)?;
            println!("unlocked {email}");
        }
        UserCommand::ResetTwoFactor { email, .. } => {
            let user = find(email.clone()).await?;
            admin::reset_second_factor(pool, clock, by, user.id)
                .await
                .map_err(explain)?;
            println!("removed the second factor of {email}; their sessions ended");
        }
    }
    Ok(())
}

async fn tenant_pool(config: &Config, server: &DatabaseServer, slug: Option<&str>) -> anyhow::Result<(String, PgPool)> {
    let control = super::bootstrap(config, server).await?;
    let tenants = tenancy::list_tenants(&control).await;
    control.close().await;
    let tenants = tenants?;
    let chosen = match slug {
        Some(slug) => tenants.into_iter().find(|t| t.slug.as_str() == slug),
        None if tenants.len() == 1 => tenants.into_iter().next(),
        None => bail!("this installation has several tenants; name one with --tenant"),
    };
    let Some(tenant) = chosen else {
        bail!("there is no such tenant; `haven tenant list` shows them");
    };
    let database = DatabaseName::parse(&tenant.database_name)
        .ok_or_else(|| anyhow::anyhow!("tenant {} has an invalid database name", tenant.slug))?;
    Ok((tenant.slug.to_string(), server.connect_pool(&database).await?))
}

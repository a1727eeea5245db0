//! The PostgreSQL server that holds the control database and the tenant databases,
//! whether it is Haven's private cluster or an external server named by `DATABASE_URL`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::config::is_identifier;

pub static CONTROL_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/control");
pub static TENANT_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/tenant");

/// Taken on the control database while migrating or provisioning, so that two Haven
/// instances (or `haven serve` and `haven tenant create`) never race.
pub const MIGRATION_LOCK_KEY: i64 = 0x4841_5645_4e5f_4d31; // "HAVEN_M1"

const POOL_SIZE: u32 = 16;

/// Server settings of the private cluster (passed as `-c name=value` when Haven starts
/// it; a server of `DATABASE_URL` is its operator's to tune). Every audited request waits
/// on the audit writer's commit, and a commit waits on the WAL's flush: at PostgreSQL's
/// default of 1 GB, a steady load of audited lists filled the WAL every 20 to 25 s, and each
/// checkpoint's flush of the data files held commits up for 100 ms and more. With 4 GB,
/// the WAL fills a quarter as often; it may take up to that much disk while writes are
/// heavy, and recovery after a crash replays at most that.
pub const PRIVATE_CLUSTER_SETTINGS: &[(&str, &str)] = &[("max_wal_size", "4GB")];

/// A server that is starting, recovering from a crash or restarting drops or refuses
/// connections for a moment: Haven waits this long for it before giving up.
const RESTART_PATIENCE: Duration = Duration::from_secs(30);
const RETRY_EVERY: Duration = Duration::from_millis(200);

/// Errors that a server in the middle of (re)starting gives: the connection reset or
/// refused, or "the database system is starting up" (57P03).
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection that rested longer than this is asked whether it is still alive
/// before it is handed out (see `pool_options`).
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Options every pool shares. The pool already asks each connection whether it is alive
/// as it comes back (sqlx pings on release, always); asking again as it goes out, which
/// sqlx does by default, is a second round trip per use for the same answer. A
/// connection is checked on the way out only when it rested longer than
/// `CHECK_AFTER_IDLE`, long enough for the server to have restarted behind it.
fn pool_options(size: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > CHECK_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// One connection, waiting out a server that is still starting or recovering from a
/// crash (refused connections, "the database system is starting up").
async fn connect_patiently(options: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    let mut waited = Duration::ZERO;
    loop {
        match PgConnection::connect_with(options).await {
            Err(source) if is_transient(&source) && waited < RESTART_PATIENCE => {
                tokio::time::sleep(RETRY_EVERY).await;
                waited += RETRY_EVERY;
            }
            other => return other,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot reach database {database}: {source}")]
    Connect { database: String, source: sqlx::Error },
    #[error("migrating database {database} failed: {source}")]
    Migrate {
        database: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// A database name that is safe to splice into `CREATE DATABASE` (which cannot take a
/// bind parameter): lower-case letters, digits and underscores only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatabaseName(String);

impl DatabaseName {
    pub fn parse(name: &str) -> Option<Self> {
        is_identifier(name, 63).then(|| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// How to connect to the server, with the database left to choose.
/// The role Haven serves requests as (created by the migrations).
pub const APP_ROLE: &str = "haven_app";

#[derive(Debug, Clone)]
pub struct DatabaseServer {
    base: PgConnectOptions,
    control: DatabaseName,
    app_password: Option<String>,
    /// The URL of an external server, for PostgreSQL's own tools (pg_dump, pg_restore).
    url: Option<String>,
}

impl DatabaseServer {
    /// An external server; the URL's database is the control database.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let base = PgConnectOptions::from_str(url).map_err(|_| "not a PostgreSQL URL".to_owned())?;
        let database = base.get_database().unwrap_or("haven_control").to_owned();
        let control = DatabaseName::parse(&database).ok_or_else(|| {
            format!("the control database name `{database}` must be lower-case letters, digits and underscores")
        })?;
        Ok(Self {
            base: quiet(base),
            control,
            app_password: None,
            url: Some(url.to_owned()),
        })
    }

    /// The private cluster, reached through its socket folder.
    pub fn private_cluster(socket_dir: &Path, superuser: &str, control: DatabaseName) -> Self {
        let base = PgConnectOptions::new()
            .socket(socket_dir)
            .port(haven_pg_embed::SOCKET_PORT)
            .username(superuser);
        Self {
            base: quiet(base),
            control,
            app_password: None,
            url: None,
        }
    }

    /// How PostgreSQL's own tools reach `database` as the owner: a connection string for
    /// `--dbname`, and the password to pass in `PGPASSWORD` (never on a command line).
    pub fn libpq(&self, database: &DatabaseName) -> (String, Option<String>) {
        if let Some(text) = &self.url
            && let Ok(mut url) = url::Url::parse(text)
        {
            let password = url
                .password()
                .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
            let _ = url.set_password(None);
            url.set_path(&format!("/{}", database.as_str()));
            return (url.to_string(), password);
        }
        let quote = |value: &str| format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"));
        let host = self
            .base
            .get_socket()
            .map_or_else(|| self.base.get_host().to_owned(), |dir| dir.display().to_string());
        (
            format!(
                "host={} port={} user={} dbname={}",
                quote(&host),
                self.base.get_port(),
                quote(self.base.get_username()),
                quote(database.as_str())
            ),
            None,
        )
    }

    /// The password of `haven_app` on a server that asks for one.
    #[must_use]
    pub fn with_app_password(mut self, password: Option<String>) -> Self {
        self.app_password = password;
        self
    }

    /// The same server with another database holding the migration lock (the help
    /// service alone has no control database).
    #[must_use]
    pub fn with_control_database(mut self, control: DatabaseName) -> Self {
        self.control = control;
        self
    }

    pub fn control_database(&self) -> &DatabaseName {
        &self.control
    }

    pub fn options(&self, database: &DatabaseName) -> PgConnectOptions {
        self.base.clone().database(database.as_str())
    }

    /// Connection options for serving: as `haven_app`, which may append to the audit
    /// trail but never change it.
    pub fn app_options(&self, database: &DatabaseName) -> PgConnectOptions {
        let options = self
            .options(database)
            .username(APP_ROLE)
            // Client search compares single name words, where one slip in five letters
            // ("smiht") leaves a trigram similarity of about 0.33 (clients::search).
            .options([("pg_trgm.similarity_threshold", "0.3")]);
        match &self.app_password {
            Some(password) => options.password(password),
            None => options,
        }
    }

    /// A serving pool (as `haven_app`) that connects on first use.
    pub fn lazy_app_pool(&self, database: &DatabaseName) -> PgPool {
        pool_options(POOL_SIZE).connect_lazy_with(self.app_options(database))
    }

    /// One connection (as `haven_app`) apart from the serving pool, for a task that must
    /// never wait behind requests for a connection: the audit writer, whose batches every
    /// audited request waits on, and the token cache's listener.
    pub fn lazy_own_connection(&self, database: &DatabaseName) -> PgPool {
        pool_options(1).connect_lazy_with(self.app_options(database))
    }

    pub async fn connect_pool(&self, database: &DatabaseName) -> Result<PgPool, DatabaseError> {
        let mut waited = Duration::ZERO;
        loop {
            let attempt = pool_options(POOL_SIZE).connect_with(self.options(database)).await;
            match attempt {
                Err(source) if is_transient(&source) && waited < RESTART_PATIENCE => {
                    tokio::time::sleep(RETRY_EVERY).await;
                    waited += RETRY_EVERY;
                }
                other => {
                    return other.map_err(|source| DatabaseError::Connect {
                        database: database.to_string(),
                        source,
                    });
                }
            }
        }
    }

    /// Creates `database` unless it exists. Returns whether it was created.
    pub async fn ensure_database(&self, database: &DatabaseName) -> Result<bool, DatabaseError> {
        match connect_patiently(&self.options(database)).await {
            Ok(conn) => {
                conn.close().await?;
                return Ok(false);
            }
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("3D000") => {}
            Err(source) => {
                return Err(DatabaseError::Connect {
                    database: database.to_string(),
                    source,
                });
            }
        }
        let maintenance = DatabaseName("postgres".to_owned());
        let mut conn = PgConnection::connect_with(&self.options(&maintenance))
            .await
            .map_err(|source| DatabaseError::Connect {
                database: maintenance.to_string(),
                source,
            })?;
        // The name is a validated identifier (see `DatabaseName`): quoting it is enough.
        let created = match sqlx::query(&format!("CREATE DATABASE \"{database}\""))
            .execute(&mut conn)
            .await
        {
            Ok(_) => true,
            // Already there; a concurrent creator that wins the race shows as a unique
            // violation on the catalogue instead of 42P04.
            Err(sqlx::Error::Database(err))
                if err.code().as_deref() == Some("42P04") || err.constraint() == Some("pg_database_datname_index") =>
            {
                false
            }
            Err(err) => return Err(err.into()),
        };
        conn.close().await?;
        Ok(created)
    }
}

impl DatabaseServer {
    /// Runs one statement on the maintenance database (`postgres`).
    async fn maintain(&self, statement: &str) -> Result<(), DatabaseError> {
        let maintenance = DatabaseName("postgres".to_owned());
        let mut conn = PgConnection::connect_with(&self.options(&maintenance))
            .await
            .map_err(|source| DatabaseError::Connect {
                database: maintenance.to_string(),
                source,
            })?;
        sqlx::query(statement).execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    /// Renames a database nobody is connected to.
    pub async fn rename_database(&self, from: &DatabaseName, to: &DatabaseName) -> Result<(), DatabaseError> {
        // Validated identifiers (see `DatabaseName`).
        self.maintain(&format!("ALTER DATABASE \"{from}\" RENAME TO \"{to}\""))
            .await
    }

    /// Drops `database`, ending its sessions (scratch databases, a restore's swap).
    pub async fn drop_database(&self, database: &DatabaseName) -> Result<(), DatabaseError> {
        // A validated identifier (see `DatabaseName`).
        self.maintain(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"))
            .await
    }

    /// A serving pool (as `haven_app`) of a chosen size, connected now.
    pub async fn app_pool_sized(&self, database: &DatabaseName, size: u32) -> Result<PgPool, DatabaseError> {
        pool_options(size)
            .connect_with(self.app_options(database))
            .await
            .map_err(|source| DatabaseError::Connect {
                database: database.to_string(),
                source,
            })
    }
}

/// Statement logging would put bind values (PHI) in our log at debug level.
fn quiet(options: PgConnectOptions) -> PgConnectOptions {
    options.disable_statement_logging()
}

/// Applies `migrator` to the pool's database.
pub async fn migrate(pool: &PgPool, migrator: &Migrator, database: &DatabaseName) -> Result<(), DatabaseError> {
    migrator.run(pool).await.map_err(|source| DatabaseError::Migrate {
        database: database.to_string(),
        source,
    })
}

/// Whether every migration Haven knows has been applied to the pool's database.
pub async fn migrations_current(pool: &PgPool, migrator: &Migrator) -> Result<bool, sqlx::Error> {
    let latest_known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await?;
    Ok(applied.unwrap_or(0) >= latest_known)
}

/// Holds the installation-wide migration lock until dropped or released.
pub struct MigrationLock {
    conn: PgConnection,
}

impl MigrationLock {
    pub async fn acquire(server: &DatabaseServer) -> Result<Self, DatabaseError> {
        let mut conn = connect_patiently(&server.options(server.control_database()))
            .await
            .map_err(|source| DatabaseError::Connect {
                database: server.control_database().to_string(),
                source,
            })?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut conn)
            .await?;
        Ok(Self { conn })
    }

    pub async fn release(mut self) -> Result<(), DatabaseError> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut self.conn)
            .await?;
        self.conn.close().await?;
        Ok(())
    }
}

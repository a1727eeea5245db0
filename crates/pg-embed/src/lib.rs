//! A private PostgreSQL cluster kept under one directory and run from the PostgreSQL
//! binaries installed on the machine.
//!
//! Layout under the cluster root:
//!
//! ```text
//! <root>/data          PGDATA (created by initdb on first start)
//! <root>/run           the Unix socket directory; the only way in (no TCP listener)
//! <root>/postgres.log  the server's own log
//! ```
//!
//! The server runs under a tiny `sh` supervisor whose standard input is a pipe held by
//! this process. When the pipe closes (we stop the cluster, or our process dies, even by
//! `kill -9`), the supervisor asks PostgreSQL for a fast shutdown. A cluster whose server
//! was itself killed leaves a stale `postmaster.pid`; the next start removes it and
//! PostgreSQL replays its write-ahead log as usual.
//!
//! When the calling process runs as root, the cluster is owned by and runs as an
//! unprivileged operating-system user (PostgreSQL refuses to run as root).
//!
//! Everything here blocks: it runs once at start-up and once at shutdown.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};

/// The port number names the socket file (`.s.PGSQL.5432`); there is no TCP listener.
pub const SOCKET_PORT: u16 = 5432;

/// Where Debian and Ubuntu install the server binaries, one folder per major version.
pub const DEBIAN_LIB_ROOT: &str = "/usr/lib/postgresql";

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
const OLD_CHILDREN_GRACE: Duration = Duration::from_secs(30);

/// Starts PostgreSQL, then asks it for a fast shutdown when its standard input closes.
/// Its exit status is the server's. File descriptor 3 keeps our pipe for the watcher
/// because an asynchronous list's standard input is /dev/null in a non-interactive shell.
const SUPERVISOR_SCRIPT: &str = r#"exec 3<&0
"$@" 3<&- &
pg=$!
( cat <&3 >/dev/null; kill -INT "$pg" 2>/dev/null ) &
exec 3<&-
wait "$pg"
"#;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found on PATH or under {DEBIAN_LIB_ROOT}/*/bin; install them with `apt-get install -y postgresql`"
    )]
    BinariesNotFound,
    #[error("PostgreSQL binaries were not found in {0}: that folder has no `initdb` and `postgres`")]
    BinariesNotInDir(PathBuf),
    #[error(
        "the operating-system user `{0}` that should own the private PostgreSQL cluster does not exist; install PostgreSQL (it creates `postgres`) or name another unprivileged user"
    )]
    NoSuchUser(String),
    #[error(
        "the operating-system user `{user}` cannot enter {dir}; choose a data directory it can reach (for example under /var/lib)"
    )]
    NotTraversable { dir: PathBuf, user: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("initdb failed: {0}")]
    InitdbFailed(String),
    #[error("PostgreSQL did not start: {0}")]
    StartFailed(String),
    #[error("PostgreSQL did not stop within {0:?}")]
    StopTimedOut(Duration),
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The folder holding `initdb` and `postgres`.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub bin_dir: PathBuf,
}

impl Binaries {
    /// An explicit folder wins; otherwise the folder of the cluster's own major version
    /// under [`DEBIAN_LIB_ROOT`], then `PATH`, then the newest version under
    /// [`DEBIAN_LIB_ROOT`].
    pub fn locate(explicit: Option<&Path>, cluster_major: Option<&str>) -> Result<Self, Error> {
        if let Some(dir) = explicit {
            return if has_server_binaries(dir) {
                Ok(Self {
                    bin_dir: dir.to_path_buf(),
                })
            } else {
                Err(Error::BinariesNotInDir(dir.to_path_buf()))
            };
        }
        let lib_root = Path::new(DEBIAN_LIB_ROOT);
        if let Some(major) = cluster_major {
            let dir = lib_root.join(major).join("bin");
            if has_server_binaries(&dir) {
                return Ok(Self { bin_dir: dir });
            }
        }
        let on_path = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default();
        if let Some(dir) = on_path.into_iter().find(|dir| has_server_binaries(dir)) {
            return Ok(Self { bin_dir: dir });
        }
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(lib_root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let dir = entry.path().join("bin");
                has_server_binaries(&dir).then_some((major, dir))
            })
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin_dir)| Self { bin_dir })
            .ok_or(Error::BinariesNotFound)
    }

    fn initdb(&self) -> PathBuf {
        self.bin_dir.join("initdb")
    }

    fn postgres(&self) -> PathBuf {
        self.bin_dir.join("postgres")
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "postgres"]
        .iter()
        .all(|name| fs::metadata(dir.join(name)).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0))
}

/// How to find, create and run the cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The cluster's folder (`<data-dir>/pg`).
    pub root: PathBuf,
    /// Where `initdb` and `postgres` are; found on the machine when `None`.
    pub bin_dir: Option<PathBuf>,
    /// The database superuser created by initdb.
    pub superuser: String,
    /// The unprivileged operating-system user that owns and runs the cluster when the
    /// calling process is root. Ignored otherwise: the cluster then runs as the caller.
    pub run_as_when_root: String,
    /// Extra server settings, passed as `-c name=value`.
    pub settings: Vec<(String, String)>,
}

impl ClusterConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            bin_dir: None,
            superuser: "haven".to_owned(),
            run_as_when_root: "postgres".to_owned(),
            settings: Vec::new(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("postgres.log")
    }
}

/// How the cluster came to be running when [`Cluster::start`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartKind {
    /// initdb ran: a new, empty cluster.
    Created,
    /// An existing cluster was started (after removing a stale lock if there was one).
    Started { recovered_stale_lock: bool },
    /// Another process already runs this cluster; we use it and will not stop it.
    Attached,
}

/// A running cluster. Dropping it without [`Cluster::stop`] still shuts the server down
/// (the supervisor sees its pipe close) but does not wait for it.
#[derive(Debug)]
pub struct Cluster {
    config: ClusterConfig,
    supervisor: Option<Supervisor>,
    start_kind: StartKind,
}

#[derive(Debug)]
struct Supervisor {
    child: Child,
    pipe: Option<ChildStdin>,
}

#[derive(Debug, Clone, Copy)]
struct Owner {
    uid: Uid,
    gid: Gid,
}

impl Cluster {
    /// Creates the cluster on first use, recovers a stale one, or attaches to one that is
    /// already running, and returns once it accepts connections.
    pub fn start(config: ClusterConfig) -> Result<Self, Error> {
        let owner = owner_for(&config.run_as_when_root)?;
        prepare_root(&config, owner)?;

        let data_dir = config.data_dir();
        let cluster_major = fs::read_to_string(data_dir.join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_owned());
        let binaries = Binaries::locate(config.bin_dir.as_deref(), cluster_major.as_deref())?;

        let mut created = false;
        if cluster_major.is_none() {
            initdb(&config, &binaries, owner)?;
            created = true;
        }

        let mut recovered_stale_lock = false;
        // A server may be running, or (just killed) still going away: attach only to one
        // that answers on its socket; wait out one that is dying.
        let attach_deadline = Instant::now() + OLD_CHILDREN_GRACE;
        loop {
            match read_lock_file(&data_dir) {
                Some(lock) if process_is_postgres(lock.pid) => {
                    if accepts_connections(&config.socket_dir())
                        && wait_until_ready(&data_dir, None, &config.log_file()).is_ok()
                    {
                        tracing::info!(
                            pid = lock.pid,
                            "using the private PostgreSQL cluster that is already running"
                        );
                        return Ok(Self {
                            config,
                            supervisor: None,
                            start_kind: StartKind::Attached,
                        });
                    }
                    if Instant::now() > attach_deadline {
                        return Err(Error::StartFailed(format!(
                            "PostgreSQL (pid {}) holds the cluster but does not accept connections",
                            lock.pid
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Some(lock) => {
                    tracing::warn!(
                        stale_pid = lock.pid,
                        "removing the stale lock of a PostgreSQL that is no longer running"
                    );
                    let pid_file = data_dir.join("postmaster.pid");
                    fs::remove_file(&pid_file).map_err(io_err("cannot remove", &pid_file))?;
                    recovered_stale_lock = true;
                    break;
                }
                None => break,
            }
        }

        // After a crash the old server's children take a moment to notice and detach
        // from its shared memory; until then a new server refuses to start.
        let deadline = Instant::now() + OLD_CHILDREN_GRACE;
        let supervisor = loop {
            let mut supervisor = spawn_server(&config, &binaries, owner)?;
            match wait_until_ready(&data_dir, Some(&mut supervisor.child), &config.log_file()) {
                Ok(()) => break supervisor,
                Err(err) => {
                    drop(supervisor.pipe.take());
                    let _ = supervisor.child.kill();
                    let _ = supervisor.child.wait();
                    let waiting_for_old_children =
                        matches!(&err, Error::StartFailed(log) if log.contains("pre-existing shared memory block"));
                    if !waiting_for_old_children || Instant::now() > deadline {
                        return Err(err);
                    }
                    tracing::info!("the crashed server's processes are still exiting; retrying");
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        };
        let start_kind = if created {
            StartKind::Created
        } else {
            StartKind::Started { recovered_stale_lock }
        };
        Ok(Self {
            config,
            supervisor: Some(supervisor),
            start_kind,
        })
    }

    pub fn start_kind(&self) -> StartKind {
        self.start_kind
    }

    /// The folder holding the server's socket; connect with `host=<this>`.
    pub fn socket_dir(&self) -> PathBuf {
        self.config.socket_dir()
    }

    pub fn superuser(&self) -> &str {
        &self.config.superuser
    }

    /// Asks the server for a fast shutdown and waits for it, if this process started it.
    pub fn stop(mut self) -> Result<(), Error> {
        let Some(mut supervisor) = self.supervisor.take() else {
            return Ok(());
        };
        drop(supervisor.pipe.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match supervisor.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    // Immediate shutdown: the next start replays the write-ahead log.
                    if let Some(lock) = read_lock_file(&self.config.data_dir()) {
                        let _ = kill(Pid::from_raw(lock.pid), Signal::SIGQUIT);
                    }
                    let _ = supervisor.child.wait();
                    return Err(Error::StopTimedOut(STOP_TIMEOUT));
                }
                Err(source) => {
                    return Err(Error::Io {
                        action: "cannot wait for PostgreSQL in",
                        path: self.config.root.clone(),
                        source,
                    });
                }
            }
        }
    }
}

fn owner_for(run_as: &str) -> Result<Option<Owner>, Error> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name(run_as) {
        Ok(Some(user)) if !user.uid.is_root() => Ok(Some(Owner {
            uid: user.uid,
            gid: user.gid,
        })),
        _ => Err(Error::NoSuchUser(run_as.to_owned())),
    }
}

fn prepare_root(config: &ClusterConfig, owner: Option<Owner>) -> Result<(), Error> {
    let root = &config.root;
    fs::create_dir_all(root).map_err(io_err("cannot create", root))?;
    if let Some(owner) = owner {
        if let Some(parent) = root.parent() {
            check_traversable(parent, owner, &config.run_as_when_root)?;
        }
        for dir in [root.clone(), config.socket_dir()] {
            fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
            std::os::unix::fs::chown(&dir, Some(owner.uid.as_raw()), Some(owner.gid.as_raw()))
                .map_err(io_err("cannot hand over", &dir))?;
        }
    } else {
        fs::create_dir_all(config.socket_dir()).map_err(io_err("cannot create", &config.socket_dir()))?;
    }
    for dir in [root.clone(), config.socket_dir()] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err("cannot restrict", &dir))?;
    }
    Ok(())
}

/// Every folder above the cluster must let its owner pass, or initdb fails obscurely.
fn check_traversable(dir: &Path, owner: Owner, user: &str) -> Result<(), Error> {
    for ancestor in dir.ancestors() {
        let meta = fs::metadata(ancestor).map_err(io_err("cannot inspect", ancestor))?;
        let mode = meta.mode();
        let may_pass = if meta.uid() == owner.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == owner.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !may_pass {
            return Err(Error::NotTraversable {
                dir: ancestor.to_path_buf(),
                user: user.to_owned(),
            });
        }
    }
    Ok(())
}

fn command_as(program: &Path, config: &ClusterConfig, owner: Option<Owner>) -> Command {
    let mut command = Command::new(program);
    command.current_dir(&config.root);
    for var in ["PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"] {
        command.env_remove(var);
    }
    if let Some(owner) = owner {
        command.uid(owner.uid.as_raw()).gid(owner.gid.as_raw());
    }
    command
}

fn initdb(config: &ClusterConfig, binaries: &Binaries, owner: Option<Owner>) -> Result<(), Error> {
    // initdb writes into a scratch folder that is renamed at the end, so a run killed
    // half-way never leaves something that looks like a cluster.
    let scratch = config.root.join("data.init");
    if scratch.exists() {
        fs::remove_dir_all(&scratch).map_err(io_err("cannot remove", &scratch))?;
    }
    tracing::info!(dir = %config.data_dir().display(), "creating the private PostgreSQL cluster");
    let output = command_as(&binaries.initdb(), config, owner)
        .arg("--pgdata")
        .arg(&scratch)
        .arg("--username")
        .arg(&config.superuser)
        .args([
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(io_err("cannot run", &binaries.initdb()))?;
    if !output.status.success() {
        return Err(Error::InitdbFailed(last_lines(
            &String::from_utf8_lossy(&output.stderr),
            5,
        )));
    }
    let data = config.data_dir();
    fs::rename(&scratch, &data).map_err(io_err("cannot move the new cluster to", &data))
}

fn spawn_server(config: &ClusterConfig, binaries: &Binaries, owner: Option<Owner>) -> Result<Supervisor, Error> {
    let log_path = config.log_file();
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(io_err("cannot open", &log_path))?;
    let log_err = log.try_clone().map_err(io_err("cannot open", &log_path))?;

    let mut args: Vec<OsString> = vec![
        "-c".into(),
        SUPERVISOR_SCRIPT.into(),
        "haven-pg-supervisor".into(),
        binaries.postgres().into(),
        "-D".into(),
        config.data_dir().into(),
        "-k".into(),
        config.socket_dir().into(),
        "-p".into(),
        SOCKET_PORT.to_string().into(),
    ];
    let fixed = [
        ("listen_addresses", ""),
        ("unix_socket_permissions", "0700"),
        // Error details and failing statements can quote row values: keep them out of
        // the server log.
        ("log_error_verbosity", "terse"),
        ("log_min_error_statement", "panic"),
    ];
    for (name, value) in fixed
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .chain(config.settings.iter().cloned())
    {
        args.push("-c".into());
        args.push(format!("{name}={value}").into());
    }

    let mut command = command_as(Path::new("/bin/sh"), config, owner);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log_err)
        // Out of our process group: a terminal's Ctrl-C reaches Haven, which stops
        // serving first and the cluster last.
        .process_group(0);
    let mut child = command.spawn().map_err(io_err("cannot start", &binaries.postgres()))?;
    let pipe = child.stdin.take();
    Ok(Supervisor { child, pipe })
}

#[derive(Debug)]
struct LockFile {
    pid: i32,
    status: String,
}

/// `postmaster.pid`: line 1 is the pid; line 8 the status (`starting`, `ready`, `stopping`).
fn read_lock_file(data_dir: &Path) -> Option<LockFile> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let status = lines.nth(6).unwrap_or_default().trim().to_owned();
    Some(LockFile { pid, status })
}

fn process_is_postgres(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    // After a reboot the pid may belong to something else entirely.
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(program).contains("postgres")
    })
}

/// Whether a server listens on the cluster's socket (a killed one no longer does, even
/// while its lock file and processes linger).
fn accepts_connections(socket_dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"))).is_ok()
}

fn wait_until_ready(data_dir: &Path, mut child: Option<&mut Child>, log: &Path) -> Result<(), Error> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let log_start = fs::metadata(log).map_or(0, |m| m.len());
    loop {
        if let Some(lock) = read_lock_file(data_dir)
            && lock.status == "ready"
            && process_is_postgres(lock.pid)
        {
            return Ok(());
        }
        if let Some(child) = child.as_deref_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(Error::StartFailed(format!(
                "the server exited ({status}); its log says: {}",
                read_log_since(log, log_start)
            )));
        }
        if Instant::now() > deadline {
            return Err(Error::StartFailed(format!(
                "not ready after {READY_TIMEOUT:?}; its log says: {}",
                read_log_since(log, log_start)
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_log_since(log: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(log)
        && file.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = file.take(64 * 1024).read_to_string(&mut text);
    }
    last_lines(&text, 5)
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_folder_without_binaries_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Binaries::locate(Some(dir.path()), None).unwrap_err();
        assert!(matches!(err, Error::BinariesNotInDir(ref d) if d == dir.path()));
    }

    #[test]
    fn lock_file_gives_pid_and_status() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("postmaster.pid"),
            "4242\n/data\n1700000000\n5432\n/run\n\n  1234     5678\nready   \n",
        )
        .unwrap();
        let lock = read_lock_file(dir.path()).unwrap();
        assert_eq!(lock.pid, 4242);
        assert_eq!(lock.status, "ready");
    }

    #[test]
    fn a_pid_that_does_not_run_postgres_is_stale() {
        assert!(!process_is_postgres(i32::MAX));
        assert!(!process_is_postgres(std::process::id().try_into().unwrap()));
    }

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b | c");
    }
}

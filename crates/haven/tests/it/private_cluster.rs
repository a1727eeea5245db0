//! `haven serve` without DATABASE_URL: the private PostgreSQL cluster under the data
//! directory is created, started, stopped, and recovered after a crash.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::process::{HavenProcess, get, haven, wait_for_200};

fn serve_in(data_dir: &Path) -> Command {
    let mut command = haven();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir);
    command
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("pg/data/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

fn is_running(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while is_running(pid) {
        assert!(Instant::now() < deadline, "PostgreSQL {pid} still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn private_cluster_is_created_stopped_and_recovered_after_kill_9() {
    let dir = tempfile::Builder::new()
        .prefix("haven-it-data-")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = dir.path().join("data");

    // First run: initdb, migrate, serve.
    let mut first = HavenProcess::start(serve_in(&data_dir));
    assert!(data_dir.join("pg/data/PG_VERSION").exists());
    assert_eq!(get(&format!("{}/health", first.url)).0, 200);
    assert_eq!(get(&format!("{}/ready", first.url)).0, 200);
    assert!(
        std::fs::read_dir(data_dir.join("pg/run"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".s.PGSQL")),
        "PostgreSQL listens on a socket inside the data directory"
    );
    let pg = postmaster_pid(&data_dir).expect("running cluster");
    let arguments = std::fs::read(format!("/proc/{pg}/cmdline")).unwrap();
    assert!(
        arguments.split(|b| *b == 0).any(|a| a == b"max_wal_size=4GB"),
        "the cluster runs with Haven's WAL size: {}",
        String::from_utf8_lossy(&arguments)
    );

    // SIGTERM: Haven stops, then the cluster, cleanly.
    first.stop_cleanly();
    wait_gone(pg);
    assert!(
        postmaster_pid(&data_dir).is_none(),
        "clean shutdown removes postmaster.pid"
    );

    // kill -9 of Haven alone: its supervisor stops PostgreSQL; the next start is clean.
    let mut second = HavenProcess::start(serve_in(&data_dir));
    let pg = postmaster_pid(&data_dir).unwrap();
    second.kill9();
    wait_gone(pg);
    let mut third = HavenProcess::start(serve_in(&data_dir));
    wait_for_200(&format!("{}/ready", third.url), Duration::from_secs(5));

    // kill -9 of Haven and PostgreSQL together: a stale cluster, recovered on start.
    let pg = postmaster_pid(&data_dir).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pg), nix::sys::signal::Signal::SIGKILL).unwrap();
    third.kill9();
    wait_gone(pg);
    assert!(
        postmaster_pid(&data_dir).is_some(),
        "the killed server left its lock file"
    );
    let started = Instant::now();
    let mut fourth = HavenProcess::start(serve_in(&data_dir));
    let ready_after = started.elapsed() + wait_for_200(&format!("{}/ready", fourth.url), Duration::from_secs(5));
    assert!(
        ready_after < Duration::from_secs(10),
        "ready {ready_after:?} after a crash"
    );
    assert!(
        fourth.stdout().contains("recovered after an unclean stop"),
        "{}",
        fourth.stdout()
    );
    fourth.stop_cleanly();
}

#[test]
fn missing_postgresql_binaries_give_one_line_naming_the_package() {
    let dir = tempfile::Builder::new()
        .prefix("haven-it-nopg-")
        .tempdir_in("/tmp")
        .unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let haven_bin = env!("CARGO_BIN_EXE_haven");
    // A private mount namespace hides /usr/lib/postgresql; PATH holds no PostgreSQL.
    let script = format!(
        "mount --bind {empty} /usr/lib/postgresql 2>/dev/null || mount --bind {empty} /usr/lib; \
         exec env -i PATH=/usr/bin:/bin HAVEN_ADMIN_LISTEN=off {haven_bin} serve --listen 127.0.0.1:0 --data-dir {data}",
        empty = empty.display(),
        data = dir.path().join("data").display(),
    );
    let output = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("apt-get install -y postgresql"), "{stderr}");
}

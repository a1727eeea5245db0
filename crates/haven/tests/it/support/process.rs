//! Running the real `haven` binary, for what only a process shows: start-up, exit codes,
//! signals, the log stream, the private cluster.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// `haven` with no inherited configuration.
pub fn haven() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_haven"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("HAVEN_") || key == "DATABASE_URL" || key == "REDIS_URL" {
            command.env_remove(key);
        }
    }
    command.env("HAVEN_ADMIN_LISTEN", "off").stdin(Stdio::null());
    command
}

pub struct HavenProcess {
    child: Child,
    pub url: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl HavenProcess {
    /// Spawns `command` (a `haven serve`) and waits for it to announce its URL.
    pub fn start(command: Command) -> Self {
        let (mut process, ready) = Self::spawn(command);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(url) = ready.recv_timeout(Duration::from_millis(50)) {
                process.url = url;
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("haven exited ({status}) before it was ready: {}", process.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "haven not ready in 90 s: {}",
                process.stderr()
            );
        }
    }

    /// Spawns `command` without waiting; its URL, once announced, arrives on the receiver.
    pub fn spawn(mut command: Command) -> (Self, mpsc::Receiver<String>) {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn haven");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut out = child.stdout.take().expect("stdout");
        let out_buf = Arc::clone(&stdout);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = out.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                out_buf.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        let (url_tx, url_rx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        let err_buf = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Haven is ready at ") {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    let _ = url_tx.send(url.trim_end_matches('/').to_owned());
                }
                let mut buf = err_buf.lock().unwrap();
                buf.push_str(&line);
                buf.push('\n');
            }
        });
        let process = Self {
            child,
            url: String::new(),
            stdout,
            stderr,
        };
        (process, url_rx)
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        kill(self.pid(), Signal::SIGTERM).expect("SIGTERM");
        self.wait(Duration::from_secs(60))
    }

    /// SIGTERM, then asserts that Haven exited with success, showing what it wrote if not.
    pub fn stop_cleanly(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "haven exited with {status:?} after SIGTERM\nstderr:\n{}\nstdout:\n{}",
            self.stderr(),
            self.stdout()
        );
    }

    pub fn kill9(&mut self) {
        kill(self.pid(), Signal::SIGKILL).expect("SIGKILL");
        let _ = self.child.wait();
    }

    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(Instant::now() < deadline, "haven did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for HavenProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// `haven serve` on 127.0.0.1:0 against fresh databases of the run's cluster (cloned as
/// `TestApp` clones them), with the URL of the default tenant's database.
pub fn serve_on_fresh_databases() -> (Command, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = runtime.block_on(super::TestApp::spawn());
    let url = app.config.database_url.as_ref().expect("url").expose().to_owned();
    let prefix = app.config.tenant_database_prefix.clone();
    let help = app.config.help.database.clone();
    let tenant_url = app.database_url(&app.tenant_database("default"));
    runtime.block_on(app.shutdown()).expect("shutdown");
    let mut command = haven();
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", url)
        .env("HAVEN_TENANT_DATABASE_PREFIX", prefix)
        .env("HAVEN_HELP_DATABASE", help);
    (command, tenant_url)
}

/// A blocking GET, for tests that drive a process rather than an in-process app.
pub fn get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(url)
            .header("accept", "application/json")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    })
}

/// Polls `url` until it answers 200.
pub fn wait_for_200(url: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ok = runtime.block_on(async {
            reqwest::Client::new()
                .get(url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 200)
        });
        if ok {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{url} not 200 within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

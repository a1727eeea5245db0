//! A real SMTP server (Python's aiosmtpd) that stores each message it accepts as a file,
//! and refuses any recipient whose address holds `bounce`, repeating the address in its
//! reply as real servers do.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = r#"
import signal, sys, time
from aiosmtpd.controller import Controller
class Store:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "bounce" in address:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        with open(f"{sys.argv[2]}/{time.time_ns()}.eml", "wb") as f:
            f.write(envelope.content)
        return "250 stored"
controller = Controller(Store(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
signal.pause()
"#;

pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpServer {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .args(["-c", SERVER, &port.to_string()])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (.ci/run installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server started");
        Self { port, dir, child }
    }

    pub fn url(&self) -> String {
        format!("smtp+plain://127.0.0.1:{}", self.port)
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }

    /// The messages so far whose subject starts with `subject`, oldest first.
    pub fn about(&self, subject: &str) -> Vec<String> {
        let line = format!("Subject: {subject}");
        self.messages().into_iter().filter(|m| m.contains(&line)).collect()
    }

    /// Waits for the `n`th message (1-based) whose subject starts with `subject`.
    pub async fn wait_for_about(&self, subject: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let messages = self.about(subject);
            if messages.len() >= n {
                return messages[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no message {n} about {subject:?} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for the `n`th message (1-based).
    pub async fn wait_for(&self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no message {n} within 10 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A real S3-compatible server (`s3s-fs`, which checks SigV4 signatures) on a private
//! folder, with one bucket.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "haven-documents";
pub const ACCESS_KEY: &str = "haven-test-access";
pub const SECRET_KEY: &str = "haven-test-secret-0123456789";

pub struct S3Server {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"))
        .find(|p| p.is_file());
    on_path
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| Path::new(&home).join(".cargo/bin/s3s-fs"))
                .filter(|p| p.is_file())
        })
        .expect("s3s-fs (scripts/test installs it: cargo install s3s-fs@0.14.1 --features binary --locked)")
}

impl S3Server {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, dir, child }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn configure(&self, config: &mut haven::config::Config) {
        config.s3.bucket = Some(BUCKET.to_owned());
        config.s3.endpoint = Some(self.endpoint());
        config.s3.allow_http = true;
        config.s3.access_key_id = Some(haven::config::Secret::new(ACCESS_KEY.to_owned()));
        config.s3.secret_access_key = Some(haven::config::Secret::new(SECRET_KEY.to_owned()));
    }

    /// Every object's file in the bucket.
    pub fn objects(&self) -> Vec<PathBuf> {
        files_under(&self.dir.path().join(BUCKET))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every regular file under `dir`, recursively (s3s-fs keeps upload scratch files in
/// dot-folders; those count too).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

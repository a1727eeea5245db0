//! `haven bench http`: the load generator and the measurements. Many kept-alive HTTP/1.1
//! connections (hyper) send one kind of request as fast as the answers come, for a fixed
//! time; each answer's latency is kept. Meanwhile the peak resident memory of Haven (a
//! child process; the kernel's high-water mark) and of PostgreSQL (the postmaster and its
//! backends by proportional set size, so shared buffers count once; sampled each second)
//! are kept.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

type Client = SendRequest<Full<Bytes>>;

/// One request of a workload.
pub struct Request {
    pub method: hyper::Method,
    pub path: String,
    pub body: Option<Bytes>,
}

impl Request {
    pub fn get(path: String) -> Self {
        Self {
            method: hyper::Method::GET,
            path,
            body: None,
        }
    }

    pub fn post(path: &str, body: &serde_json::Value) -> Self {
        Self {
            method: hyper::Method::POST,
            path: path.to_owned(),
            body: Some(Bytes::from(body.to_string())),
        }
    }
}

/// A kept-alive HTTP/1.1 connection to `addr`, sending bodies of type `B`.
pub async fn connect<B>(addr: SocketAddr) -> anyhow::Result<SendRequest<B>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends `request` with `token` as the bearer (when given); the status and the body.
pub async fn send(client: &mut Client, request: Request, token: Option<&str>) -> anyhow::Result<(u16, Bytes)> {
    client.ready().await?;
    let mut builder = hyper::Request::builder()
        .method(request.method)
        .uri(request.path)
        .header(hyper::header::HOST, "localhost")
        .header(hyper::header::ACCEPT, "application/json");
    if let Some(token) = token {
        builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if request.body.is_some() {
        builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let response = client
        .send_request(builder.body(Full::new(request.body.unwrap_or_default()))?)
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// One request on a fresh connection (for setting up).
pub async fn once(addr: SocketAddr, request: Request, token: Option<&str>) -> anyhow::Result<(u16, Bytes)> {
    let mut client = connect(addr).await?;
    send(&mut client, request, token).await
}

/// How a workload went.
pub struct Outcome {
    pub requests: usize,
    pub errors: usize,
    /// Answers with another status than the one expected, by status.
    pub unexpected: Vec<(u16, usize)>,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Outcome {
    fn from(mut latencies: Vec<Duration>, errors: usize, unexpected: Vec<(u16, usize)>, elapsed: Duration) -> Self {
        latencies.sort_unstable();
        Self {
            requests: latencies.len(),
            errors,
            unexpected,
            elapsed,
            p50: super::quantile(&latencies, 0.50),
            p99: super::quantile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }

    pub fn per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let requests = self.requests as f64;
        requests / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// One line of the report.
    pub fn line(&self, name: &str) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut line = format!(
            "{name:<34} {:>8.0} req/s   p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>7.1} ms   errors {}",
            self.per_second(),
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.errors
        );
        for (status, count) in &self.unexpected {
            let _ = write!(line, ", {count} × {status}");
        }
        line
    }
}

/// What a connection sends next: from its number and how many it sent before.
pub type Next = Arc<dyn Fn(usize, u64) -> Request + Send + Sync>;

/// One kind of request, sent over and over.
pub struct Workload {
    /// The word `--only` names it by.
    pub key: &'static str,
    pub name: String,
    /// The status every answer should have.
    pub expect: u16,
    /// Sent with the bearer token (or with no credentials).
    pub bearer: bool,
    pub next: Next,
}

impl Workload {
    pub fn new(key: &'static str, name: &str, expect: u16, next: Next) -> Self {
        Self {
            key,
            name: name.to_owned(),
            expect,
            bearer: true,
            next,
        }
    }
}

/// The client workloads: create (fictional people born before `today`), list 100, open
/// one of `ids`, search by one of `names` (misspelt).
pub fn client_workloads(ids: Arc<Vec<String>>, names: Arc<Vec<String>>, today: chrono::NaiveDate) -> Vec<Workload> {
    vec![
        Workload::new(
            "create",
            "create a client (POST, 201)",
            201,
            Arc::new(move |worker, n| {
                // Fictional people as the demo makes them: common names recur, as at a
                // front desk, without every connection registering the same name at once.
                let seed = (u64::try_from(worker).unwrap_or(0) << 32) ^ n ^ 0x5eed;
                let person = crate::demo::generator::person(&mut crate::demo::generator::Dice::new(seed), today);
                Request::post(
                    "/api/v1/clients",
                    &serde_json::json!({ "legal_given_name": person.given, "legal_family_name": person.family }),
                )
            }),
        ),
        Workload::new(
            "list",
            "list 100 clients",
            200,
            Arc::new(|_, _| Request::get("/api/v1/clients?per_page=100".to_owned())),
        ),
        Workload::new(
            "open",
            "open one client",
            200,
            Arc::new(move |worker, n| {
                let at = (worker + usize::try_from(n).unwrap_or(0)) % ids.len().max(1);
                Request::get(format!("/api/v1/clients/{}", ids.get(at).map_or("", String::as_str)))
            }),
        ),
        Workload::new(
            "search",
            "search by a misspelt name",
            200,
            Arc::new(move |worker, n| {
                let at = (worker * 7 + usize::try_from(n).unwrap_or(0)) % names.len().max(1);
                Request::get(format!(
                    "/api/v1/clients?q={}",
                    names.get(at).map_or("", String::as_str)
                ))
            }),
        ),
    ]
}

/// Where the load goes and what is watched meanwhile.
pub struct Target {
    pub addr: SocketAddr,
    /// Haven's process.
    pub haven: u32,
    /// PostgreSQL's postmaster (0: not on this machine, not measured).
    pub postmaster: u32,
    pub connections: usize,
    pub duration: Duration,
    pub token: Arc<str>,
}

impl Target {
    /// Runs `workload` and prints its line, with Haven's and PostgreSQL's peak memory.
    pub async fn run(&self, workload: &Workload) -> anyhow::Result<Outcome> {
        let sampler = Sampler::start(self.haven, self.postmaster);
        let cpu_before = cpu(self.haven, self.postmaster);
        let token = workload.bearer.then(|| Arc::clone(&self.token));
        let outcome = load(
            self.addr,
            self.connections,
            self.duration,
            token,
            workload.expect,
            Arc::clone(&workload.next),
        )
        .await?;
        let cpu_after = cpu(self.haven, self.postmaster);
        let (haven, postgres) = sampler.finish(self.haven).await;
        let per_request = per_request(cpu_before, cpu_after, outcome.requests);
        println!(
            "{}   Haven {} MiB, PostgreSQL {} MiB   CPU per request: Haven {} µs, PostgreSQL {} µs, load {} µs",
            outcome.line(&workload.name),
            haven >> 20,
            postgres >> 20,
            per_request[0],
            per_request[1],
            per_request[2],
        );
        Ok(outcome)
    }

    /// Resident memory now: Haven's and PostgreSQL's (bytes).
    pub fn memory(&self) -> (u64, u64) {
        (resident(self.haven), postgres_memory(self.postmaster))
    }
}

/// `connections` connections each send `next(connection, n)` for `duration`, counting
/// answers with status `expect` (their latency) and everything else.
pub async fn load(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    token: Option<Arc<str>>,
    expect: u16,
    next: Next,
) -> anyhow::Result<Outcome> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(connect(addr).await?);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(connections);
    for (worker, mut client) in clients.into_iter().enumerate() {
        let next = Arc::clone(&next);
        let token = token.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut unexpected: Vec<(u16, usize)> = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let request = next(worker, n);
                n += 1;
                let began = Instant::now();
                match send(&mut client, request, token.as_deref()).await {
                    Ok((status, _)) if status == expect => latencies.push(began.elapsed()),
                    Ok((status, _)) => match unexpected.iter_mut().find(|(s, _)| *s == status) {
                        Some((_, count)) => *count += 1,
                        None => unexpected.push((status, 1)),
                    },
                    Err(_) => {
                        errors += 1;
                        // A broken connection is replaced, as a client would.
                        match connect(addr).await {
                            Ok(fresh) => client = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            (latencies, errors, unexpected)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut unexpected: Vec<(u16, usize)> = Vec::new();
    for worker in workers {
        let (mine, failed, odd) = worker.await?;
        latencies.extend(mine);
        errors += failed;
        for (status, count) in odd {
            match unexpected.iter_mut().find(|(s, _)| *s == status) {
                Some((_, total)) => *total += count,
                None => unexpected.push((status, count)),
            }
        }
    }
    let elapsed = started.elapsed();
    // Unexpected answers are failures of the run too.
    let failed = errors + unexpected.iter().map(|(_, c)| c).sum::<usize>();
    Ok(Outcome::from(latencies, failed, unexpected, elapsed))
}

/// `count` clients that go away mid-request: half send a request's head and part of its
/// body and hang up; half send a whole list request and hang up before the answer.
pub async fn abandon(addr: SocketAddr, count: usize, token: &str) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for n in 0..count {
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            let request = if n % 2 == 0 {
                format!(
                    "POST /api/v1/clients HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{{\"legal_given_name\": \"Ab"
                )
            } else {
                format!(
                    "GET /api/v1/clients?per_page=100 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\r\n"
                )
            };
            stream.write_all(request.as_bytes()).await?;
            stream.flush().await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(stream);
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// The resident memory of a process (bytes), from /proc.
pub fn resident(pid: u32) -> u64 {
    field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// The peak resident memory of a process since it started or since [`reset_peak`].
pub fn peak(pid: u32) -> u64 {
    field(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// Starts counting a process's peak afresh (Linux: writing 5 to `clear_refs`).
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn field(path: &str, name: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// The processes the postmaster started (its backends and helpers).
fn children(postmaster: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| stat_fields(*pid).and_then(|f| f.get(1).and_then(|p| p.parse::<u32>().ok())) == Some(postmaster))
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces):
/// state, ppid, ... (field 3 onwards of proc(5)).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(str::to_owned).collect())
}

/// CPU time a process has used, user and system (clock ticks); with `reaped`, that of
/// its children that have ended too.
fn cpu_ticks(pid: u32, reaped: bool) -> u64 {
    stat_fields(pid).map_or(0, |f| {
        // utime, stime, cutime and cstime are fields 14 to 17 of proc(5).
        let at = |n: usize| f.get(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        at(11) + at(12) + if reaped { at(13) + at(14) } else { 0 }
    })
}

/// CPU microseconds per request between two [`cpu`] readings.
fn per_request(before: [u64; 3], after: [u64; 3], requests: usize) -> [u64; 3] {
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or(100);
    let requests = u64::try_from(requests.max(1)).unwrap_or(u64::MAX);
    let mut out = [0; 3];
    for (n, slot) in out.iter_mut().enumerate() {
        *slot = after[n].saturating_sub(before[n]) * 1_000_000 / ticks_per_second / requests;
    }
    out
}

/// PostgreSQL's memory: the proportional set size of the postmaster and every process it
/// started (shared buffers counted once across them).
pub fn postgres_memory(postmaster: u32) -> u64 {
    let own = field(&format!("/proc/{postmaster}/smaps_rollup"), "Pss:");
    own + children(postmaster)
        .into_iter()
        .map(|pid| field(&format!("/proc/{pid}/smaps_rollup"), "Pss:"))
        .sum::<u64>()
}

/// CPU used so far (ticks) by Haven, by PostgreSQL (the postmaster and every process it
/// started, running or ended) and by this process (the load generator).
pub fn cpu(haven: u32, postmaster: u32) -> [u64; 3] {
    // Backends that end during a workload (connections closed) count through the
    // postmaster, which reaps them.
    let running = children(postmaster).into_iter().map(|pid| cpu_ticks(pid, false));
    let postgres = cpu_ticks(postmaster, true) + running.sum::<u64>();
    [cpu_ticks(haven, false), postgres, cpu_ticks(std::process::id(), false)]
}

/// Samples PostgreSQL's memory once a second until finished, and reads Haven's peak
/// from the kernel; the peaks seen.
pub struct Sampler {
    haven: Arc<AtomicU64>,
    postgres: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(haven: u32, postmaster: u32) -> Self {
        reset_peak(haven);
        let peaks = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (h, p, stop) = (Arc::clone(&peaks.0), Arc::clone(&peaks.1), Arc::clone(&stop));
            tokio::task::spawn_blocking(move || {
                // Reading every backend's page tables costs the machine under test: once
                // a second. Haven's own peak is the kernel's high-water mark.
                let mut last: Option<Instant> = None;
                while !stop.load(Ordering::Relaxed) {
                    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                        h.fetch_max(resident(haven), Ordering::Relaxed);
                        p.fetch_max(postgres_memory(postmaster), Ordering::Relaxed);
                        last = Some(Instant::now());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Self {
            haven: peaks.0,
            postgres: peaks.1,
            stop,
            task,
        }
    }

    /// Stops; Haven's peak (the kernel's high-water mark, which misses nothing between
    /// samples) and PostgreSQL's sampled peak, in bytes.
    pub async fn finish(self, haven: u32) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        (
            self.haven.load(Ordering::Relaxed).max(peak(haven)),
            self.postgres.load(Ordering::Relaxed),
        )
    }
}

/// Signs in over HTTP and makes an API token with `scopes`; the token.
pub async fn token(addr: SocketAddr, email: &str, password: &str, scopes: &[&str]) -> anyhow::Result<String> {
    let mut client = connect(addr).await?;
    client.ready().await?;
    let sign_in = hyper::Request::post("/api/v1/auth/sign-in")
        .header(hyper::header::HOST, "localhost")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(
            serde_json::json!({ "email": email, "password": password }).to_string(),
        )))?;
    let response = client.send_request(sign_in).await?;
    anyhow::ensure!(response.status() == 200, "sign-in answered {}", response.status());
    let cookie = response
        .headers()
        .get_all(hyper::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next().filter(|c| c.starts_with("haven_session=")))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("sign-in set no session cookie"))?;
    let body: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    let csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
    client.ready().await?;
    let make = hyper::Request::post("/api/v1/auth/tokens")
        .header(hyper::header::HOST, "localhost")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::COOKIE, cookie)
        .header("x-csrf-token", csrf)
        .body(Full::new(Bytes::from(
            serde_json::json!({ "name": "Load benchmark", "scopes": scopes, "expires_in_days": 1 }).to_string(),
        )))?;
    let response = client.send_request(make).await?;
    anyhow::ensure!(
        response.status() == 201,
        "token creation answered {}",
        response.status()
    );
    let body: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token in the answer"))
}

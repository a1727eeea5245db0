//! The test kit: one private PostgreSQL cluster per test run, a fresh pair of databases
//! per test (cloned from migrated templates), and the real application on 127.0.0.1:0.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use haven::app::Application;
use haven::config::Config;
use haven::platform::database::{CONTROL_MIGRATIONS, DatabaseName, DatabaseServer, TENANT_MIGRATIONS, migrate};
use haven_pg_embed::{Cluster, ClusterConfig};
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod contract;
pub mod process;
pub mod s3;
pub mod smtp;

const TEMPLATE_CONTROL: &str = "tpl_control";
const TEMPLATE_TENANT: &str = "tpl_tenant";

pub struct TestCluster {
    root: PathBuf,
    // Held for the whole run; its pipe closes when the test process exits, which stops
    // the server.
    _cluster: Cluster,
}

impl TestCluster {
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://haven@localhost/{database}?host={}",
            self.socket_dir().display()
        )
    }

    pub async fn connect(&self, database: &str) -> PgConnection {
        PgConnection::connect(&self.url(database))
            .await
            .expect("connect to the test cluster")
    }
}

/// The run's cluster, started by the first test that needs it.
pub fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        std::thread::spawn(start_cluster)
            .join()
            .expect("the test cluster thread panicked")
    })
}

fn start_cluster() -> TestCluster {
    remove_leftovers();
    let root = std::env::temp_dir().join(format!("haven-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut config = ClusterConfig::new(&root);
    // Speed over durability: this cluster lives for one test run.
    for (name, value) in [
        ("fsync", "off"),
        ("synchronous_commit", "off"),
        ("full_page_writes", "off"),
        ("max_connections", "400"),
    ] {
        config.settings.push((name.to_owned(), value.to_owned()));
    }
    let cluster = Cluster::start(config).expect("start the test PostgreSQL cluster");
    let test_cluster = TestCluster {
        root,
        _cluster: cluster,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(create_templates(&test_cluster));
    test_cluster
}

/// Runs killed half-way leave their folders behind; remove those whose process is gone.
fn remove_leftovers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("haven-it-").and_then(|p| p.parse::<u32>().ok())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

async fn create_templates(cluster: &TestCluster) {
    let server = DatabaseServer::from_url(&cluster.url("postgres")).expect("url");
    for (name, migrator) in [
        (TEMPLATE_CONTROL, &CONTROL_MIGRATIONS),
        (TEMPLATE_TENANT, &TENANT_MIGRATIONS),
    ] {
        let db = DatabaseName::parse(name).expect("template name");
        server.ensure_database(&db).await.expect("create template");
        let pool = server.connect_pool(&db).await.expect("connect template");
        migrate(&pool, migrator, &db).await.expect("migrate template");
        pool.close().await;
    }
}

/// A short random id that keeps each test's databases apart.
pub fn unique_id() -> String {
    // The last 62 bits of a UUIDv7 are random.
    let simple = uuid::Uuid::now_v7().simple().to_string();
    simple[simple.len() - 12..].to_owned()
}

pub struct TestApp {
    pub state: haven::state::AppState,
    pub addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    pub config: Config,
    pub id: String,
    pub client: reqwest::Client,
    /// Every `/api/` answer this app gives is checked against its OpenAPI document.
    pub contract: std::sync::Arc<contract::Contract>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the application on fresh databases; `customise` adjusts its configuration.
    pub async fn spawn_with(customise: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_full(customise, haven::clock::system()).await
    }

    /// With a clock the test moves by hand.
    pub async fn spawn_with_clock(clock: std::sync::Arc<haven::clock::ManualClock>) -> Self {
        Self::spawn_full(|_| {}, clock).await
    }

    pub async fn spawn_full(customise: impl FnOnce(&mut Config), clock: haven::clock::SharedClock) -> Self {
        Self::spawn_inner(customise, clock, haven::modules::all()).await
    }

    /// With other modules than the application's (a module written by a test).
    pub async fn spawn_with_modules(modules: haven::module::Modules) -> Self {
        Self::spawn_inner(|_| {}, haven::clock::system(), modules).await
    }

    async fn spawn_inner(
        customise: impl FnOnce(&mut Config),
        clock: haven::clock::SharedClock,
        modules: haven::module::Modules,
    ) -> Self {
        let cluster = cluster();
        let id = unique_id();
        let control = format!("t{id}_ctl");
        let prefix = format!("t{id}_");
        let mut admin = cluster.connect("postgres").await;
        for (database, template) in [
            (control.clone(), TEMPLATE_CONTROL),
            (format!("{prefix}default"), TEMPLATE_TENANT),
        ] {
            sqlx::raw_sql(&format!("CREATE DATABASE \"{database}\" TEMPLATE \"{template}\""))
                .execute(&mut admin)
                .await
                .expect("clone template database");
        }
        admin.close().await.ok();

        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            admin_listen: Some("127.0.0.1:0".parse().expect("addr")),
            database_url: Some(haven::config::Secret::new(cluster.url(&control))),
            tenant_database_prefix: prefix,
            help: haven::help::config::HelpConfig {
                database: format!("t{id}_help"),
                ..Default::default()
            },
            data_dir: std::env::temp_dir().join(format!("haven-it-app-{id}")),
            ..Config::default()
        };
        customise(&mut config);
        let server = DatabaseServer::from_url(config.database_url.as_ref().expect("url").expose()).expect("server");
        let app = Application::build_with(config.clone(), server, clock, modules)
            .await
            .expect("build the application");
        let addr = app.local_addr().expect("addr");
        let admin_addr = app.admin_addr();
        let state = app.state().clone();
        let contract = contract::Contract::of(&state.modules);
        let app = app.wrap_public(contract.layer());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        Self {
            state,
            addr,
            admin_addr,
            config,
            id,
            client: client_for(addr, &[]),
            contract,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A client that reaches this app under the given host names (as DNS would).
    pub fn client_for_hosts(&self, hosts: &[&str]) -> reqwest::Client {
        client_for(self.addr, hosts)
    }

    pub fn url_on_host(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }

    #[allow(clippy::unused_self)] // reads as "this app's database" at call sites
    pub fn database_url(&self, database: &str) -> String {
        cluster().url(database)
    }

    pub fn tenant_database(&self, slug: &str) -> String {
        format!("t{}_{}", self.id, slug.replace('-', "_"))
    }

    /// The tenant (by slug) as the running app sees it.
    pub fn tenant(&self, slug: &str) -> std::sync::Arc<haven::platform::tenancy::Tenant> {
        self.state
            .tenants
            .tenants()
            .into_iter()
            .find(|t| t.record.slug.as_str() == slug)
            .expect("tenant")
    }

    /// A superuser connection to a tenant's database (for what an attacker could do).
    pub async fn superuser(&self, slug: &str) -> PgConnection {
        cluster().connect(&self.tenant_database(slug)).await
    }

    /// `haven ARGS` against this app's databases and data directory. Async: blocking
    /// here would stall this test's runtime, and with it the app's audit writer, which
    /// the command may be waiting for.
    pub async fn haven(&self, args: &[&str]) -> std::process::Output {
        self.haven_env(args, &[]).await
    }

    /// `haven` with more environment (settings as `HAVEN_…` variables).
    pub async fn haven_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut command = process::haven();
        command
            .args(args)
            .envs(env.iter().copied())
            .env("DATABASE_URL", self.config.database_url.as_ref().expect("url").expose())
            .env("HAVEN_TENANT_DATABASE_PREFIX", &self.config.tenant_database_prefix)
            .env("HAVEN_HELP_DATABASE", &self.config.help.database)
            .env("HAVEN_DATA_DIR", &self.config.data_dir);
        tokio::process::Command::from(command)
            .output()
            .await
            .expect("run haven")
    }

    /// Creates an active account with `password` (or an invited one without).
    pub async fn create_user(
        &self,
        email: &str,
        roles: &[haven::identity::Role],
        password: Option<&str>,
    ) -> haven::identity::UserId {
        let tenant = self.tenant("default");
        haven::identity::admin::create(
            &tenant.pool,
            &self.state.passwords,
            &self.state.clock,
            &haven::identity::admin::ChangedBy::command_line("test"),
            &haven::identity::admin::NewAccount {
                email,
                display_name: "Sam Tester",
                roles,
                password,
            },
        )
        .await
        .expect("create user")
    }

    /// Waits until every staged write event is in the chain (the writer chains the
    /// outbox moments after a write commits).
    pub async fn settle_audit(&self) {
        let tenant = self.tenant("default");
        for _ in 0..250 {
            if haven::compliance::audit::outbox_len(&tenant.pool).await.unwrap() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the audit outbox did not drain within 5 s");
    }

    /// A fresh client with its own cookie jar (one browser).
    pub fn browser(&self) -> reqwest::Client {
        client_for(self.addr, &[])
    }

    /// Signs in through the API and asserts that it worked: the session's answer (its
    /// `csrf_token` and the person).
    pub async fn sign_in(&self, client: &reqwest::Client, email: &str, password: &str) -> serde_json::Value {
        let (status, body) = self.try_sign_in(client, email, password).await;
        assert_eq!(status, 200, "{email} signs in: {body}");
        assert!(body["csrf_token"].is_string(), "a session for {email}: {body}");
        body
    }

    /// Tries to sign in through the API: the status and the body, whatever they are.
    pub async fn try_sign_in(&self, client: &reqwest::Client, email: &str, password: &str) -> (u16, serde_json::Value) {
        let response = client
            .post(self.url("/api/v1/auth/sign-in"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("sign-in request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// `path` read by `client` as JSON, whatever the status.
    /// A new API token of the person signed in on `client`, with `scopes`; asserts that it
    /// was made. The answer holds the token (`token`) and its id.
    pub async fn make_token(&self, client: &reqwest::Client, csrf: &str, scopes: &[&str]) -> serde_json::Value {
        let response = client
            .post(self.url("/api/v1/auth/tokens"))
            .header("x-csrf-token", csrf)
            .json(&serde_json::json!({ "name": "Nightly script", "scopes": scopes, "expires_in_days": 30 }))
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 201, "a token with {scopes:?}");
        response.json().await.expect("token JSON")
    }

    /// The secret of a new API token (see [`TestApp::make_token`]).
    pub async fn token(&self, client: &reqwest::Client, csrf: &str, scopes: &[&str]) -> String {
        let made = self.make_token(client, csrf, scopes).await;
        made["token"].as_str().expect("the token's secret").to_owned()
    }

    /// The status of `GET path` with `token` as the bearer.
    pub async fn status_with_token(&self, token: &str, path: &str) -> u16 {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    pub async fn get_json(&self, client: &reqwest::Client, path: &str) -> serde_json::Value {
        let response = client.get(self.url(path)).send().await.expect("request");
        response.json().await.expect("a JSON body")
    }

    /// `path` read by `client` as text (a page), whatever the status.
    pub async fn get_text(&self, client: &reqwest::Client, path: &str) -> String {
        let response = client.get(self.url(path)).send().await.expect("request");
        response.text().await.expect("a body")
    }

    /// A GET on the operators' admin listener.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        let admin = self.admin_addr.expect("the admin listener is on in tests");
        reqwest::Client::new()
            .get(format!("http://{admin}{path}"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .expect("request")
    }

    /// Asks the app to stop as SIGTERM would, and waits for it.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("shutdown within 30 s")
                .expect("server task"),
            None => Ok(()),
        }
    }
}

/// A test whose app answered outside its API contract fails, whatever else it checked.
impl Drop for TestApp {
    fn drop(&mut self) {
        let violations = self.contract.take_violations();
        if !std::thread::panicking() {
            assert!(
                violations.is_empty(),
                "answers that break the OpenAPI document:\n  {}",
                violations.join("\n  ")
            );
        }
    }
}

pub fn client_for(addr: SocketAddr, hosts: &[&str]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    for host in hosts {
        builder = builder.resolve(host, addr);
    }
    builder.build().expect("client")
}

/// The security headers SPEC.md requires on every response.
pub fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    for name in [
        "strict-transport-security",
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "permissions-policy",
    ] {
        assert!(headers.contains_key(name), "missing {name} on {}", response.url());
    }
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

/// The hidden `_csrf` value of the first form in `page`.
pub fn hidden_csrf(page: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = page.find(marker).expect("a form with _csrf") + marker.len();
    page[start..].split('"').next().expect("a closing quote").to_owned()
}

/// The fields a validation envelope names, in order.
pub fn field_names(body: &serde_json::Value) -> Vec<String> {
    body["details"]["fields"]
        .as_array()
        .expect("a validation envelope lists fields")
        .iter()
        .map(|f| f["field"].as_str().expect("field name").to_owned())
        .collect()
}

/// Checks the error envelope and returns it.
pub async fn assert_envelope(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status of {}", response.url());
    assert_security_headers(&response);
    let header_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "content type"
    );
    let body: serde_json::Value = response.json().await.expect("JSON envelope");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["request_id"], header_id.as_str(), "{body}");
    body
}

//! The help centre as processes: inside `haven serve` and alone in `haven help serve`.
//! Every help route in both modes sets no cookie, and neither the access log nor the
//! database receives the client's address, user agent or any other request header. Content
//! exported from the embedded service and imported into the standalone one answers the
//! same, byte for byte.

use std::collections::BTreeSet;
use std::process::Command;

use haven::help::store::{self, ArticleFields};
use haven::help::{ArticleStatus, markdown};
use serde_json::{Value, json};
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use crate::support::process::{HavenProcess, haven, serve_on_fresh_databases};
use crate::support::{assert_security_headers, cluster, unique_id};

/// The first bytes of a PNG: enough for its type to be recognised.
pub const PNG: [u8; 24] = [
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0, 0, 0, 1,
];

const MARKERS: [&str; 6] = [
    "MarkerAgent/9.9",
    "203.0.113.77",
    "https://referrer.example/marker-page",
    "marker-cookie-value",
    "marker-header-value",
    "marker-language",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn pool(database: &str) -> PgPool {
    PgPool::connect(&cluster().url(database)).await.expect("connect")
}

/// A category, two published articles (one with an image and a second revision) and a
/// draft, written through the store. Returns the image's id.
pub async fn seed(pool: &PgPool) -> Uuid {
    let category = Uuid::now_v7();
    store::insert_category(pool, category, "clients", "Clients", "Registering people", 1)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let now = haven::clock::system().now();
    let article = |slug: &str, title: &str, body: &str, keys: &[&str]| ArticleFields {
        slug: slug.to_owned(),
        title: title.to_owned(),
        summary: format!("About {title}"),
        body_markdown: body.to_owned(),
        category_id: Some(category),
        tags: vec!["privacy".to_owned()],
        page_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
    };
    let safe = haven::help::ArticleId::new();
    let fields = article(
        "safe-contact",
        "Safe contact settings",
        "Tick only the *safe* channels; reminders use nothing else.",
        &["clients.search"],
    );
    store::insert_article(
        &mut conn,
        safe,
        &fields,
        &markdown::render(&fields.body_markdown),
        ArticleStatus::Published,
        now,
    )
    .await
    .unwrap();
    let changed = ArticleFields {
        body_markdown: "Tick only the **safe** channels; reminders and the calendar use nothing else.".to_owned(),
        ..fields
    };
    store::update_article(
        &mut conn,
        safe,
        1,
        &changed,
        &markdown::render(&changed.body_markdown),
        now,
    )
    .await
    .unwrap()
    .unwrap();
    let image = Uuid::now_v7();
    store::insert_image(&mut *conn, image, safe, "panel.png", "image/png", &PNG, now)
        .await
        .unwrap();
    let booking = article(
        "booking",
        "Booking an appointment",
        "Open the calendar and pick a free slot.\n\n| Room | Floor |\n|---|---|\n| Blue | 1 |",
        &["appointments.day"],
    );
    store::insert_article(
        &mut conn,
        haven::help::ArticleId::new(),
        &booking,
        &markdown::render(&booking.body_markdown),
        ArticleStatus::Published,
        now,
    )
    .await
    .unwrap();
    let draft = article("unfinished", "Not yet", "A draft.", &[]);
    store::insert_article(
        &mut conn,
        haven::help::ArticleId::new(),
        &draft,
        &markdown::render(&draft.body_markdown),
        ArticleStatus::Draft,
        now,
    )
    .await
    .unwrap();
    image
}

/// `haven help serve` on 127.0.0.1:0 with a fresh help database of its own.
fn standalone(database: &str) -> Command {
    let mut command = haven();
    command
        .args(["help", "serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", cluster().url("postgres"))
        .env("HAVEN_HELP_DATABASE", database);
    command
}

/// (method, route template, path, JSON body, form body)
type Probe<'a> = (&'a str, &'a str, String, Option<Value>, Option<&'a str>);

/// Sends every help route a request full of markers; checks each answer.
async fn exercise(url: &str, image: Uuid) -> usize {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let image_path = format!("/api/help/v1/images/{image}");
    let requests: Vec<Probe> = vec![
        (
            "GET",
            "/api/help/v1/categories",
            "/api/help/v1/categories".to_owned(),
            None,
            None,
        ),
        (
            "GET",
            "/api/help/v1/articles",
            "/api/help/v1/articles?page=clients.search".to_owned(),
            None,
            None,
        ),
        (
            "GET",
            "/api/help/v1/articles/{slug}",
            "/api/help/v1/articles/safe-contact".to_owned(),
            None,
            None,
        ),
        (
            "POST",
            "/api/help/v1/articles/{slug}/feedback",
            "/api/help/v1/articles/safe-contact/feedback".to_owned(),
            Some(json!({ "helpful": true, "comment": "Clear, thanks" })),
            None,
        ),
        (
            "GET",
            "/api/help/v1/search",
            "/api/help/v1/search?q=calendar".to_owned(),
            None,
            None,
        ),
        ("GET", "/api/help/v1/images/{id}", image_path, None, None),
        ("GET", "/help", "/help".to_owned(), None, None),
        ("GET", "/help/search", "/help/search?q=reminders".to_owned(), None, None),
        (
            "GET",
            "/help/categories/{slug}",
            "/help/categories/clients".to_owned(),
            None,
            None,
        ),
        (
            "GET",
            "/help/articles/{slug}",
            "/help/articles/booking".to_owned(),
            None,
            None,
        ),
        (
            "POST",
            "/help/articles/{slug}/feedback",
            "/help/articles/booking/feedback".to_owned(),
            None,
            Some("helpful=no&comment=Where+is+the+Book+button%3F"),
        ),
    ];
    let (_, routes) = haven::help::public::routes::<haven::help::HelpState>().into_parts(&[]);
    let every: BTreeSet<String> = routes.iter().map(|(m, p)| format!("{m} {p}")).collect();
    let tried: BTreeSet<String> = requests.iter().map(|(m, p, ..)| format!("{m} {p}")).collect();
    assert_eq!(tried, every, "the test sends every help route a request");
    for (method, template, path, json_body, form_body) in &requests {
        let mut request = client
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .header("user-agent", MARKERS[0])
            .header("x-forwarded-for", MARKERS[1])
            .header("referer", MARKERS[2])
            .header("cookie", format!("haven_session={}", MARKERS[3]))
            .header("x-custom", MARKERS[4])
            .header("accept-language", MARKERS[5]);
        if let Some(body) = json_body {
            request = request.json(body);
        }
        if let Some(body) = form_body {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(*body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert!((200..400).contains(&status), "{method} {template}: {status}");
        assert!(
            !response.headers().contains_key("set-cookie"),
            "{method} {template} sets a cookie"
        );
        assert_security_headers(&response);
    }
    requests.len()
}

/// CORS: the configured origin may read, without credentials; another may not.
async fn check_cors(url: &str) {
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{url}/api/help/v1/search"))
        .header("origin", "https://www.example.org")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://www.example.org"
    );
    assert!(!preflight.headers().contains_key("access-control-allow-credentials"));
    let read = client
        .get(format!("{url}/api/help/v1/articles/booking"))
        .header("origin", "https://www.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(read.headers()["access-control-allow-origin"], "https://www.example.org");
    assert!(
        read.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("etag")
    );
    let other = client
        .get(format!("{url}/api/help/v1/articles/booking"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// Every row of every table of the help database, as text, holds no marker.
async fn assert_nothing_stored(database: &str) {
    let mut db = sqlx::PgConnection::connect(&cluster().url(database)).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(tables.len() >= 8, "{tables:?}");
    for table in tables {
        let text: Option<String> = sqlx::query_scalar(&format!("SELECT string_agg(t::text, ' ') FROM \"{table}\" t"))
            .fetch_one(&mut db)
            .await
            .unwrap();
        let text = text.unwrap_or_default();
        for marker in MARKERS {
            assert!(!text.contains(marker), "{marker} stored in {table}");
        }
    }
    let comments: i64 = sqlx::query_scalar("SELECT count(*) FROM help_comments")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(comments, 2, "both answers' comments were kept (with the day only)");
}

/// The access log has a line per request, and none of them holds a marker or an address.
fn assert_log_clean(process: &HavenProcess, requests: usize, mode: &str) {
    let stdout = process.stdout();
    let stderr = process.stderr();
    for marker in MARKERS {
        assert!(!stdout.contains(marker), "{mode}: {marker} in the log:\n{stdout}");
        assert!(!stderr.contains(marker), "{mode}: {marker} on stderr:\n{stderr}");
    }
    let finished: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request finished")
        .collect();
    assert!(
        finished.len() >= requests,
        "{mode}: an access-log line per request:\n{stdout}"
    );
    for line in &finished {
        let text = line.to_string();
        assert!(
            !text.contains("127.0.0.1"),
            "{mode}: an address in the access log: {text}"
        );
        assert!(line["span"]["route"].is_string(), "{text}");
    }
}

#[test]
fn every_help_route_in_both_modes_sets_no_cookie_and_logs_and_stores_nothing_about_the_request() {
    let rt = runtime();

    // Inside `haven serve`, behind a trusted proxy that forwards the marker address.
    let (mut command, _) = serve_on_fresh_databases();
    let help_database = command
        .get_envs()
        .find(|(k, _)| *k == "HAVEN_HELP_DATABASE")
        .and_then(|(_, v)| v)
        .map(|v| v.to_string_lossy().into_owned())
        .expect("help database");
    command
        .env("HAVEN_TRUSTED_PROXIES", "127.0.0.1/32")
        .env("HAVEN_HELP_CORS_ORIGINS", "https://www.example.org");
    let mut embedded = HavenProcess::start(command);
    let image = rt.block_on(async { seed(&pool(&help_database).await).await });
    let sent = rt.block_on(exercise(&embedded.url, image));
    rt.block_on(check_cors(&embedded.url));
    embedded.stop_cleanly();
    assert_log_clean(&embedded, sent, "haven serve");
    rt.block_on(assert_nothing_stored(&help_database));

    // Alone, with its own database.
    let alone_database = format!("t{}_helpalone", unique_id());
    let mut command = standalone(&alone_database);
    command.env("HAVEN_HELP_CORS_ORIGINS", "https://www.example.org");
    let mut alone = HavenProcess::start(command);
    let image = rt.block_on(async { seed(&pool(&alone_database).await).await });
    let sent = rt.block_on(exercise(&alone.url, image));
    rt.block_on(check_cors(&alone.url));
    // What the standalone service does not serve: the staff app.
    let (status, _) = crate::support::process::get(&format!("{}/clients", alone.url));
    assert_eq!(status, 404);
    let (status, body) = crate::support::process::get(&format!("{}/health", alone.url));
    assert_eq!((status, body.contains("ok")), (200, true), "{body}");
    alone.stop_cleanly();
    assert_log_clean(&alone, sent, "haven help serve");
    rt.block_on(assert_nothing_stored(&alone_database));
}

async fn api_snapshot(url: &str) -> Vec<(String, String, Option<String>)> {
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    let mut read = |path: String, body: String, etag: Option<String>| seen.push((path, body, etag));
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client.get(format!("{url}{path}")).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
            let bytes = response.bytes().await.unwrap();
            (path, String::from_utf8_lossy(&bytes).into_owned(), etag)
        }
    };
    let (p, b, e) = get("/api/help/v1/categories".to_owned()).await;
    read(p, b, e);
    let (p, list, e) = get("/api/help/v1/articles".to_owned()).await;
    let articles: Vec<Value> = serde_json::from_str(&list).unwrap();
    read(p, list, e);
    for article in articles {
        let slug = article["slug"].as_str().unwrap();
        let (p, body, etag) = get(format!("/api/help/v1/articles/{slug}")).await;
        let html = serde_json::from_str::<Value>(&body).unwrap()["html"]
            .as_str()
            .unwrap()
            .to_owned();
        read(p, body, etag);
        // Every image an article shows, byte for byte.
        for id in html.split("/api/help/v1/images/").skip(1).map(|rest| &rest[..36]) {
            let (p, b, e) = get(format!("/api/help/v1/images/{id}")).await;
            read(p, b, e);
        }
    }
    for q in ["calendar", "safe channels", "apointment"] {
        let (p, b, e) = get(format!("/api/help/v1/search?q={q}")).await;
        read(p, b, e);
    }
    let (p, b, e) = get("/api/help/v1/articles?page=clients.search".to_owned()).await;
    read(p, b, e);
    seen
}

#[tokio::test]
async fn content_exported_from_haven_serve_and_imported_alone_answers_identically_and_import_is_idempotent() {
    let app = crate::support::TestApp::spawn().await;
    let image = seed(&app.state.help.pool).await;
    // The image is shown by the article, so that its bytes are compared too.
    let help = &app.state.help.pool;
    let listed = store::all_articles(help).await.unwrap();
    let safe = listed.iter().find(|a| a.slug == "safe-contact").unwrap().id;
    let record = store::article(help, safe).await.unwrap().unwrap();
    let mut conn = help.acquire().await.unwrap();
    let fields = ArticleFields {
        body_markdown: format!(
            "{}\n\n![The panel](/api/help/v1/images/{image})",
            record.fields.body_markdown
        ),
        ..record.fields.clone()
    };
    store::update_article(
        &mut conn,
        record.id,
        record.revision,
        &fields,
        &markdown::render(&fields.body_markdown),
        app.state.clock.now(),
    )
    .await
    .unwrap()
    .unwrap();
    drop(conn);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("help.json");
    let file_arg = file.to_str().unwrap();
    let out = app.haven(&["help", "export", file_arg]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("1 categories, 3 articles, 5 revisions and 1 images"),
        "{said}"
    );

    // Into a standalone service's own database, twice.
    let alone_database = format!("t{}_helpalone", unique_id());
    let import = || {
        let mut command = haven();
        command
            .args(["help", "import", file_arg])
            .env("DATABASE_URL", cluster().url("postgres"))
            .env("HAVEN_HELP_DATABASE", &alone_database);
        tokio::process::Command::from(command).output()
    };
    for _ in 0..2 {
        let out = import().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let alone_pool = pool(&alone_database).await;
    let revisions: i64 = sqlx::query_scalar("SELECT count(*) FROM help_revisions")
        .fetch_one(&alone_pool)
        .await
        .unwrap();
    assert_eq!(revisions, 5, "a second import adds nothing");

    let alone = tokio::task::spawn_blocking({
        let db = alone_database.clone();
        move || HavenProcess::start(standalone(&db))
    })
    .await
    .unwrap();
    let embedded = api_snapshot(&format!("http://{}", app.addr)).await;
    let separate = api_snapshot(&alone.url).await;
    assert!(embedded.len() >= 9, "{embedded:?}");
    assert!(
        embedded.iter().any(|(p, ..)| p.starts_with("/api/help/v1/images/")),
        "an image is compared"
    );
    for (here, there) in embedded.iter().zip(&separate) {
        assert_eq!(here, there, "the same answer from both services");
    }
    assert_eq!(embedded.len(), separate.len());

    // A bundle that breaks a rule changes nothing: an "image" that is not one.
    let mut bundle: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    bundle["articles"][0]["title"] = json!("Changed by a bad bundle");
    for article in bundle["articles"].as_array_mut().unwrap() {
        if let Some(image) = article["images"].as_array_mut().and_then(|i| i.first_mut()) {
            image["data"] = json!("PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+"); // "<svg onload=alert(1)>"
        }
    }
    std::fs::write(&file, serde_json::to_vec(&bundle).unwrap()).unwrap();
    let out = import().await.unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is not the image/png it says"), "{said}");
    std::fs::write(&file, b"{\"format\": \"something-else\"}").unwrap();
    let out = import().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a help bundle"));
    let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM help_articles ORDER BY title")
        .fetch_all(&alone_pool)
        .await
        .unwrap();
    assert!(!titles.iter().any(|t| t.contains("bad bundle")), "{titles:?}");
    assert_eq!(api_snapshot(&alone.url).await, separate, "nothing changed");
    drop(alone);
    app.shutdown().await.unwrap();
}

//! The help centre's public API inside `haven serve`: search relevance, contextual help by
//! page key, caching, feedback, and readers left anonymous (no cookie, nothing about the
//! request stored).

use haven::help::ArticleStatus;
use haven::help::markdown::render;
use haven::help::store::{self, ArticleFields};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, assert_envelope, field_names};

/// Articles on the help database, through the store as the editor will write them.
pub async fn write_article(
    app: &TestApp,
    slug: &str,
    title: &str,
    body: &str,
    page_keys: &[&str],
    status: ArticleStatus,
) {
    let fields = ArticleFields {
        slug: slug.to_owned(),
        title: title.to_owned(),
        summary: format!("About {title}"),
        body_markdown: body.to_owned(),
        category_id: None,
        tags: vec![],
        page_keys: page_keys.iter().map(|k| (*k).to_owned()).collect(),
    };
    let mut conn = app.state.help.pool.acquire().await.unwrap();
    store::insert_article(
        &mut conn,
        Uuid::now_v7(),
        &fields,
        &render(body),
        status,
        app.state.clock.now(),
    )
    .await
    .unwrap();
}

async fn seed(app: &TestApp) {
    write_article(
        app,
        "booking-an-appointment",
        "Booking an appointment",
        "Open the **calendar**, choose a free slot and pick the client. Rooms show when they are free.",
        &["appointments.calendar", "appointments.new"],
        ArticleStatus::Published,
    )
    .await;
    write_article(
        app,
        "registering-a-client",
        "Registering a client",
        "Search first so that nobody is registered twice. Safe contact settings decide reminders.",
        &["clients.search"],
        ArticleStatus::Published,
    )
    .await;
    write_article(
        app,
        "safe-contact",
        "Safe contact settings",
        "Tick only the channels the client said are safe: reminders use nothing else, not even a calendar invite.",
        &["clients.search"],
        ArticleStatus::Published,
    )
    .await;
    write_article(
        app,
        "unfinished",
        "Calendar secrets not yet published",
        "A draft about the calendar.",
        &["appointments.calendar"],
        ArticleStatus::Draft,
    )
    .await;
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

async fn search(app: &TestApp, q: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/help/v1/search"))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn slugs(hits: &[Value]) -> Vec<&str> {
    hits.iter().map(|h| h["slug"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn search_ranks_titles_finds_body_words_forgives_typos_and_counts_what_found_nothing() {
    let app = TestApp::spawn().await;
    seed(&app).await;

    // The exact title comes first.
    let hits = search(&app, "Safe contact settings").await;
    assert_eq!(slugs(&hits)[0], "safe-contact", "{hits:?}");
    // A word only in a body, with the match marked and the rest escaped.
    let hits = search(&app, "twice").await;
    assert_eq!(slugs(&hits), ["registering-a-client"]);
    let snippet = hits[0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>twice</mark>"), "{snippet}");
    // Stemming: "reminder" finds "reminders", in both articles that mention them.
    let hits = search(&app, "reminder").await;
    assert_eq!(hits.len(), 2, "{hits:?}");
    // A misspelling falls back to titles that look alike.
    let hits = search(&app, "apointment").await;
    assert_eq!(slugs(&hits), ["booking-an-appointment"], "{hits:?}");
    // Drafts are never found.
    assert!(!slugs(&search(&app, "secrets").await).contains(&"unfinished"));
    // Nothing at all: an empty list, counted as a zero-result search.
    assert!(search(&app, "xylophone").await.is_empty());

    let mut db = haven_help(&app).await;
    let (searches, zero): (i64, i64) = sqlx::query_as(
        "SELECT sum(count) FILTER (WHERE metric = 'search')::int8, sum(count) FILTER (WHERE metric = 'zero_result')::int8 FROM help_daily_counts",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!((searches, zero), (6, 2), "six searches, two found nothing");
    let kept: i64 = sqlx::query_scalar("SELECT zero_results FROM help_search_terms WHERE term = 'xylophone'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(kept, 1);

    // Bad searches say what is wrong.
    let body = assert_envelope(get(&app, "/api/help/v1/search?q=").await, 422, "validation_failed").await;
    assert_eq!(field_names(&body), ["q"]);
    let long = format!("/api/help/v1/search?q={}", "a".repeat(201));
    assert_envelope(get(&app, &long).await, 422, "validation_failed").await;
}

async fn haven_help(app: &TestApp) -> sqlx::PgConnection {
    use sqlx::Connection;
    let url = app.database_url(&app.config.help_database);
    sqlx::PgConnection::connect(&url).await.unwrap()
}

#[tokio::test]
async fn articles_are_read_by_slug_or_page_key_with_validators_and_rated_anonymously() {
    let app = TestApp::spawn().await;
    seed(&app).await;

    // Contextual help asks by page key only.
    let response = get(&app, "/api/help/v1/articles?page=clients.search").await;
    assert_eq!(response.status(), 200);
    let list: Vec<Value> = response.json().await.unwrap();
    assert_eq!(slugs(&list), ["registering-a-client", "safe-contact"]);
    let calendar: Vec<Value> = get(&app, "/api/help/v1/articles?page=appointments.calendar")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(slugs(&calendar), ["booking-an-appointment"], "drafts are left out");
    let body = assert_envelope(
        get(&app, &format!("/api/help/v1/articles?page={}", Uuid::now_v7())).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&body), ["page"], "a record's id is not a page key");
    assert_envelope(
        get(&app, "/api/help/v1/articles?client_id=1").await,
        422,
        "validation_failed",
    )
    .await;

    // One article, rendered, with validators; asking again with the ETag costs nothing.
    let response = get(&app, "/api/help/v1/articles/booking-an-appointment").await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(response.headers().contains_key("last-modified"));
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    let article: Value = response.json().await.unwrap();
    assert!(article["html"].as_str().unwrap().contains("<strong>calendar</strong>"));
    let again = app
        .client
        .get(app.url("/api/help/v1/articles/booking-an-appointment"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_envelope(get(&app, "/api/help/v1/articles/unfinished").await, 404, "not_found").await;
    assert_envelope(get(&app, "/api/help/v1/articles/nothing-here").await, 404, "not_found").await;

    // Was it helpful? Bad answers are refused and nothing is counted.
    let path = app.url("/api/help/v1/articles/booking-an-appointment/feedback");
    for (body, field) in [
        (json!({}), "helpful"),
        (json!({ "helpful": true, "comment": "x".repeat(501) }), "comment"),
    ] {
        let response = app.client.post(&path).json(&body).send().await.unwrap();
        let envelope = assert_envelope(response, 422, "validation_failed").await;
        assert_eq!(field_names(&envelope), [field]);
    }
    let response = app
        .client
        .post(&path)
        .json(&json!({ "helpful": "yes", "who": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let mut db = haven_help(&app).await;
    let rated: i64 =
        sqlx::query_scalar("SELECT count(*) FROM help_daily_counts WHERE metric IN ('helpful', 'not_helpful')")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(rated, 0);
    let response = app
        .client
        .post(&path)
        .json(&json!({ "helpful": false, "comment": "Which button books a room?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (views, unhelpful): (i64, i64) = sqlx::query_as(
        "SELECT sum(count) FILTER (WHERE metric = 'view')::int8, sum(count) FILTER (WHERE metric = 'not_helpful')::int8 FROM help_daily_counts",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!((views, unhelpful), (2, 1), "two reads (one revalidated), one 'no'");
}

#[tokio::test]
async fn help_routes_set_no_cookie_and_store_nothing_about_the_request() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let markers = [
        "MarkerAgent/9.9",
        "203.0.113.77",
        "https://referrer.example/marker-page",
        "marker-cookie-value",
        "marker-header-value",
    ];
    let requests: Vec<(reqwest::Method, &str, Option<Value>)> = vec![
        (reqwest::Method::GET, "/api/help/v1/categories", None),
        (reqwest::Method::GET, "/api/help/v1/articles", None),
        (reqwest::Method::GET, "/api/help/v1/articles?page=clients.search", None),
        (reqwest::Method::GET, "/api/help/v1/articles/safe-contact", None),
        (reqwest::Method::GET, "/api/help/v1/search?q=calendar", None),
        (reqwest::Method::GET, "/api/help/v1/search?q=nothingatall", None),
        (
            reqwest::Method::POST,
            "/api/help/v1/articles/safe-contact/feedback",
            Some(json!({ "helpful": true, "comment": "Clear, thanks" })),
        ),
    ];
    for (method, path, body) in requests {
        let mut request = app
            .client
            .request(method.clone(), app.url(path))
            .header("user-agent", markers[0])
            .header("x-forwarded-for", markers[1])
            .header("referer", markers[2])
            .header("cookie", format!("haven_session={}", markers[3]))
            .header("x-custom", markers[4]);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{method} {path}: {}", response.status());
        assert!(
            !response.headers().contains_key("set-cookie"),
            "{method} {path} sets a cookie"
        );
    }
    // Every row of every table of the help database, as text.
    let mut db = haven_help(&app).await;
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
        for marker in markers {
            assert!(!text.contains(marker), "{marker} stored in {table}");
        }
    }
}

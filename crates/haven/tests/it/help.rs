//! The help centre's public API inside `haven serve`: search relevance, contextual help by
//! page key, caching, feedback, and readers left anonymous (no cookie, nothing about the
//! request stored).

use haven::help::ArticleStatus;
use haven::help::markdown::render;
use haven::help::store::{self, ArticleFields};
use serde_json::{Value, json};
use uuid::Uuid;

use haven::identity::Role;

use crate::clients::Staff;
use crate::notes::{page, post_form};
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
        haven::help::ArticleId::new(),
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
    let url = app.database_url(&app.config.help.database);
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

    // An article takes a bounded number of answers of each kind a day (and so of
    // comments), counted without any address: past it, 429 and nothing stored.
    sqlx::query("UPDATE help_daily_counts SET count = $1 WHERE metric = 'not_helpful'")
        .bind(haven::help::api::FEEDBACK_PER_DAY)
        .execute(&mut db)
        .await
        .unwrap();
    let flood = json!({ "helpful": false, "comment": "spam spam spam" });
    let response = app.client.post(&path).json(&flood).send().await.unwrap();
    assert_envelope(response, 429, "rate_limited").await;
    let comments: i64 = sqlx::query_scalar("SELECT count(*) FROM help_comments")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(comments, 1, "the refused answer's comment is not kept");
    let response = app
        .client
        .post(&path)
        .json(&json!({ "helpful": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "the other answer still counts");
}

#[tokio::test]
async fn help_editors_write_preview_publish_and_archive_audited_and_no_one_else_may() {
    let app = TestApp::spawn().await;
    let gray = Staff::sign_in(&app, "gray@example.org", &[Role::HelpEditor]).await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let articles = || async { store::all_articles(&app.state.help.pool).await.unwrap() };

    // Only help editors.
    for path in [
        "/help-editor",
        "/help-editor/new",
        "/help-editor/usage",
        "/help-editor/categories",
    ] {
        assert_eq!(page(&app, &alex, path).await.0, 403, "{path}");
        assert_eq!(page(&app, &gray, path).await.0, 200, "{path}");
    }
    let response = post_form(
        &app,
        &alex,
        "/help-editor/new",
        &[("title", "Mine"), ("body_markdown", "x")],
    )
    .await;
    assert_eq!(response.status(), 403);
    assert!(articles().await.is_empty());
    let (_, home) = page(&app, &gray, "/").await;
    assert!(home.contains("href=\"/help-editor\""), "the editor's navigation");

    // A form without its token is refused; a form with mistakes names them; neither writes.
    let response = gray
        .client
        .post(app.url("/help-editor/new"))
        .form(&[("title", "No token"), ("body_markdown", "x")])
        .send()
        .await
        .unwrap();
    assert_envelope(response, 403, "csrf_failed").await;
    let response = post_form(
        &app,
        &gray,
        "/help-editor/new",
        &[("title", ""), ("slug", "Not A Slug"), ("page_keys", "clients.0190aa8e")],
    )
    .await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    for field in ["f-title", "f-slug", "f-page_keys", "body_markdown"] {
        assert!(body.contains(&format!("href=\"#{field}\"")), "{field} named: {body}");
    }
    assert!(articles().await.is_empty());

    // A new article is a draft, unseen by readers until published.
    let response = post_form(
        &app,
        &gray,
        "/help-editor/new",
        &[
            ("title", "Printing a letter"),
            ("body_markdown", "Use **Print**."),
            ("page_keys", "clients.search"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id = location
        .trim_start_matches("/help-editor/articles/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(get(&app, "/api/help/v1/articles/printing-a-letter").await.status(), 404);
    let status_path = format!("/help-editor/articles/{id}/status");
    let response = post_form(&app, &gray, &status_path, &[("status", "published"), ("revision", "1")]).await;
    assert_eq!(response.status(), 303);
    let article: Value = get(&app, "/api/help/v1/articles/printing-a-letter")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(article["html"], "<p>Use <strong>Print</strong>.</p>\n");
    assert_eq!(article["revision"], 2);

    // A save over someone else's is refused whole; a save on the current revision is live.
    let edit_path = format!("/help-editor/articles/{id}");
    let stale = [
        ("title", "Printing a letter"),
        ("body_markdown", "Overwritten"),
        ("revision", "1"),
    ];
    assert_eq!(post_form(&app, &gray, &edit_path, &stale).await.status(), 409);
    let current = [
        ("title", "Printing a letter"),
        ("body_markdown", "Use **Print** on the chart."),
        ("revision", "2"),
    ];
    assert_eq!(post_form(&app, &gray, &edit_path, &current).await.status(), 303);
    let article: Value = get(&app, "/api/help/v1/articles/printing-a-letter")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            article["revision"].as_i64(),
            article["html"].as_str().unwrap().contains("on the chart")
        ),
        (Some(3), true)
    );
    // Another article may not take its address.
    let taken = [
        ("title", "Other"),
        ("slug", "printing-a-letter"),
        ("body_markdown", "x"),
    ];
    let response = post_form(&app, &gray, "/help-editor/new", &taken).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("already another article"));
    assert_eq!(articles().await.len(), 1);

    // The live preview renders and sanitises as publishing does.
    let response = gray
        .post(
            &app,
            "/help-editor/preview",
            &json!({ "markdown": "**b** <script>x</script>" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let html = response.json::<Value>().await.unwrap()["html"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        html.contains("<strong>b</strong>") && html.contains("&lt;script&gt;") && !html.contains("<script>"),
        "{html}"
    );
    let too_long = "x".repeat(200_001);
    assert_envelope(
        gray.post(&app, "/help-editor/preview", &json!({ "markdown": too_long }))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_envelope(
        gray.post(&app, "/help-editor/preview", &json!({ "md": "x" })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_envelope(
        alex.post(&app, "/help-editor/preview", &json!({ "markdown": "x" }))
            .await,
        403,
        "forbidden",
    )
    .await;

    // Images: only real ones, within 2 MB; a refusal is shown on the editor by the field.
    let upload = |name: &'static str, bytes: Vec<u8>| {
        let form =
            reqwest::multipart::Form::new().part("image", reqwest::multipart::Part::bytes(bytes).file_name(name));
        gray.client
            .post(app.url(&format!("/help-editor/articles/{id}/images?_csrf={}", gray.csrf)))
            .header("accept", "text/html")
            .multipart(form)
            .send()
    };
    let refused = upload("x.svg", b"<svg onload=alert(1)>".to_vec()).await.unwrap();
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("id=\"image-error\" role=\"alert\">The image must be a PNG, JPEG, WebP or GIF image."),
        "{body}"
    );
    let mut big = crate::help_service::PNG.to_vec();
    big.resize(2 * 1024 * 1024 + 1, 0);
    let refused = upload("big.png", big).await.unwrap();
    assert_eq!(refused.status(), 413);
    assert!(refused.text().await.unwrap().contains("An image may be at most 2 MB."));
    assert_eq!(
        upload("panel.png", crate::help_service::PNG.to_vec())
            .await
            .unwrap()
            .status(),
        303
    );
    let images: i64 = sqlx::query_scalar("SELECT count(*) FROM help_images")
        .fetch_one(&app.state.help.pool)
        .await
        .unwrap();
    assert_eq!(images, 1);
    let (_, edit) = page(&app, &gray, &edit_path).await;
    let image_path = edit
        .split("(/api/help/v1/images/")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    let image = get(&app, &format!("/api/help/v1/images/{image_path}")).await;
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(image.bytes().await.unwrap().as_ref(), crate::help_service::PNG);

    // Archived: gone for readers, its image too; the revisions keep every step.
    let response = post_form(&app, &gray, &status_path, &[("status", "archived"), ("revision", "3")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(get(&app, "/api/help/v1/articles/printing-a-letter").await.status(), 404);
    assert_eq!(
        get(&app, &format!("/api/help/v1/images/{image_path}")).await.status(),
        404
    );
    let (status, revisions) = page(&app, &gray, &format!("{edit_path}/revisions")).await;
    assert_eq!(status, 200);
    assert_eq!(revisions.matches("<strong>Revision ").count(), 4);

    // Categories, with their own refusals.
    let category = [("name", "Clients"), ("description", "People")];
    assert_eq!(
        post_form(&app, &gray, "/help-editor/categories", &category)
            .await
            .status(),
        303
    );
    assert_eq!(
        post_form(&app, &gray, "/help-editor/categories", &category)
            .await
            .status(),
        422
    );
    assert_eq!(store::categories(&app.state.help.pool).await.unwrap().len(), 1);

    // Usage: a period that is not offered is refused.
    assert_eq!(page(&app, &gray, "/help-editor/usage?days=3").await.0, 422);

    // Every change is in the organisation's audit trail, by the editor.
    app.settle_audit().await;
    let audited = crate::notes::count_rows(
        &app,
        &format!(
            "SELECT count(DISTINCT action) FROM audit_events WHERE resource_id = '{id}' AND actor_id = '{}' \
             AND action IN ('help.article_created', 'help.article_published', 'help.article_saved', \
                            'help.image_added', 'help.article_archived')",
            gray.id.0
        ),
    )
    .await;
    assert_eq!(audited, 5);
}

/// A draft's images are not public: readers get a published article's images only, and
/// editors see a draft's (in the editor and its preview) through their own route
/// (issue 17, finding 16).
#[tokio::test]
async fn a_drafts_images_are_served_to_editors_only_until_it_is_published() {
    let app = TestApp::spawn().await;
    let gray = Staff::sign_in(&app, "gray@example.org", &[Role::HelpEditor]).await;
    let alex = Staff::sign_in(&app, "alex@example.org", &[Role::Clinician]).await;
    let fields = [
        ("title", "A draft with a picture"),
        ("body_markdown", "Soon."),
        ("page_keys", "clients.search"),
    ];
    let response = post_form(&app, &gray, "/help-editor/new", &fields).await;
    assert_eq!(response.status(), 303);
    let edit_path = response.headers()["location"]
        .to_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(crate::help_service::PNG.to_vec()).file_name("panel.png"),
    );
    let uploaded = gray
        .client
        .post(app.url(&format!("{edit_path}/images?_csrf={}", gray.csrf)))
        .header("accept", "text/html")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 303);
    let (_, edit) = page(&app, &gray, &edit_path).await;
    let image = edit
        .split("(/api/help/v1/images/")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();

    assert_eq!(
        get(&app, &format!("/api/help/v1/images/{image}")).await.status(),
        404,
        "not public yet"
    );
    let editors = format!("/help-editor/images/{image}");
    let response = gray.get(&app, &editors).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), crate::help_service::PNG);
    assert_envelope(alex.get(&app, &editors).await, 403, "forbidden").await;
    let preview: Value = gray
        .post(
            &app,
            "/help-editor/preview",
            &json!({ "markdown": format!("![Panel](/api/help/v1/images/{image})") }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        preview["html"]
            .as_str()
            .unwrap()
            .contains(&format!("src=\"{editors}\"")),
        "{preview}"
    );

    let response = post_form(
        &app,
        &gray,
        &format!("{edit_path}/status"),
        &[("status", "published"), ("revision", "1")],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        get(&app, &format!("/api/help/v1/images/{image}")).await.status(),
        200,
        "published"
    );
}

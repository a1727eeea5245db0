//! The help editors' pages under `/help-editor`: the list of articles, the editor with
//! its live preview, publishing, revisions, images, categories and the usage counts.
//! Staff pages (signed in, help editor role); each change is audited (see `editing`).

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::handler::Handler as _;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::editing::{self, ArticleInput, CategoryInput};
use super::store::{self, ArticleRecord, EditorListItem, ImageInfo, Revision, Usage};
use super::{ArticleId, ArticleStatus, Category, HelpState, markdown};
use crate::actor::Actor;
use crate::error::{Error, FieldError, FieldErrors};
use crate::policy::Action;
use crate::web::form::{Field, Kind, Problem, Section, Submitted, attach_errors, sentence};
use crate::web::json::ApiJson;
use crate::web::page::{Chrome, done_toast, render, render_with_status};
use crate::web::routes::{Access, RouteTable};
use crate::web::time::filters;

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/help-editor", list)
        .add(Access::Full, Method::GET, "/help-editor/new", new_page)
        .add(Access::Full, Method::POST, "/help-editor/new", new_form)
        .add(Access::Full, Method::GET, "/help-editor/articles/{id}", edit_page)
        .add(Access::Full, Method::POST, "/help-editor/articles/{id}", edit_form)
        .add(
            Access::Full,
            Method::POST,
            "/help-editor/articles/{id}/status",
            status_form,
        )
        // The image is held to its own cap as it is read (see `read_image`).
        .add(
            Access::Full,
            Method::POST,
            "/help-editor/articles/{id}/images",
            image_form.layer(DefaultBodyLimit::disable()),
        )
        .add(
            Access::Full,
            Method::GET,
            "/help-editor/articles/{id}/revisions",
            revisions_page,
        )
        .add(Access::Full, Method::POST, "/help-editor/preview", preview)
        .add(Access::Full, Method::GET, "/help-editor/images/{id}", editor_image)
        .add(Access::Full, Method::GET, "/help-editor/categories", categories_page)
        .add(Access::Full, Method::POST, "/help-editor/categories", category_form)
        .add(Access::Full, Method::GET, "/help-editor/usage", usage_page)
}

const SECTION: &str = "help_editor";

async fn chrome(caller: &Actor) -> Result<Chrome, Error> {
    Ok(caller.chrome().await?.at(SECTION))
}

fn toast(params: &[(String, String)]) -> Option<String> {
    done_toast(
        params,
        &[
            ("created", "Draft created."),
            ("saved", "Saved."),
            ("published", "Published: readers see it now."),
            ("archived", "Archived: readers no longer see it."),
            ("draft", "Returned to draft: readers no longer see it."),
            ("image", "Image added. Copy its Markdown into the article."),
            ("category", "Category saved."),
        ],
    )
}

#[derive(Template)]
#[template(path = "help/editor_list.html")]
struct ListPage {
    chrome: Chrome,
    articles: Vec<EditorListItem>,
}

async fn list(caller: Actor, State(help): State<HelpState>) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    render(&ListPage {
        chrome: chrome(&caller).await?,
        articles: store::all_articles(&help.pool).await?,
    })
}

#[derive(Template)]
#[template(path = "help/editor_article.html")]
struct ArticlePage {
    chrome: Chrome,
    heading: String,
    action: String,
    sections: Vec<Section>,
    body: String,
    body_error: Option<String>,
    preview: String,
    errors: Vec<Problem>,
    existing: Option<Existing>,
    /// Why the last image was refused.
    image_error: Option<String>,
}

/// What the editor shows of a saved article beside the form.
struct Existing {
    id: ArticleId,
    status: ArticleStatus,
    revision: i32,
    slug: String,
    images: Vec<ImageInfo>,
}

impl Existing {
    fn is_published(&self) -> bool {
        self.status == ArticleStatus::Published
    }

    /// The status changes open to this article, as (status, button class, label).
    fn moves(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        const MAIN: &str = "button";
        const OTHER: &str = "button secondary";
        match self.status {
            ArticleStatus::Draft => vec![("published", MAIN, "Publish"), ("archived", OTHER, "Archive")],
            ArticleStatus::Published => vec![("draft", OTHER, "Return to draft"), ("archived", OTHER, "Archive")],
            ArticleStatus::Archived => vec![
                ("draft", OTHER, "Return to draft"),
                ("published", MAIN, "Publish again"),
            ],
        }
    }
}

fn image_markdown(image: &ImageInfo) -> String {
    let alt: String = image.name.chars().filter(|c| !matches!(c, '[' | ']')).collect();
    format!("![{alt}](/api/help/v1/images/{})", image.id)
}

fn sections(input: &ArticleInput, categories: &[Category]) -> Vec<Section> {
    let mut options = vec![(String::new(), "No category".to_owned())];
    options.extend(categories.iter().map(|c| (c.id.to_string(), c.name.clone())));
    vec![Section::new(
        "Article",
        vec![
            Field::text("title", "Title").value(input.title.clone()).required().max(200),
            Field::new("summary", "Summary", Kind::TextArea)
                .value(input.summary.clone())
                .hint("One or two sentences shown in lists and search results.")
                .max(500),
            Field::text("slug", "Address")
                .value(input.slug.clone())
                .hint("The last part of the article's address, e.g. booking-an-appointment. Left empty, it is made from the title.")
                .max(120),
            Field::new("category", "Category", Kind::Select)
                .value(input.category.clone())
                .options(options),
            Field::text("tags", "Tags")
                .value(input.tags.clone())
                .hint("Comma-separated words that help search, e.g. calendar, rooms.")
                .max(1000),
            Field::text("page_keys", "Staff pages it explains")
                .value(input.page_keys.clone())
                .hint("Page keys, comma-separated, e.g. clients.search, appointments.calendar. The help panel of those pages lists the article.")
                .max(1300),
        ],
    )]
}

async fn existing(help: &HelpState, record: &ArticleRecord) -> Result<Existing, Error> {
    Ok(Existing {
        id: record.id,
        status: record.status,
        revision: record.revision,
        slug: record.fields.slug.clone(),
        images: store::images_of(&help.pool, record.id).await?,
    })
}

/// The editor's page for `input`, with the problems of `errors` shown by their fields.
async fn article_page(
    caller: &Actor,
    help: &HelpState,
    record: Option<&ArticleRecord>,
    input: &ArticleInput,
    errors: &[FieldError],
) -> Result<ArticlePage, Error> {
    let categories = store::categories(&help.pool).await?;
    let mut shown = sections(input, &categories);
    let body_error = errors
        .iter()
        .find(|e| e.field == "body_markdown")
        .map(|e| format!("The article {}", e.message));
    let others: Vec<FieldError> = errors.iter().filter(|e| e.field != "body_markdown").cloned().collect();
    let mut problems = attach_errors(&mut shown, &FieldErrors(others));
    if let Some(text) = &body_error {
        problems.push(Problem {
            target: Some("body_markdown".to_owned()),
            text: text.clone(),
        });
    }
    let (heading, action, existing) = match record {
        Some(record) => (
            format!("Edit: {}", record.fields.title),
            format!("/help-editor/articles/{}", record.id),
            Some(existing(help, record).await?),
        ),
        None => ("New help article".to_owned(), "/help-editor/new".to_owned(), None),
    };
    Ok(ArticlePage {
        chrome: chrome(caller).await?,
        heading,
        action,
        sections: shown,
        body: input.body_markdown.clone(),
        body_error,
        preview: for_editors(&markdown::render(&input.body_markdown).html),
        errors: problems,
        existing,
        image_error: None,
    })
}

fn input_from(form: &Submitted) -> ArticleInput {
    let text = |name: &str| form.get(name).unwrap_or_default().to_owned();
    ArticleInput {
        slug: text("slug"),
        title: text("title"),
        summary: text("summary"),
        body_markdown: text("body_markdown"),
        category: text("category"),
        tags: text("tags"),
        page_keys: text("page_keys"),
    }
}

async fn new_page(caller: Actor, State(help): State<HelpState>) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    render(&article_page(&caller, &help, None, &ArticleInput::default(), &[]).await?)
}

fn previewing(form: &Submitted) -> bool {
    form.get("intent") == Some("preview")
}

async fn new_form(
    caller: Actor,
    State(help): State<HelpState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    submit(&caller, &help, None, Submitted(form)).await
}

async fn edit_page(
    caller: Actor,
    State(help): State<HelpState>,
    Path(id): Path<ArticleId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let record = store::article(&help.pool, id).await?.ok_or(Error::NotFound)?;
    let mut page = article_page(
        &caller,
        &help,
        Some(&record),
        &ArticleInput::from_fields(&record.fields),
        &[],
    )
    .await?;
    page.chrome = page.chrome.toast(toast(&params));
    render(&page)
}

fn revision_of(form: &Submitted) -> Result<i32, Error> {
    form.get("revision")
        .and_then(|r| r.trim().parse().ok())
        .ok_or_else(|| Error::Invalid(vec![FieldError::new("revision", "the revision you opened")]))
}

async fn edit_form(
    caller: Actor,
    State(help): State<HelpState>,
    Path(id): Path<ArticleId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    submit(&caller, &help, Some(id), Submitted(form)).await
}

/// The editor's form, for a new article (`None`) or a saved one: shown again with the
/// preview, or saved; a form with mistakes comes back with each one named.
async fn submit(caller: &Actor, help: &HelpState, id: Option<ArticleId>, form: Submitted) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let input = input_from(&form);
    let saved = if previewing(&form) {
        Err(Error::Invalid(Vec::new()))
    } else if let Some(id) = id {
        let revision = revision_of(&form)?;
        editing::save(caller, help, id, revision, &input)
            .await
            .map(|_| format!("/help-editor/articles/{id}?done=saved"))
    } else {
        editing::create(caller, help, &input)
            .await
            .map(|id| format!("/help-editor/articles/{id}?done=created"))
    };
    let problems = match saved {
        Ok(location) => return Ok(Redirect::to(&location).into_response()),
        Err(Error::Invalid(problems)) => problems,
        Err(other) => return Err(other),
    };
    let record = match id {
        Some(id) => Some(store::article(&help.pool, id).await?.ok_or(Error::NotFound)?),
        None => None,
    };
    let page = article_page(caller, help, record.as_ref(), &input, &problems).await?;
    if problems.is_empty() {
        render(&page)
    } else {
        render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
    }
}

async fn status_form(
    caller: Actor,
    State(help): State<HelpState>,
    Path(id): Path<ArticleId>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let form = Submitted(form);
    let status = form
        .get("status")
        .and_then(ArticleStatus::parse)
        .ok_or_else(|| Error::Invalid(vec![FieldError::new("status", "draft, published or archived")]))?;
    let revision = revision_of(&form)?;
    editing::change_status(&caller, &help, id, revision, status).await?;
    Ok(Redirect::to(&format!("/help-editor/articles/{id}?done={}", status.as_str())).into_response())
}

/// Reads the `image` part, refusing it as soon as it passes the limit.
async fn read_image(mut multipart: Multipart) -> Result<(String, Vec<u8>), Error> {
    loop {
        match multipart.next_field().await {
            Ok(Some(mut field)) if field.name() == Some("image") => {
                let name = field.file_name().unwrap_or("image").to_owned();
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            bytes.extend_from_slice(&chunk);
                            if bytes.len() > editing::MAX_IMAGE {
                                return Err(Error::TooLarge("an image may be at most 2 MB".to_owned()));
                            }
                        }
                        Ok(None) => break,
                        Err(err) => return Err(Error::Malformed(format!("the upload broke off: {err}"))),
                    }
                }
                if bytes.is_empty() {
                    return Err(Error::Invalid(vec![FieldError::new(
                        "image",
                        "is missing: choose an image",
                    )]));
                }
                return Ok((name, bytes));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Error::Invalid(vec![FieldError::new(
                    "image",
                    "is missing: choose an image",
                )]));
            }
            Err(err) => return Err(Error::Malformed(format!("not a multipart upload: {err}"))),
        }
    }
}

async fn image_form(
    caller: Actor,
    State(help): State<HelpState>,
    Path(id): Path<ArticleId>,
    multipart: Multipart,
) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let outcome = match read_image(multipart).await {
        Ok((name, bytes)) => editing::add_image(&caller, &help, id, &name, &bytes).await,
        Err(err) => Err(err),
    };
    let (status, message) = match outcome {
        Ok(_) => return Ok(Redirect::to(&format!("/help-editor/articles/{id}?done=image#images")).into_response()),
        Err(Error::Invalid(problems)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            problems
                .iter()
                .map(|p| format!("The image {}.", p.message))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Err(Error::TooLarge(message)) => (StatusCode::PAYLOAD_TOO_LARGE, format!("{}.", sentence(&message))),
        Err(other) => return Err(other),
    };
    // Shown on the editor again; the upload may not have been read to its end, so the
    // answer closes the connection.
    let record = store::article(&help.pool, id).await?.ok_or(Error::NotFound)?;
    let mut page = article_page(
        &caller,
        &help,
        Some(&record),
        &ArticleInput::from_fields(&record.fields),
        &[],
    )
    .await?;
    page.image_error = Some(message);
    let mut response = render_with_status(status, &page)?;
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    Ok(response)
}

#[derive(Template)]
#[template(path = "help/editor_revisions.html")]
struct RevisionsPage {
    chrome: Chrome,
    id: ArticleId,
    title: String,
    revisions: Vec<ShownRevision>,
}

struct ShownRevision {
    revision: Revision,
    html: String,
}

async fn revisions_page(
    caller: Actor,
    State(help): State<HelpState>,
    Path(id): Path<ArticleId>,
) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let record = store::article(&help.pool, id).await?.ok_or(Error::NotFound)?;
    let revisions = store::revisions(&help.pool, id)
        .await?
        .into_iter()
        .map(|revision| ShownRevision {
            html: markdown::render(&revision.body_markdown).html,
            revision,
        })
        .collect();
    render(&RevisionsPage {
        chrome: chrome(&caller).await?,
        id,
        title: record.fields.title,
        revisions,
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub markdown: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewOutput {
    /// The sanitised HTML readers would see.
    pub html: String,
}

/// The live preview: Markdown rendered and sanitised exactly as it will be published.
async fn preview(caller: Actor, ApiJson(input): ApiJson<PreviewInput>) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    if input.markdown.chars().count() > editing::MAX_BODY {
        return Err(Error::Invalid(vec![FieldError::new(
            "markdown",
            "at most 200,000 characters",
        )]));
    }
    Ok(Json(PreviewOutput {
        html: for_editors(&markdown::render(&input.markdown).html),
    })
    .into_response())
}

/// A preview's images come from the editors' route, which serves a draft's images too.
fn for_editors(html: &str) -> String {
    html.replace("src=\"/api/help/v1/images/", "src=\"/help-editor/images/")
}

/// Any article's image, for help editors (readers get published articles' only).
async fn editor_image(caller: Actor, State(help): State<HelpState>, Path(id): Path<String>) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound)?;
    let (content_type, bytes) = store::image(&help.pool, id, true).await?.ok_or(Error::NotFound)?;
    Ok(super::api::image_response(&content_type, bytes, "private, no-store"))
}

#[derive(Template)]
#[template(path = "help/editor_categories.html")]
struct CategoriesPage {
    chrome: Chrome,
    categories: Vec<Category>,
    sections: Vec<Section>,
    errors: Vec<Problem>,
}

fn category_sections(input: &CategoryInput) -> Vec<Section> {
    vec![Section::new(
        "New category",
        vec![
            Field::text("name", "Name")
                .value(input.name.clone())
                .required()
                .max(120),
            Field::text("slug", "Address")
                .value(input.slug.clone())
                .hint("Left empty, it is made from the name.")
                .max(80),
            Field::new("description", "Description", Kind::TextArea)
                .value(input.description.clone())
                .max(500),
            Field::text("position", "Position")
                .value(input.position.clone())
                .hint("Categories are listed by this number, then by name.")
                .max(6),
        ],
    )]
}

async fn categories_page(
    caller: Actor,
    State(help): State<HelpState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    render(&CategoriesPage {
        chrome: chrome(&caller).await?.toast(toast(&params)),
        categories: store::categories(&help.pool).await?,
        sections: category_sections(&CategoryInput::default()),
        errors: Vec::new(),
    })
}

async fn category_form(
    caller: Actor,
    State(help): State<HelpState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let form = Submitted(form);
    let text = |name: &str| form.get(name).unwrap_or_default().to_owned();
    let id = match form.get("id").map(str::trim).filter(|v| !v.is_empty()) {
        Some(given) => Some(
            Uuid::parse_str(given)
                .map_err(|_| Error::Invalid(vec![FieldError::new("id", "must be a category's id")]))?,
        ),
        None => None,
    };
    let input = CategoryInput {
        slug: text("slug"),
        name: text("name"),
        description: text("description"),
        position: text("position"),
    };
    match editing::save_category(&caller, &help, id, &input).await {
        Ok(_) => Ok(Redirect::to("/help-editor/categories?done=category").into_response()),
        Err(Error::Invalid(problems)) if id.is_none() => {
            let mut shown = category_sections(&input);
            let errors = attach_errors(&mut shown, &FieldErrors(problems));
            render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &CategoriesPage {
                    chrome: chrome(&caller).await?,
                    categories: store::categories(&help.pool).await?,
                    sections: shown,
                    errors,
                },
            )
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "help/editor_usage.html")]
struct UsagePage {
    chrome: Chrome,
    days: i64,
    threshold: i64,
    usage: Usage,
}

impl UsagePage {
    fn zero_share(&self) -> String {
        if self.usage.searches == 0 {
            "none".to_owned()
        } else {
            #[allow(clippy::cast_precision_loss)]
            let share = self.usage.zero_results as f64 * 100.0 / self.usage.searches as f64;
            format!("{share:.0}%")
        }
    }
}

async fn usage_page(
    caller: Actor,
    State(help): State<HelpState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let days = match params.iter().find(|(k, _)| k == "days").map(|(_, v)| v.as_str()) {
        None | Some("30") => 30,
        Some("7") => 7,
        Some("90") => 90,
        Some("365") => 365,
        Some(_) => {
            return Err(Error::Invalid(vec![FieldError::new("days", "7, 30, 90 or 365")]));
        }
    };
    let since = help.today() - chrono::Days::new(u64::try_from(days - 1).unwrap_or(0));
    let threshold = i64::from(caller.config().help.term_threshold);
    let mut conn = help.pool.acquire().await?;
    let usage = store::usage(&mut conn, since, threshold).await?;
    render(&UsagePage {
        chrome: chrome(&caller).await?,
        days,
        threshold,
        usage,
    })
}

//! `/api/help/v1`: the help centre's public API, the same inside `haven serve` and in
//! `haven help serve`. Anonymous: no cookie is read or set, and nothing about the
//! request is stored; what is counted is a daily total.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{HelpState, SearchHit, store};
use crate::error::{Error, FieldError};
use crate::web::openapi::ErrorEnvelope;

/// Reads may be cached briefly by browsers and shared caches: help content is public.
pub(crate) fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60, must-revalidate"),
    );
    response
}

/// The help centre's categories, in order.
#[utoipa::path(get, path = "/api/help/v1/categories", tag = "help",
    responses((status = 200, description = "Categories", body = Vec<super::Category>)))]
pub(crate) async fn categories(State(help): State<HelpState>) -> Result<Response, Error> {
    Ok(cacheable(Json(store::categories(&help.pool).await?).into_response()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    category: Option<String>,
    /// A staff page's key, e.g. `clients.search`: the contextual help for that page.
    page: Option<String>,
}

fn page_key(value: &str) -> Result<&str, Error> {
    if super::is_page_key(value) {
        Ok(value)
    } else {
        Err(Error::Invalid(vec![FieldError::new(
            "page",
            "a page key such as clients.search: lower-case words and dots",
        )]))
    }
}

/// Published articles by title: all, one category's, or those that explain one staff
/// page (contextual help).
#[utoipa::path(get, path = "/api/help/v1/articles", tag = "help",
    params(
        ("category" = Option<String>, Query, description = "A category's slug"),
        ("page" = Option<String>, Query, description = "A staff page's key, e.g. clients.search"),
    ),
    responses(
        (status = 200, description = "Articles", body = Vec<super::ArticleSummary>),
        (status = 422, description = "An unknown parameter or a page key that is not one", body = ErrorEnvelope),
    ))]
pub(crate) async fn articles(
    State(help): State<HelpState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|_| {
        Error::Invalid(vec![FieldError::new(
            "query",
            "use category=<slug> and page=<page key> only",
        )])
    })?;
    let page = query.page.as_deref().map(page_key).transpose()?;
    let list = store::list_published(&help.pool, query.category.as_deref(), page).await?;
    Ok(cacheable(Json(list).into_response()))
}

fn etag_of(article: &super::PublicArticle) -> String {
    format!(
        "\"{}-{}-{}\"",
        article.id.0.simple(),
        article.revision,
        article.updated_at.timestamp_micros()
    )
}

/// One published article with its sanitised HTML. Send `If-None-Match` with the ETag to
/// get 304 when it has not changed.
#[utoipa::path(get, path = "/api/help/v1/articles/{slug}", tag = "help",
    params(("slug" = String, Path, description = "The article's slug")),
    responses(
        (status = 200, description = "The article", body = super::PublicArticle),
        (status = 304, description = "Unchanged since the ETag sent"),
        (status = 404, description = "No published article with this slug", body = ErrorEnvelope),
    ))]
pub(crate) async fn article(
    State(help): State<HelpState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let article = store::published(&help.pool, &slug).await?.ok_or(Error::NotFound)?;
    store::count(&help.pool, help.today(), "view", Some(article.id)).await?;
    let etag = etag_of(&article);
    let last_modified = article.updated_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(&article).into_response()
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&last_modified) {
        response_headers.insert(header::LAST_MODIFIED, value);
    }
    Ok(cacheable(response))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackInput {
    pub helpful: Option<bool>,
    /// Optional, at most 500 characters; no names or client details.
    pub comment: Option<String>,
}

/// How many answers of each kind (helpful, not helpful) an article takes a day, and so
/// how many comments: readers are anonymous and no address is kept, so the day's count
/// is what bounds a flood.
pub const FEEDBACK_PER_DAY: i64 = 100;

/// "Was this helpful?": counted per day; an optional comment is kept with the day only.
#[utoipa::path(post, path = "/api/help/v1/articles/{slug}/feedback", tag = "help",
    params(("slug" = String, Path, description = "The article's slug")),
    request_body = FeedbackInput,
    responses(
        (status = 204, description = "Counted"),
        (status = 404, description = "No published article with this slug", body = ErrorEnvelope),
        (status = 422, description = "No answer, or a comment over 500 characters", body = ErrorEnvelope),
        (status = 429, description = "The article has had the day's answers of this kind", body = ErrorEnvelope),
    ))]
pub(crate) async fn feedback(
    State(help): State<HelpState>,
    Path(slug): Path<String>,
    crate::web::json::ApiJson(input): crate::web::json::ApiJson<FeedbackInput>,
) -> Result<Response, Error> {
    record_feedback(&help, &slug, input.helpful, input.comment.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Counts a "was this helpful?" answer for the day, with its comment if there is one.
pub async fn record_feedback(
    help: &HelpState,
    slug: &str,
    helpful: Option<bool>,
    comment: Option<&str>,
) -> Result<(), Error> {
    let article = store::published(&help.pool, slug).await?.ok_or(Error::NotFound)?;
    let helpful =
        helpful.ok_or_else(|| Error::Invalid(vec![FieldError::new("helpful", "say yes (true) or no (false)")]))?;
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 500) {
        return Err(Error::Invalid(vec![FieldError::new(
            "comment",
            "at most 500 characters",
        )]));
    }
    let day = help.today();
    let mut tx = help.pool.begin().await?;
    let metric = if helpful { "helpful" } else { "not_helpful" };
    if !store::count_feedback(&mut *tx, day, metric, article.id, FEEDBACK_PER_DAY).await? {
        return Err(Error::RateLimited {
            message: "This article has had all the answers it takes today; thank you, and try again tomorrow."
                .to_owned(),
            retry_after_secs: 3600,
        });
    }
    if let Some(comment) = comment {
        store::insert_comment(&mut *tx, article.id, day, helpful, comment).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchQuery {
    q: Option<String>,
}

/// What a term is kept as: lower case, single spaces, at most 100 characters.
pub fn normalise_term(q: &str) -> String {
    let words = q.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    words.chars().take(100).collect()
}

/// The stored snippet escaped, its match markers turned into `<mark>`.
fn marked(snippet: &str) -> String {
    let mut out = String::with_capacity(snippet.len() + 16);
    for c in snippet.chars() {
        match c {
            '\u{2}' => out.push_str("<mark>"),
            '\u{3}' => out.push_str("</mark>"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A search as typed, trimmed; empty or over 200 characters is refused.
pub fn checked_query(q: &str) -> Result<&str, Error> {
    let q = q.trim();
    if q.is_empty() || q.chars().count() > 200 {
        return Err(Error::Invalid(vec![FieldError::new(
            "q",
            "type what you are looking for (1 to 200 characters)",
        )]));
    }
    Ok(q)
}

/// Full-text search (ranked, title first), then titles and tags that look alike when
/// nothing matches the words (typos).
pub async fn find(help: &HelpState, q: &str) -> Result<Vec<SearchHit>, Error> {
    let mut hits = store::search(&help.pool, q, 20).await?;
    if hits.is_empty() {
        hits = store::search_similar(&help.pool, q, 10).await?;
    }
    store::count_search(&help.pool, help.today(), &normalise_term(q), hits.is_empty()).await?;
    for hit in &mut hits {
        hit.snippet = marked(&hit.snippet);
    }
    Ok(hits)
}

/// Full-text search of published articles, with highlighted snippets; typo-tolerant
/// when no word matches.
#[utoipa::path(get, path = "/api/help/v1/search", tag = "help",
    params(("q" = String, Query, description = "What to look for, 1 to 200 characters")),
    responses(
        (status = 200, description = "Matches, best first", body = Vec<super::SearchHit>),
        (status = 422, description = "An empty or over-long query", body = ErrorEnvelope),
    ))]
pub(crate) async fn search(
    State(help): State<HelpState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let q = query.ok().and_then(|Query(query)| query.q).unwrap_or_default();
    Ok(Json(find(&help, checked_query(&q)?).await?).into_response())
}

/// An image of a published help article, by its id (a draft's or an archived article's
/// images are served to help editors only, at `/help-editor/images/{id}`).
#[utoipa::path(get, path = "/api/help/v1/images/{id}", tag = "help",
    params(("id" = uuid::Uuid, Path, description = "The image's id")),
    responses(
        (status = 200, description = "The image (PNG, JPEG, WebP or GIF)"),
        (status = 404, description = "No such image, or its article is not published", body = ErrorEnvelope),
    ))]
pub(crate) async fn image(State(help): State<HelpState>, Path(id): Path<String>) -> Result<Response, Error> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| Error::NotFound)?;
    let (content_type, bytes) = store::image(&help.pool, id, false).await?.ok_or(Error::NotFound)?;
    Ok(image_response(
        &content_type,
        bytes,
        // An image never changes under its id.
        "public, max-age=86400, immutable",
    ))
}

/// An image's bytes with its type and caching.
pub(crate) fn image_response(content_type: &str, bytes: Vec<u8>, cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::{marked, normalise_term, page_key};

    #[test]
    fn snippets_are_escaped_with_only_the_matches_marked() {
        assert_eq!(
            marked("use <b> to \u{2}book\u{3} & \"go\""),
            "use &lt;b&gt; to <mark>book</mark> &amp; &quot;go&quot;"
        );
    }

    #[test]
    fn terms_are_kept_normalised_and_short() {
        assert_eq!(normalise_term("  Book   an APPOINTMENT "), "book an appointment");
        assert_eq!(normalise_term(&"x".repeat(300)).len(), 100);
    }

    #[test]
    fn page_keys_are_dotted_words_not_identifiers() {
        assert!(page_key("clients.search").is_ok());
        assert!(page_key("referrals.triage_board").is_ok());
        assert!(page_key("clients.0190aa8e-1b2c").is_err());
        assert!(page_key("Ada Ferndale").is_err());
        assert!(page_key("").is_err());
        assert!(page_key("a..b").is_err());
    }
}

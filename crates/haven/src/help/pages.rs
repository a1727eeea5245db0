//! The help centre's pages for anonymous readers under `/help`: categories, search,
//! articles and "was this helpful?". Plain pages and forms; no cookie is read or set.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::api::{cacheable, checked_query, find, record_feedback};
use super::{ArticleSummary, Category, HelpState, PublicArticle, SearchHit, store};
use crate::error::Error;
use crate::web::form::Submitted;
use crate::web::page::{render, render_with_status};

/// A category with its published articles.
struct Shelf {
    category: Option<Category>,
    articles: Vec<ArticleSummary>,
}

#[derive(Template)]
#[template(path = "help/index.html")]
struct IndexPage {
    shelves: Vec<Shelf>,
    q: String,
}

/// The help centre's front page: search, and every published article by category.
pub(crate) async fn index(State(help): State<HelpState>) -> Result<Response, Error> {
    let categories = store::categories(&help.pool).await?;
    let mut articles = store::list_published(&help.pool, None, None).await?;
    let mut shelves = Vec::new();
    for category in categories {
        let (mine, rest): (Vec<_>, Vec<_>) = articles
            .into_iter()
            .partition(|a| a.category.as_deref() == Some(category.slug.as_str()));
        articles = rest;
        if !mine.is_empty() {
            shelves.push(Shelf {
                category: Some(category),
                articles: mine,
            });
        }
    }
    if !articles.is_empty() {
        shelves.push(Shelf {
            category: None,
            articles,
        });
    }
    Ok(cacheable(render(&IndexPage {
        shelves,
        q: String::new(),
    })?))
}

#[derive(Template)]
#[template(path = "help/search.html")]
struct SearchPage {
    q: String,
    hits: Vec<SearchHit>,
    searched: bool,
    error: Option<String>,
}

/// Search results; the snippets are escaped with the matches in `<mark>` (see `api::find`).
pub(crate) async fn search(
    State(help): State<HelpState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let q = Submitted(params).get("q").unwrap_or_default().to_owned();
    if q.trim().is_empty() {
        return render(&SearchPage {
            q,
            hits: Vec::new(),
            searched: false,
            error: None,
        });
    }
    match checked_query(&q) {
        Ok(checked) => {
            let hits = find(&help, checked).await?;
            render(&SearchPage {
                q: checked.to_owned(),
                hits,
                searched: true,
                error: None,
            })
        }
        Err(_) => render_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SearchPage {
                q: q.chars().take(200).collect(),
                hits: Vec::new(),
                searched: false,
                error: Some("Search for at most 200 characters.".to_owned()),
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "help/category.html")]
struct CategoryPage {
    category: Category,
    articles: Vec<ArticleSummary>,
    q: String,
}

pub(crate) async fn category(State(help): State<HelpState>, Path(slug): Path<String>) -> Result<Response, Error> {
    let category = store::categories(&help.pool)
        .await?
        .into_iter()
        .find(|c| c.slug == slug)
        .ok_or(Error::NotFound)?;
    let articles = store::list_published(&help.pool, Some(&slug), None).await?;
    Ok(cacheable(render(&CategoryPage {
        category,
        articles,
        q: String::new(),
    })?))
}

#[derive(Template)]
#[template(path = "help/article.html")]
struct ArticlePage {
    article: PublicArticle,
    thanks: bool,
    error: Option<String>,
    comment: String,
    q: String,
}

pub(crate) async fn article(
    State(help): State<HelpState>,
    Path(slug): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let article = store::published(&help.pool, &slug).await?.ok_or(Error::NotFound)?;
    store::count(&help.pool, help.today(), "view", Some(article.id)).await?;
    let thanks = params.iter().any(|(k, _)| k == "thanks");
    let page = render(&ArticlePage {
        article,
        thanks,
        error: None,
        comment: String::new(),
        q: String::new(),
    })?;
    Ok(if thanks { page } else { cacheable(page) })
}

/// "Was this helpful?" from the article's form: counted for the day, then back to the
/// article with thanks.
pub(crate) async fn feedback(
    State(help): State<HelpState>,
    Path(slug): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let form = Submitted(form);
    let helpful = match form.get("helpful") {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let comment = form.get("comment").unwrap_or_default().to_owned();
    match record_feedback(&help, &slug, helpful, Some(&comment)).await {
        Ok(()) => Ok(Redirect::to(&format!("/help/articles/{slug}?thanks#feedback")).into_response()),
        Err(Error::Invalid(problems)) => {
            let article = store::published(&help.pool, &slug).await?.ok_or(Error::NotFound)?;
            let message = problems
                .iter()
                .map(|p| {
                    if p.field == "helpful" {
                        "Choose yes or no.".to_owned()
                    } else {
                        "Keep the comment to 500 characters.".to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            render_with_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ArticlePage {
                    article,
                    thanks: false,
                    error: Some(message),
                    comment: comment.chars().take(600).collect(),
                    q: String::new(),
                },
            )
        }
        Err(other) => Err(other),
    }
}

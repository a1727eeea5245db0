//! The help centre (SPEC module 9): help articles in Markdown with categories, tags and
//! revisions, contextual help keyed by the staff app's pages, full-text search, "was this
//! helpful?" and daily usage counts. Readers are anonymous: nothing here stores, logs or
//! answers with anything that identifies them, and no help response sets a cookie. The
//! content lives in its own database, so the same service runs inside `haven serve` or
//! alone outside the compliance boundary (`haven help serve`). See docs/help-centre.md.

pub mod api;
pub mod bundle;
pub mod config;
pub mod demo;
pub mod editing;
pub mod editor_pages;
mod manifest;
pub mod markdown;
pub mod pages;
pub mod public;
pub mod standalone;
pub mod store;

pub use manifest::module;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

crate::word_enum!(
    ArticleStatus {
        Draft => "draft", "Draft",
        Published => "published", "Published",
        Archived => "archived", "Archived",
    }
);

/// What every help route needs, in `haven serve` and in `haven help serve` alike.
#[derive(Clone)]
pub struct HelpState {
    pub pool: PgPool,
    pub clock: crate::clock::SharedClock,
}

impl axum::extract::FromRef<crate::state::AppState> for HelpState {
    fn from_ref(state: &crate::state::AppState) -> Self {
        state.help.clone()
    }
}

impl HelpState {
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.now().date_naive()
    }
}

pub use crate::web::page::is_page_key;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Category {
    #[serde(skip)]
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub position: i32,
}

crate::typed_id!(
    /// A help article (any status).
    ArticleId
);

/// A published article as readers get it: rendered and sanitised HTML.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicArticle {
    #[serde(skip)]
    pub id: ArticleId,
    pub slug: String,
    pub title: String,
    pub summary: String,
    /// Sanitised HTML of the body.
    pub html: String,
    /// The category's slug.
    pub category: Option<String>,
    pub category_name: Option<String>,
    pub tags: Vec<String>,
    /// The staff pages this article explains.
    pub page_keys: Vec<String>,
    pub revision: i32,
    pub published_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArticleSummary {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub category: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub slug: String,
    pub title: String,
    pub summary: String,
    /// A passage of the body, matches between \u{2} and \u{3} as stored; the API sends
    /// it escaped, with `<mark>` around the matches.
    pub snippet: String,
    #[serde(skip)]
    pub rank: f64,
}

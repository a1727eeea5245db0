//! Moving help content between installations (`haven help export FILE` and
//! `haven help import FILE`): one JSON bundle with every category, article, revision and
//! image, ids and dates included, so that the receiving service answers exactly as the
//! sending one did. Usage counts stay where they were counted.
//!
//! Import is idempotent: everything is inserted or updated by id in one transaction, and
//! nothing is deleted. The Markdown is rendered and sanitised again on the receiving side.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{ArticleStatus, markdown};

pub const FORMAT: &str = "haven-help-bundle";
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    pub version: u32,
    pub exported_at: DateTime<Utc>,
    pub categories: Vec<BundleCategory>,
    pub articles: Vec<BundleArticle>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCategory {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub position: i32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleArticle {
    pub id: Uuid,
    pub slug: String,
    pub category_id: Option<Uuid>,
    pub status: String,
    pub title: String,
    pub summary: String,
    pub body_markdown: String,
    pub tags: Vec<String>,
    pub page_keys: Vec<String>,
    pub revision: i32,
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revisions: Vec<BundleRevision>,
    pub images: Vec<BundleImage>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRevision {
    pub revision: i32,
    pub status: String,
    pub title: String,
    pub summary: String,
    pub body_markdown: String,
    pub category_id: Option<Uuid>,
    pub tags: Vec<String>,
    pub page_keys: Vec<String>,
    pub saved_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleImage {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    pub created_at: DateTime<Utc>,
    /// The image's bytes, base64.
    pub data: String,
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub categories: usize,
    pub articles: usize,
    pub revisions: usize,
    pub images: usize,
}

/// Everything in the help database but its counts.
pub async fn export(pool: &PgPool, now: DateTime<Utc>) -> Result<Bundle, sqlx::Error> {
    let categories = sqlx::query_as!(
        BundleCategory,
        "SELECT id, slug, name, description, position FROM help_categories ORDER BY position, slug"
    )
    .fetch_all(pool)
    .await?;
    let rows = sqlx::query!(
        r#"
        SELECT id, slug, category_id, status, title, summary, body_markdown, tags, page_keys, revision,
               published_at, created_at, updated_at
        FROM help_articles ORDER BY slug
        "#
    )
    .fetch_all(pool)
    .await?;
    let mut revision_map: HashMap<Uuid, Vec<BundleRevision>> = HashMap::new();
    let revisions = sqlx::query!(
        r#"
        SELECT article_id, revision, status, title, summary, body_markdown, category_id, tags, page_keys, saved_at
        FROM help_revisions ORDER BY article_id, revision
        "#
    )
    .fetch_all(pool)
    .await?;
    for r in revisions {
        revision_map.entry(r.article_id).or_default().push(BundleRevision {
            revision: r.revision,
            status: r.status,
            title: r.title,
            summary: r.summary,
            body_markdown: r.body_markdown,
            category_id: r.category_id,
            tags: r.tags,
            page_keys: r.page_keys,
            saved_at: r.saved_at,
        });
    }
    let images = sqlx::query!(
        "SELECT id, article_id, name, content_type, bytes, created_at FROM help_images ORDER BY article_id, id"
    )
    .fetch_all(pool)
    .await?;
    let mut articles = Vec::with_capacity(rows.len());
    let mut image_map: HashMap<Uuid, Vec<BundleImage>> = HashMap::new();
    for image in images {
        image_map.entry(image.article_id).or_default().push(BundleImage {
            id: image.id,
            name: image.name,
            content_type: image.content_type,
            created_at: image.created_at,
            data: BASE64.encode(&image.bytes),
        });
    }
    for r in rows {
        articles.push(BundleArticle {
            revisions: revision_map.remove(&r.id).unwrap_or_default(),
            images: image_map.remove(&r.id).unwrap_or_default(),
            id: r.id,
            slug: r.slug,
            category_id: r.category_id,
            status: r.status,
            title: r.title,
            summary: r.summary,
            body_markdown: r.body_markdown,
            tags: r.tags,
            page_keys: r.page_keys,
            revision: r.revision,
            published_at: r.published_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        });
    }
    Ok(Bundle {
        format: FORMAT.to_owned(),
        version: VERSION,
        exported_at: now,
        categories,
        articles,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a help bundle: {0}")]
    Format(String),
    #[error("{0}")]
    Content(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Reads a bundle from JSON, refusing anything that is not one of this version.
pub fn parse(json: &[u8]) -> Result<Bundle, ImportError> {
    let bundle: Bundle = serde_json::from_slice(json).map_err(|e| ImportError::Format(e.to_string()))?;
    if bundle.format != FORMAT || bundle.version != VERSION {
        return Err(ImportError::Format(format!(
            "format `{}` version {}; this Haven reads `{FORMAT}` version {VERSION}",
            bundle.format, bundle.version
        )));
    }
    Ok(bundle)
}

/// Checks what the database's constraints would refuse less clearly.
fn check(bundle: &Bundle) -> Result<(), ImportError> {
    let bad = |what: String| Err(ImportError::Content(what));
    for article in &bundle.articles {
        if ArticleStatus::parse(&article.status).is_none() {
            return bad(format!(
                "article `{}` has an unknown status `{}`",
                article.slug, article.status
            ));
        }
        if article.revisions.iter().all(|r| r.revision != article.revision) {
            return bad(format!(
                "article `{}` lacks its current revision {}",
                article.slug, article.revision
            ));
        }
        if let Some(r) = article
            .revisions
            .iter()
            .find(|r| ArticleStatus::parse(&r.status).is_none())
        {
            return bad(format!(
                "article `{}` revision {} has an unknown status",
                article.slug, r.revision
            ));
        }
        if !article.page_keys.iter().all(|k| super::is_page_key(k)) {
            return bad(format!("article `{}` has a page key that is not one", article.slug));
        }
    }
    Ok(())
}

/// Inserts or updates everything in the bundle, by id, in one transaction.
pub async fn import(pool: &PgPool, bundle: &Bundle) -> Result<Imported, ImportError> {
    check(bundle)?;
    let mut tx = pool.begin().await?;
    let mut done = Imported::default();
    for c in &bundle.categories {
        sqlx::query!(
            r#"
            INSERT INTO help_categories (id, slug, name, description, position) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (id) DO UPDATE
            SET slug = excluded.slug, name = excluded.name, description = excluded.description,
                position = excluded.position
            "#,
            c.id,
            c.slug,
            c.name,
            c.description,
            c.position
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| explain(e, &format!("category `{}`", c.slug)))?;
        done.categories += 1;
    }
    for article in &bundle.articles {
        import_article(&mut tx, article, &mut done).await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// A constraint's refusal, said about the item that broke it.
fn explain(err: sqlx::Error, item: &str) -> ImportError {
    match &err {
        sqlx::Error::Database(db) if db.constraint().is_some() => ImportError::Content(format!(
            "{item} breaks the rule `{}` (a slug used by another id, or a value out of bounds)",
            db.constraint().unwrap_or_default()
        )),
        _ => ImportError::Database(err),
    }
}

async fn import_article(conn: &mut PgConnection, a: &BundleArticle, done: &mut Imported) -> Result<(), ImportError> {
    let what = format!("article `{}`", a.slug);
    let rendered = markdown::render(&a.body_markdown);
    sqlx::query!(
        r#"
        INSERT INTO help_articles (id, slug, category_id, status, title, summary, body_markdown, body_html,
                                   body_text, tags, page_keys, revision, published_at, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (id) DO UPDATE
        SET slug = excluded.slug, category_id = excluded.category_id, status = excluded.status,
            title = excluded.title, summary = excluded.summary, body_markdown = excluded.body_markdown,
            body_html = excluded.body_html, body_text = excluded.body_text, tags = excluded.tags,
            page_keys = excluded.page_keys, revision = excluded.revision, published_at = excluded.published_at,
            created_at = excluded.created_at, updated_at = excluded.updated_at
        "#,
        a.id,
        a.slug,
        a.category_id,
        a.status,
        a.title,
        a.summary,
        a.body_markdown,
        rendered.html,
        rendered.text,
        &a.tags,
        &a.page_keys,
        a.revision,
        a.published_at,
        a.created_at,
        a.updated_at
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| explain(e, &what))?;
    done.articles += 1;
    for r in &a.revisions {
        sqlx::query!(
            r#"
            INSERT INTO help_revisions (article_id, revision, status, title, summary, body_markdown, category_id,
                                        tags, page_keys, saved_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (article_id, revision) DO UPDATE
            SET status = excluded.status, title = excluded.title, summary = excluded.summary,
                body_markdown = excluded.body_markdown, category_id = excluded.category_id, tags = excluded.tags,
                page_keys = excluded.page_keys, saved_at = excluded.saved_at
            "#,
            a.id,
            r.revision,
            r.status,
            r.title,
            r.summary,
            r.body_markdown,
            r.category_id,
            &r.tags,
            &r.page_keys,
            r.saved_at
        )
        .execute(&mut *conn)
        .await
        .map_err(|e| explain(e, &format!("{what} revision {}", r.revision)))?;
        done.revisions += 1;
    }
    for image in &a.images {
        // Checked here, once decoded; a refusal rolls the whole import back.
        let bytes = BASE64
            .decode(&image.data)
            .map_err(|_| ImportError::Content(format!("image {} is not base64", image.id)))?;
        if super::editing::image_type(&bytes) != Some(image.content_type.as_str()) {
            return Err(ImportError::Content(format!(
                "image {} is not the {} it says",
                image.id, image.content_type
            )));
        }
        sqlx::query!(
            r#"
            INSERT INTO help_images (id, article_id, name, content_type, bytes, created_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (id) DO UPDATE
            SET article_id = excluded.article_id, name = excluded.name, content_type = excluded.content_type,
                bytes = excluded.bytes, created_at = excluded.created_at
            "#,
            image.id,
            a.id,
            image.name,
            image.content_type,
            &bytes,
            image.created_at
        )
        .execute(&mut *conn)
        .await
        .map_err(|e| explain(e, &format!("image {}", image.id)))?;
        done.images += 1;
    }
    Ok(())
}

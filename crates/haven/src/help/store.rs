//! The help database's queries. Reads take published articles only; counts are daily
//! totals with nothing about the reader.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::platform::database::{DatabaseName, DatabaseServer, MigrationLock, migrate};

use super::{ArticleId, ArticleStatus, ArticleSummary, Category, PublicArticle, SearchHit};

pub static HELP_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/help");

/// Creates the help database if needed and migrates it, under the installation's
/// migration lock. Returns its name.
pub async fn prepare(server: &DatabaseServer, name: &str) -> anyhow::Result<DatabaseName> {
    let database = DatabaseName::parse(name)
        .ok_or_else(|| anyhow::anyhow!("`{name}` is not a safe database name (help_database)"))?;
    server.ensure_database(&database).await?;
    let lock = MigrationLock::acquire(server).await?;
    let owner = server.connect_pool(&database).await;
    let result = match owner {
        Ok(pool) => {
            let migrated = migrate(&pool, &HELP_MIGRATIONS, &database).await;
            pool.close().await;
            migrated
        }
        Err(err) => Err(err),
    };
    lock.release().await?;
    result?;
    Ok(database)
}

/// An article as its editor writes it.
#[derive(Debug, Clone, Default)]
pub struct ArticleFields {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub body_markdown: String,
    pub category_id: Option<Uuid>,
    pub tags: Vec<String>,
    pub page_keys: Vec<String>,
}

pub async fn insert_category(
    db: impl PgExecutor<'_>,
    id: Uuid,
    slug: &str,
    name: &str,
    description: &str,
    position: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO help_categories (id, slug, name, description, position) VALUES ($1, $2, $3, $4, $5)",
        id,
        slug,
        name,
        description,
        position
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn categories(db: impl PgExecutor<'_>) -> Result<Vec<Category>, sqlx::Error> {
    sqlx::query_as!(
        Category,
        "SELECT id, slug, name, description, position FROM help_categories ORDER BY position, name"
    )
    .fetch_all(db)
    .await
}

/// A new article (revision 1) and its first revision row.
pub async fn insert_article(
    conn: &mut PgConnection,
    id: ArticleId,
    fields: &ArticleFields,
    rendered: &super::markdown::Rendered,
    status: ArticleStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let published_at = (status == ArticleStatus::Published).then_some(now);
    sqlx::query!(
        r#"
        INSERT INTO help_articles (id, slug, category_id, status, title, summary, body_markdown, body_html,
                                   body_text, tags, page_keys, revision, published_at, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $13)
        "#,
        id.0,
        fields.slug,
        fields.category_id,
        status.as_str(),
        fields.title,
        fields.summary,
        fields.body_markdown,
        rendered.html,
        rendered.text,
        &fields.tags,
        &fields.page_keys,
        published_at,
        now
    )
    .execute(&mut *conn)
    .await?;
    save_revision(conn, id).await
}

/// Copies the article as it now is into its revisions.
async fn save_revision(conn: &mut PgConnection, id: ArticleId) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO help_revisions (article_id, revision, status, title, summary, body_markdown, category_id,
                                    tags, page_keys, saved_at)
        SELECT id, revision, status, title, summary, body_markdown, category_id, tags, page_keys, updated_at
        FROM help_articles WHERE id = $1
        "#,
        id.0
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One published article by its slug.
pub async fn published(db: impl PgExecutor<'_>, slug: &str) -> Result<Option<PublicArticle>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        SELECT a.id, a.slug, a.title, a.summary, a.body_html, a.tags, a.page_keys, a.revision,
               a.updated_at, a.published_at AS "published_at!", c.slug AS "category_slug?",
               c.name AS "category_name?"
        FROM help_articles a LEFT JOIN help_categories c ON c.id = a.category_id
        WHERE a.slug = $1 AND a.status = 'published'
        "#,
        slug
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| PublicArticle {
        id: ArticleId(r.id),
        slug: r.slug,
        title: r.title,
        summary: r.summary,
        html: r.body_html,
        category: r.category_slug,
        category_name: r.category_name,
        tags: r.tags,
        page_keys: r.page_keys,
        revision: r.revision,
        published_at: r.published_at,
        updated_at: r.updated_at,
    }))
}

/// Published articles, optionally of one category, by title.
pub async fn list_published(
    db: impl PgExecutor<'_>,
    category: Option<&str>,
    page_key: Option<&str>,
) -> Result<Vec<ArticleSummary>, sqlx::Error> {
    sqlx::query_as!(
        ArticleSummary,
        r#"
        SELECT a.slug, a.title, a.summary, c.slug AS "category?", a.updated_at
        FROM help_articles a LEFT JOIN help_categories c ON c.id = a.category_id
        WHERE a.status = 'published'
          AND ($1::text IS NULL OR c.slug = $1)
          AND ($2::text IS NULL OR $2 = ANY (a.page_keys))
        ORDER BY a.title
        LIMIT 500
        "#,
        category,
        page_key
    )
    .fetch_all(db)
    .await
}

/// The newest change to anything published: the list's Last-Modified.
pub async fn last_change(db: impl PgExecutor<'_>) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!("SELECT max(updated_at) FROM help_articles WHERE status = 'published'")
        .fetch_one(db)
        .await
}

/// Full-text search over published articles, best first, with a highlighted snippet
/// (matches between the markers \u{2} and \u{3}, escaped and marked up by the caller).
pub async fn search(db: impl PgExecutor<'_>, query: &str, limit: i64) -> Result<Vec<SearchHit>, sqlx::Error> {
    sqlx::query_as!(
        SearchHit,
        r#"
        WITH q AS (SELECT websearch_to_tsquery('english', $1) AS query)
        SELECT a.slug, a.title, a.summary,
               ts_headline('english', a.body_text, q.query,
                           'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=30, MinWords=12, MaxFragments=1')
                   AS "snippet!",
               ts_rank_cd(a.search, q.query, 32)::float8 AS "rank!"
        FROM help_articles a, q
        WHERE a.status = 'published' AND a.search @@ q.query
        ORDER BY "rank!" DESC, a.title
        LIMIT $2
        "#,
        query,
        limit
    )
    .fetch_all(db)
    .await
}

/// The typo-tolerant fallback: titles and tags that look like the words asked for.
pub async fn search_similar(db: impl PgExecutor<'_>, query: &str, limit: i64) -> Result<Vec<SearchHit>, sqlx::Error> {
    sqlx::query_as!(
        SearchHit,
        r#"
        SELECT a.slug, a.title, a.summary, left(a.body_text, 160) AS "snippet!",
               greatest(word_similarity(lower($1), lower(a.title)),
                        word_similarity(lower($1), lower(help_tags_text(a.tags))))::float8 AS "rank!"
        FROM help_articles a
        WHERE a.status = 'published'
          AND (lower($1) <% lower(a.title) OR lower($1) <% lower(help_tags_text(a.tags)))
        ORDER BY "rank!" DESC, a.title
        LIMIT $2
        "#,
        query,
        limit
    )
    .fetch_all(db)
    .await
}

/// Adds one to a daily count.
pub async fn count(
    db: impl PgExecutor<'_>,
    day: NaiveDate,
    metric: &str,
    article: Option<ArticleId>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO help_daily_counts (day, metric, article_id, count)
        VALUES ($1, $2, coalesce($3, '00000000-0000-0000-0000-000000000000'::uuid), 1)
        ON CONFLICT (day, metric, article_id) DO UPDATE SET count = help_daily_counts.count + 1
        "#,
        day,
        metric,
        article.map(|a| a.0)
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Counts one answer of an article's "was this helpful?" for the day unless the day
/// already holds `cap` of them; whether it counted.
pub async fn count_feedback(
    db: impl PgExecutor<'_>,
    day: NaiveDate,
    metric: &str,
    article: ArticleId,
    cap: i64,
) -> Result<bool, sqlx::Error> {
    let counted = sqlx::query_scalar!(
        r#"
        INSERT INTO help_daily_counts (day, metric, article_id, count)
        VALUES ($1, $2, $3, 1)
        ON CONFLICT (day, metric, article_id) DO UPDATE SET count = help_daily_counts.count + 1
        WHERE help_daily_counts.count < $4
        RETURNING count
        "#,
        day,
        metric,
        article.0,
        cap
    )
    .fetch_optional(db)
    .await?;
    Ok(counted.is_some())
}

/// Counts one search in one round trip: the day's searches, its zero-result searches
/// when nothing was found, and the (normalised) term's aggregate.
pub async fn count_search(db: impl PgExecutor<'_>, day: NaiveDate, term: &str, zero: bool) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        WITH counts AS (
            INSERT INTO help_daily_counts (day, metric, count)
            SELECT $1, metric, 1 FROM unnest(CASE WHEN $3 THEN ARRAY['search', 'zero_result'] ELSE ARRAY['search'] END) AS metric
            ON CONFLICT (day, metric, article_id) DO UPDATE SET count = help_daily_counts.count + 1
        )
        INSERT INTO help_search_terms (day, term, searches, zero_results)
        VALUES ($1, $2, 1, $3::bool::int)
        ON CONFLICT (day, term) DO UPDATE
        SET searches = help_search_terms.searches + 1,
            zero_results = help_search_terms.zero_results + ($3::bool::int)
        "#,
        day,
        term,
        zero
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn insert_comment(
    db: impl PgExecutor<'_>,
    article: ArticleId,
    day: NaiveDate,
    helpful: bool,
    comment: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO help_comments (id, article_id, day, helpful, comment) VALUES ($1, $2, $3, $4, $5)",
        Uuid::now_v7(),
        article.0,
        day,
        helpful,
        comment
    )
    .execute(db)
    .await?;
    Ok(())
}

/// An article as its editor sees it, whatever its status.
#[derive(Debug, Clone)]
pub struct ArticleRecord {
    pub id: ArticleId,
    pub status: ArticleStatus,
    pub fields: ArticleFields,
    pub revision: i32,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// One line of the editors' list.
#[derive(Debug, Clone)]
pub struct EditorListItem {
    pub id: ArticleId,
    pub slug: String,
    pub title: String,
    pub status: ArticleStatus,
    pub category: Option<String>,
    pub revision: i32,
    pub updated_at: DateTime<Utc>,
}

fn status_of(value: &str) -> ArticleStatus {
    ArticleStatus::parse(value).unwrap_or(ArticleStatus::Draft)
}

/// Every article, drafts and archived included, newest change first.
pub async fn all_articles(db: impl PgExecutor<'_>) -> Result<Vec<EditorListItem>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT a.id, a.slug, a.title, a.status, c.name AS "category?", a.revision, a.updated_at
        FROM help_articles a LEFT JOIN help_categories c ON c.id = a.category_id
        ORDER BY a.updated_at DESC, a.title
        "#
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| EditorListItem {
            id: ArticleId(r.id),
            slug: r.slug,
            title: r.title,
            status: status_of(&r.status),
            category: r.category,
            revision: r.revision,
            updated_at: r.updated_at,
        })
        .collect())
}

pub async fn article(db: impl PgExecutor<'_>, id: ArticleId) -> Result<Option<ArticleRecord>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        SELECT id, slug, status, title, summary, body_markdown, category_id, tags, page_keys, revision,
               published_at, updated_at
        FROM help_articles WHERE id = $1
        "#,
        id.0
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| ArticleRecord {
        id: ArticleId(r.id),
        status: status_of(&r.status),
        fields: ArticleFields {
            slug: r.slug,
            title: r.title,
            summary: r.summary,
            body_markdown: r.body_markdown,
            category_id: r.category_id,
            tags: r.tags,
            page_keys: r.page_keys,
        },
        revision: r.revision,
        published_at: r.published_at,
        updated_at: r.updated_at,
    }))
}

/// Saves new content as the next revision, if the article is still at `expected`
/// (someone else's save in between is not overwritten). Returns the new revision.
pub async fn update_article(
    conn: &mut PgConnection,
    id: ArticleId,
    expected: i32,
    fields: &ArticleFields,
    rendered: &super::markdown::Rendered,
    now: DateTime<Utc>,
) -> Result<Option<i32>, sqlx::Error> {
    let revision = sqlx::query_scalar!(
        r#"
        UPDATE help_articles
        SET slug = $3, category_id = $4, title = $5, summary = $6, body_markdown = $7, body_html = $8,
            body_text = $9, tags = $10, page_keys = $11, revision = revision + 1, updated_at = $12
        WHERE id = $1 AND revision = $2
        RETURNING revision
        "#,
        id.0,
        expected,
        fields.slug,
        fields.category_id,
        fields.title,
        fields.summary,
        fields.body_markdown,
        rendered.html,
        rendered.text,
        &fields.tags,
        &fields.page_keys,
        now
    )
    .fetch_optional(&mut *conn)
    .await?;
    if revision.is_some() {
        save_revision(conn, id).await?;
    }
    Ok(revision)
}

/// Publishes, archives or returns an article to draft, as its next revision. The first
/// publication date is kept when an article is published again.
pub async fn set_status(
    conn: &mut PgConnection,
    id: ArticleId,
    expected: i32,
    status: ArticleStatus,
    now: DateTime<Utc>,
) -> Result<Option<i32>, sqlx::Error> {
    let revision = sqlx::query_scalar!(
        r#"
        UPDATE help_articles
        SET status = $3, revision = revision + 1, updated_at = $4,
            published_at = CASE WHEN $3 = 'published' THEN coalesce(published_at, $4) ELSE published_at END
        WHERE id = $1 AND revision = $2
        RETURNING revision
        "#,
        id.0,
        expected,
        status.as_str(),
        now
    )
    .fetch_optional(&mut *conn)
    .await?;
    if revision.is_some() {
        save_revision(conn, id).await?;
    }
    Ok(revision)
}

/// One saved version of an article.
#[derive(Debug, Clone)]
pub struct Revision {
    pub revision: i32,
    pub status: ArticleStatus,
    pub title: String,
    pub summary: String,
    pub body_markdown: String,
    pub saved_at: DateTime<Utc>,
}

/// An article's revisions, newest first.
pub async fn revisions(db: impl PgExecutor<'_>, id: ArticleId) -> Result<Vec<Revision>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        SELECT revision, status, title, summary, body_markdown, saved_at
        FROM help_revisions WHERE article_id = $1 ORDER BY revision DESC
        "#,
        id.0
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Revision {
            revision: r.revision,
            status: status_of(&r.status),
            title: r.title,
            summary: r.summary,
            body_markdown: r.body_markdown,
            saved_at: r.saved_at,
        })
        .collect())
}

pub async fn update_category(
    db: impl PgExecutor<'_>,
    id: Uuid,
    slug: &str,
    name: &str,
    description: &str,
    position: i32,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE help_categories SET slug = $2, name = $3, description = $4, position = $5 WHERE id = $1",
        id,
        slug,
        name,
        description,
        position
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An image's description, without its bytes.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

pub async fn insert_image(
    db: impl PgExecutor<'_>,
    id: Uuid,
    article: ArticleId,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
        INSERT INTO help_images (id, article_id, name, content_type, bytes, created_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        "#,
        id,
        article.0,
        name,
        content_type,
        bytes,
        now
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn images_of(db: impl PgExecutor<'_>, article: ArticleId) -> Result<Vec<ImageInfo>, sqlx::Error> {
    sqlx::query_as!(
        ImageInfo,
        r#"
        SELECT id, name, content_type, length(bytes)::int8 AS "size!"
        FROM help_images WHERE article_id = $1 ORDER BY created_at, name
        "#,
        article.0
    )
    .fetch_all(db)
    .await
}

/// An image's type and bytes: readers get those of published articles only; editors
/// (`any_status`) those of drafts and archived ones too.
pub async fn image(
    db: impl PgExecutor<'_>,
    id: Uuid,
    any_status: bool,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"
        SELECT i.content_type, i.bytes FROM help_images i JOIN help_articles a ON a.id = i.article_id
        WHERE i.id = $1 AND ($2 OR a.status = 'published')
        "#,
        id,
        any_status
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.content_type, r.bytes)))
}

/// The help centre's counts over some days, as editors see them.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub views: i64,
    pub searches: i64,
    pub zero_results: i64,
    pub helpful: i64,
    pub not_helpful: i64,
    pub articles: Vec<ArticleUsage>,
    pub terms: Vec<TermUsage>,
    pub comments: Vec<CommentRow>,
}

#[derive(Debug, Clone)]
pub struct ArticleUsage {
    pub title: String,
    pub slug: String,
    pub views: i64,
    pub helpful: i64,
    pub not_helpful: i64,
}

#[derive(Debug, Clone)]
pub struct TermUsage {
    pub term: String,
    pub searches: i64,
    pub zero_results: i64,
}

#[derive(Debug, Clone)]
pub struct CommentRow {
    pub day: NaiveDate,
    pub title: String,
    pub helpful: bool,
    pub comment: String,
}

/// Counts from `since` on; search terms only once searched at least `threshold` times
/// in those days.
pub async fn usage(conn: &mut PgConnection, since: NaiveDate, threshold: i64) -> Result<Usage, sqlx::Error> {
    let totals = sqlx::query!(
        r#"
        SELECT coalesce(sum(count) FILTER (WHERE metric = 'view'), 0)::int8 AS "views!",
               coalesce(sum(count) FILTER (WHERE metric = 'search'), 0)::int8 AS "searches!",
               coalesce(sum(count) FILTER (WHERE metric = 'zero_result'), 0)::int8 AS "zero_results!",
               coalesce(sum(count) FILTER (WHERE metric = 'helpful'), 0)::int8 AS "helpful!",
               coalesce(sum(count) FILTER (WHERE metric = 'not_helpful'), 0)::int8 AS "not_helpful!"
        FROM help_daily_counts WHERE day >= $1
        "#,
        since
    )
    .fetch_one(&mut *conn)
    .await?;
    let articles = sqlx::query_as!(
        ArticleUsage,
        r#"
        SELECT a.title, a.slug,
               coalesce(sum(d.count) FILTER (WHERE d.metric = 'view'), 0)::int8 AS "views!",
               coalesce(sum(d.count) FILTER (WHERE d.metric = 'helpful'), 0)::int8 AS "helpful!",
               coalesce(sum(d.count) FILTER (WHERE d.metric = 'not_helpful'), 0)::int8 AS "not_helpful!"
        FROM help_daily_counts d JOIN help_articles a ON a.id = d.article_id
        WHERE d.day >= $1
        GROUP BY a.id, a.title, a.slug
        ORDER BY "views!" DESC, a.title
        LIMIT 100
        "#,
        since
    )
    .fetch_all(&mut *conn)
    .await?;
    let terms = sqlx::query_as!(
        TermUsage,
        r#"
        SELECT term, sum(searches)::int8 AS "searches!", sum(zero_results)::int8 AS "zero_results!"
        FROM help_search_terms WHERE day >= $1
        GROUP BY term HAVING sum(searches) >= $2::int8
        ORDER BY "searches!" DESC, term
        LIMIT 100
        "#,
        since,
        threshold
    )
    .fetch_all(&mut *conn)
    .await?;
    let comments = sqlx::query_as!(
        CommentRow,
        r#"
        SELECT c.day, a.title, c.helpful, c.comment
        FROM help_comments c JOIN help_articles a ON a.id = c.article_id
        WHERE c.day >= $1
        ORDER BY c.day DESC, c.id DESC
        LIMIT 50
        "#,
        since
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Usage {
        views: totals.views,
        searches: totals.searches,
        zero_results: totals.zero_results,
        helpful: totals.helpful,
        not_helpful: totals.not_helpful,
        articles,
        terms,
        comments,
    })
}

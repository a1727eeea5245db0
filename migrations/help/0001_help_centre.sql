-- The help centre's own database: articles with their revisions, categories, images, the
-- staff pages each article explains, and anonymous daily counts. Help content is the same
-- for every organisation, and this database may be run outside the compliance boundary
-- (`haven help serve`): no column here can hold who read, searched or rated anything.

-- Serving runs as haven_app, as for the other databases; a standalone help service's
-- server has no control database to create the role.
DO $$
BEGIN
    BEGIN
        CREATE ROLE haven_app LOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END $$;

CREATE EXTENSION IF NOT EXISTS pg_trgm;

GRANT USAGE ON SCHEMA public TO haven_app;
GRANT SELECT ON _sqlx_migrations TO haven_app;

CREATE TABLE help_categories (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 80),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    position    integer NOT NULL DEFAULT 0
);

-- array_to_string is only STABLE in general; for text[] it is immutable, which the
-- generated search column needs.
CREATE FUNCTION help_tags_text(tags text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT array_to_string(tags, ' ') $$;

CREATE TABLE help_articles (
    id            uuid PRIMARY KEY,
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 120),
    category_id   uuid REFERENCES help_categories (id) ON DELETE SET NULL,
    status        text NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    summary       text NOT NULL DEFAULT '' CHECK (length(summary) <= 500),
    body_markdown text NOT NULL CHECK (length(body_markdown) <= 200000),
    -- Rendered and sanitised when saved, so that a read is a lookup.
    body_html     text NOT NULL,
    -- The words of the body without markup, for search and snippets.
    body_text     text NOT NULL,
    tags          text[] NOT NULL DEFAULT '{}',
    -- The staff pages this article explains (`clients.search`), never a record.
    page_keys     text[] NOT NULL DEFAULT '{}',
    revision      integer NOT NULL DEFAULT 1,
    published_at  timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    search        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A')
        || setweight(to_tsvector('english', summary), 'B')
        || setweight(to_tsvector('english', help_tags_text(tags)), 'B')
        || setweight(to_tsvector('english', body_text), 'C')
    ) STORED
);
CREATE INDEX help_articles_search ON help_articles USING gin (search);
CREATE INDEX help_articles_title_trgm ON help_articles USING gin (lower(title) gin_trgm_ops);
CREATE INDEX help_articles_page_keys ON help_articles USING gin (page_keys);
CREATE INDEX help_articles_category ON help_articles (category_id, status);

-- Every saved version of an article, the first included; an export carries them all.
CREATE TABLE help_revisions (
    article_id    uuid NOT NULL REFERENCES help_articles (id) ON DELETE CASCADE,
    revision      integer NOT NULL,
    status        text NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    title         text NOT NULL,
    summary       text NOT NULL,
    body_markdown text NOT NULL,
    category_id   uuid,
    tags          text[] NOT NULL,
    page_keys     text[] NOT NULL,
    saved_at      timestamptz NOT NULL,
    PRIMARY KEY (article_id, revision)
);

-- Images belong to an article and are served with it.
CREATE TABLE help_images (
    id           uuid PRIMARY KEY,
    article_id   uuid NOT NULL REFERENCES help_articles (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    content_type text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp', 'image/gif')),
    bytes        bytea NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX help_images_article ON help_images (article_id);

-- Daily totals only: views and ratings per article, searches and zero-result searches.
CREATE TABLE help_daily_counts (
    day        date NOT NULL,
    metric     text NOT NULL CHECK (metric IN ('view', 'search', 'zero_result', 'helpful', 'not_helpful')),
    -- The nil UUID for counts that are not about one article (searches).
    article_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    count      bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (day, metric, article_id)
);

-- Search terms, normalised, counted per day; editors see a term only once it has been
-- searched at least `help_term_threshold` times.
CREATE TABLE help_search_terms (
    day          date NOT NULL,
    term         text NOT NULL CHECK (length(term) BETWEEN 1 AND 100),
    searches     bigint NOT NULL CHECK (searches >= 0),
    zero_results bigint NOT NULL CHECK (zero_results >= 0),
    PRIMARY KEY (day, term)
);

-- "Was this helpful?" comments: the day and the answer, nothing about who.
CREATE TABLE help_comments (
    id         uuid PRIMARY KEY,
    article_id uuid NOT NULL REFERENCES help_articles (id) ON DELETE CASCADE,
    day        date NOT NULL,
    helpful    boolean NOT NULL,
    comment    text NOT NULL CHECK (length(comment) BETWEEN 1 AND 500)
);
CREATE INDEX help_comments_article ON help_comments (article_id, day);

GRANT SELECT, INSERT, UPDATE, DELETE ON help_categories, help_articles, help_revisions, help_images TO haven_app;
GRANT SELECT, INSERT, UPDATE ON help_daily_counts, help_search_terms TO haven_app;
GRANT SELECT, INSERT ON help_comments TO haven_app;

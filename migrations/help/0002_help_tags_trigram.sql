-- The typo fallback compares the words asked for with titles and with tags; both sides
-- need a trigram index, or a misspelling reads every article's tags.
CREATE INDEX help_articles_tags_trgm ON help_articles USING gin (lower(help_tags_text(tags)) gin_trgm_ops);

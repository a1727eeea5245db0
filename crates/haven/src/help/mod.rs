//! The help centre (SPEC module 9): help articles in Markdown with categories, tags and
//! revisions, contextual help keyed by the staff app's pages, full-text search, "was this
//! helpful?" and daily usage counts. Readers are anonymous: nothing here stores, logs or
//! answers with anything that identifies them, and no help response sets a cookie. The
//! content lives in its own database, so the same service runs inside `haven serve` or
//! alone outside the compliance boundary (`haven help serve`). See docs/help-centre.md.

pub mod markdown;

//! What help editors do: write, save (each save a revision), publish, archive, add
//! images and arrange categories. Editors are staff of an organisation, so each change
//! is recorded in that organisation's audit trail, durably, before the help database
//! commits it: a change the trail does not know about never becomes visible.

use uuid::Uuid;

use super::store::{self, ArticleFields};
use super::{ArticleId, ArticleStatus, HelpState, is_page_key, markdown};
use crate::actor::Actor;
use crate::compliance::audit::Outcome;
use crate::error::{Error, FieldError};
use crate::policy::Action;

/// An article as an editor's form sends it; lists are comma- or line-separated.
#[derive(Debug, Clone, Default)]
pub struct ArticleInput {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub body_markdown: String,
    pub category: String,
    pub tags: String,
    pub page_keys: String,
}

impl ArticleInput {
    pub fn from_fields(fields: &ArticleFields) -> Self {
        Self {
            slug: fields.slug.clone(),
            title: fields.title.clone(),
            summary: fields.summary.clone(),
            body_markdown: fields.body_markdown.clone(),
            category: fields.category_id.map(|id| id.to_string()).unwrap_or_default(),
            tags: fields.tags.join(", "),
            page_keys: fields.page_keys.join(", "),
        }
    }
}

pub const MAX_BODY: usize = 200_000;
pub const MAX_IMAGE: usize = 2 * 1024 * 1024;

/// A slug from a title: lower-case words joined by hyphens.
pub fn slug_from(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    slug.chars()
        .take(120)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

pub fn is_slug(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn list(value: &str) -> Vec<String> {
    let mut items: Vec<String> = value
        .split([',', '\n'])
        .map(|item| item.trim().to_lowercase())
        .filter(|item| !item.is_empty())
        .collect();
    items.dedup();
    items
}

/// Checks an editor's input against the rules of the help database, naming each field
/// that breaks one.
pub fn validate(input: &ArticleInput, categories: &[super::Category]) -> Result<ArticleFields, Vec<FieldError>> {
    let mut problems = Vec::new();
    let title = input.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        problems.push(FieldError::new("title", "must have 1 to 200 characters"));
    }
    let slug = if input.slug.trim().is_empty() {
        slug_from(&title)
    } else {
        input.slug.trim().to_owned()
    };
    // A slug made from a missing title is the title's problem, not the slug's.
    let derived_from_nothing = input.slug.trim().is_empty() && title.is_empty();
    if !is_slug(&slug, 120) && !derived_from_nothing {
        problems.push(FieldError::new(
            "slug",
            "must be lower-case letters and digits in words joined by hyphens (at most 120 characters)",
        ));
    }
    let summary = input.summary.trim().to_owned();
    if summary.chars().count() > 500 {
        problems.push(FieldError::new("summary", "must have at most 500 characters"));
    }
    if input.body_markdown.trim().is_empty() {
        problems.push(FieldError::new("body_markdown", "is empty"));
    } else if input.body_markdown.chars().count() > MAX_BODY {
        problems.push(FieldError::new("body_markdown", "must have at most 200,000 characters"));
    }
    let category_id = match input.category.trim() {
        "" => None,
        wanted => {
            let found = categories
                .iter()
                .find(|c| c.id.to_string() == wanted || c.slug == wanted);
            if found.is_none() {
                problems.push(FieldError::new("category", "must be one of the categories"));
            }
            found.map(|c| c.id)
        }
    };
    let tags = list(&input.tags);
    if tags.len() > 20 || tags.iter().any(|t| t.chars().count() > 40) {
        problems.push(FieldError::new("tags", "may be at most 20, each at most 40 characters"));
    }
    let page_keys = list(&input.page_keys);
    if page_keys.len() > 20 || !page_keys.iter().all(|k| is_page_key(k)) {
        problems.push(FieldError::new(
            "page_keys",
            "must be page keys such as clients.search (lower-case words and dots), comma-separated",
        ));
    }
    if problems.is_empty() {
        Ok(ArticleFields {
            slug,
            title,
            summary,
            body_markdown: input.body_markdown.replace("\r\n", "\n"),
            category_id,
            tags,
            page_keys,
        })
    } else {
        Err(problems)
    }
}

/// Another article already has the slug.
fn slug_taken(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.constraint() == Some("help_articles_slug_key"))
}

fn storing_error(err: sqlx::Error) -> Error {
    if slug_taken(&err) {
        Error::Invalid(vec![FieldError::new("slug", "is already another article's address")])
    } else {
        err.into()
    }
}

const CHANGED_SINCE: &str = "this article was changed since you opened it; open it again to see the change";

/// Records `action` about the article in the organisation's audit trail and returns once
/// it is durable.
async fn audit(caller: &Actor, action: &str, article: ArticleId, reason: String) -> Result<(), Error> {
    caller
        .tenant
        .audit
        .record(
            caller
                .event(action, Outcome::Allowed)
                .resource("help_article", article.to_string())
                .reason(reason),
        )
        .await
        .map_err(|err| Error::internal(err.into()))?;
    Ok(())
}

/// A new draft article.
pub async fn create(caller: &Actor, help: &HelpState, input: &ArticleInput) -> Result<ArticleId, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let categories = store::categories(&help.pool).await?;
    let fields = validate(input, &categories).map_err(Error::Invalid)?;
    let id = ArticleId::new();
    let mut tx = help.pool.begin().await?;
    store::insert_article(
        &mut tx,
        id,
        &fields,
        &markdown::render(&fields.body_markdown),
        ArticleStatus::Draft,
        caller.now(),
    )
    .await
    .map_err(storing_error)?;
    audit(caller, "help.article_created", id, format!("draft `{}`", fields.slug)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Saves new content as the next revision; the status stays as it is (a published
/// article's change is live at once).
pub async fn save(
    caller: &Actor,
    help: &HelpState,
    id: ArticleId,
    expected_revision: i32,
    input: &ArticleInput,
) -> Result<i32, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let current = store::article(&help.pool, id).await?.ok_or(Error::NotFound)?;
    let categories = store::categories(&help.pool).await?;
    let fields = validate(input, &categories).map_err(Error::Invalid)?;
    let mut tx = help.pool.begin().await?;
    let revision = store::update_article(
        &mut tx,
        id,
        expected_revision,
        &fields,
        &markdown::render(&fields.body_markdown),
        caller.now(),
    )
    .await
    .map_err(storing_error)?
    .ok_or_else(|| Error::conflict(CHANGED_SINCE.to_owned()))?;
    audit(
        caller,
        "help.article_saved",
        id,
        format!("`{}` revision {revision} ({})", fields.slug, current.status.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(revision)
}

/// Publishes, archives or returns an article to draft.
pub async fn change_status(
    caller: &Actor,
    help: &HelpState,
    id: ArticleId,
    expected_revision: i32,
    status: ArticleStatus,
) -> Result<i32, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let current = store::article(&help.pool, id).await?.ok_or(Error::NotFound)?;
    if current.status == status {
        return Err(Error::conflict(format!("the article is already {}", status.as_str())));
    }
    let mut tx = help.pool.begin().await?;
    let revision = store::set_status(&mut tx, id, expected_revision, status, caller.now())
        .await?
        .ok_or_else(|| Error::conflict(CHANGED_SINCE.to_owned()))?;
    let action = match status {
        ArticleStatus::Published => "help.article_published",
        ArticleStatus::Archived => "help.article_archived",
        ArticleStatus::Draft => "help.article_unpublished",
    };
    audit(
        caller,
        action,
        id,
        format!("`{}` revision {revision}", current.fields.slug),
    )
    .await?;
    tx.commit().await?;
    Ok(revision)
}

/// What an image's bytes are, by their content (the name and the browser's word are not
/// trusted).
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    let found = infer::get(bytes)?.mime_type();
    IMAGE_TYPES.iter().copied().find(|t| *t == found)
}

/// The image types articles may hold.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp", "image/gif"];

/// Adds an image to an article; returns its id (its address is
/// `/api/help/v1/images/{id}`).
pub async fn add_image(
    caller: &Actor,
    help: &HelpState,
    article: ArticleId,
    name: &str,
    bytes: &[u8],
) -> Result<Uuid, Error> {
    caller.authorize(&Action::EditHelp).await?;
    store::article(&help.pool, article).await?.ok_or(Error::NotFound)?;
    if bytes.len() > MAX_IMAGE {
        return Err(Error::TooLarge("an image may be at most 2 MB".to_owned()));
    }
    let Some(content_type) = image_type(bytes) else {
        return Err(Error::Invalid(vec![FieldError::new(
            "image",
            "must be a PNG, JPEG, WebP or GIF image",
        )]));
    };
    let name: String = name
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '/' | '\\'))
        .take(200)
        .collect();
    let name = if name.trim().is_empty() {
        "image".to_owned()
    } else {
        name
    };
    let id = Uuid::now_v7();
    let mut tx = help.pool.begin().await?;
    store::insert_image(&mut *tx, id, article, &name, content_type, bytes, caller.now()).await?;
    audit(
        caller,
        "help.image_added",
        article,
        format!("image {id} ({content_type}, {} bytes)", bytes.len()),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A category as the editor's form sends it.
#[derive(Debug, Clone, Default)]
pub struct CategoryInput {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub position: String,
}

/// Adds a category, or changes the one `id` names.
pub async fn save_category(
    caller: &Actor,
    help: &HelpState,
    id: Option<Uuid>,
    input: &CategoryInput,
) -> Result<Uuid, Error> {
    caller.authorize(&Action::EditHelp).await?;
    let mut problems = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        problems.push(FieldError::new("name", "must have 1 to 120 characters"));
    }
    let slug = if input.slug.trim().is_empty() {
        slug_from(name)
    } else {
        input.slug.trim().to_owned()
    };
    let derived_from_nothing = input.slug.trim().is_empty() && name.is_empty();
    if !is_slug(&slug, 80) && !derived_from_nothing {
        problems.push(FieldError::new(
            "slug",
            "must be lower-case letters and digits in words joined by hyphens (at most 80 characters)",
        ));
    }
    let description = input.description.trim();
    if description.chars().count() > 500 {
        problems.push(FieldError::new("description", "must have at most 500 characters"));
    }
    let position = match input.position.trim() {
        "" => 0,
        given => given.parse::<i32>().unwrap_or_else(|_| {
            problems.push(FieldError::new("position", "must be a whole number"));
            0
        }),
    };
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let taken = |err: sqlx::Error| match &err {
        sqlx::Error::Database(db) if db.constraint() == Some("help_categories_slug_key") => {
            Error::Invalid(vec![FieldError::new("slug", "is already another category's address")])
        }
        _ => err.into(),
    };
    let mut tx = help.pool.begin().await?;
    let id = if let Some(id) = id {
        let found = store::update_category(&mut *tx, id, &slug, name, description, position)
            .await
            .map_err(taken)?;
        if !found {
            return Err(Error::NotFound);
        }
        id
    } else {
        let id = Uuid::now_v7();
        store::insert_category(&mut *tx, id, &slug, name, description, position)
            .await
            .map_err(taken)?;
        id
    };
    caller
        .tenant
        .audit
        .record(
            caller
                .event("help.category_saved", Outcome::Allowed)
                .resource("help_category", id.to_string())
                .reason(format!("`{slug}`")),
        )
        .await
        .map_err(|err| Error::internal(err.into()))?;
    tx.commit().await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_titles() {
        assert_eq!(slug_from("Booking an appointment"), "booking-an-appointment");
        assert_eq!(
            slug_from("  PHQ-9: what the score means? "),
            "phq-9-what-the-score-means"
        );
        assert_eq!(slug_from("Über"), "ber");
        assert!(is_slug("a-b-1", 120));
        assert!(!is_slug("a--b", 120));
        assert!(!is_slug("-a", 120));
        assert!(!is_slug("A", 120));
    }

    #[test]
    fn every_broken_rule_is_named() {
        let input = ArticleInput {
            slug: "Not A Slug".to_owned(),
            title: String::new(),
            summary: "x".repeat(501),
            body_markdown: " ".to_owned(),
            category: "nowhere".to_owned(),
            tags: "ok".to_owned(),
            page_keys: "clients.search, Ada Ferndale".to_owned(),
        };
        let problems = validate(&input, &[]).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_ref()).collect();
        assert_eq!(
            fields,
            ["title", "slug", "summary", "body_markdown", "category", "page_keys"]
        );
        let untitled = ArticleInput {
            body_markdown: "Body".to_owned(),
            ..ArticleInput::default()
        };
        let problems = validate(&untitled, &[]).unwrap_err();
        assert_eq!(
            problems.iter().map(|p| p.field.as_ref()).collect::<Vec<_>>(),
            ["title"],
            "no slug problem for a slug that would come from the missing title"
        );
    }

    #[test]
    fn lists_are_trimmed_lowered_and_a_missing_slug_comes_from_the_title() {
        let input = ArticleInput {
            title: "Safe contact".to_owned(),
            body_markdown: "Body".to_owned(),
            tags: "Privacy, , reminders\nEmail".to_owned(),
            page_keys: "clients.search\nclients.new".to_owned(),
            ..ArticleInput::default()
        };
        let fields = validate(&input, &[]).unwrap();
        assert_eq!(fields.slug, "safe-contact");
        assert_eq!(fields.tags, ["privacy", "reminders", "email"]);
        assert_eq!(fields.page_keys, ["clients.search", "clients.new"]);
    }

    #[test]
    fn only_real_images_are_taken() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
        ];
        assert_eq!(image_type(&png), Some("image/png"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
        assert_eq!(image_type(b"%PDF-1.4"), None);
    }
}

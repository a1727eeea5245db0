//! Documents (SPEC module 5): files attached to a client or a note. Uploads stream: the
//! type is decided from the content (not the name) against an allowlist, the size is
//! capped as the bytes arrive, the name is sanitised, and the content is sealed in chunks
//! under the document's own key before it reaches the storage layer, which puts it on
//! local disk or (only for `hipaa_exempt` records of an organisation that allows it) on
//! S3-compatible storage. Downloads stream back as attachments. Every upload and download
//! is audited. See docs/documents.md.

pub mod api;
pub mod config;
pub mod content;
mod manifest;
pub mod pages;
pub mod service;
pub mod store;

pub use manifest::module;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clients::ClientId;
use crate::clinical::NoteId;
use crate::compliance::storage::Target;
use crate::identity::UserId;

/// The types accepted, as detected from the first bytes: (MIME type, what people call it).
pub const ALLOWED_TYPES: &[(&str, &str)] = &[
    ("application/pdf", "PDF"),
    ("image/png", "PNG"),
    ("image/jpeg", "JPEG"),
    ("image/webp", "WebP"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "Word (.docx)",
    ),
];

/// The content's type when it is one we accept.
pub fn sniff(head: &[u8]) -> Result<&'static str, String> {
    let detected = infer::get(head).map(|t| t.mime_type());
    ALLOWED_TYPES
        .iter()
        .find(|(mime, _)| Some(*mime) == detected)
        .map(|(mime, _)| *mime)
        .ok_or_else(|| {
            let names: Vec<&str> = ALLOWED_TYPES.iter().map(|(_, name)| *name).collect();
            format!(
                "only {} files are accepted; this file's content is {}",
                names.join(", "),
                detected.unwrap_or("not a recognised type")
            )
        })
}

/// A file name that is safe to store and to offer back: no path, no control or reserved
/// characters, at most 150 characters, never empty.
pub fn clean_name(given: &str) -> String {
    let base = given.rsplit(['/', '\\']).next().unwrap_or(given).trim();
    let cleaned = sanitize_filename::sanitize_with_options(
        base,
        sanitize_filename::Options {
            windows: true,
            truncate: true,
            replacement: "_",
        },
    );
    let trimmed: String = cleaned.trim().trim_start_matches('.').chars().take(150).collect();
    if trimmed.chars().all(|c| c == '_') {
        "document".to_owned()
    } else {
        trimmed
    }
}

crate::typed_id!(
    /// A document in a client's record.
    DocumentId
);

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Document {
    pub id: DocumentId,
    pub client_id: ClientId,
    pub note_id: Option<NoteId>,
    pub name: String,
    pub content_type: String,
    pub byte_size: i64,
    /// `local` or `cloud`.
    pub target: Target,
    pub hipaa_exempt: bool,
    pub uploaded_by: UserId,
    pub uploaded_at: DateTime<Utc>,
}

crate::redacted_debug!(Document {
    id,
    client_id,
    note_id,
    content_type,
    byte_size,
    target,
    hipaa_exempt
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_content_not_the_name() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), Ok("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Ok("image/png"));
        let refused = sniff(b"<html><script>alert(1)</script>").unwrap_err();
        assert!(refused.contains("only PDF, PNG"), "{refused}");
        assert!(sniff(b"MZ\x90\0\x03\0\0\0").unwrap_err().contains("application/"));
    }

    #[test]
    fn names_lose_paths_and_dangerous_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\me\\referral.pdf"), "referral.pdf");
        assert_eq!(clean_name("a<b>c:d\"e|f?g*h.pdf"), "a_b_c_d_e_f_g_h.pdf");
        assert_eq!(clean_name("report\u{0}\n.pdf"), "report__.pdf");
        assert_eq!(clean_name(".hidden"), "hidden");
        assert_eq!(clean_name("   "), "document");
        assert_eq!(clean_name(&"x".repeat(400)).len(), 150);
    }
}

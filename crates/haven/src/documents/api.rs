//! `/api/v1/clients/{id}/documents` and `/api/v1/documents/{id}/content`.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::service::{self, UploadOptions};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::compliance::storage::Target;
use crate::documents::DocumentId;
use crate::error::Error;
use crate::web::form::{Problems, Submitted};
use crate::web::openapi::ErrorEnvelope;
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/api/v1/clients/{id}/documents", list)
        // The size cap is applied while the upload streams (document_max_size).
        .add(
            Access::Full,
            Method::POST,
            "/api/v1/clients/{id}/documents",
            upload.layer(DefaultBodyLimit::disable()),
        )
        .add(Access::Full, Method::GET, "/api/v1/documents/{id}/content", content)
}

/// `note_id` and `target` from the query string.
pub fn upload_options(params: &[(String, String)]) -> Result<UploadOptions, Error> {
    let params = Submitted(params.to_vec());
    let mut problems = Problems::default();
    let note_id = problems.id("note_id", params.get("note_id"));
    let target = problems.choice("target", params.get("target"), Target::parse, Target::choices);
    problems.check()?;
    Ok(UploadOptions { note_id, target })
}

/// The client's documents, newest first.
#[utoipa::path(get, path = "/api/v1/clients/{id}/documents", tag = "documents",
    params(("id" = Uuid, Path, description = "The client")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Documents", body = Vec<super::Document>),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy", body = ErrorEnvelope),
        (status = 404, description = "No such client", body = ErrorEnvelope),
    ))]
pub(crate) async fn list(caller: Actor, Path(id): Path<ClientId>) -> Result<Response, Error> {
    Ok(Json(service::list(&caller, id).await?.into_inner()).into_response())
}

/// The upload form (read field by field as it streams; this is its shape).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct UploadForm {
    /// The document's bytes, with its file name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload a document (multipart field `file`): PDF, PNG, JPEG, WebP or Word (.docx), as
/// decided from its content; at most `document_max_size`. `note_id` attaches it to a
/// draft note of the client; `target` asks for `local` or `cloud`, and the storage layer
/// refuses the cloud for records whose storage policy is `local_only`.
#[utoipa::path(post, path = "/api/v1/clients/{id}/documents", tag = "documents",
    params(
        ("id" = Uuid, Path, description = "The client"),
        ("note_id" = Option<Uuid>, Query, description = "A draft note of the client to attach it to"),
        ("target" = Option<String>, Query, description = "local or cloud (default: by storage policy)"),
    ),
    request_body(content = UploadForm, content_type = "multipart/form-data", description = "The field `file`"),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = super::Document),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy or the storage policy, from outside approved networks, or a missing CSRF token", body = ErrorEnvelope),
        (status = 404, description = "No such client", body = ErrorEnvelope),
        (status = 409, description = "The note is signed", body = ErrorEnvelope),
        (status = 413, description = "Larger than document_max_size", body = ErrorEnvelope),
        (status = 422, description = "No file, an empty one, or a type not accepted", body = ErrorEnvelope),
    ))]
pub(crate) async fn upload(
    caller: Actor,
    Path(id): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
    multipart: Multipart,
) -> Result<Response, Error> {
    let options = upload_options(&params)?;
    let document = service::upload(&caller, id, &options, multipart).await?;
    let location = format!("/api/v1/documents/{}/content", document.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(document)).into_response())
}

/// RFC 5987 `attr-char`: what may stay unencoded in `filename*`.
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with an ASCII fallback name and the exact name in RFC 5987 form.
pub fn disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(name, ATTR_CHAR);
    HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The document's content, streamed as an attachment.
pub async fn send(caller: &Actor, id: DocumentId) -> Result<Response, Error> {
    let download = service::download(caller, id).await?.into_inner();
    let d = &download.document;
    let mut response = download.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&d.content_type).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition(&d.name));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(d.byte_size));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// Download a document: streamed, `Content-Disposition: attachment`, `nosniff`, never
/// cached; recorded in the audit trail before the first byte.
#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents",
    params(("id" = Uuid, Path, description = "The document")),
    security(("session" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The file"),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Refused by the policy, or from outside approved networks", body = ErrorEnvelope),
        (status = 404, description = "No such document", body = ErrorEnvelope),
    ))]
pub(crate) async fn content(caller: Actor, Path(id): Path<DocumentId>) -> Result<Response, Error> {
    send(&caller, id).await
}

//! The chart's documents tab: the list with downloads, and the upload form (multipart,
//! its form token in the query because the body streams straight to storage).

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query};
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::api::upload_options;
use super::{ALLOWED_TYPES, Document, service};
use crate::actor::Actor;
use crate::clients::ClientId;
use crate::clients::chart::ChartHead;
use crate::documents::DocumentId;
use crate::error::Error;
use crate::policy::Action;
use crate::web::form::sentence;
use crate::web::page::{Chrome, render, render_with_status};
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .add(Access::Full, Method::GET, "/clients/{id}/documents", documents_tab)
        // The size cap is applied while the upload streams (document_max_size).
        .add(
            Access::Full,
            Method::POST,
            "/clients/{id}/documents",
            upload_form.layer(DefaultBodyLimit::disable()),
        )
        .add(Access::Full, Method::GET, "/documents/{id}", download)
}

struct DocumentLine {
    document: Document,
    size: String,
    when: String,
}

#[derive(Template)]
#[template(path = "documents/documents_tab.html")]
struct DocumentsTab {
    chrome: Chrome,
    head: ChartHead,
    documents: Vec<DocumentLine>,
    can_upload: bool,
    accepted: String,
    max_size: String,
    error: Option<String>,
}

/// A size as people read it ("1.5 MiB").
fn human_size(bytes: i64) -> String {
    bytesize::ByteSize::b(u64::try_from(bytes).unwrap_or_default()).to_string()
}

async fn tab(caller: &Actor, client: ClientId, error: Option<String>) -> Result<DocumentsTab, Error> {
    let head = crate::clients::chart::head(caller, client, "documents").await?;
    let zone = caller.zone().await?;
    let documents = service::list(caller, client)
        .await?
        .into_inner()
        .into_iter()
        .map(|document| DocumentLine {
            size: human_size(document.byte_size),
            when: crate::web::time::show(document.uploaded_at, zone, crate::web::time::Style::DateTime),
            document,
        })
        .collect();
    Ok(DocumentsTab {
        chrome: caller.chrome().await?.at("clients"),
        can_upload: caller.may(&Action::UploadDocument(crate::policy::DocumentFacts {
            client: head.facts,
            note: None,
        })),
        head,
        documents,
        accepted: ALLOWED_TYPES
            .iter()
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(", "),
        max_size: caller.config().documents.max_size.to_string(),
        error,
    })
}

async fn documents_tab(
    caller: Actor,
    Path(client): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let mut page = tab(&caller, client, None).await?;
    if params.iter().any(|(k, v)| k == "done" && v == "uploaded") {
        page.chrome = page.chrome.toast(Some("Document uploaded.".to_owned()));
    }
    render(&page)
}

async fn upload_form(
    caller: Actor,
    Path(client): Path<ClientId>,
    Query(params): Query<Vec<(String, String)>>,
    multipart: Multipart,
) -> Result<Response, Error> {
    let options = upload_options(&params)?;
    match service::upload(&caller, client, &options, multipart).await {
        Ok(document) => Ok(match document.note_id {
            Some(note) => Redirect::to(&format!("/notes/{note}/edit?done=uploaded")),
            None => Redirect::to(&format!("/clients/{client}/documents?done=uploaded")),
        }
        .into_response()),
        // Shown on the tab again, with what went wrong; the body may not have been read
        // to its end, so the answer closes the connection.
        Err(error @ (Error::Invalid(_) | Error::TooLarge(_))) => {
            let (status, message) = match &error {
                Error::Invalid(problems) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    problems
                        .iter()
                        .map(|p| p.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                _ => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "The file is larger than {}, the most Haven accepts.",
                        caller.config().documents.max_size
                    ),
                ),
            };
            let message = sentence(&message);
            let mut response = render_with_status(status, &tab(&caller, client, Some(message)).await?)?;
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

async fn download(caller: Actor, Path(id): Path<DocumentId>) -> Result<Response, Error> {
    super::api::send(&caller, id).await
}

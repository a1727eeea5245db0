//! The one place where errors become responses.
//!
//! Handlers and services return the domain [`Error`]; its `IntoResponse`, here, picks the
//! status and the stable `error_code`, logs the cause and location of server-side
//! failures inside the request's span, and attaches an [`ErrorReport`] to an empty
//! response. The edge middleware
//! ([`super::edge`]) then renders every error response the same way: the JSON envelope
//! for API clients, a friendly page for browsers, both with the request id. Responses
//! made by the framework or by tower layers (unknown route, wrong method, body too large,
//! timeout) carry no report and get one derived from their status.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Error;

/// What the client is told about a failed request. Never holds the cause.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ErrorReport {
    fn plain(code: &'static str, message: &str) -> Self {
        Self {
            code,
            message: message.to_owned(),
            details: None,
        }
    }

    /// The report for an error response that carries none of its own.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::BAD_REQUEST => ("bad_request", "The request could not be understood."),
            StatusCode::UNAUTHORIZED => ("unauthenticated", "Sign in to continue."),
            StatusCode::FORBIDDEN => ("forbidden", "You do not have access to this."),
            StatusCode::NOT_FOUND => ("not_found", "There is no such page or resource."),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "This address does not accept that method."),
            StatusCode::REQUEST_TIMEOUT => ("request_timeout", "The request took too long and was stopped."),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                "The request body is larger than this server accepts.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "The request body has a content type this address does not accept.",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => ("invalid_input", "The request body is not valid."),
            StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "Too many requests; wait a moment and try again."),
            StatusCode::SERVICE_UNAVAILABLE => {
                ("service_unavailable", "The service is unavailable; try again shortly.")
            }
            s if s.is_server_error() => (
                "internal_error",
                "Something went wrong on our side. It has been logged.",
            ),
            _ => ("request_failed", "The request failed."),
        };
        Self {
            code,
            message: message.to_owned(),
            details: None,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, report) = self.report();
        let mut response = status.into_response();
        if let Self::RateLimited { retry_after_secs, .. } = &self
            && let Ok(value) = axum::http::HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(report);
        response
    }
}

/// The status and what the client is told for each error; logs the cause of server-side
/// failures with where they were raised.
trait Report {
    fn report(&self) -> (StatusCode, ErrorReport);
}

impl Report for Error {
    fn report(&self) -> (StatusCode, ErrorReport) {
        match self {
            Self::NotFound => (StatusCode::NOT_FOUND, ErrorReport::for_status(StatusCode::NOT_FOUND)),
            Self::UnknownTenant => (
                StatusCode::NOT_FOUND,
                ErrorReport {
                    code: "unknown_tenant",
                    message: "No organisation is served at this host name.".to_owned(),
                    details: None,
                },
            ),
            Self::Malformed(message) => (StatusCode::BAD_REQUEST, ErrorReport::plain("bad_request", message)),
            Self::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                ErrorReport::for_status(StatusCode::UNAUTHORIZED),
            ),
            Self::Rejected { code, message } => (
                StatusCode::UNAUTHORIZED,
                ErrorReport {
                    code,
                    message: message.clone(),
                    details: None,
                },
            ),
            Self::Forbidden { code, message } => (
                StatusCode::FORBIDDEN,
                ErrorReport {
                    code,
                    message: message.clone(),
                    details: None,
                },
            ),
            Self::Invalid(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorReport {
                    code: "validation_failed",
                    message: format!(
                        "Please correct: {}.",
                        fields
                            .iter()
                            .map(|f| format!("{} {}", f.field, f.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    details: Some(serde_json::json!({ "fields": fields })),
                },
            ),
            Self::TooLarge(message) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorReport::plain("payload_too_large", message),
            ),
            Self::WrongMediaType(message) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorReport::plain("unsupported_media_type", message),
            ),
            Self::Conflict { code, message } => (StatusCode::CONFLICT, ErrorReport::plain(code, message)),
            Self::RateLimited { message, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorReport {
                    code: "rate_limited",
                    message: message.clone(),
                    details: None,
                },
            ),
            Self::Unavailable { code, message, details } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorReport {
                    code,
                    message: message.clone(),
                    details: details.clone(),
                },
            ),
            Self::DatabaseUnavailable { cause, location } => {
                tracing::error!(error = %cause, at = %location, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorReport {
                        code: "database_unavailable",
                        message: "The database is unavailable; try again shortly.".to_owned(),
                        details: None,
                    },
                )
            }
            Self::Internal { cause, location } => {
                tracing::error!(error = format!("{cause:#}"), at = %location, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorReport::for_status(StatusCode::INTERNAL_SERVER_ERROR),
                )
            }
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    status: &'static str,
    error_code: &'static str,
    message: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// Renders the body of an error response as JSON or as an HTML page.
pub fn render(status: StatusCode, report: &ErrorReport, request_id: &str, html: bool) -> Response {
    let mut response = if html {
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: &report.message,
            request_id,
        };
        match page.render() {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                body,
            )
                .into_response(),
            Err(_) => render_json(report, request_id),
        }
    } else {
        render_json(report, request_id)
    };
    *response.status_mut() = status;
    response
}

fn render_json(report: &ErrorReport, request_id: &str) -> Response {
    let envelope = Envelope {
        status: "error",
        error_code: report.code,
        message: &report.message,
        request_id,
        details: report.details.as_ref(),
    };
    let body = serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{\"status\":\"error\"}".to_vec());
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

//! The one error every service returns.
//!
//! Services say what went wrong in the domain's words (not found, forbidden with a
//! reason, invalid input with each field's problem, a conflict, unavailable, an internal
//! failure with where it was raised); they never choose an HTTP status. The web kit
//! (`web::error`) alone turns an [`Error`] into the JSON envelope or the error page, and
//! logs the cause and location of an internal failure in the request's span.

use std::borrow::Cow;
use std::panic::Location;

/// What went wrong, for the person or program that asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such record, or one the caller may not know exists.
    #[error("not found")]
    NotFound,
    /// The request names no organisation served here.
    #[error("no organisation is served at this host name")]
    UnknownTenant,
    /// Input that cannot be read at all (not JSON, a malformed id in a path).
    #[error("malformed input: {0}")]
    Malformed(String),
    /// Nobody is signed in.
    #[error("not signed in")]
    Unauthenticated,
    /// Credentials or a code that did not check out; `code` says which.
    #[error("rejected: {code}")]
    Rejected { code: &'static str, message: String },
    /// Refused by the policy or by a security rule; `code` says which.
    #[error("forbidden: {code}")]
    Forbidden { code: &'static str, message: String },
    /// Input that breaks a rule: each field with what is wrong with it.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The request clashes with the record's state (a stale save, a taken name).
    #[error("conflict: {code}: {message}")]
    Conflict { code: &'static str, message: String },
    /// An upload larger than its limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A body in a format the address does not take (not JSON where JSON is asked).
    #[error("unsupported media type: {0}")]
    WrongMediaType(String),
    /// Too many attempts; try again after `retry_after_secs`.
    #[error("rate limited")]
    RateLimited { message: String, retry_after_secs: u64 },
    /// A part the request needs is not working (the audit trail, mail, a store).
    #[error("unavailable: {message}")]
    Unavailable {
        code: &'static str,
        message: String,
        details: Option<serde_json::Value>,
    },
    /// The database did not answer (pool exhausted, connection lost).
    #[error("database unavailable: {cause}")]
    DatabaseUnavailable {
        #[source]
        cause: sqlx::Error,
        location: &'static Location<'static>,
    },
    /// A bug or an unexpected failure; the cause and where it was raised go to the log.
    #[error("internal error at {location}: {cause:#}")]
    Internal {
        cause: anyhow::Error,
        location: &'static Location<'static>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An internal failure, remembering where it was raised.
    #[track_caller]
    pub fn internal(cause: anyhow::Error) -> Self {
        Self::Internal {
            cause,
            location: Location::caller(),
        }
    }

    /// A conflict with the generic code `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            code: "conflict",
            message: message.into(),
        }
    }

    /// One field's problem, as a whole invalid-input error.
    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    /// A refusal by a rule, with a stable code and a sentence for people.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for Error {
    #[track_caller]
    fn from(cause: anyhow::Error) -> Self {
        Self::internal(cause)
    }
}

impl From<sqlx::Error> for Error {
    #[track_caller]
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                Self::DatabaseUnavailable {
                    cause: err,
                    location: Location::caller(),
                }
            }
            other => Self::internal(anyhow::Error::new(other)),
        }
    }
}

impl From<askama::Error> for Error {
    #[track_caller]
    fn from(err: askama::Error) -> Self {
        Self::internal(anyhow::Error::new(err))
    }
}

/// One field's problem, e.g. `email`: "must be an email address".
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name; items of a list are named like `identifiers[1].value`.
    #[schema(value_type = String)]
    pub field: Cow<'static, str>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A form's problems, shown next to their fields by the page that shows the form again.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// The problem with `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

impl From<Vec<FieldError>> for FieldErrors {
    fn from(errors: Vec<FieldError>) -> Self {
        Self(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn an_internal_error_remembers_where_it_was_raised() {
        let line = line!() + 1;
        let err = Error::internal(anyhow::anyhow!("boom"));
        let Error::Internal { location, .. } = &err else {
            panic!("not internal: {err:?}");
        };
        assert_eq!(location.file(), file!());
        assert_eq!(location.line(), line);
    }

    #[test]
    fn the_question_mark_records_the_line_that_failed() {
        fn fails() -> Result<(), Error> {
            Err(anyhow::anyhow!("boom"))?;
            Ok(())
        }
        let line = line!() - 3;
        let Err(Error::Internal { location, .. }) = fails() else {
            panic!("expected an internal error");
        };
        assert_eq!(location.line(), line);
    }
}

//! JSON in and out of the API. In: a body whose mistakes are named, a field of the
//! wrong type or a missing one becomes a 422 `validation_failed` naming that field, like
//! every other bad input. Out: a body written whole into a buffer that each thread keeps,
//! so that a page of a hundred records is not copied into ever larger buffers as it
//! grows.

use std::cell::RefCell;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};

use crate::error::{Error, FieldError};

/// A JSON request body (as an extractor) or response body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

thread_local! {
    static BODY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What a thread's buffer may keep between responses; a larger body's buffer is let go.
const KEPT: usize = 256 * 1024;

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        let body = BODY.with_borrow_mut(|buffer| {
            buffer.clear();
            let written = serde_json::to_writer(&mut *buffer, &self.0).map(|()| Bytes::copy_from_slice(buffer));
            if buffer.capacity() > KEPT {
                *buffer = Vec::new();
            }
            written
        });
        match body {
            Ok(body) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(err) => Error::internal(anyhow::Error::new(err).context("writing a JSON response")).into_response(),
        }
    }
}

/// A date as `YYYY-MM-DD`, as chrono writes it for years 0 to 9999, without going
/// through the formatting machinery for each of a page's hundred dates. For
/// `#[serde(serialize_with = "...")]` on an `Option<NaiveDate>`.
pub fn optional_date<S: Serializer>(date: &Option<chrono::NaiveDate>, serializer: S) -> Result<S::Ok, S::Error> {
    use chrono::Datelike;
    let Some(date) = date else {
        return serializer.serialize_none();
    };
    let Ok(year) = u16::try_from(date.year()) else {
        return date.serialize(serializer);
    };
    if year > 9999 {
        return date.serialize(serializer);
    }
    let digit = |n: u32| b'0' + u8::try_from(n % 10).unwrap_or(0);
    let year = u32::from(year);
    let text = [
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'-',
        digit(date.month() / 10),
        digit(date.month()),
        b'-',
        digit(date.day() / 10),
        digit(date.day()),
    ];
    match std::str::from_utf8(&text) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => date.serialize(serializer),
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.ends_with("+json")
            });
        if !is_json {
            return Err(Error::WrongMediaType(
                "Send the body as JSON, with Content-Type: application/json.".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| Error::Malformed("The request body could not be read.".to_owned()))?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses `bytes`; a syntax error is a 400, a value that does not fit is a 422 naming
/// the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Error::Malformed(format!("The body is not valid JSON: {inner}."));
        }
        let message = inner.to_string();
        // serde says "missing field `x` at line 1 column 2": name `x` as the field.
        if let Some(rest) = message.strip_prefix("missing field `")
            && let Some(name) = rest.split('`').next()
        {
            let field = if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            return Error::Invalid(vec![FieldError::new(field, "is required")]);
        }
        // "unknown field `x`, expected one of ...": name `x`, and say what is taken.
        if let Some(rest) = message.strip_prefix("unknown field `")
            && let Some((name, expected)) = rest.split_once('`')
        {
            // The path already ends with the unknown field's name.
            let field = if path == "." { name.to_owned() } else { path };
            let expected = expected.split(" at line ").next().unwrap_or_default();
            let takes = expected.trim_start_matches(", ").replace('`', "");
            return Error::Invalid(vec![FieldError::new(
                field,
                format!("is not a field of this body ({takes})"),
            )]);
        }
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        let field = if path == "." { "body".to_owned() } else { path };
        Error::Invalid(vec![FieldError::new(field, message)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Person {
        name: String,
        contacts: Vec<Contact>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Contact {
        phone: String,
    }

    fn field_of(result: Result<Person, Error>) -> String {
        match result {
            Err(Error::Invalid(fields)) => fields[0].field.to_string(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        name: String,
    }

    #[test]
    fn an_unknown_field_is_named_with_what_the_body_takes() {
        let Err(Error::Invalid(fields)) = parse::<Strict>(br#"{"name": "Ada", "nmae": "x"}"#) else {
            panic!("expected a validation error");
        };
        assert_eq!(fields[0].field, "nmae");
        assert_eq!(
            fields[0].message,
            "is not a field of this body (expected `name`)".replace('`', "")
        );
    }

    #[test]
    fn names_the_field_that_does_not_fit() {
        assert_eq!(field_of(parse(br#"{"name": 5, "contacts": []}"#)), "name");
        assert_eq!(
            field_of(parse(
                br#"{"name": "A", "contacts": [{"phone": "1"}, {"phone": true}]}"#
            )),
            "contacts[1].phone"
        );
        assert_eq!(field_of(parse(br#"{"contacts": []}"#)), "name");
        assert_eq!(
            field_of(parse(br#"{"name": "A", "contacts": [{}]}"#)),
            "contacts[0].phone"
        );
    }

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        #[derive(serde::Serialize)]
        struct Born(#[serde(serialize_with = "optional_date")] Option<chrono::NaiveDate>);
        for (y, m, d) in [(1900, 1, 1), (1987, 12, 31), (2024, 2, 29), (0, 3, 9), (9999, 12, 31)] {
            let date = chrono::NaiveDate::from_ymd_opt(y, m, d);
            assert_eq!(
                serde_json::to_string(&Born(date)).ok(),
                serde_json::to_string(&date).ok(),
                "{y}-{m}-{d}"
            );
        }
        for outside in [
            chrono::NaiveDate::from_ymd_opt(-44, 3, 15),
            chrono::NaiveDate::from_ymd_opt(12345, 1, 1),
        ] {
            assert_eq!(
                serde_json::to_string(&Born(outside)).ok(),
                serde_json::to_string(&outside).ok()
            );
        }
        assert_eq!(serde_json::to_string(&Born(None)).ok().as_deref(), Some("null"));
    }

    #[tokio::test]
    async fn a_response_body_is_the_value_as_json_whatever_the_buffer_held_before() {
        let big = "x".repeat(KEPT * 2);
        for value in [
            serde_json::json!({"a": big}),
            serde_json::json!([1, "two"]),
            serde_json::json!({"a": "b"}),
        ] {
            let response = ApiJson(&value).into_response();
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
            let body = body.map(|b| b.to_vec()).unwrap_or_default();
            assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).ok(), Some(value));
        }
        assert!(BODY.with_borrow(Vec::capacity) <= KEPT);
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(parse::<Person>(b"{\"name\": "), Err(Error::Malformed(_))));
        assert!(matches!(parse::<Person>(b"not json"), Err(Error::Malformed(_))));
    }
}

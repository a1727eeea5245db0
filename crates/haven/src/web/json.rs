//! A JSON body whose mistakes are named: a field of the wrong type or a missing one
//! becomes a 422 `validation_failed` naming that field, like every other bad input.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::{Error, FieldError};

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

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
    fn broken_json_is_a_bad_request() {
        assert!(matches!(parse::<Person>(b"{\"name\": "), Err(Error::Malformed(_))));
        assert!(matches!(parse::<Person>(b"not json"), Err(Error::Malformed(_))));
    }
}

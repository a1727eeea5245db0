//! API query strings are exact: a parameter the operation does not declare in the
//! OpenAPI document is refused with a 422 naming it and the parameters the operation
//! takes, before the handler runs. An integrator who writes `?limit=100` where the
//! operation takes `per_page` learns so at once instead of getting 25 rows.
//!
//! The document is the one list of what each operation takes, so the rule cannot drift
//! from it: a handler that reads a parameter the document does not declare sees it
//! refused in the first test that sends it. Pages (outside `/api/`) are not held to
//! this: browsers and links add parameters of their own.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::ParameterIn;

use crate::error::{Error, FieldError};
use crate::state::AppState;

/// The query parameters each API operation declares, by path template and method.
#[derive(Debug, Default)]
pub struct QueryNames(HashMap<String, HashMap<Method, BTreeSet<String>>>);

impl QueryNames {
    /// Read from the OpenAPI document.
    pub fn of(document: &utoipa::openapi::OpenApi) -> Self {
        let mut names: HashMap<String, HashMap<Method, BTreeSet<String>>> = HashMap::new();
        for (path, item) in &document.paths.paths {
            let operations = [
                (Method::GET, item.get.as_ref()),
                (Method::POST, item.post.as_ref()),
                (Method::PUT, item.put.as_ref()),
                (Method::PATCH, item.patch.as_ref()),
                (Method::DELETE, item.delete.as_ref()),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let declared = operation
                    .parameters
                    .iter()
                    .flatten()
                    .filter(|p| p.parameter_in == ParameterIn::Query)
                    .map(|p| p.name.clone())
                    .collect();
                names.entry(path.clone()).or_default().insert(method, declared);
            }
        }
        Self(names)
    }

    /// The parameters of `query` that the operation at `method` `path` does not take,
    /// each once, in the order sent; `Err` lists what it does take.
    pub fn check(&self, method: &Method, path: &str, query: &str) -> Result<(), Vec<FieldError>> {
        let method = if method == Method::HEAD { &Method::GET } else { method };
        let empty = BTreeSet::new();
        let declared = self.0.get(path).and_then(|m| m.get(method)).unwrap_or(&empty);
        let mut unknown: Vec<String> = Vec::new();
        for (name, _) in url::form_urlencoded::parse(query.as_bytes()) {
            if !declared.contains(name.as_ref()) && !unknown.iter().any(|u| u == name.as_ref()) {
                unknown.push(name.into_owned());
            }
        }
        if unknown.is_empty() {
            return Ok(());
        }
        let takes = if declared.is_empty() {
            "this operation takes no query parameters".to_owned()
        } else {
            format!(
                "this operation takes {}",
                declared.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
            )
        };
        Err(unknown
            .into_iter()
            .map(|name| FieldError::new(name, format!("is not a query parameter of this operation ({takes})")))
            .collect())
    }
}

/// Route layer: refuses an API request whose query string names a parameter its
/// operation does not declare.
pub async fn refuse_unknown(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    if let (Some(matched), Some(query)) = (matched, request.uri().query())
        && matched.as_str().starts_with("/api/")
        && let Err(fields) = state
            .modules
            .query_names()
            .check(request.method(), matched.as_str(), query)
    {
        return Error::Invalid(fields).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> QueryNames {
        let mut map: HashMap<String, HashMap<Method, BTreeSet<String>>> = HashMap::new();
        map.entry("/api/v1/clients".to_owned()).or_default().insert(
            Method::GET,
            ["page", "per_page", "q"].into_iter().map(str::to_owned).collect(),
        );
        map.entry("/api/v1/clients/{id}".to_owned())
            .or_default()
            .insert(Method::GET, BTreeSet::new());
        QueryNames(map)
    }

    #[test]
    fn declared_parameters_pass_and_unknown_ones_are_named_once_each() {
        let names = names();
        assert!(names.check(&Method::GET, "/api/v1/clients", "q=ada&per_page=5").is_ok());
        assert!(names.check(&Method::HEAD, "/api/v1/clients", "page=2").is_ok());
        let refused = names
            .check(&Method::GET, "/api/v1/clients", "limit=100&q=a&limit=5&sort%5B%5D=x")
            .unwrap_err();
        let fields: Vec<&str> = refused.iter().map(|f| f.field.as_ref()).collect();
        assert_eq!(fields, ["limit", "sort[]"]);
        assert!(
            refused[0].message.contains("page, per_page, q"),
            "{}",
            refused[0].message
        );
        let none = names.check(&Method::GET, "/api/v1/clients/{id}", "x=1").unwrap_err();
        assert!(none[0].message.contains("takes no query parameters"));
    }
}

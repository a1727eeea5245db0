//! The API contract, checked on every answer. Each response from `/api/` that an
//! integration test receives passes through [`Contract::layer`], outside all of Haven's
//! own layers, and is held to the OpenAPI document the app serves: the operation is
//! documented, the status is documented for it, the content type is one the document
//! names, and the body is valid against the schema (a JSON Schema 2020-12 validator,
//! not Haven's code). What breaks the contract is recorded and fails the test when its
//! `TestApp` is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

/// Routes under `/api/` that are not operations: the document itself and its page.
const NOT_OPERATIONS: [&str; 2] = ["/api/openapi.json", "/api/docs"];

pub struct Contract {
    document: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    violations: Mutex<Vec<String>>,
}

impl Contract {
    pub fn new(document: Value) -> Arc<Self> {
        Arc::new(Self {
            document,
            validators: Mutex::default(),
            violations: Mutex::default(),
        })
    }

    /// The contract of a running app: the document it serves.
    pub fn of(modules: &haven::module::Modules) -> Arc<Self> {
        Self::new(serde_json::from_slice(&modules.openapi_json()).expect("the served document is JSON"))
    }

    /// The layer that checks every `/api/` answer.
    pub fn layer(self: &Arc<Self>) -> impl FnOnce(axum::Router) -> axum::Router + Send + 'static {
        let contract = Arc::clone(self);
        move |router| {
            router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
                let contract = Arc::clone(&contract);
                async move { contract.observe(request, next).await }
            }))
        }
    }

    async fn observe(&self, request: Request, next: Next) -> Response {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let response = next.run(request).await;
        if !path.starts_with("/api/") || NOT_OPERATIONS.contains(&path.as_str()) {
            return response;
        }
        let (parts, body) = response.into_parts();
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(err) => {
                self.record(format!("{method} {path}: the body could not be read: {err}"));
                return Response::from_parts(parts, Body::empty());
            }
        };
        let content_type = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if let Err(problem) = self.check(&method, &path, parts.status.as_u16(), content_type, &bytes) {
            self.record(format!("{method} {path} → {}: {problem}", parts.status.as_u16()));
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    fn record(&self, violation: String) {
        self.violations.lock().expect("violations").push(violation);
    }

    /// What broke the contract so far (and forgets it).
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.violations.lock().expect("violations"))
    }

    /// Checks one answer against the document.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        let Some(template) = self.template_of(path) else {
            // No documented path: only "no such route" answers are right.
            return if status == 404 {
                Ok(())
            } else {
                Err("an undocumented path".to_owned())
            };
        };
        let method_name = if method == Method::HEAD {
            "get"
        } else {
            &method.as_str().to_lowercase()
        };
        let operation = &self.document["paths"][template][method_name];
        if operation.is_null() {
            // A method the path does not take: refused by the router (405), or by the
            // body limit before routing (413).
            return if status == 405 || status == 413 {
                Ok(())
            } else {
                Err(format!("{template} documents no {method_name}"))
            };
        }
        let responses = &operation["responses"];
        let status_key = status.to_string();
        let range_key = format!("{}XX", status / 100);
        let response = [status_key.as_str(), range_key.as_str(), "default"]
            .into_iter()
            .map(|key| &responses[key])
            .find(|r| !r.is_null())
            .ok_or_else(|| {
                let documented: Vec<&String> = responses.as_object().map(|o| o.keys().collect()).unwrap_or_default();
                format!("status {status} is not documented for {method_name} {template} (documented: {documented:?})")
            })?;
        let response = self.resolve(response);
        if method == Method::HEAD {
            return Ok(());
        }
        let content = response["content"].as_object().filter(|c| !c.is_empty());
        let Some(content) = content else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "a body ({}) where the document declares none",
                    content_type.unwrap_or("no content type")
                ))
            };
        };
        let essence = content_type
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .ok_or("no content type")?;
        let media = content.get(&essence).or_else(|| content.get("*/*")).ok_or_else(|| {
            format!(
                "content type {essence} is not one of {:?}",
                content.keys().collect::<Vec<_>>()
            )
        })?;
        let Some(schema) = media.get("schema") else {
            return Ok(());
        };
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Ok(());
        }
        let instance: Value = serde_json::from_slice(body).map_err(|err| format!("the body is not JSON: {err}"))?;
        let key = format!("{method_name} {template} {status} {essence}");
        let validator = self.validator(&key, schema)?;
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .take(5)
            .map(|e| format!("at {}: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("the body does not match the schema: {}", errors.join("; ")))
        }
    }

    /// The documented path template `path` falls under: the one with the most literal
    /// segments (`/clients/search` before `/clients/{id}`).
    fn template_of(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.document["paths"]
            .as_object()?
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, template.as_str()))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, template)| template)
    }

    /// A response object, following a `$ref` into the components.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
            Some(pointer) => self.document.pointer(&format!("/{pointer}")).unwrap_or(value),
            None => value,
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(validator) = self.validators.lock().expect("validators").get(key) {
            return Ok(Arc::clone(validator));
        }
        // The schema with the document's components beside it, so that its
        // `#/components/schemas/...` references resolve.
        let mut root = serde_json::json!({ "components": self.document["components"] });
        match schema {
            Value::Object(fields) => {
                for (name, value) in fields {
                    root[name] = value.clone();
                }
            }
            other => return Err(format!("a schema that is not an object: {other}")),
        }
        let validator = Arc::new(
            jsonschema::draft202012::new(&root)
                .map_err(|err| format!("the documented schema does not compile: {err}"))?,
        );
        self.validators
            .lock()
            .expect("validators")
            .insert(key.to_owned(), Arc::clone(&validator));
        Ok(validator)
    }
}

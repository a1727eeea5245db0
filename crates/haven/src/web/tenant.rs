//! Routes each request to its organisation by the `Host` header.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::platform::tenancy::{HostName, Tenant};
use crate::state::AppState;

pub async fn resolve_tenant(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(HostName::from_header);
    match state.tenants.resolve(host.as_ref()).await {
        Ok(tenant) => {
            request.extensions_mut().insert(CurrentTenant(tenant));
            next.run(request).await
        }
        Err(err) => Error::from(err).into_response(),
    }
}

/// The organisation this request is for. Only routes behind [`resolve_tenant`] have one.
#[derive(Debug, Clone)]
pub struct CurrentTenant(pub Arc<Tenant>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentTenant>()
            .cloned()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("route is not behind tenant resolution")))
    }
}

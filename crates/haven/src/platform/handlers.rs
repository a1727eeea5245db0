//! `/api/platform/*`: operators' automation, authenticated as a service account.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::service_accounts::{self, ServiceAccount};
use super::tenancy;
use crate::error::Error;
use crate::state::AppState;
use crate::web::routes::{Access, RouteTable};

pub fn routes(table: RouteTable) -> RouteTable {
    table.add(Access::Platform, Method::GET, "/api/platform/tenants", tenants)
}

pub async fn require_service_account(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(bearer) = bearer else {
        return Error::Unauthenticated.into_response();
    };
    match service_accounts::authenticate(state.tenants.control_pool(), &bearer, state.clock.now()).await {
        Ok(account) => {
            request.extensions_mut().insert(Arc::new(account));
            next.run(request).await
        }
        Err(service_accounts::ServiceAccountError::Invalid(why)) => {
            tracing::info!(reason = %why, "service-account token refused");
            Error::Rejected {
                code: "invalid_token",
                message: "The service-account token is invalid, expired or lives too long.".to_owned(),
            }
            .into_response()
        }
        Err(service_accounts::ServiceAccountError::Database(err)) => Error::from(err).into_response(),
    }
}

/// The service account behind a platform request.
pub struct Platform(pub Arc<ServiceAccount>);

impl<S: Send + Sync> FromRequestParts<S> for Platform {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<ServiceAccount>>()
            .cloned()
            .map(Platform)
            .ok_or(Error::Unauthenticated)
    }
}

impl Platform {
    pub fn require(&self, scope: &str) -> Result<(), Error> {
        if self.0.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                code: "forbidden",
                message: format!("The service account lacks the `{scope}` scope."),
            })
        }
    }
}

/// The organisations this installation serves. Needs `platform:read`.
#[utoipa::path(get, path = "/api/platform/tenants", tag = "platform", security(("service_account" = [])),
    responses((status = 200, description = "Every tenant: slug, name, status, hosts, database", body = Tenants),
              (status = 401, description = "`invalid_token`", body = crate::web::openapi::ErrorEnvelope),
              (status = 403, description = "The account lacks `platform:read`", body = crate::web::openapi::ErrorEnvelope)))]
pub(crate) async fn tenants(State(state): State<AppState>, platform: Platform) -> Result<Response, Error> {
    platform.require("platform:read")?;
    let tenants = tenancy::list_tenants(state.tenants.control_pool()).await?;
    Ok(Json(Tenants { tenants }).into_response())
}

/// Every organisation this installation serves.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Tenants {
    tenants: Vec<tenancy::TenantRecord>,
}

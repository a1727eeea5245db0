//! The acting person ([`Actor`]) of a request: extracted from the tenant, the request's
//! origin and the signed-in identity.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::page::Chrome;
use super::tenant::CurrentTenant;
use crate::actor::Actor;
use crate::actor::RequestMeta;
use crate::error::Error;
use crate::identity::auth::Identity;
use crate::state::AppState;

impl FromRequestParts<AppState> for Actor {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let CurrentTenant(tenant) = CurrentTenant::from_request_parts(parts, state).await?;
        let meta = RequestMeta::from_request_parts(parts, state).await?;
        let identity = Identity::from_request_parts(parts, state).await?;
        Ok(Self::new(state.clone(), tenant, meta, identity))
    }
}

impl Actor {
    /// The page chrome for this person, with the organisation's zone.
    pub async fn chrome(&self) -> Result<Chrome, Error> {
        Chrome::for_user(self.modules(), &self.tenant, &self.identity).await
    }
}

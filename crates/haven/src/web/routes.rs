//! Every route is declared here with who may call it. The router is built from this
//! table, and a test walks the same table to prove that everything not on the public
//! allowlist refuses an anonymous request.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodFilter, on};

use crate::identity::auth;
use crate::state::AppState;
use crate::web::{query, tenant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Instance-wide and public: health, metrics (own token), static assets. No tenant.
    Instance,
    /// Public, for an organisation: sign-in, password reset, invitation links.
    Public,
    /// Signed in, second factor possibly pending: the second-factor pages, sign-out.
    SignedIn,
    /// Fully signed in.
    Full,
    /// Operators' automation: a service account's short-lived JWT. No tenant.
    Platform,
}

#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

#[derive(Default)]
pub struct RouteTable {
    instance: Router<AppState>,
    public: Router<AppState>,
    signed_in: Router<AppState>,
    full: Router<AppState>,
    platform: Router<AppState>,
    specs: Vec<RouteSpec>,
}

fn filter(method: &Method) -> MethodFilter {
    match *method {
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    }
}

impl RouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handler` for `method` (GET, POST, PUT, PATCH or DELETE) on `path`.
    #[must_use]
    pub fn add<H, T>(mut self, access: Access, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let route = on(filter(&method), handler);
        match access {
            Access::Instance => self.instance = self.instance.route(path, route),
            Access::Public => self.public = self.public.route(path, route),
            Access::SignedIn => self.signed_in = self.signed_in.route(path, route),
            Access::Full => self.full = self.full.route(path, route),
            Access::Platform => self.platform = self.platform.route(path, route),
        }
        self.specs.push(RouteSpec { method, path, access });
        self
    }

    /// Instance-wide public routes built elsewhere (the help centre's, which are also
    /// served by `haven help serve`).
    #[must_use]
    pub fn merge_instance(mut self, router: Router<AppState>, paths: Vec<(Method, &'static str)>) -> Self {
        self.instance = self.instance.merge(router);
        self.specs.extend(paths.into_iter().map(|(method, path)| RouteSpec {
            method,
            path,
            access: Access::Instance,
        }));
        self
    }

    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }

    /// The routes with their gates: tenant resolution for all but instance routes, then
    /// authentication as declared.
    pub fn into_router(self, state: &AppState) -> Router<AppState> {
        // Innermost on every route, so that who is asking is settled before what they
        // asked is judged: unknown API query parameters are refused after sign-in checks.
        // (A route layer on a group without routes would be a bug axum refuses.)
        let has = |access: Access| self.specs.iter().any(|spec| spec.access == access);
        let exact = |router: Router<AppState>, access: Access| {
            if has(access) {
                router.route_layer(from_fn_with_state(state.clone(), query::refuse_unknown))
            } else {
                router
            }
        };
        let public = exact(self.public, Access::Public);
        let signed_in = exact(self.signed_in, Access::SignedIn);
        let full = exact(self.full, Access::Full);
        let platform = exact(self.platform, Access::Platform);
        let instance = exact(self.instance, Access::Instance);
        let tenant_routes = public
            .merge(signed_in.route_layer(from_fn_with_state(state.clone(), auth::require_signed_in)))
            .merge(full.route_layer(from_fn_with_state(state.clone(), auth::require_full)))
            .route_layer(from_fn_with_state(state.clone(), tenant::resolve_tenant));
        let platform_routes = platform.route_layer(from_fn_with_state(
            state.clone(),
            crate::platform::handlers::require_service_account,
        ));
        instance.merge(platform_routes).merge(tenant_routes)
    }
}

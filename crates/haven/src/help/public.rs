//! The help centre's public routes, one list for both ways of running it: mounted in
//! `haven serve` beside the staff app, or alone in `haven help serve`. The front end
//! finds the same paths and answers in both.
//!
//! Before any help handler runs, the request loses every header it does not need
//! (cookies, user agent, referrer, forwarded addresses, languages) and the client
//! address the edge noted: what a handler never sees it cannot store or log.

use axum::Router;
use axum::extract::{FromRef, Request};
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::{HelpState, api, pages};

/// Routes with the paths they were added at (for the route table's allowlist test).
pub struct PublicRoutes<S> {
    router: Router<S>,
    paths: Vec<(Method, &'static str)>,
}

impl<S: Clone + Send + Sync + 'static> PublicRoutes<S> {
    fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = if method == Method::POST {
            MethodFilter::POST
        } else {
            MethodFilter::GET
        };
        self.router = self.router.route(path, on(filter, handler));
        self.paths.push((method, path));
        self
    }

    /// The router, behind the header stripping and, for `cors_origins`, CORS; and the
    /// paths it serves.
    pub fn into_parts(self, cors_origins: &[String]) -> (Router<S>, Vec<(Method, &'static str)>) {
        let mut router = self.router.layer(middleware::from_fn(strip_request));
        let origins: Vec<HeaderValue> = cors_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        if !origins.is_empty() {
            router = router.layer(cors(origins));
        }
        (router, self.paths)
    }
}

/// Every public help route.
pub fn routes<S>() -> PublicRoutes<S>
where
    S: Clone + Send + Sync + 'static,
    HelpState: FromRef<S>,
{
    PublicRoutes {
        router: Router::new(),
        paths: Vec::new(),
    }
    .add(Method::GET, "/api/help/v1/categories", api::categories)
    .add(Method::GET, "/api/help/v1/articles", api::articles)
    .add(Method::GET, "/api/help/v1/articles/{slug}", api::article)
    .add(Method::POST, "/api/help/v1/articles/{slug}/feedback", api::feedback)
    .add(Method::GET, "/api/help/v1/search", api::search)
    .add(Method::GET, "/api/help/v1/images/{id}", api::image)
    .add(Method::GET, "/help", pages::index)
    .add(Method::GET, "/help/search", pages::search)
    .add(Method::GET, "/help/categories/{slug}", pages::category)
    .add(Method::GET, "/help/articles/{slug}", pages::article)
    .add(Method::POST, "/help/articles/{slug}/feedback", pages::feedback)
}

/// The request headers a help route may read; everything else is dropped.
const KEPT_HEADERS: [HeaderName; 8] = [
    header::HOST,
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::ORIGIN,
];

async fn strip_request(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|name| !KEPT_HEADERS.contains(name))
        .cloned()
        .collect();
    for name in dropped {
        headers.remove(name);
    }
    request.extensions_mut().remove::<crate::web::edge::ClientIp>();
    next.run(request).await
}

/// Browsers on the configured origins may read the help API; never with credentials.
fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::IF_NONE_MATCH])
        .expose_headers([header::ETAG, header::LAST_MODIFIED])
        .max_age(std::time::Duration::from_secs(600))
}

//! The middleware every request passes through first and every response leaves by:
//! request id, client address, the request's log span and access-log line, metrics, the
//! error envelope, and the security headers.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use tracing::Instrument;
use uuid::Uuid;

use super::error::{ErrorReport, render};
use crate::state::AppState;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Sent on every response. No inline script or style is ever needed, so the policy has
/// no `unsafe-inline`.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// The request's id: taken from `X-Request-Id` only when a trusted proxy sent it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The address of the client, through trusted proxies.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Whether the client reached us over TLS: `public_url` is https, or a trusted proxy
/// said `X-Forwarded-Proto: https`.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub https: bool,
}

pub async fn edge(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let trusted = &state.config.trusted_proxies;
    let peer_trusted = is_trusted(peer.ip(), trusted);
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| peer_trusted && is_acceptable_request_id(id))
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
    let client_ip = client_ip(peer.ip(), request.headers(), trusted);
    if trusted.is_empty()
        && request.headers().contains_key(&X_FORWARDED_FOR)
        && is_private_or_loopback(peer.ip())
        && state.metrics.forwarded_without_trusted_proxies()
    {
        tracing::warn!(
            peer = %peer.ip(),
            "requests arrive through a proxy but trusted_proxies is empty: each counts as coming from the proxy's \
             address, which the approved networks may include; set trusted_proxies to the proxy's address"
        );
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let wants_html = wants_html(request.uri().path(), request.headers());
    let https = state.config.public_url_is_https()
        || (peer_trusted
            && request
                .headers()
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https")));
    request.extensions_mut().insert(RequestId(request_id.clone()));
    request.extensions_mut().insert(ClientIp(client_ip));
    request.extensions_mut().insert(Transport { https });

    // The span carries the route template, never the path or query: those can hold PHI.
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let response = next.run(request).instrument(span.clone()).await;

    let response = seal(response, &request_id, wants_html);

    let status = response.status();
    let elapsed = started.elapsed();
    state
        .metrics
        .observe_request(method.as_str(), &route, status.as_u16(), elapsed);
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    response
}

/// What every response leaves with: the error envelope (or page) when it is an error,
/// the security headers, `Cache-Control: no-store` unless the handler allowed caching,
/// and the request id.
pub(crate) fn seal(response: Response, request_id: &str, wants_html: bool) -> Response {
    let mut response = finish_error(response, request_id, wants_html);
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    response
}

/// Gives every error response its envelope (or page), whoever produced it.
fn finish_error(response: Response, request_id: &str, html: bool) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<super::page::OwnErrorPage>().is_some()
    {
        return response;
    }
    let report = response
        .extensions()
        .get::<ErrorReport>()
        .cloned()
        .unwrap_or_else(|| ErrorReport::for_status(status));
    let (parts, _discarded_body) = response.into_parts();
    let mut rendered = render(status, &report, request_id, html);
    // Keep headers such as Allow (405) or Retry-After (503) that the producer set.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered.into_response()
}

/// Browsers get pages; API paths and everything else get JSON.
pub(crate) fn wants_html(path: &str, headers: &HeaderMap) -> bool {
    if path.starts_with("/api/") {
        return false;
    }
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// Ids from a proxy end up in logs and the audit trail: keep them short and plain.
fn is_acceptable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A peer on a private network or this machine: where a reverse proxy usually sits.
fn is_private_or_loopback(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

/// The first address, reading `X-Forwarded-For` from the right, that is not one of our
/// trusted proxies. A header from an untrusted peer is ignored entirely.
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| item.trim().parse::<IpAddr>().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .map(|ip| ip.to_canonical())
        .find(|ip| !is_trusted(*ip, trusted))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR.clone(), HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let ip = client_ip(
            "203.0.113.9".parse().unwrap(),
            &xff("198.51.100.1"),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(ip.to_string(), "203.0.113.9");
    }

    #[test]
    fn forwarded_for_is_read_from_the_right_past_trusted_proxies() {
        let ip = client_ip(
            "10.0.0.2".parse().unwrap(),
            &xff("1.2.3.4, 198.51.100.7, 10.0.0.5"),
            &nets(&["10.0.0.0/8"]),
        );
        // 1.2.3.4 could have been written by the client itself; 198.51.100.7 was added by our proxy.
        assert_eq!(ip.to_string(), "198.51.100.7");
    }

    #[test]
    fn request_ids_are_plain_and_short() {
        assert!(is_acceptable_request_id("abc-123_x.y:z"));
        assert!(!is_acceptable_request_id(""));
        assert!(!is_acceptable_request_id("has space"));
        assert!(!is_acceptable_request_id("line\nbreak"));
        assert!(!is_acceptable_request_id(&"a".repeat(129)));
    }

    #[test]
    fn only_non_api_browser_requests_get_pages() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml"),
        );
        assert!(wants_html("/clients", &headers));
        assert!(!wants_html("/api/v1/clients", &headers));
        assert!(!wants_html("/clients", &HeaderMap::new()));
    }
}

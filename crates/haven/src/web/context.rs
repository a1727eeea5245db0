//! What handlers know about the request beyond its input: where it came from, for the
//! audit trail and the sessions page.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

pub use crate::actor::RequestMeta;

use super::edge::{ClientIp, RequestId, Transport};
use crate::error::Error;

/// Browser, OS and device type from a User-Agent header.
pub fn describe_device(user_agent: &str) -> Option<String> {
    let parsed = woothee::parser::Parser::new().parse(user_agent)?;
    let browser = match (parsed.name, parsed.version) {
        ("UNKNOWN", _) => "Unknown browser".to_owned(),
        (name, "UNKNOWN" | "") => name.to_owned(),
        (name, version) => format!("{name} {}", version.split('.').next().unwrap_or(version)),
    };
    let os = if parsed.os == "UNKNOWN" {
        "an unknown system"
    } else {
        parsed.os
    };
    let kind = match parsed.category {
        "pc" => "desktop",
        "smartphone" => "phone",
        "mobilephone" => "mobile phone",
        "crawler" => "bot",
        "appliance" => "appliance",
        _ => "device",
    };
    Some(format!("{browser} on {os} ({kind})").chars().take(200).collect())
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .ok_or_else(|| Error::internal(anyhow::anyhow!("request id missing: route not behind the edge")))?;
        let client_ip = parts
            .extensions
            .get::<ClientIp>()
            .map(|ip| ip.0)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("client address missing")))?;
        let https = parts.extensions.get::<Transport>().is_some_and(|t| t.https);
        let device = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(describe_device);
        Ok(Self {
            request_id,
            client_ip,
            device,
            https,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    #[test]
    fn devices_are_summarised_not_copied() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
        assert_eq!(
            describe_device(firefox).as_deref(),
            Some("Firefox 120 on Linux (desktop)")
        );
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
        let described = describe_device(iphone).unwrap();
        assert!(
            described.contains("Safari") && described.contains("iPhone") && described.ends_with("(phone)"),
            "{described}"
        );
    }
}

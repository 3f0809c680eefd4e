//! Cross-origin access for a front end hosted apart from the server (`CORS_ORIGINS`).
//! Off by default. Only the listed origins are allowed; a browser's preflight is
//! answered before the API key is checked (it carries none), while the real request
//! still needs the key.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Parses `CORS_ORIGINS`: each an origin as browsers send it (`scheme://host[:port]`,
/// no path, no trailing slash). `*` is refused: the API is keyed, and a wildcard
/// would let any page drive it with a key it got hold of.
pub fn parse_origins(raw: &[String]) -> anyhow::Result<Vec<HeaderValue>> {
    let mut origins = Vec::new();
    for origin in raw.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let bad = |why: &str| anyhow::anyhow!("CORS_ORIGINS: {origin:?} {why}");
        if origin == "*" {
            return Err(bad("is not allowed: list each origin"));
        }
        let url = url::Url::parse(origin).map_err(|e| bad(&format!("is not an origin ({e})")))?;
        let serialized = url.origin().ascii_serialization();
        if !matches!(url.scheme(), "http" | "https") || serialized != origin {
            return Err(bad(&format!(
                "is not an origin: write it as scheme://host[:port], e.g. {serialized}"
            )));
        }
        origins.push(HeaderValue::from_str(origin).map_err(|e| bad(&e.to_string()))?);
    }
    Ok(origins)
}

/// The layer for the listed origins; `None` when there are none.
pub fn layer(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> anyhow::Result<Vec<HeaderValue>> {
        parse_origins(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn takes_origins_and_refuses_what_is_not_one() {
        let ok = parse(&["https://app.example.com", " http://localhost:5173 ", ""]).expect("ok");
        assert_eq!(ok.len(), 2);
        for bad in [
            "*",
            "https://app.example.com/",
            "https://app.example.com/path",
            "app.example.com",
            "ftp://x.example",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
    }
}

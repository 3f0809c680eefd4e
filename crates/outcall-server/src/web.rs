//! The dashboard: the files `build.rs` built from `web/` and embedded, served at `/`.
//!
//! Vite names every file under `assets/` by its content hash, so those are cached
//! for a year; `index.html` (and other unhashed files) must be revalidated on every
//! load (`no-cache` with an `ETag`), so a new build is picked up at once. Any other
//! GET path outside the API answers `index.html`: the dashboard routes in the browser.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Relative to the dashboard's root, `/`-separated (`assets/index-Bx1.js`).
    pub path: &'static str,
    pub bytes: &'static [u8],
    /// A quoted content hash.
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether the server, not the dashboard, owns the path (unknown paths there stay JSON 404s).
fn server_path(path: &str) -> bool {
    ["/api", "/webhooks", "/media-stream", "/socket.io"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// The router's fallback: an embedded file, the dashboard for browser routes, else
/// the API's 404 or 405.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if server_path(path) || (method != Method::GET && method != Method::HEAD) {
        return ApiError::not_found("not found").into_response();
    }
    let wanted = path.trim_start_matches('/');
    let asset = match find(wanted) {
        Some(asset) => asset,
        // A missing hashed file is a stale page asking for an old build: a real 404.
        None if wanted.starts_with("assets/") => {
            return ApiError::not_found("no such dashboard file").into_response();
        }
        None => match find("index.html") {
            Some(index) => index,
            None => return ApiError::not_found("not found").into_response(),
        },
    };
    respond(asset, &method, &headers)
}

fn respond(asset: &'static Asset, method: &Method, headers: &HeaderMap) -> Response {
    let cache = if asset.path.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else if method == Method::HEAD {
        (StatusCode::OK, Body::empty())
    } else {
        (StatusCode::OK, Body::from(asset.bytes))
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    if !fresh {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(asset.path)),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.bytes.len()));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json" | "map") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_embedded_an_index_page() {
        assert!(find("index.html").is_some_and(|a| !a.bytes.is_empty()));
    }

    #[test]
    fn server_paths_are_not_the_dashboards() {
        assert!(server_path("/api/db/nope"));
        assert!(server_path("/webhooks"));
        assert!(!server_path("/apis"));
        assert!(!server_path("/calls"));
    }
}

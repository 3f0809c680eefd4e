//! The embedded dashboard at `/`: its page, its hashed assets' caching, the browser
//! routes that fall back to it, and the server paths that stay JSON.

use reqwest::Method;

use crate::support::TestServer;

/// `OUTCALL_SKIP_WEB_BUILD=1` builds a placeholder page without assets.
fn dashboard_built() -> bool {
    std::env::var("OUTCALL_SKIP_WEB_BUILD").map_or(true, |v| v != "1")
}

fn header<'a>(answer: &'a crate::support::Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header: {answer:?}"))
}

fn text(answer: &crate::support::Answer) -> &str {
    answer.body.as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_dashboard_page_is_served_at_root_and_revalidated() {
    let s = TestServer::start().await;
    let page = s.send(Method::GET, "/", None, None).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert_eq!(header(&page, "cache-control"), "no-cache");
    if dashboard_built() {
        assert!(text(&page).contains("<div id=\"app\">"), "{page:?}");
    }
    // A browser holding this version gets 304 and no body.
    let etag = header(&page, "etag").to_string();
    let again = s
        .client
        .get(format!("{}/", s.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn hashed_assets_are_cached_for_a_year() {
    if !dashboard_built() {
        return;
    }
    let s = TestServer::start().await;
    let page = s.send(Method::GET, "/", None, None).await;
    let html = text(&page);
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no script in {html}"));
    assert!(script.starts_with("/assets/"), "{script}");
    let js = s.send(Method::GET, script, None, None).await;
    assert_eq!(js.status, 200);
    assert!(header(&js, "content-type").starts_with("text/javascript"));
    assert_eq!(
        header(&js, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    // A file of another build is missing, not the page: a stale tab sees the error.
    s.send(Method::GET, "/assets/index-gone.js", None, None)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn browser_routes_get_the_page_and_server_paths_stay_json() {
    let s = TestServer::start().await;
    let root = s.send(Method::GET, "/", None, None).await;
    for path in ["/calls", "/campaigns/65a1b2c3d4e5f60718293a4b"] {
        let page = s.send(Method::GET, path, None, None).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.body, root.body, "{path}");
    }
    for path in ["/api/nope", "/webhooks/nope"] {
        let answer = s
            .send(Method::GET, path, Some(crate::support::KEY), None)
            .await;
        answer.assert_error(404, "not_found");
    }
    // Socket.IO owns its path and answers a request that is not Engine.IO itself.
    let socket = s.send(Method::GET, "/socket.io/nope", None, None).await;
    assert!(socket.status.is_client_error(), "{socket:?}");
    assert_ne!(socket.body, root.body, "never the dashboard page");
    // Only GET and HEAD read the dashboard.
    s.send(Method::POST, "/calls", None, None)
        .await
        .assert_error(404, "not_found");
    let head = s.send(Method::HEAD, "/", None, None).await;
    assert_eq!(head.status, 200);
}

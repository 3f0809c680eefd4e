//! The HTTP server: hyper's HTTP/1.1 connections, each served by the app's router,
//! with a connection policy that keeps idle connections from holding memory.
//!
//! hyper gives every HTTP/1 connection a read and a write buffer (8 KiB or more each)
//! for as long as the connection lives, also while it sits idle between requests.
//! Webhook senders open connections during a burst of calls and then leave them
//! idle: at a few hundred calls that was more memory than the calls themselves. So:
//! - a webhook's answer (`/webhooks/...`: Twilio's status, TwiML and AMD callbacks,
//!   ElevenLabs' post-call) closes its connection (`Connection: close`): the next
//!   callback of a call comes seconds later, too late to be worth a buffer pair;
//! - any connection idle for [`IDLE_TIMEOUT`] (no request begun, or a request's
//!   header not complete) is closed.
//!
//! WebSocket upgrades (media streams, Socket.IO) leave hyper's buffers behind.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// A connection with no request under way is closed after this long; so is one
/// whose request header takes longer to arrive.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Paths whose answers close the connection: webhooks, one request now and then.
const CLOSE_AFTER: &str = "/webhooks/";

/// Serves `app` on `listener` until `shutdown` resolves; then accepts nothing more,
/// lets requests under way finish for up to `grace`, and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(IDLE_TIMEOUT)
        .keep_alive(true);
    // Stopping: `stop_tx` tells every connection to finish its request and close;
    // each holds a `done_rx` until it has, so `done_tx.closed()` waits for them all.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as axum's `serve` does.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Media-stream frames are 20 ms apart: Nagle's algorithm would hold each small
        // write until the previous one is acknowledged, adding up to a round trip.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        // The router is shared (an `Arc`), not copied, per connection.
        let router = app.clone();
        let service =
            hyper::service::service_fn(move |req: Request<Incoming>| answer(router.clone(), req));
        let conn = http
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        let mut stop_rx = stop_rx.clone();
        let done_rx = done_rx.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = stop_rx.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            drop(done_rx);
        });
    }
    drop(listener);
    drop(done_rx);
    let _ = stop_tx.send(());
    if tokio::time::timeout(grace, done_tx.closed()).await.is_err() {
        tracing::warn!("shutdown grace period over; dropping remaining connections");
    }
    Ok(())
}

/// One request through the router; a webhook's answer closes the connection.
async fn answer(router: Router, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let close = req.uri().path().starts_with(CLOSE_AFTER);
    let mut res = router.oneshot(req.map(Body::new)).await?;
    if close {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// Serves a two-route app on a local port until the test ends.
    async fn start() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/webhooks/twilio/status", post(|| async { "ok" }))
            .route("/api/thing", post(|| async { "ok" }));
        tokio::spawn(serve(
            listener,
            app,
            std::future::pending(),
            Duration::from_secs(1),
        ));
        addr
    }

    /// Sends one request and reads one whole (small) answer.
    async fn request(conn: &mut TcpStream, path: &str) -> String {
        let req = format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
        conn.write_all(req.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let mut answer = String::new();
        while !answer.ends_with("ok") {
            let n = conn.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed before the answer: {answer:?}");
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        answer.to_ascii_lowercase()
    }

    /// True if the peer closed the connection (read gives end of file).
    async fn closed(conn: &mut TcpStream) -> bool {
        let mut byte = [0u8; 1];
        matches!(conn.read(&mut byte).await, Ok(0) | Err(_))
    }

    #[tokio::test]
    async fn a_webhook_answer_closes_its_connection_and_an_api_answer_keeps_it() {
        let addr = start().await;
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        let answer = request(&mut conn, "/webhooks/twilio/status").await;
        assert!(answer.contains("connection: close"), "{answer}");
        assert!(
            closed(&mut conn).await,
            "the webhook's connection stays open"
        );

        let mut conn = TcpStream::connect(addr).await.expect("connect");
        let answer = request(&mut conn, "/api/thing").await;
        assert!(!answer.contains("connection: close"), "{answer}");
        let again = request(&mut conn, "/api/thing").await;
        assert!(again.starts_with("http/1.1 200"), "kept alive: {again}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_the_idle_timeout() {
        let addr = start().await;
        let mut conn = TcpStream::connect(addr).await.expect("connect");
        request(&mut conn, "/api/thing").await;
        let idle = tokio::time::Instant::now();
        let shut = tokio::time::timeout(IDLE_TIMEOUT * 2, closed(&mut conn)).await;
        assert_eq!(shut, Ok(true), "still open after twice the idle timeout");
        assert!(
            idle.elapsed() >= IDLE_TIMEOUT,
            "closed after {:?}",
            idle.elapsed()
        );
    }
}

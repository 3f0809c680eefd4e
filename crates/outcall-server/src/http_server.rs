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

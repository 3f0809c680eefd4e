//! Prometheus metrics at `/metrics` (no key, like `/healthz`, unless `METRICS_TOKEN`
//! is set). Request labels are bounded: the method is one of the known ones or
//! `other`, the route is the matched route's template, never the raw path, so no
//! client can grow the number of series.
//!
//! Code anywhere records through the `metrics` facade (the MongoDB adapter records its
//! connection pool this way); this module installs the one process-wide Prometheus
//! recorder and renders it. The recorder is global, so it is installed once per
//! process however many servers a test starts.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Wait-time buckets, in seconds: a healthy pool checks out in well under a millisecond.
const WAIT_BUCKETS: &[f64] = &[
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// Installs the recorder on first use; `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), WAIT_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!("metrics are off: {e}");
                    None
                }
            }
        })
        .as_ref()
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render() -> Option<String> {
    let handle = handle()?;
    handle.run_upkeep();
    Some(handle.render())
}

/// The method as a label: one of the methods HTTP defines, else `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts answered requests by method, route template and status, and times them.
/// Runs after routing (a router layer), where the matched route is known; requests
/// that matched no route count as `unmatched`.
pub async fn track_requests(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    // Every status code is a valid label, and there are at most a thousand.
    let status = res.status().as_u16().to_string();
    metrics::counter!(
        "outcall_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status
    )
    .increment(1);
    metrics::histogram!("outcall_http_request_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        let made_up = axum::http::Method::from_bytes(b"FROBNICATE").expect("a token");
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
    }
}

//! Prometheus metrics at `/metrics` (no key, like `/healthz`).
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

/// Counts answered requests by method and status, and times them.
pub async fn track_requests(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("outcall_http_requests_total", "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("outcall_http_request_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    res
}

//! Retrying Google requests with exponential backoff. Only errors that
//! [`SheetsError::is_retryable`] says may pass on another try are repeated.
//! Both Sheets calls outcall makes are idempotent (a read; a `RAW` write of
//! fixed cells), so [`crate::SheetsClient`] retries them itself.
//!
//! Sleeps go through `tokio::time`, so tests run them on Tokio's paused clock.

use std::future::Future;
use std::time::Duration;

use crate::error::SheetsError;

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 means no retry. 0 is
    /// treated as 1.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each retry after it.
    pub initial_backoff: Duration,
    /// Upper bound of the doubled wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, waiting 1 s, 2 s, 4 s: Google's guidance for 429 and 5xx
    /// is exponential backoff starting around a second.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(32),
        }
    }
}

impl RetryPolicy {
    /// A policy that tries once.
    pub fn no_retry() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (0 for the first retry):
    /// `initial_backoff * 2^retry`, capped at `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or
/// `policy.max_attempts` attempts are spent; returns the last result.
pub async fn with_retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, SheetsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SheetsError>>,
{
    let attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(error) if attempt < attempts && error.is_retryable() => {
                let delay = policy.backoff(attempt - 1);
                tracing::warn!(
                    attempt,
                    max_attempts = attempts,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    "Google Sheets request failed; retrying"
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::time::Instant;

    use super::*;
    use crate::error::GoogleError;

    fn api(status: u16) -> SheetsError {
        SheetsError::Api {
            status,
            error: GoogleError {
                code: status,
                message: "x".into(),
                status: "X".into(),
            },
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3),
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy();
        assert_eq!(p.backoff(0), Duration::from_secs(1));
        assert_eq!(p.backoff(1), Duration::from_secs(2));
        assert_eq!(p.backoff(2), Duration::from_secs(3));
        assert_eq!(p.backoff(40), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_503_and_429_with_backoff() {
        let calls = Arc::new(AtomicU32::new(0));
        let start = Instant::now();
        let result = with_retry(&policy(), || {
            let calls = Arc::clone(&calls);
            async move {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(api(503)),
                    1 => Err(api(429)),
                    n => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(result.expect("third attempt succeeds"), 2);
        // 1 s + 2 s of backoff, measured on the paused clock.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_4xx_and_gives_up_after_max_attempts() {
        let calls = Arc::new(AtomicU32::new(0));
        let result: Result<(), _> = with_retry(&policy(), || {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(api(404))
            }
        })
        .await;
        assert_eq!(result.expect_err("fails").http_status(), Some(404));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = Arc::new(AtomicU32::new(0));
        let start = Instant::now();
        let result: Result<(), _> = with_retry(&policy(), || {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(api(500))
            }
        })
        .await;
        assert_eq!(result.expect_err("fails").http_status(), Some(500));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 3));
    }
}

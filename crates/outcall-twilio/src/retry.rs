//! Retrying Twilio requests: exponential backoff, honouring `Retry-After` on
//! 429. Only errors that [`TwilioError::is_retryable`] says may pass on a
//! second try are repeated; everything else returns at once.
//!
//! Sleeps go through `tokio::time`, so tests run them on Tokio's paused clock.

use std::future::Future;
use std::time::Duration;

use crate::error::TwilioError;

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
    /// Upper bound on a `Retry-After` we honour, so a hostile or broken
    /// answer cannot park a caller for hours.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
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

    /// The wait before retry number `retry` (0 for the first retry), without
    /// `Retry-After`: `initial_backoff * 2^retry`, capped at `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// The wait after `error` on retry number `retry`: Twilio's `Retry-After`
    /// when it sent one (capped), else the exponential backoff.
    pub fn delay_for(&self, error: &TwilioError, retry: u32) -> Duration {
        match error.retry_after() {
            Some(after) => after.min(self.max_retry_after),
            None => self.backoff(retry),
        }
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or
/// `policy.max_attempts` attempts are spent; returns the last result.
pub async fn with_retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, TwilioError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TwilioError>>,
{
    let attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(error) if attempt < attempts && error.is_retryable() => {
                let delay = policy.delay_for(&error, attempt - 1);
                tracing::warn!(
                    attempt,
                    max_attempts = attempts,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    "Twilio request failed; retrying"
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
    use crate::error::ApiError;

    fn api(status: u16, code: u32, retry_after: Option<Duration>) -> TwilioError {
        TwilioError::Api {
            status,
            error: ApiError {
                code: Some(code),
                message: "x".into(),
                more_info: None,
                status: Some(status),
            },
            retry_after,
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3),
            max_retry_after: Duration::from_secs(30),
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
    async fn retries_5xx_with_backoff_then_succeeds() {
        let calls = Arc::new(AtomicU32::new(0));
        let start = Instant::now();
        let result = with_retry(&policy(), || {
            let calls = Arc::clone(&calls);
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 {
                    Err(api(503, 20503, None))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.expect("third attempt succeeds"), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // 1 s + 2 s of backoff, measured on the paused clock.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_capped() {
        let calls = Arc::new(AtomicU32::new(0));
        let start = Instant::now();
        let result = with_retry(&policy(), || {
            let calls = Arc::clone(&calls);
            async move {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(api(429, 20429, Some(Duration::from_secs(7)))),
                    1 => Err(api(429, 20429, Some(Duration::from_secs(3600)))),
                    _ => Ok(()),
                }
            }
        })
        .await;
        result.expect("succeeds after two 429s");
        assert_eq!(start.elapsed(), Duration::from_secs(7 + 30));
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_4xx() {
        let calls = Arc::new(AtomicU32::new(0));
        let start = Instant::now();
        let result: Result<(), _> = with_retry(&policy(), || {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(api(400, 21211, None))
            }
        })
        .await;
        assert_eq!(result.expect_err("fails").code(), Some(21211));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let calls = Arc::new(AtomicU32::new(0));
        let result: Result<(), _> = with_retry(&policy(), || {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(api(500, 20500, None))
            }
        })
        .await;
        assert_eq!(result.expect_err("fails").http_status(), Some(500));
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let once = Arc::new(AtomicU32::new(0));
        let _ = with_retry(&RetryPolicy::no_retry(), || {
            let once = Arc::clone(&once);
            async move {
                once.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(api(500, 20500, None))
            }
        })
        .await;
        assert_eq!(once.load(Ordering::SeqCst), 1);
    }
}

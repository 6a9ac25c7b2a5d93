//! Retrying API requests that failed transiently: a 500, 502, 503 or 504 from the API
//! server (an apiserver restarting, etcd leader election, a proxy in between), or a 429 that
//! outlived kube's own handling. A rollout must not end with exit 1 halfway because one GET
//! met a blip: every request is sent again a few times with a short exponential back-off
//! before the error counts. Writes are safe to resend: rollout's patches are idempotent or
//! guarded by a resourceVersion `test`, and an event created twice is refused as
//! AlreadyExists.
//!
//! A conflict (409, or a failed guard) is not retried here: resending the same guarded write
//! fails the same way. [`super::Cluster::guarded_patch`] re-reads and rebuilds instead.

use std::future::Future;
use std::time::Duration;

/// Attempts after the first.
pub const RETRIES: u32 = 5;

/// The back-off before attempt `n` (0-based) after a failure: 100 ms doubling, at most 2 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(2u32.saturating_pow(n))
        .min(Duration::from_secs(2))
}

/// Whether an API error is worth another try of the same request.
pub fn transient(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 429 | 500 | 502 | 503 | 504))
}

/// Runs `call` until it succeeds, fails for good, or has been retried [`RETRIES`] times.
pub async fn transient_errors<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    for n in 0..RETRIES {
        match call().await {
            Err(e) if transient(&e) => {
                tracing::debug!("retrying after a transient API error: {e}");
                tokio::time::sleep(backoff(n)).await;
            }
            other => return other,
        }
    }
    call().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("m", "r")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn server_errors_and_throttling_are_retried_but_refusals_and_conflicts_are_not() {
        for code in [429, 500, 502, 503, 504] {
            assert!(transient(&api(code)), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 410, 422] {
            assert!(!transient(&api(code)), "{code}");
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_two_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(1600));
        assert_eq!(backoff(5), Duration::from_secs(2));
        assert_eq!(backoff(40), Duration::from_secs(2));
    }
}

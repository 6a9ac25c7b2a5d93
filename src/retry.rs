//! Retrying API requests that failed transiently: a 500, 502, 503 or 504 from the API
//! server (an apiserver restarting, etcd leader election, a proxy in between). A rollout
//! must not end with exit 1 halfway because one GET met a blip: every request is sent again
//! a few times with a short exponential back-off before the error counts. Writes are safe to
//! resend: rollout's patches are idempotent or guarded by a resourceVersion `test`, and an
//! event created twice is refused as AlreadyExists. (429 is retried by kube's own layer.)

use std::future::Future;
use std::time::Duration;

/// Attempts after the first.
const RETRIES: u32 = 5;

/// Whether an API error is worth another try.
fn transient(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 500 | 502 | 503 | 504))
}

/// Runs `call` until it succeeds, fails for good, or has been retried [`RETRIES`] times.
pub async fn transient_errors<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(100);
    for _ in 0..RETRIES {
        match call().await {
            Err(e) if transient(&e) => {
                tracing::debug!("retrying after a transient API error: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
    call().await
}

//! Test support for the workspace's tests and benchmarks, written once: waiting for a condition
//! ([`eventually`], [`wait_until`]) and, with the `api` feature, the real API served in-process
//! on an ephemeral loopback port ([`api`]), and with `otlp` an OpenTelemetry trace receiver
//! ([`otlp`]). Dev-only: no shipped binary depends on it.
#![allow(clippy::panic)] // `eventually` fails the test that waits in vain: panicking is the point

#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "otlp")]
pub mod otlp;

use std::time::Duration;

/// Polls `check` until it yields `Some`, for at most `timeout`, and returns the value; panics
/// naming `what` when time runs out. It looks 200 times over the timeout (every 10 to 500 ms):
/// often for in-process waits, gently for a real API server.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let poll = (timeout / 200).clamp(Duration::from_millis(10), Duration::from_millis(500));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what} did not happen within {timeout:?}");
        }
        tokio::time::sleep(poll).await;
    }
}

/// Polls `check` until it holds, for at most `timeout`; panics naming `what` when time runs out.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let check = || {
        let holds = check();
        async move { holds.await.then_some(()) }
    };
    eventually(what, timeout, check).await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn returns_the_first_value() {
        let calls = AtomicU32::new(0);
        let third = eventually("the third call", Duration::from_secs(5), async || {
            (calls.fetch_add(1, Ordering::SeqCst) == 2).then_some("done")
        })
        .await;
        assert_eq!((third, calls.load(Ordering::SeqCst)), ("done", 3));
    }

    #[tokio::test]
    #[should_panic(expected = "never did not happen within 50ms")]
    async fn gives_up_at_the_deadline_naming_what_it_waited_for() {
        wait_until("never", Duration::from_millis(50), async || false).await;
    }
}

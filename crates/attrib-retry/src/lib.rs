//! Retrying calls a network blip can break, the same way everywhere: exponential backoff
//! with jitter, an optional deadline, and shutdown honoured while waiting and while a call
//! is in flight. Which errors are worth retrying is the caller's to say.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long to keep trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// None: retry retriable errors until shut down or past the deadline.
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { initial: Duration::from_millis(200), max: Duration::from_secs(10), max_attempts: None }
    }
}

/// Why a retried call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// An error retrying cannot fix.
    Permanent(E),
    /// Still failing when the attempts or the time ran out (the last error).
    Exhausted { error: E, attempts: u32 },
    /// The deadline passed while the first attempt was still running.
    TimedOut { attempts: u32 },
    /// Shutdown was asked for while waiting or while an attempt ran.
    ShutDown,
}

impl<E: Display> Display for Failure<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Permanent(e) => write!(f, "{e}"),
            Failure::Exhausted { error, attempts } => write!(f, "{error} (gave up after {attempts} attempts)"),
            Failure::TimedOut { attempts } => write!(f, "no answer before the deadline ({attempts} attempts)"),
            Failure::ShutDown => write!(f, "shut down while retrying"),
        }
    }
}

/// One call to retry, and what to make of its errors.
pub struct Retry<'a> {
    pub policy: RetryPolicy,
    /// Give up (with the last error) once this has passed; an attempt still running then is abandoned.
    pub deadline: Option<Instant>,
    pub shutdown: &'a watch::Receiver<bool>,
}

impl Retry<'_> {
    /// Runs `op` until it succeeds, fails with an error `retriable` rejects, or the attempts,
    /// the deadline or shutdown end it. `on_retry(attempt, error)` is told of each retry.
    pub async fn run<T, E, Fut>(
        &self,
        mut op: impl FnMut() -> Fut,
        retriable: impl Fn(&E) -> bool,
        mut on_retry: impl FnMut(u32, &E),
    ) -> Result<T, Failure<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 0u32;
        let mut delay = self.policy.initial;
        let mut shutdown = self.shutdown.clone();
        let mut last = None;
        loop {
            if *shutdown.borrow() {
                return Err(Failure::ShutDown);
            }
            let outcome = tokio::select! {
                // An attempt that answers at the deadline still counts.
                biased;
                r = op() => r,
                _ = shutdown.wait_for(|stop| *stop) => return Err(Failure::ShutDown),
                _ = until(self.deadline) => return Err(match last.take() {
                    // The attempt at the deadline did not answer in time: report why the others failed.
                    Some(error) => Failure::Exhausted { error, attempts: attempt + 1 },
                    None => Failure::TimedOut { attempts: attempt + 1 },
                }),
            };
            let error = match outcome {
                Ok(v) => return Ok(v),
                Err(e) if !retriable(&e) => return Err(Failure::Permanent(e)),
                Err(e) => e,
            };
            attempt += 1;
            // The last wait ends at the deadline, for one more attempt there.
            let left = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let wait = left.map_or(jittered(delay), |left| jittered(delay).min(left));
            if self.policy.max_attempts.is_some_and(|m| attempt >= m) || left.is_some_and(|l| l.is_zero()) {
                return Err(Failure::Exhausted { error, attempts: attempt });
            }
            on_retry(attempt, &error);
            last = Some(error);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => return Err(Failure::ShutDown),
            }
            delay = (delay * 2).min(self.policy.max);
        }
    }
}

/// Resolves at `deadline`, or never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// "Full jitter" between half and all of `d`, so restarting clients do not retry in step.
fn jittered(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    let frac = 0.5 + (nanos % 1000) as f64 / 2000.0;
    d.mul_f64(frac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn policy() -> RetryPolicy {
        RetryPolicy { initial: Duration::from_millis(1), max: Duration::from_millis(4), max_attempts: None }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success_and_reported() {
        let (_tx, rx) = watch::channel(false);
        let calls = Cell::new(0);
        let mut retries = Vec::new();
        let r = Retry { policy: policy(), deadline: None, shutdown: &rx }
            .run(
                || {
                    calls.set(calls.get() + 1);
                    let n = calls.get();
                    async move {
                        if n < 4 {
                            Err(format!("blip {n}"))
                        } else {
                            Ok(n)
                        }
                    }
                },
                |_| true,
                |attempt, e: &String| retries.push((attempt, e.clone())),
            )
            .await;
        assert_eq!(r, Ok(4));
        assert_eq!(retries, vec![(1, "blip 1".into()), (2, "blip 2".into()), (3, "blip 3".into())]);
    }

    #[tokio::test]
    async fn a_permanent_error_stops_at_once() {
        let (_tx, rx) = watch::channel(false);
        let calls = Cell::new(0);
        let r: Result<(), _> = Retry { policy: policy(), deadline: None, shutdown: &rx }
            .run(
                || {
                    calls.set(calls.get() + 1);
                    async { Err("unknown database") }
                },
                |e| !e.contains("unknown"),
                |_, _| {},
            )
            .await;
        assert_eq!(r, Err(Failure::Permanent("unknown database")));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn attempts_and_deadlines_bound_the_retries() {
        let (_tx, rx) = watch::channel(false);
        let limited = RetryPolicy { max_attempts: Some(3), ..policy() };
        let r: Result<(), _> = Retry { policy: limited, deadline: None, shutdown: &rx }
            .run(|| async { Err("refused") }, |_| true, |_, _| {})
            .await;
        assert_eq!(r, Err(Failure::Exhausted { error: "refused", attempts: 3 }));

        let deadline = Some(Instant::now() + Duration::from_millis(50));
        let r: Result<(), _> = Retry { policy: policy(), deadline, shutdown: &rx }
            .run(|| async { Err("refused") }, |_| true, |_, _| {})
            .await;
        assert!(matches!(r, Err(Failure::Exhausted { error: "refused", .. })), "{r:?}");

        // An attempt that never answers is abandoned at the deadline.
        let r: Result<(), Failure<&str>> =
            Retry { policy: policy(), deadline, shutdown: &rx }.run(std::future::pending, |_| true, |_, _| {}).await;
        assert!(matches!(r, Err(Failure::TimedOut { attempts: 1 })), "{r:?}");
    }

    #[tokio::test]
    async fn shutdown_ends_a_wait_and_an_attempt_in_flight() {
        let (tx, rx) = watch::channel(false);
        let stop = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(true).expect("receiver alive");
        };
        let slow = RetryPolicy { initial: Duration::from_secs(60), ..policy() };
        let waiting = Retry { policy: slow, deadline: None, shutdown: &rx };
        let (r, ()) = tokio::join!(waiting.run(|| async { Err::<(), _>("refused") }, |_| true, |_, _| {}), stop);
        assert_eq!(r, Err(Failure::ShutDown));
        let r: Result<(), Failure<&str>> = Retry { policy: policy(), deadline: None, shutdown: &rx }
            .run(std::future::pending, |_| true, |_, _| {})
            .await;
        assert_eq!(r, Err(Failure::ShutDown));
    }
}

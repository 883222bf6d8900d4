//! A token bucket per user: `rate` requests a second on average, bursts up to `burst`. A
//! request over the limit is RESOURCE_EXHAUSTED with a RetryInfo that says when the next one
//! will be accepted.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic::service::Interceptor;
use tonic::{Code, Request, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

use crate::auth::Caller;
use crate::observability::metrics::RATE_LIMITED;

/// How often buckets of users who have gone quiet are dropped, so memory follows active users.
const FORGET_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct UserRateLimiter {
    buckets: Arc<DefaultKeyedRateLimiter<Uuid>>,
}

impl UserRateLimiter {
    /// `None` when `per_second` is zero, which turns rate limiting off.
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(Self { buckets: Arc::new(RateLimiter::keyed(quota)) })
    }

    /// Takes one token of `user_id`'s bucket, or says how long until one is available.
    pub fn check(&self, user_id: Uuid) -> Result<(), Duration> {
        self.buckets
            .check_key(&user_id)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets full buckets now and then; a bucket that has refilled holds no information.
    pub fn spawn_forgetting(&self) -> tokio::task::JoinHandle<()> {
        let buckets = self.buckets.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(FORGET_INTERVAL);
            loop {
                ticker.tick().await;
                buckets.retain_recent();
                buckets.shrink_to_fit();
            }
        })
    }
}

/// Runs the inner interceptor (authentication), then charges the caller's bucket.
#[derive(Clone)]
pub struct RateLimited<I> {
    pub inner: I,
    pub limiter: Option<UserRateLimiter>,
}

impl<I: Interceptor> Interceptor for RateLimited<I> {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let request = self.inner.call(request)?;
        let (Some(limiter), Some(caller)) = (&self.limiter, request.extensions().get::<Caller>())
        else {
            return Ok(request);
        };

        match limiter.check(caller.user_id) {
            Ok(()) => Ok(request),
            Err(wait) => {
                tracing::debug!(?wait, "rate limited");
                metrics::counter!(RATE_LIMITED).increment(1);
                Err(Status::with_error_details(
                    Code::ResourceExhausted,
                    "too many requests for this user; retry after the delay in RetryInfo",
                    ErrorDetails::with_retry_info(Some(wait.max(Duration::from_millis(1)))),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_and_the_next_request_must_wait() {
        let limiter = UserRateLimiter::new(1, 3).unwrap();
        let user = Uuid::new_v4();

        for _ in 0..3 {
            assert!(limiter.check(user).is_ok());
        }
        let wait = limiter.check(user).unwrap_err();

        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
    }

    #[test]
    fn each_user_has_a_bucket_of_their_own() {
        let limiter = UserRateLimiter::new(1, 1).unwrap();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());

        assert!(limiter.check(alice).is_ok());
        assert!(limiter.check(alice).is_err());
        assert!(limiter.check(bob).is_ok());
    }

    #[test]
    fn a_rate_of_zero_turns_limiting_off() {
        assert!(UserRateLimiter::new(0, 10).is_none());
    }
}

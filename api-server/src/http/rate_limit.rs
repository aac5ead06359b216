//! Per-caller rate limits (the seeds' "e.g. 100 requests/minute per user"): one token bucket per
//! caller and scope (reads, writes, status reports), keyed by the JWT identity, or the client
//! address when authentication is off. Runs after authentication, on the API routes only (probes,
//! `/metrics` and the OpenAPI document are never limited). Over the limit: 429 problem+json
//! with `Retry-After`, counted in `hyperfleet_api_rate_limited_total{scope}`.

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock as _};
use prometheus_client::metrics::{counter::Counter, family::Family};

use super::{error::ApiError, extract::Caller, metrics::ScopeLabels};

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Scope {
    /// GET.
    Read,
    /// Creating, changing and deleting resources.
    Write,
    /// Adapters' status reports.
    Status,
}

/// Requests per minute per caller, by scope; 0 turns a scope's limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Reads.
    pub reads_per_minute: u32,
    /// Writes.
    pub writes_per_minute: u32,
    /// Status reports.
    pub status_per_minute: u32,
}

/// The buckets of every caller.
#[derive(Debug)]
pub struct RateLimits {
    read: Option<DefaultKeyedRateLimiter<String>>,
    write: Option<DefaultKeyedRateLimiter<String>>,
    status: Option<DefaultKeyedRateLimiter<String>>,
    limited: Family<ScopeLabels, Counter>,
}

/// Callers remembered before idle buckets are dropped.
const MAX_TRACKED_CALLERS: usize = 10_000;

impl RateLimits {
    /// Buckets per `settings`, each allowing a burst of a tenth of its minute, counting refusals
    /// in `limited`.
    pub fn new(settings: RateLimitSettings, limited: Family<ScopeLabels, Counter>) -> Self {
        let bucket = |per_minute: u32| {
            let rate = NonZeroU32::new(per_minute)?;
            let burst = NonZeroU32::new((per_minute / 10).max(1)).unwrap_or(NonZeroU32::MIN);
            Some(DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)))
        };
        Self {
            read: bucket(settings.reads_per_minute),
            write: bucket(settings.writes_per_minute),
            status: bucket(settings.status_per_minute),
            limited,
        }
    }

    /// `Err(seconds to wait)` when `caller` is over its `scope`'s limit.
    fn check(&self, scope: Scope, caller: &str) -> Result<(), u64> {
        let limiter = match scope {
            Scope::Read => &self.read,
            Scope::Write => &self.write,
            Scope::Status => &self.status,
        };
        let Some(limiter) = limiter else { return Ok(()) };
        if limiter.len() > MAX_TRACKED_CALLERS {
            limiter.retain_recent();
        }
        limiter.check_key(&caller.to_owned()).map_err(|not_until| {
            let scope: &'static str = scope.into();
            self.limited.get_or_create(&ScopeLabels { scope }).inc();
            not_until.wait_time_from(governor::clock::DefaultClock::default().now()).as_secs().max(1)
        })
    }
}

/// The scope of a request.
pub fn scope_of(method: &Method, path: &str) -> Scope {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => Scope::Read,
        _ if path.contains("/statuses") => Scope::Status,
        _ => Scope::Write,
    }
}

/// Middleware: refuses a request over its caller's limit.
pub async fn limit(State(limits): State<Arc<RateLimits>>, request: Request, next: Next) -> Response {
    let scope = scope_of(request.method(), request.uri().path());
    let caller = match request.extensions().get::<Caller>() {
        Some(Caller(identity)) => identity.clone(),
        None => request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |ConnectInfo(address)| address.ip().to_string()),
    };
    match limits.check(scope, &caller) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => ApiError::RateLimited { retry_after }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_over_its_burst_waits_and_others_do_not() {
        let settings =
            RateLimitSettings { reads_per_minute: 60, writes_per_minute: 0, status_per_minute: 600 };
        let limits = RateLimits::new(settings, Family::default());
        for _ in 0..6 {
            assert_eq!(limits.check(Scope::Read, "alice"), Ok(()), "a burst of a tenth of the minute");
        }
        assert!(limits.check(Scope::Read, "alice").is_err_and(|wait| wait >= 1));
        assert_eq!(limits.check(Scope::Read, "bob"), Ok(()), "buckets are per caller");
        assert_eq!(limits.check(Scope::Status, "alice"), Ok(()), "and per scope");
        for _ in 0..1000 {
            assert_eq!(limits.check(Scope::Write, "alice"), Ok(()), "0 turns a scope off");
        }
        assert_eq!(scope_of(&Method::PUT, "/api/hyperfleet/v1/clusters/x/statuses"), Scope::Status);
        assert_eq!(scope_of(&Method::DELETE, "/api/hyperfleet/v1/clusters/x"), Scope::Write);
        assert_eq!(scope_of(&Method::GET, "/api/hyperfleet/v1/clusters/x/statuses"), Scope::Read);
    }
}

//! The chain every external call goes through ([`chain`]): fleet-wide rate limit
//! ([`ratelimit`]) → circuit breaker with the per-call timeout inside ([`breaker`]) → retry
//! ([`retry`]), behind a cache that also coalesces identical calls across the fleet ([`cache`]);
//! [`provider_time`] measures how long a job really waited on providers.

pub mod breaker;
pub mod cache;
pub mod chain;
pub mod provider_time;
pub mod ratelimit;
pub mod retry;

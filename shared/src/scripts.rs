//! Lua scripts of the worker's resilience layer (the job state changes live in [`crate::store`]
//! and [`crate::deadletters`]). Each file in `lua/` opens with its KEYS, ARGV and replies.

/// Reserve a call slot under a provider's fleet-wide rate limit (GCRA on Redis' clock).
pub const RATE_LIMIT: &str = include_str!("lua/rate_limit.lua");
/// Find a cached provider answer or take the lease to compute it (fleet-wide coalescing).
pub const COALESCE_CLAIM: &str = include_str!("lua/coalesce_claim.lua");
/// Store a leased call's answer and release the lease.
pub const COALESCE_FINISH: &str = include_str!("lua/coalesce_finish.lua");

//! The settings of the worker's side of the provider promise — which provider family and its
//! key, the fleet-wide rate limits, breakers, retries, caches and fallbacks — as flags with
//! `ROUTEQ_*` environment equivalents, and the invariants between them, checked at start.

use std::path::PathBuf;
use std::time::Duration;

use crate::calls::breaker::BreakerPolicy;
use crate::calls::retry::RetryPolicy;
use crate::config::ProviderKind;
use crate::providers::secret::ApiKey;
use crate::steps::fallback::FallbackPolicy;

#[derive(Debug, Clone, clap::Args)]
pub struct ResilienceArgs {
    /// Kakao REST API key (`--provider kakao`; the simulator takes any). Never logged; prefer
    /// --kakao-api-key-file, which keeps it out of the process list.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_KAKAO_API_KEY",
        hide_env_values = true
    )]
    pub kakao_api_key: Option<ApiKey>,

    /// File holding the Kakao REST API key (e.g. a mounted secret).
    #[arg(long, hide_short_help = true, env = "ROUTEQ_KAKAO_API_KEY_FILE")]
    pub kakao_api_key_file: Option<PathBuf>,

    /// Fleet-wide limit of geocoder calls per second, shared by every worker through Redis
    /// (0 = none). Set it from the provider's quota (public Nominatim: 1).
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_GEOCODER_RPS",
        default_value_t = 0.0
    )]
    pub geocoder_rps: f64,

    /// Fleet-wide limit of directions calls per second (0 = none).
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_ROUTER_RPS",
        default_value_t = 0.0
    )]
    pub router_rps: f64,

    /// Consecutive provider failures (timeouts, connection errors, 5xx, 429, malformed 2xx
    /// answers, 401/403) that open a provider's circuit breaker in this process.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_BREAKER_FAILURES",
        default_value_t = 5
    )]
    pub breaker_failures: u32,

    /// Also open when the failure rate over --breaker-window-s exceeds this (0 = off).
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_BREAKER_FAILURE_RATE",
        default_value_t = 0.0
    )]
    pub breaker_failure_rate: f64,

    /// Window of the failure-rate rule, whole seconds.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_BREAKER_WINDOW_S",
        default_value_t = 30
    )]
    pub breaker_window_s: u64,

    /// Calls the failure-rate rule needs in its window before it may open the breaker.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_BREAKER_MIN_CALLS",
        default_value_t = 10
    )]
    pub breaker_min_calls: u32,

    /// How long an open breaker refuses calls before one half-open trial, ms; doubled after
    /// each failed trial (jittered from 1 s), up to --breaker-open-max-ms.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_BREAKER_OPEN_MS",
        default_value_t = 5_000
    )]
    pub breaker_open_ms: u64,

    /// The longest open period, ms.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_BREAKER_OPEN_MAX_MS",
        default_value_t = 60_000
    )]
    pub breaker_open_max_ms: u64,

    /// Attempts per provider call, the first included (1 = no retry). Retries happen only for
    /// transient failures and only while the job's deadline allows the next attempt to finish.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_RETRY_ATTEMPTS",
        default_value_t = 3
    )]
    pub retry_attempts: u32,

    /// Backoff before the first retry, ms (doubled for each further one, equal jitter).
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_RETRY_BASE_MS",
        default_value_t = 100
    )]
    pub retry_base_ms: u64,

    /// The longest backoff, ms (a 429's Retry-After replaces the backoff).
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_RETRY_MAX_MS",
        default_value_t = 2_000
    )]
    pub retry_max_ms: u64,

    /// Attach an estimate (great-circle × detour factor at a typical speed) to jobs whose
    /// directions provider failed; they end `fallback` with the failure's code, never a success.
    #[arg(long, hide_short_help = true, env = "ROUTEQ_FALLBACK", default_value_t = true, action = clap::ArgAction::Set)]
    pub fallback: bool,

    /// Ratio of road to great-circle distance the estimate assumes.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_FALLBACK_DETOUR_FACTOR",
        default_value_t = 1.3
    )]
    pub fallback_detour_factor: f64,

    /// Typical speed the estimate assumes, km/h.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_FALLBACK_SPEED_KMH",
        default_value_t = 30.0
    )]
    pub fallback_speed_kmh: f64,

    /// How long a geocode stays in the Redis cache, seconds (0 = not cached).
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_GEOCODE_CACHE_TTL_S",
        default_value_t = 2_592_000
    )]
    pub geocode_cache_ttl_s: u64,

    /// How long a route stays in the Redis cache, seconds (0 = not cached). Traffic changes:
    /// keep it short.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_ROUTE_CACHE_TTL_S",
        default_value_t = 300
    )]
    pub route_cache_ttl_s: u64,

    /// Identical requests in flight anywhere in the fleet share one provider call.
    #[arg(long, hide_short_help = true, env = "ROUTEQ_COALESCE", default_value_t = true, action = clap::ArgAction::Set)]
    pub coalesce: bool,

    /// The longest a provider's `Retry-After` holds calls back, ms: a larger value (a day, a
    /// date next year, 2^63 seconds) is cut to this, so one answer cannot hold the fleet.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_RETRY_AFTER_MAX_MS",
        default_value_t = 60_000
    )]
    pub retry_after_max_ms: u64,

    /// How long a "not found" geocode or a "no route" answer stays in the Redis cache, seconds
    /// (at most the cache's own TTL; 0 = kept only for coalesced waiters): client-chosen
    /// addresses that do not exist must not grow Redis for a month.
    #[arg(
        long,
        hide_short_help = true,
        env = "ROUTEQ_NEGATIVE_CACHE_TTL_S",
        default_value_t = 300
    )]
    pub negative_cache_ttl_s: u64,
}

impl ResilienceArgs {
    /// The Kakao key from the flag or the environment, else from the file.
    pub fn kakao_key(&self) -> Result<Option<ApiKey>, String> {
        if let Some(k) = &self.kakao_api_key {
            return Ok(Some(k.clone()));
        }
        self.kakao_api_key_file
            .as_deref()
            .map(ApiKey::from_file)
            .transpose()
    }

    pub fn breaker_policy(&self) -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: self.breaker_failures,
            failure_rate: self.breaker_failure_rate,
            window: Duration::from_secs(self.breaker_window_s),
            min_calls: self.breaker_min_calls,
            open: Duration::from_millis(self.breaker_open_ms),
            open_max: Duration::from_millis(self.breaker_open_max_ms),
        }
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.retry_attempts,
            base: Duration::from_millis(self.retry_base_ms),
            max: Duration::from_millis(self.retry_max_ms),
        }
    }

    pub fn fallback_policy(&self) -> FallbackPolicy {
        FallbackPolicy {
            enabled: self.fallback,
            detour_factor: self.fallback_detour_factor,
            speed_kmh: self.fallback_speed_kmh,
        }
    }

    /// Checks these settings against each other and the provider choice.
    pub fn validate(&self, provider: ProviderKind, urls: &[(&str, &str)]) -> Result<(), String> {
        for (flag, v) in [
            ("--geocoder-rps", self.geocoder_rps),
            ("--router-rps", self.router_rps),
        ] {
            if !v.is_finite() || !(0.0..=1_000_000.0).contains(&v) {
                return Err(format!("{flag} must be between 0 (no limit) and 1000000"));
            }
        }
        if self.breaker_failures == 0 {
            return Err("--breaker-failures must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.breaker_failure_rate) {
            return Err("--breaker-failure-rate must be in [0, 1) (0 = off)".into());
        }
        if self.breaker_failure_rate > 0.0 && self.breaker_window_s == 0 {
            return Err("--breaker-window-s must be at least 1 with a failure-rate rule".into());
        }
        if self.breaker_open_ms == 0 || self.breaker_open_max_ms < self.breaker_open_ms {
            return Err(
                "--breaker-open-ms must be above 0 and at most --breaker-open-max-ms".into(),
            );
        }
        if self.retry_attempts == 0 || self.retry_attempts > 20 {
            return Err("--retry-attempts must be between 1 and 20".into());
        }
        if self.retry_base_ms == 0 || self.retry_max_ms < self.retry_base_ms {
            return Err("--retry-base-ms must be above 0 and at most --retry-max-ms".into());
        }
        if self.retry_after_max_ms == 0 || self.retry_after_max_ms > 86_400_000 {
            return Err("--retry-after-max-ms must be between 1 and 86400000 (a day)".into());
        }
        if !self.fallback_detour_factor.is_finite()
            || !(1.0..=5.0).contains(&self.fallback_detour_factor)
        {
            return Err("--fallback-detour-factor must be between 1 and 5".into());
        }
        if !self.fallback_speed_kmh.is_finite() || !(1.0..=300.0).contains(&self.fallback_speed_kmh)
        {
            return Err("--fallback-speed-kmh must be between 1 and 300".into());
        }
        let key = self.kakao_key()?;
        if provider == ProviderKind::Kakao && key.is_none() {
            return Err(
                "--provider kakao needs a key: --kakao-api-key, ROUTEQ_KAKAO_API_KEY or --kakao-api-key-file"
                    .into(),
            );
        }
        for (flag, url) in urls {
            if url.starts_with("https://") && !cfg!(feature = "tls") {
                return Err(format!(
                    "{flag} is https:// but this build has no TLS: build the worker with `--features tls`"
                ));
            }
        }
        if !provider.simulated() && self.geocoder_rps == 0.0 && self.router_rps == 0.0 {
            tracing::warn!(
                provider = provider.label(),
                "no fleet-wide rate limit is set for a real provider: set --geocoder-rps and --router-rps from its quota"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::WorkerArgs;

    fn parse(extra: &[&str]) -> crate::config::WorkerConfig {
        let mut args = vec!["routeq-worker", "--metrics-listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        WorkerArgs::try_parse_from(args).expect("parse").worker
    }

    #[test]
    fn the_defaults_keep_the_simulator_and_pass_validation() {
        let cfg = parse(&[]);
        assert!(cfg.provider.simulated());
        assert_eq!(cfg.provider.label(), "simulator");
        assert!(cfg.resilience.fallback && cfg.resilience.coalesce);
        assert_eq!(cfg.validate(), Ok(()));
    }

    #[test]
    fn the_kakao_key_never_prints_and_is_required_for_real_kakao() {
        let cfg = parse(&["--provider", "kakao", "--kakao-api-key", "sekret-kakao-key"]);
        assert!(
            !format!("{cfg:?}").contains("sekret"),
            "the key leaked into Debug"
        );
        let key = cfg.resilience.kakao_key().expect("key").expect("some");
        assert_eq!(key.expose(), "sekret-kakao-key");
        let err = parse(&["--provider", "kakao"])
            .validate()
            .expect_err("no key");
        assert!(err.contains("--kakao-api-key"), "{err}");
        // The simulator takes any key.
        assert_eq!(parse(&["--provider", "simulator-kakao"]).validate(), Ok(()));
    }

    #[test]
    fn invalid_resilience_settings_are_refused_with_the_flag_named() {
        for (flags, named) in [
            (&["--breaker-failures", "0"][..], "--breaker-failures"),
            (
                &["--breaker-failure-rate", "1.5"][..],
                "--breaker-failure-rate",
            ),
            (
                &["--breaker-open-ms", "5000", "--breaker-open-max-ms", "100"][..],
                "--breaker-open-ms",
            ),
            (&["--retry-attempts", "0"][..], "--retry-attempts"),
            (&["--router-rps=-1"][..], "--router-rps"),
            (
                &["--fallback-detour-factor", "0.5"][..],
                "--fallback-detour-factor",
            ),
            (&["--fallback-speed-kmh", "0"][..], "--fallback-speed-kmh"),
        ] {
            let err = parse(flags).validate().expect_err("refused");
            assert!(err.contains(named), "{flags:?}: {err}");
        }
        if !cfg!(feature = "tls") {
            let err = parse(&["--router-url", "https://apis-navi.kakaomobility.com"])
                .validate()
                .expect_err("no TLS in this build");
            assert!(err.contains("--features tls"), "{err}");
        }
    }
}

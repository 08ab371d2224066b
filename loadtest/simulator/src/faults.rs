//! Fault knobs and statistics: the public (serde) types, and the lock-free per-provider state
//! that the request path reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Deserializer, Serialize};

/// One simulated provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// `GET /route/v1/{profile}/{coords}`.
    Osrm,
    /// `GET /search`.
    Nominatim,
    /// `GET /v1/directions`.
    KakaoDirections,
    /// `GET /v2/local/search/address.json`.
    KakaoLocal,
}

impl Provider {
    /// Every provider, in table order.
    pub const ALL: [Provider; 4] = [
        Provider::Osrm,
        Provider::Nominatim,
        Provider::KakaoDirections,
        Provider::KakaoLocal,
    ];

    /// The snake_case name used in JSON and metrics labels.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::Osrm => "osrm",
            Provider::Nominatim => "nominatim",
            Provider::KakaoDirections => "kakao_directions",
            Provider::KakaoLocal => "kakao_local",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Provider::Osrm => 0,
            Provider::Nominatim => 1,
            Provider::KakaoDirections => 2,
            Provider::KakaoLocal => 3,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which providers a [`FaultPatch`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    All,
    Osrm,
    Nominatim,
    KakaoDirections,
    KakaoLocal,
}

impl FaultTarget {
    /// True if this target includes `p`.
    #[must_use]
    pub fn includes(self, p: Provider) -> bool {
        match self {
            FaultTarget::All => true,
            FaultTarget::Osrm => p == Provider::Osrm,
            FaultTarget::Nominatim => p == Provider::Nominatim,
            FaultTarget::KakaoDirections => p == Provider::KakaoDirections,
            FaultTarget::KakaoLocal => p == Provider::KakaoLocal,
        }
    }
}

impl From<Provider> for FaultTarget {
    fn from(p: Provider) -> Self {
        match p {
            Provider::Osrm => FaultTarget::Osrm,
            Provider::Nominatim => FaultTarget::Nominatim,
            Provider::KakaoDirections => FaultTarget::KakaoDirections,
            Provider::KakaoLocal => FaultTarget::KakaoLocal,
        }
    }
}

/// One value per provider; serialises as `{"osrm":…, "nominatim":…, "kakao_directions":…,
/// "kakao_local":…}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerProvider<T> {
    pub osrm: T,
    pub nominatim: T,
    pub kakao_directions: T,
    pub kakao_local: T,
}

impl<T> PerProvider<T> {
    /// Builds a table by calling `f` for each provider.
    pub fn from_fn(mut f: impl FnMut(Provider) -> T) -> Self {
        PerProvider {
            osrm: f(Provider::Osrm),
            nominatim: f(Provider::Nominatim),
            kakao_directions: f(Provider::KakaoDirections),
            kakao_local: f(Provider::KakaoLocal),
        }
    }

    /// The value for `p`.
    #[must_use]
    pub fn get(&self, p: Provider) -> &T {
        match p {
            Provider::Osrm => &self.osrm,
            Provider::Nominatim => &self.nominatim,
            Provider::KakaoDirections => &self.kakao_directions,
            Provider::KakaoLocal => &self.kakao_local,
        }
    }
}

/// The fault configuration of one provider.
///
/// Per request, in this order: `down` answers 503 at once (no latency); otherwise one uniform
/// draw `u` in `[0, 1)` picks `timeout` if `u < timeout_rate`, else a 429 if
/// `u < timeout_rate + rate_429`, else a 5xx if `u < … + error_rate`, else a malformed 200 if
/// `u < … + malformed_rate`, else the real answer (so when the rates add up to more than 1, the
/// earlier classes win). A real answer that would succeed becomes a 429 "quota exceeded" once
/// `quota` successful answers have been given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Latency lower bound, ms (uniform in `[min, max]`; both 0 = no timer at all).
    pub latency_min_ms: u64,
    /// Latency upper bound, ms.
    pub latency_max_ms: u64,
    /// Seed of the deterministic decisions (mixed with the provider and its request counter).
    pub seed: u64,
    /// Fraction answered with a 500 in the provider's error shape.
    pub error_rate: f64,
    /// Fraction answered with a 429 and `Retry-After: retry_after_s`.
    pub rate_429: f64,
    /// `Retry-After` value, seconds.
    pub retry_after_s: u64,
    /// Fraction that hang for `hang_ms` (or until shutdown), then answer 504.
    pub timeout_rate: f64,
    /// How long a "timeout" request hangs, ms.
    pub hang_ms: u64,
    /// Fraction answered 200 with a truncated (invalid) JSON body.
    pub malformed_rate: f64,
    /// Every call answers 503 at once.
    pub down: bool,
    /// After this many successful answers, answer 429 "quota exceeded"; `None` = unlimited.
    pub quota: Option<u64>,
}

impl Faults {
    /// Checks the invariants: `latency_min_ms <= latency_max_ms`, every rate finite and in
    /// `[0, 1]`.
    pub fn validate(&self) -> Result<(), String> {
        if self.latency_min_ms > self.latency_max_ms {
            return Err(format!(
                "latency_min_ms ({}) must not exceed latency_max_ms ({})",
                self.latency_min_ms, self.latency_max_ms
            ));
        }
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("rate_429", self.rate_429),
            ("timeout_rate", self.timeout_rate),
            ("malformed_rate", self.malformed_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be within [0, 1], got {v}"));
            }
        }
        if self.quota == Some(u64::MAX) {
            return Err("quota must be below 2^64-1".to_owned());
        }
        Ok(())
    }
}

/// A partial update of [`Faults`]: every field left `None` is kept. `quota: Some(None)`
/// (JSON `"quota": null`) removes the quota.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_min_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_max_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_429: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_option"
    )]
    pub quota: Option<Option<u64>>,
}

fn present_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

impl FaultPatch {
    /// A patch that sets every knob to "healthy and instant": no latency, no faults, no quota.
    /// The seed is kept.
    #[must_use]
    pub fn healthy() -> Self {
        FaultPatch {
            latency_min_ms: Some(0),
            latency_max_ms: Some(0),
            error_rate: Some(0.0),
            rate_429: Some(0.0),
            timeout_rate: Some(0.0),
            malformed_rate: Some(0.0),
            down: Some(false),
            quota: Some(None),
            ..FaultPatch::default()
        }
    }

    /// Applies the patch to `f`.
    pub fn apply(&self, f: &mut Faults) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        set(&mut f.latency_min_ms, &self.latency_min_ms);
        set(&mut f.latency_max_ms, &self.latency_max_ms);
        set(&mut f.seed, &self.seed);
        set(&mut f.error_rate, &self.error_rate);
        set(&mut f.rate_429, &self.rate_429);
        set(&mut f.retry_after_s, &self.retry_after_s);
        set(&mut f.timeout_rate, &self.timeout_rate);
        set(&mut f.hang_ms, &self.hang_ms);
        set(&mut f.malformed_rate, &self.malformed_rate);
        set(&mut f.down, &self.down);
        set(&mut f.quota, &self.quota);
    }
}

/// The fault table: the current [`Faults`] of every provider.
pub type FaultTable = PerProvider<Faults>;

/// How one provider request was answered. Each request is counted once, under one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A successful answer (HTTP 200 with a result).
    Ok,
    /// Injected 5xx (`error_rate`).
    Error,
    /// 429, injected (`rate_429`) or quota exceeded (`quota`).
    RateLimited,
    /// Injected hang then 504 (`timeout_rate`).
    Timeout,
    /// Injected truncated JSON (`malformed_rate`).
    Malformed,
    /// 503 because the provider is `down`.
    Down,
    /// A domain failure: no route / no segment / Kakao `result_code != 0` / no address found.
    NotFound,
    /// The request was invalid (the provider's 400 shape).
    BadRequest,
    /// Missing or wrong credentials (Kakao 401, Nominatim 403 without a `User-Agent`).
    Unauthorized,
}

impl Outcome {
    /// Every outcome, in metrics order.
    pub const ALL: [Outcome; 9] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::RateLimited,
        Outcome::Timeout,
        Outcome::Malformed,
        Outcome::Down,
        Outcome::NotFound,
        Outcome::BadRequest,
        Outcome::Unauthorized,
    ];

    /// The snake_case name used in JSON and metrics labels.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::RateLimited => "rate_limited",
            Outcome::Timeout => "timeout",
            Outcome::Malformed => "malformed",
            Outcome::Down => "down",
            Outcome::NotFound => "not_found",
            Outcome::BadRequest => "bad_request",
            Outcome::Unauthorized => "unauthorized",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Request counts of one provider since the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStats {
    pub ok: u64,
    pub error: u64,
    pub rate_limited: u64,
    pub timeout: u64,
    pub malformed: u64,
    pub down: u64,
    pub not_found: u64,
    pub bad_request: u64,
    pub unauthorized: u64,
    /// The most requests that arrived within one 1-second window (windows start at whole
    /// seconds since the simulator started).
    pub max_per_second: u64,
}

impl ProviderStats {
    /// All requests counted (the sum over outcomes).
    #[must_use]
    pub fn requests(&self) -> u64 {
        Outcome::ALL.iter().map(|&o| self.get(o)).sum()
    }

    /// The count of one outcome.
    #[must_use]
    pub fn get(&self, o: Outcome) -> u64 {
        match o {
            Outcome::Ok => self.ok,
            Outcome::Error => self.error,
            Outcome::RateLimited => self.rate_limited,
            Outcome::Timeout => self.timeout,
            Outcome::Malformed => self.malformed,
            Outcome::Down => self.down,
            Outcome::NotFound => self.not_found,
            Outcome::BadRequest => self.bad_request,
            Outcome::Unauthorized => self.unauthorized,
        }
    }
}

/// `GET /_sim/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests served by all provider endpoints.
    pub total: u64,
    pub providers: PerProvider<ProviderStats>,
}

// ---------------------------------------------------------------------------------------------
// Lock-free state read on the request path.

const NO_QUOTA: u64 = u64::MAX;

pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in `[0, 1)` from 53 bits of `h`.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[derive(Debug)]
pub(crate) struct ProviderState {
    provider: Provider,
    latency_min_ms: AtomicU64,
    latency_max_ms: AtomicU64,
    seed: AtomicU64,
    error_rate: AtomicU64,
    rate_429: AtomicU64,
    retry_after_s: AtomicU64,
    timeout_rate: AtomicU64,
    hang_ms: AtomicU64,
    malformed_rate: AtomicU64,
    down: AtomicBool,
    quota: AtomicU64,
    quota_used: AtomicU64,
    /// The per-provider request counter that, with the seed, drives every decision.
    seq: AtomicU64,
    counts: [AtomicU64; Outcome::ALL.len()],
    /// `(second << 32) | count` of the current 1-second window.
    window: AtomicU64,
    max_per_second: AtomicU64,
}

/// What the fault roll decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roll {
    Timeout,
    RateLimited,
    Error,
    Malformed,
    Pass,
}

/// The per-request decisions, all derived from `(seed, provider, request number)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decision {
    pub(crate) roll: Roll,
    /// Latency to add, ms (0 = none).
    pub(crate) latency_ms: u64,
    /// Free bits for the handler (e.g. Kakao's `trans_id`).
    pub(crate) hash: u64,
}

impl ProviderState {
    pub(crate) fn new(provider: Provider, f: &Faults) -> Self {
        let s = ProviderState {
            provider,
            latency_min_ms: AtomicU64::new(0),
            latency_max_ms: AtomicU64::new(0),
            seed: AtomicU64::new(0),
            error_rate: AtomicU64::new(0),
            rate_429: AtomicU64::new(0),
            retry_after_s: AtomicU64::new(0),
            timeout_rate: AtomicU64::new(0),
            hang_ms: AtomicU64::new(0),
            malformed_rate: AtomicU64::new(0),
            down: AtomicBool::new(false),
            quota: AtomicU64::new(NO_QUOTA),
            quota_used: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            counts: Default::default(),
            window: AtomicU64::new(0),
            max_per_second: AtomicU64::new(0),
        };
        s.store(f);
        s
    }

    pub(crate) fn snapshot(&self) -> Faults {
        let q = self.quota.load(Relaxed);
        Faults {
            latency_min_ms: self.latency_min_ms.load(Relaxed),
            latency_max_ms: self.latency_max_ms.load(Relaxed),
            seed: self.seed.load(Relaxed),
            error_rate: f64::from_bits(self.error_rate.load(Relaxed)),
            rate_429: f64::from_bits(self.rate_429.load(Relaxed)),
            retry_after_s: self.retry_after_s.load(Relaxed),
            timeout_rate: f64::from_bits(self.timeout_rate.load(Relaxed)),
            hang_ms: self.hang_ms.load(Relaxed),
            malformed_rate: f64::from_bits(self.malformed_rate.load(Relaxed)),
            down: self.down.load(Relaxed),
            quota: (q != NO_QUOTA).then_some(q),
        }
    }

    /// Stores a validated configuration. A changed seed restarts the request sequence; a
    /// changed quota restarts the quota count.
    pub(crate) fn store(&self, f: &Faults) {
        let old = self.snapshot();
        self.latency_min_ms.store(f.latency_min_ms, Relaxed);
        self.latency_max_ms.store(f.latency_max_ms, Relaxed);
        self.seed.store(f.seed, Relaxed);
        self.error_rate.store(f.error_rate.to_bits(), Relaxed);
        self.rate_429.store(f.rate_429.to_bits(), Relaxed);
        self.retry_after_s.store(f.retry_after_s, Relaxed);
        self.timeout_rate.store(f.timeout_rate.to_bits(), Relaxed);
        self.hang_ms.store(f.hang_ms, Relaxed);
        self.malformed_rate
            .store(f.malformed_rate.to_bits(), Relaxed);
        self.down.store(f.down, Relaxed);
        self.quota.store(f.quota.unwrap_or(NO_QUOTA), Relaxed);
        if old.seed != f.seed {
            self.seq.store(0, Relaxed);
        }
        if old.quota != f.quota {
            self.quota_used.store(0, Relaxed);
        }
    }

    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Relaxed)
    }

    pub(crate) fn retry_after_s(&self) -> u64 {
        self.retry_after_s.load(Relaxed)
    }

    pub(crate) fn hang_ms(&self) -> u64 {
        self.hang_ms.load(Relaxed)
    }

    /// Registers the arrival of a request in the per-second window and returns its number.
    pub(crate) fn arrive(&self, now_sec: u32) -> u64 {
        let mut cur = self.window.load(Relaxed);
        loop {
            let (sec, count) = ((cur >> 32) as u32, cur & 0xFFFF_FFFF);
            let next = if now_sec > sec {
                (u64::from(now_sec) << 32) | 1
            } else {
                (u64::from(sec) << 32) | (count + 1).min(0xFFFF_FFFF)
            };
            match self
                .window
                .compare_exchange_weak(cur, next, Relaxed, Relaxed)
            {
                Ok(_) => {
                    self.max_per_second.fetch_max(next & 0xFFFF_FFFF, Relaxed);
                    break;
                }
                Err(actual) => cur = actual,
            }
        }
        self.seq.fetch_add(1, Relaxed)
    }

    /// Draws this request's decisions from `(seed, provider, n)`.
    pub(crate) fn decide(&self, n: u64) -> Decision {
        let base = splitmix64(self.seed.load(Relaxed) ^ ((self.provider.index() as u64) << 56));
        let h = splitmix64(base ^ n);
        let u = unit(h);
        let rate = |a: &AtomicU64| f64::from_bits(a.load(Relaxed));
        let timeout = rate(&self.timeout_rate);
        let limited = timeout + rate(&self.rate_429);
        let error = limited + rate(&self.error_rate);
        let malformed = error + rate(&self.malformed_rate);
        let roll = if u < timeout {
            Roll::Timeout
        } else if u < limited {
            Roll::RateLimited
        } else if u < error {
            Roll::Error
        } else if u < malformed {
            Roll::Malformed
        } else {
            Roll::Pass
        };
        let lo = self.latency_min_ms.load(Relaxed);
        let hi = self.latency_max_ms.load(Relaxed);
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let h2 = splitmix64(h ^ 0x6C61_7465_6E63_7921);
        let latency_ms = if hi == 0 {
            0
        } else {
            lo + h2 % (hi - lo).saturating_add(1).max(1)
        };
        Decision {
            roll,
            latency_ms,
            hash: splitmix64(h2),
        }
    }

    /// Takes one unit of quota; false when the quota is used up.
    pub(crate) fn take_quota(&self) -> bool {
        let q = self.quota.load(Relaxed);
        q == NO_QUOTA
            || self
                .quota_used
                .fetch_update(Relaxed, Relaxed, |used| (used < q).then_some(used + 1))
                .is_ok()
    }

    pub(crate) fn count(&self, o: Outcome) {
        self.counts[o.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn stats(&self) -> ProviderStats {
        let c = |o: Outcome| self.counts[o.index()].load(Relaxed);
        ProviderStats {
            ok: c(Outcome::Ok),
            error: c(Outcome::Error),
            rate_limited: c(Outcome::RateLimited),
            timeout: c(Outcome::Timeout),
            malformed: c(Outcome::Malformed),
            down: c(Outcome::Down),
            not_found: c(Outcome::NotFound),
            bad_request: c(Outcome::BadRequest),
            unauthorized: c(Outcome::Unauthorized),
            max_per_second: self.max_per_second.load(Relaxed),
        }
    }

    /// Zeroes the counts, the per-second peak, the quota count and the request sequence.
    pub(crate) fn reset(&self, now_sec: u32) {
        for c in &self.counts {
            c.store(0, Relaxed);
        }
        self.window.store(u64::from(now_sec) << 32, Relaxed);
        self.max_per_second.store(0, Relaxed);
        self.quota_used.store(0, Relaxed);
        self.seq.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults() -> Faults {
        Faults {
            latency_min_ms: 0,
            latency_max_ms: 0,
            seed: 7,
            error_rate: 0.0,
            rate_429: 0.0,
            retry_after_s: 1,
            timeout_rate: 0.0,
            hang_ms: 10,
            malformed_rate: 0.0,
            down: false,
            quota: None,
        }
    }

    #[test]
    fn patch_json_and_quota_null() {
        let p: FaultPatch = serde_json::from_str(r#"{"error_rate":0.5,"quota":null}"#).unwrap();
        assert_eq!(p.error_rate, Some(0.5));
        assert_eq!(p.quota, Some(None));
        let p: FaultPatch = serde_json::from_str(r#"{"quota":3}"#).unwrap();
        assert_eq!(p.quota, Some(Some(3)));
        let p: FaultPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(p.quota, None);
        assert!(serde_json::from_str::<FaultPatch>(r#"{"eror_rate":1}"#).is_err());
        let mut f = faults();
        f.quota = Some(9);
        FaultPatch::healthy().apply(&mut f);
        assert_eq!(f.quota, None);
        assert!(f.validate().is_ok());
    }

    #[test]
    fn validation() {
        let mut f = faults();
        f.latency_min_ms = 5;
        assert!(f.validate().is_err());
        let mut f = faults();
        f.error_rate = 1.5;
        assert!(f.validate().is_err());
        f.error_rate = f64::NAN;
        assert!(f.validate().is_err());
    }

    #[test]
    fn decisions_are_deterministic_and_proportional() {
        let mut f = faults();
        f.error_rate = 0.25;
        f.latency_min_ms = 10;
        f.latency_max_ms = 20;
        let a = ProviderState::new(Provider::Osrm, &f);
        let b = ProviderState::new(Provider::Osrm, &f);
        let mut errors = 0;
        for n in 0..4000 {
            let (da, db) = (a.decide(n), b.decide(n));
            assert_eq!(da.roll, db.roll);
            assert_eq!(da.latency_ms, db.latency_ms);
            assert!((10..=20).contains(&da.latency_ms));
            if da.roll == Roll::Error {
                errors += 1;
            }
        }
        assert!((800..1200).contains(&errors), "{errors}");
    }

    #[test]
    fn window_and_quota() {
        let mut f = faults();
        f.quota = Some(2);
        let s = ProviderState::new(Provider::KakaoLocal, &f);
        for _ in 0..3 {
            s.arrive(5);
        }
        s.arrive(6);
        assert_eq!(s.stats().max_per_second, 3);
        assert!(s.take_quota() && s.take_quota() && !s.take_quota());
        s.reset(6);
        assert_eq!(s.stats(), ProviderStats::default());
        assert!(s.take_quota());
        assert_eq!(s.arrive(6), 0);
    }
}

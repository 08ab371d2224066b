//! Order statistics: nearest-rank percentiles of samples, and median with min–max of runs.

/// The `p`-th percentile (0 < p ≤ 100) of `sorted` by the nearest-rank method: the smallest value
/// such that at least p % of the samples are at or below it. `None` for no samples.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The median: the middle value, or the mean of the two middle values for an even count.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The completion rate over the middle of a drain: completions between the moments `lo` and `hi`
/// (fractions of all jobs, e.g. 0.1 and 0.9) had completed, divided by the time between them.
/// `times` are completion times in seconds, ascending. `None` when the window is empty.
pub fn window_rate(times: &[f64], lo: f64, hi: f64) -> Option<f64> {
    if times.len() < 2 {
        return None;
    }
    let n = times.len() as f64;
    let index = |f: f64| ((f * n).ceil() as usize).clamp(1, times.len()) - 1;
    let (a, b) = (index(lo), index(hi));
    let span = times.get(b)? - times.get(a)?;
    (b > a && span > 0.0).then(|| (b - a) as f64 / span)
}

/// One metric over repeated runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        Some(Spread {
            median: median(values)?,
            min: values.iter().copied().min_by(f64::total_cmp)?,
            max: values.iter().copied().max_by(f64::total_cmp)?,
        })
    }
}

/// The latency summary the report prints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Summarises unsorted samples; `None` for no samples.
    pub fn of(values: &[f64]) -> Option<Percentiles> {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        Some(Percentiles {
            p50: percentile(&v, 50.0)?,
            p95: percentile(&v, 95.0)?,
            p99: percentile(&v, 99.0)?,
            max: *v.last()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.1), Some(1.0));
        let few = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile(&few, 50.0), Some(20.0));
        assert_eq!(percentile(&few, 51.0), Some(30.0));
        assert_eq!(percentile(&few, 99.0), Some(40.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&few, 0.0), None);
        assert_eq!(percentile(&few, 101.0), None);
    }

    #[test]
    fn percentiles_sort_their_input() {
        let p = Percentiles::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).expect("samples");
        assert_eq!(p.p50, 3.0);
        assert_eq!(p.p95, 5.0);
        assert_eq!(p.max, 5.0);
        assert!(Percentiles::of(&[]).is_none());
    }

    #[test]
    fn window_rate_skips_ramp_up_and_tail() {
        // 100 completions, one every 10 ms, after a slow start and before a slow tail.
        let mut t: Vec<f64> = (0..100).map(|i| 1.0 + f64::from(i) * 0.01).collect();
        t[0] = 0.0;
        t[99] = 9.0;
        // 10 % is the 10th completion (index 9), 90 % the 90th (index 89): 80 in 0.8 s.
        let r = window_rate(&t, 0.1, 0.9).expect("window");
        assert!((r - 100.0).abs() < 1e-6, "{r}");
        assert_eq!(window_rate(&[], 0.1, 0.9), None);
        assert_eq!(window_rate(&[1.0], 0.1, 0.9), None);
    }

    #[test]
    fn median_and_spread() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let s = Spread::of(&[900.0, 1100.0, 1000.0]).expect("runs");
        assert_eq!(
            s,
            Spread {
                median: 1000.0,
                min: 900.0,
                max: 1100.0
            }
        );
    }
}

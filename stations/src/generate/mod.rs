//! Realistic national files in the public format, and reloads of them, for tests and demos.
//!
//! [`generate`] places stations around Korean cities (weighted by size, normally spread around
//! each centre), names them after the sites chargers stand at (a 행정복지센터, a mart, an apartment
//! complex, a filling station), gives them an operator of the public data and 1–8 chargers of
//! plausible types, outputs and states. Stations are kept [`MIN_SEPARATION_M`] apart, so which
//! record is which real station is never in doubt at match distances below that; only the
//! crafted traps of a [`reload`](reload::reload) come closer.
//!
//! A [`Dataset`] is the ground truth: one [`GenStation`] per real station, each with a `truth`
//! id that survives reloads, which is what tests check our ids against.

mod places;
pub mod reload;
pub mod write;

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use places::Site;
use places::{APARTMENTS, CITIES, FUEL, MARTS, OPERATORS, PUBLIC, ROADS, STEM_A, STEM_B};

/// How far apart generated stations are at least (the traps aside), in metres.
pub const MIN_SEPARATION_M: f64 = 100.0;

/// One station as the source delivers it, with the real station it is of.
#[derive(Debug, Clone, PartialEq)]
pub struct GenStation {
    /// The real station (ground truth); the same across reloads, never in the file.
    pub truth: u64,
    pub stat_id: String,
    pub name: String,
    pub addr: String,
    pub lat: f64,
    pub lng: f64,
    pub busi_id: String,
    pub busi_nm: String,
    pub use_time: String,
    pub zcode: String,
    pub chargers: Vec<GenCharger>,
}

/// One charger as the source delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenCharger {
    pub chger_id: String,
    pub chger_type: String,
    pub output_kw: Option<u32>,
    pub stat: u8,
    /// `yyyyMMddHHmmss`, Korean time.
    pub stat_upd: String,
}

/// The real stations of a generated country, and what a reload must respect.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub stations: Vec<GenStation>,
    /// Stations no reload moves or removes (the traps and their neighbours).
    pub pinned: HashSet<u64>,
    /// Where removed stations were (we keep them, retired, so new ones stay away).
    pub graveyard: Vec<(f64, f64)>,
    /// Every statId used so far, so that fresh ones are fresh.
    pub used_keys: HashSet<String>,
    pub next_truth: u64,
    /// The time of the data (statUpdDt), advanced by each reload.
    pub clock: NaiveDateTime,
}

impl Dataset {
    /// Charger rows in the file.
    pub fn rows(&self) -> usize {
        self.stations.iter().map(|s| s.chargers.len()).sum()
    }

    fn grid(&self) -> Grid {
        let mut grid = Grid::default();
        for s in &self.stations {
            grid.insert(s.lat, s.lng);
        }
        for &(lat, lng) in &self.graveyard {
            grid.insert(lat, lng);
        }
        grid
    }
}

fn base_clock() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .unwrap_or_default()
}

/// A country of `stations` stations (about 3.5 chargers each).
pub fn generate(stations: usize, seed: u64) -> Dataset {
    build(seed, |d| d.stations.len() >= stations)
}

/// A country with exactly `rows` chargers (the last station gets fewer if need be).
pub fn generate_rows(rows: usize, seed: u64) -> Dataset {
    let mut d = build(seed, |d| d.rows() >= rows);
    let over = d.rows().saturating_sub(rows);
    if let Some(last) = d.stations.last_mut() {
        let keep = last.chargers.len().saturating_sub(over).max(1);
        last.chargers.truncate(keep);
    }
    d
}

fn build(seed: u64, done: impl Fn(&Dataset) -> bool) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut d = Dataset {
        clock: base_clock(),
        ..Dataset::default()
    };
    let mut grid = Grid::default();
    while !done(&d) {
        let s = new_station(&mut d, &mut grid, &mut rng);
        d.stations.push(s);
    }
    d
}

/// A new real station somewhere plausible, [`MIN_SEPARATION_M`] from every other.
pub(crate) fn new_station(d: &mut Dataset, grid: &mut Grid, rng: &mut StdRng) -> GenStation {
    let (city, lat, lng) = loop {
        let city = pick_city(rng);
        let sigma_m = city.spread_km * 1000.0;
        let (dx, dy) = gaussian_pair(rng, sigma_m, 3.0 * sigma_m);
        let lat = city.lat + dy / 111_320.0;
        let lng = city.lon + dx / (111_320.0 * city.lat.to_radians().cos());
        if !grid.any_within(lat, lng, MIN_SEPARATION_M) {
            break (city, lat, lng);
        }
    };
    grid.insert(lat, lng);
    let (busi_id, busi_nm) = pick_operator(rng);
    let site = pick_site(rng);
    let stem = stem(rng);
    let district = city.districts[rng.random_range(0..city.districts.len())];
    let addr = [city.province, city.city, district]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let addr = format!(
        "{addr} {} {}",
        ROADS[rng.random_range(0..ROADS.len())],
        rng.random_range(1..400)
    );
    let n = weighted(rng, &[25.0, 25.0, 12.0, 12.0, 6.0, 8.0, 4.0, 8.0]) + 1;
    let chargers = (1..=n)
        .map(|i| new_charger(i, site, d.clock, rng))
        .collect();
    let truth = d.next_truth;
    d.next_truth += 1;
    GenStation {
        truth,
        stat_id: fresh_key(d, busi_id, rng),
        name: site.name(&stem),
        addr,
        lat,
        lng,
        busi_id: busi_id.to_string(),
        busi_nm: busi_nm.to_string(),
        use_time: [
            "24시간",
            "09:00~18:00",
            "06:00~24:00",
            "평일 09:00~18:00, 주말 휴무",
        ][weighted(rng, &[80.0, 8.0, 7.0, 5.0])]
        .to_string(),
        zcode: city.zcode.to_string(),
        chargers,
    }
}

fn new_charger(i: usize, site: Site, clock: NaiveDateTime, rng: &mut StdRng) -> GenCharger {
    let (chger_type, output_kw) = if rng.random_bool(site.fast_share()) {
        let t = ["04", "06", "05", "01", "03"][weighted(rng, &[55.0, 25.0, 10.0, 5.0, 5.0])];
        let kw = if t == "04" {
            [50, 100, 200, 350][weighted(rng, &[35.0, 35.0, 20.0, 10.0])]
        } else {
            [50, 100][weighted(rng, &[85.0, 15.0])]
        };
        (t, Some(kw))
    } else if rng.random_bool(0.9) {
        ("02", Some([7, 11][weighted(rng, &[85.0, 15.0])]))
    } else {
        ("07", Some(43))
    };
    // Older slow chargers often carry no output at all.
    let output_kw = if chger_type == "02" && rng.random_bool(0.05) {
        None
    } else {
        output_kw
    };
    GenCharger {
        chger_id: format!("{i:02}"),
        chger_type: chger_type.to_string(),
        output_kw,
        stat: random_stat(rng),
        stat_upd: stat_time(clock, 7 * 24 * 3600, rng),
    }
}

pub(crate) fn random_stat(rng: &mut StdRng) -> u8 {
    [2, 3, 1, 4, 5, 9][weighted(rng, &[55.0, 25.0, 4.0, 3.0, 3.0, 10.0])]
}

/// A time up to `within_s` seconds before `clock`, as the source writes it.
pub(crate) fn stat_time(clock: NaiveDateTime, within_s: i64, rng: &mut StdRng) -> String {
    (clock - chrono::Duration::seconds(rng.random_range(0..within_s)))
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// A statId never used before: the operator's prefix and six digits.
pub(crate) fn fresh_key(d: &mut Dataset, prefix: &str, rng: &mut StdRng) -> String {
    loop {
        let key = format!("{prefix}{:06}", rng.random_range(0..1_000_000));
        if d.used_keys.insert(key.clone()) {
            return key;
        }
    }
}

pub(crate) fn stem(rng: &mut StdRng) -> String {
    format!(
        "{}{}",
        STEM_A[rng.random_range(0..STEM_A.len())],
        STEM_B[rng.random_range(0..STEM_B.len())]
    )
}

pub(crate) fn pick_site(rng: &mut StdRng) -> Site {
    let pick = |list: &[&'static str], rng: &mut StdRng| list[rng.random_range(0..list.len())];
    match weighted(rng, &[30.0, 35.0, 15.0, 20.0]) {
        0 => Site::Public(pick(PUBLIC, rng)),
        1 => Site::Apartment(pick(APARTMENTS, rng)),
        2 => Site::Mart(pick(MARTS, rng)),
        _ => Site::Fuel(pick(FUEL, rng)),
    }
}

fn pick_city(rng: &mut StdRng) -> &'static places::City {
    let weights: Vec<f64> = CITIES.iter().map(|c| c.weight).collect();
    &CITIES[weighted(rng, &weights)]
}

fn pick_operator(rng: &mut StdRng) -> (&'static str, &'static str) {
    let weights: Vec<f64> = OPERATORS.iter().map(|o| o.2).collect();
    let (id, name, _) = OPERATORS[weighted(rng, &weights)];
    (id, name)
}

/// An index drawn with the given weights.
pub(crate) fn weighted(rng: &mut StdRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random_range(0.0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Two independent normal offsets (Box–Muller) of deviation `sigma`, each cut at `cap`.
fn gaussian_pair(rng: &mut StdRng, sigma: f64, cap: f64) -> (f64, f64) {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    let r = (-2.0 * u1.ln()).sqrt() * sigma;
    let t = std::f64::consts::TAU * u2;
    (
        (r * t.cos()).clamp(-cap, cap),
        (r * t.sin()).clamp(-cap, cap),
    )
}

/// Metres between two points (haversine).
pub fn distance_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * a.sqrt().asin()
}

/// The point `metres` from (`lat`, `lng`) towards `bearing` (radians from north).
pub fn offset(lat: f64, lng: f64, metres: f64, bearing: f64) -> (f64, f64) {
    let dy = metres * bearing.cos();
    let dx = metres * bearing.sin();
    (
        lat + dy / 111_320.0,
        lng + dx / (111_320.0 * lat.to_radians().cos()),
    )
}

/// Points in cells of about 110 m, to keep stations apart.
#[derive(Debug, Default)]
pub(crate) struct Grid {
    cells: HashMap<(i64, i64), Vec<(f64, f64)>>,
}

impl Grid {
    fn cell(lat: f64, lng: f64) -> (i64, i64) {
        ((lat / 0.001).floor() as i64, (lng / 0.00125).floor() as i64)
    }

    pub(crate) fn insert(&mut self, lat: f64, lng: f64) {
        self.cells
            .entry(Grid::cell(lat, lng))
            .or_default()
            .push((lat, lng));
    }

    pub(crate) fn remove(&mut self, lat: f64, lng: f64) {
        if let Some(v) = self.cells.get_mut(&Grid::cell(lat, lng)) {
            v.retain(|p| *p != (lat, lng));
        }
    }

    /// Points within `metres` (up to about 200 m) of (`lat`, `lng`).
    pub(crate) fn within(&self, lat: f64, lng: f64, metres: f64) -> usize {
        let (cy, cx) = Grid::cell(lat, lng);
        let mut n = 0;
        for y in cy - 2..=cy + 2 {
            for x in cx - 2..=cx + 2 {
                if let Some(points) = self.cells.get(&(y, x)) {
                    n += points
                        .iter()
                        .filter(|(a, b)| distance_m(lat, lng, *a, *b) < metres)
                        .count();
                }
            }
        }
        n
    }

    pub(crate) fn any_within(&self, lat: f64, lng: f64, metres: f64) -> bool {
        self.within(lat, lng, metres) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_country_is_plausible_and_reproducible() {
        let d = generate(2000, 7);
        assert_eq!(d.stations.len(), 2000);
        let again = generate(2000, 7);
        assert_eq!(d.stations, again.stations);
        let rows = d.rows();
        assert!(
            (5000..9000).contains(&rows),
            "{rows} chargers for 2000 stations"
        );
        let keys: HashSet<&str> = d.stations.iter().map(|s| s.stat_id.as_str()).collect();
        assert_eq!(keys.len(), 2000);
        for s in &d.stations {
            assert!((1..=8).contains(&s.chargers.len()));
            assert!(
                (33.0..38.7).contains(&s.lat) && (124.5..132.0).contains(&s.lng),
                "{s:?}"
            );
            assert!(s.stat_id.starts_with(&s.busi_id));
        }
        let seoul = d.stations.iter().filter(|s| s.zcode == "11").count();
        assert!((200..500).contains(&seoul), "{seoul} of 2000 in Seoul");
        let grid = d.grid();
        for s in &d.stations {
            assert_eq!(
                grid.within(s.lat, s.lng, MIN_SEPARATION_M),
                1,
                "{} too close",
                s.name
            );
        }
        assert_eq!(generate_rows(10_000, 3).rows(), 10_000);
    }
}

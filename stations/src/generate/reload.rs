//! A reload of a file, as the source re-delivers it: every key reshuffled, a few stations moved
//! by metres, some removed, some added, small cosmetic edits, new states; and two traps:
//!
//! - **neighbour**: a new station 15 m from an existing one, with another name (same address
//!   and operator: one car park, two sites). It must never be merged with its neighbour.
//! - **split**: an existing station delivered under two keys, its chargers divided between them.
//!
//! Keys are reshuffled the hard way: each station gets another station's former key of the same
//! operator (never its own), so most old keys now name a different, distant station; stations
//! without such a key get fresh ones.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

use super::{
    Dataset, GenStation, MIN_SEPARATION_M, distance_m, fresh_key, new_station, offset, pick_site,
    random_stat, stat_time, stem,
};

/// How much a reload changes, as shares of the stations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub remove: f64,
    pub moved: f64,
    pub add: f64,
    /// Cosmetic edits of name or address (spacing, a generic word, the province written short).
    pub edit: f64,
    /// Share of chargers with a new state.
    pub status: f64,
    /// How far a moved station moves, metres (keep it under the importer's match distance).
    pub move_m: (f64, f64),
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            remove: 0.02,
            moved: 0.03,
            add: 0.02,
            edit: 0.02,
            status: 0.3,
            move_m: (3.0, 30.0),
        }
    }
}

/// The ground truth of one reload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub removed: Vec<u64>,
    /// Moved stations and by how many metres.
    pub moved: Vec<(u64, f64)>,
    pub added: Vec<u64>,
    pub edited: Vec<u64>,
    /// (the new trap station, its neighbour 15 m away).
    pub neighbour: Option<(u64, u64)>,
    /// The station delivered under two keys, and the keys.
    pub split: Option<(u64, [String; 2])>,
}

/// A reload: the file's records (the split station twice), the truth after it, what changed.
#[derive(Debug, Clone)]
pub struct Reload {
    pub records: Vec<GenStation>,
    pub next: Dataset,
    pub changes: Changes,
}

/// Makes the next delivery of `d`.
pub fn reload(d: &Dataset, seed: u64, rates: &Rates) -> Reload {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next = d.clone();
    next.clock += chrono::Duration::days(1);
    let mut grid = next.grid();
    let mut changes = Changes::default();
    let previous: HashSet<u64> = d.stations.iter().map(|s| s.truth).collect();

    // Removed: gone from the file, their place kept clear.
    let pinned = next.pinned.clone();
    next.stations.retain(|s| {
        if pinned.contains(&s.truth) || !rng.random_bool(rates.remove) {
            return true;
        }
        changes.removed.push(s.truth);
        next.graveyard.push((s.lat, s.lng));
        false
    });
    // Moved by metres, staying apart from every other station.
    for s in next.stations.iter_mut() {
        if pinned.contains(&s.truth) || !rng.random_bool(rates.moved) {
            continue;
        }
        let metres = rng.random_range(rates.move_m.0..=rates.move_m.1);
        grid.remove(s.lat, s.lng);
        for _ in 0..8 {
            let (lat, lng) = offset(
                s.lat,
                s.lng,
                metres,
                rng.random_range(0.0..std::f64::consts::TAU),
            );
            if !grid.any_within(lat, lng, MIN_SEPARATION_M) {
                (s.lat, s.lng) = (lat, lng);
                changes.moved.push((s.truth, metres));
                break;
            }
        }
        grid.insert(s.lat, s.lng);
    }
    let moved: HashSet<u64> = changes.moved.iter().map(|m| m.0).collect();
    // Cosmetic edits that must not break recognition.
    for s in next.stations.iter_mut() {
        if pinned.contains(&s.truth) || !rng.random_bool(rates.edit) {
            continue;
        }
        match rng.random_range(0..3) {
            0 => s.name = format!("{} 전기차충전소", s.name),
            1 => s.name = s.name.replace(' ', ""),
            _ => {
                for (long, short) in [
                    ("특별시", ""),
                    ("광역시", ""),
                    ("특별자치도", ""),
                    ("특별자치시", ""),
                ] {
                    if let Some(first) = s.addr.split(' ').next()
                        && first.ends_with(long)
                    {
                        s.addr = s.addr.replacen(long, short, 1);
                        break;
                    }
                }
            }
        }
        changes.edited.push(s.truth);
    }
    // New states.
    let clock = next.clock;
    for c in next.stations.iter_mut().flat_map(|s| s.chargers.iter_mut()) {
        if rng.random_bool(rates.status) {
            c.stat = random_stat(&mut rng);
            c.stat_upd = stat_time(clock, 6 * 3600, &mut rng);
        }
    }
    // Added.
    let add = ((d.stations.len() as f64) * rates.add).round() as usize;
    for _ in 0..add {
        let s = new_station(&mut next, &mut grid, &mut rng);
        changes.added.push(s.truth);
        next.stations.push(s);
    }
    let untouched: Vec<usize> = (0..next.stations.len())
        .filter(|&i| {
            let t = next.stations[i].truth;
            previous.contains(&t) && !moved.contains(&t) && !pinned.contains(&t)
        })
        .collect();
    // Trap: a different station 15 m from one that stays where it is.
    if next.stations.len() >= 10 {
        for _ in 0..50 {
            let Some(&i) = untouched.choose(&mut rng) else {
                break;
            };
            let n = next.stations[i].clone();
            let (lat, lng) = offset(
                n.lat,
                n.lng,
                15.0,
                rng.random_range(0.0..std::f64::consts::TAU),
            );
            if grid.within(lat, lng, MIN_SEPARATION_M + 15.0) > 1 {
                continue;
            }
            let mut t = new_station(&mut next, &mut grid, &mut rng);
            grid.remove(t.lat, t.lng);
            let name = loop {
                let name = pick_site(&mut rng).name(&stem(&mut rng));
                if crate::similarity::compare(
                    &facts(&name, &n.addr, &n.busi_id),
                    &facts(&n.name, &n.addr, &n.busi_id),
                )
                .name
                    < 0.3
                {
                    break name;
                }
            };
            (t.name, t.addr, t.lat, t.lng) = (name, n.addr.clone(), lat, lng);
            (t.busi_id, t.busi_nm, t.zcode) =
                (n.busi_id.clone(), n.busi_nm.clone(), n.zcode.clone());
            t.stat_id = fresh_key(&mut next, &t.busi_id, &mut rng);
            grid.insert(lat, lng);
            next.pinned.extend([t.truth, n.truth]);
            changes.neighbour = Some((t.truth, n.truth));
            next.stations.push(t);
            break;
        }
    }
    // Trap: one station under two keys (chosen among those left alone, with two chargers or more).
    let split_candidates: Vec<usize> = untouched
        .iter()
        .copied()
        .filter(|&i| {
            let s = &next.stations[i];
            s.chargers.len() >= 2 && !next.pinned.contains(&s.truth)
        })
        .collect();
    let split = if next.stations.len() >= 10 {
        split_candidates.choose(&mut rng).copied()
    } else {
        None
    };

    // Keys: another station's former key of the same operator, never its own.
    let mut pool: HashMap<&str, Vec<String>> = HashMap::new();
    for s in &d.stations {
        pool.entry(s.busi_id.as_str())
            .or_default()
            .push(s.stat_id.clone());
    }
    let mut recipients: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, s) in next.stations.iter().enumerate() {
        if previous.contains(&s.truth) {
            recipients.entry(s.busi_id.clone()).or_default().push(i);
        }
    }
    let mut ops: Vec<&String> = recipients.keys().collect();
    ops.sort();
    let mut assigned: HashMap<usize, String> = HashMap::new();
    for op in ops {
        let who = &recipients[op];
        let mut keys = pool.get(op.as_str()).cloned().unwrap_or_default();
        if who.len() < 2 || keys.len() < who.len() {
            continue;
        }
        keys.shuffle(&mut rng);
        keys.truncate(who.len());
        for k in 0..who.len() {
            if keys[k] == next.stations[who[k]].stat_id {
                keys.swap(k, (k + 1) % who.len());
            }
        }
        for (k, &i) in who.iter().enumerate() {
            assigned.insert(i, keys[k].clone());
        }
    }
    for i in 0..next.stations.len() {
        let key = match assigned.remove(&i) {
            Some(key) => key,
            None if previous.contains(&next.stations[i].truth) => {
                let prefix = next.stations[i].busi_id.clone();
                fresh_key(&mut next, &prefix, &mut rng)
            }
            // Stations new in this reload already have fresh keys.
            None => continue,
        };
        next.stations[i].stat_id = key;
    }

    let mut records = Vec::with_capacity(next.stations.len() + 1);
    let stations = std::mem::take(&mut next.stations);
    for (i, s) in stations.iter().enumerate() {
        if Some(i) == split {
            let half = s.chargers.len() / 2;
            let mut a = s.clone();
            let mut b = s.clone();
            a.chargers.truncate(half);
            b.chargers.drain(..half);
            b.stat_id = fresh_key(&mut next, &s.busi_id, &mut rng);
            changes.split = Some((s.truth, [a.stat_id.clone(), b.stat_id.clone()]));
            records.push(a);
            records.push(b);
        } else {
            records.push(s.clone());
        }
    }
    next.stations = stations;
    records.shuffle(&mut rng);
    Reload {
        records,
        next,
        changes,
    }
}

fn facts<'a>(name: &'a str, addr: &'a str, op: &'a str) -> crate::similarity::Facts<'a> {
    crate::similarity::Facts {
        name,
        address: addr,
        operator_id: op,
        operator_name: "",
    }
}

/// Metres between where a station was in `before` and is in `after` (for tests).
pub fn moved_by(before: &GenStation, after: &GenStation) -> f64 {
    distance_m(before.lat, before.lng, after.lat, after.lng)
}

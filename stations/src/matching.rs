//! Recognising an incoming station among ours, never guessing.
//!
//! Candidates are our stations (retired ones included, so a station that comes back gets its id
//! back) within the match distance of the incoming one, found with `ST_DWithin` on the GiST
//! index. Each is compared by name, address and operator ([`crate::similarity`]); a candidate
//! *agrees* when its score reaches the agreement threshold. Then, in order:
//!
//! 1. an agreeing candidate that holds the incoming external key → that station;
//! 2. exactly one agreeing candidate (an active one preferred over retired ones) → that station,
//!    the key added as an alias; farther than the same-place tolerance counts as moved;
//! 3. several agreeing candidates → review (`ambiguous`);
//! 4. candidates, none agreeing (same place, another name) → review (`disagrees`);
//! 5. no candidate → a new station.
//!
//! A key alone never decides: the source reuses keys across reloads, so a key held by a station
//! that is far away or disagrees is ignored. Finally ([`crate::import::decide::contest`]), a station of ours claimed by
//! several incoming stations (one station split across two keys) is not given to any of them:
//! all go to review, unless exactly one claims it by key.

use uuid::Uuid;

use crate::similarity::Similarity;

/// The matcher's tolerances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchConfig {
    /// How far an incoming station may be from ours and still be it, in metres. 50 m: the
    /// source's coordinates of one station vary by a few metres to a few tens between
    /// deliveries (re-registration, geocoded address against GPS), and one site (a car park, a
    /// building) spans about that; a station farther away is treated as another site. Closer
    /// stations that are different exist (two operators in one car park), which is why the name
    /// must agree too.
    pub match_distance_m: f64,
    /// Score (0..=1) from which a candidate agrees. 0.7: with the name weighing 0.6, a candidate
    /// with the same address and operator but another name scores at most 0.4 + 0.6 × (name
    /// likeness) and needs a name at least half alike; cosmetic edits ("(급속)", spacing, a
    /// province written short) keep a station well above it.
    pub agree_score: f64,
    /// Within this distance a station has not moved (rounding of the source's coordinates), m.
    pub same_place_m: f64,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            match_distance_m: 50.0,
            agree_score: 0.7,
            same_place_m: 1.0,
        }
    }
}

impl MatchConfig {
    pub fn validate(&self) -> Result<(), crate::Error> {
        if !(self.match_distance_m > 0.0 && self.match_distance_m <= 1000.0) {
            return Err(crate::Error::invalid(
                "match_distance_m",
                "must be in (0, 1000]",
            ));
        }
        if !(self.agree_score > 0.0 && self.agree_score <= 1.0) {
            return Err(crate::Error::invalid("agree_score", "must be in (0, 1]"));
        }
        if !(self.same_place_m >= 0.0 && self.same_place_m < self.match_distance_m) {
            return Err(crate::Error::invalid(
                "same_place_m",
                "must be at least 0 and below the match distance",
            ));
        }
        Ok(())
    }
}

/// One of our stations near an incoming one.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub station: Uuid,
    pub distance_m: f64,
    /// It holds the incoming station's external key.
    pub key_match: bool,
    pub retired: bool,
    pub similarity: Similarity,
}

/// Why an incoming station waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Ambiguous,
    Disagrees,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ambiguous => "ambiguous",
            Reason::Disagrees => "disagrees",
        }
    }
}

/// What becomes of one incoming station.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Same {
        station: Uuid,
        distance_m: f64,
        by_key: bool,
        revived: bool,
    },
    New,
    Review {
        reason: Reason,
        candidates: Vec<Uuid>,
        detail: String,
    },
}

/// Decides for one incoming station from its candidates (all within the match distance).
pub fn decide(candidates: &[Candidate], cfg: &MatchConfig) -> Decision {
    let same = |c: &Candidate, by_key| Decision::Same {
        station: c.station,
        distance_m: c.distance_m,
        by_key,
        revived: c.retired,
    };
    let agree: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.similarity.total >= cfg.agree_score)
        .collect();
    if let Some(c) = agree.iter().find(|c| c.key_match) {
        return same(c, true);
    }
    let active: Vec<&&Candidate> = agree.iter().filter(|c| !c.retired).collect();
    match (active.len(), agree.len()) {
        (1, _) => same(active[0], false),
        (0, 1) => same(agree[0], false),
        (_, 0) if candidates.is_empty() => Decision::New,
        (_, 0) => {
            let mut near: Vec<&Candidate> = candidates.iter().collect();
            near.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
            let c = near[0];
            let s = c.similarity;
            Decision::Review {
                reason: Reason::Disagrees,
                candidates: near.iter().map(|c| c.station).collect(),
                detail: format!(
                    "{} at {:.1} m{} does not agree: name {:.2}, address {:.2}, operator {:.2}, score {:.2} < {:.2}",
                    c.station,
                    c.distance_m,
                    if c.key_match {
                        " (holding this key)"
                    } else {
                        ""
                    },
                    s.name,
                    s.address,
                    s.operator,
                    s.total,
                    cfg.agree_score
                ),
            }
        }
        _ => Decision::Review {
            reason: Reason::Ambiguous,
            candidates: agree.iter().map(|c| c.station).collect(),
            detail: format!(
                "{} stations within {} m agree: {}",
                agree.len(),
                cfg.match_distance_m,
                agree
                    .iter()
                    .map(|c| format!(
                        "{} at {:.1} m, score {:.2}",
                        c.station, c.distance_m, c.similarity.total
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(n: u128, distance_m: f64, total: f64, key_match: bool, retired: bool) -> Candidate {
        Candidate {
            station: Uuid::from_u128(n),
            distance_m,
            key_match,
            retired,
            similarity: Similarity {
                name: total,
                address: total,
                operator: total,
                total,
            },
        }
    }

    #[test]
    fn the_rules_apply_in_order() {
        let cfg = MatchConfig::default();
        let id = Uuid::from_u128;
        assert_eq!(decide(&[], &cfg), Decision::New);
        // One agreeing candidate; a disagreeing neighbour does not matter.
        let d = decide(
            &[
                cand(1, 15.0, 0.4, false, false),
                cand(2, 3.0, 0.95, false, false),
            ],
            &cfg,
        );
        assert_eq!(
            d,
            Decision::Same {
                station: id(2),
                distance_m: 3.0,
                by_key: false,
                revived: false
            }
        );
        // The key breaks a tie between agreeing candidates, but never overrides disagreement.
        let d = decide(
            &[
                cand(1, 5.0, 0.9, false, false),
                cand(2, 9.0, 0.8, true, false),
            ],
            &cfg,
        );
        assert!(matches!(d, Decision::Same { station, by_key: true, .. } if station == id(2)));
        let d = decide(&[cand(1, 15.0, 0.5, true, false)], &cfg);
        assert!(
            matches!(
                d,
                Decision::Review {
                    reason: Reason::Disagrees,
                    ..
                }
            ),
            "{d:?}"
        );
        // Two agreeing, no key: a person decides.
        let d = decide(
            &[
                cand(1, 5.0, 0.9, false, false),
                cand(2, 9.0, 0.8, false, false),
            ],
            &cfg,
        );
        assert!(
            matches!(d, Decision::Review { reason: Reason::Ambiguous, ref candidates, .. } if candidates.len() == 2)
        );
        // An active station wins over a retired look-alike; a lone retired one is revived.
        let d = decide(
            &[
                cand(1, 5.0, 0.9, false, true),
                cand(2, 9.0, 0.8, false, false),
            ],
            &cfg,
        );
        assert!(matches!(d, Decision::Same { station, revived: false, .. } if station == id(2)));
        let d = decide(&[cand(1, 5.0, 0.9, false, true)], &cfg);
        assert!(matches!(d, Decision::Same { revived: true, .. }));
    }
}

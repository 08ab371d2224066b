//! Is this incoming station the one we know? Name, address and operator, compared in Rust.
//!
//! Names and addresses are normalised (lower case, letters and digits only, words that every
//! station has such as 충전소 or 급속 dropped) and compared by the Dice coefficient of their
//! character bigrams. Bigrams of Hangul syllables are the usual unit for Korean text: spacing in
//! the source varies ("이마트성수점" / "이마트 성수점") and one syllable carries much meaning. It is
//! done here rather than with pg_trgm because pg_trgm only sees the letters its database's
//! locale classifies, which for Hangul depends on how the cluster was created.
//!
//! The score weighs the name most: two different stations often share an address (one building,
//! one car park) and an operator, so those alone must never reach the agreement threshold.

/// Weight of the name in the score.
pub const NAME_WEIGHT: f64 = 0.6;
/// Weight of the address in the score.
pub const ADDRESS_WEIGHT: f64 = 0.25;
/// Weight of the operator in the score.
pub const OPERATOR_WEIGHT: f64 = 0.15;

/// Words that say what every station is, not which one.
const GENERIC: &[&str] = &[
    "전기차충전소",
    "전기자동차충전소",
    "충전소",
    "전기차",
    "충전기",
    "급속",
    "완속",
    "ev",
    "station",
];

/// What an incoming row and a stored station are compared on.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub operator_id: &'a str,
    pub operator_name: &'a str,
}

/// How alike two stations are, each part in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub name: f64,
    pub address: f64,
    pub operator: f64,
    /// The weighted sum of the three.
    pub total: f64,
}

/// Lower case, letters and digits only, generic words dropped (also when glued to the end of a
/// word: "성수점전기차충전소").
pub fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut word = word.to_lowercase();
        loop {
            let before = word.len();
            for g in GENERIC {
                if word.len() > g.len() && word.ends_with(g) {
                    word.truncate(word.len() - g.len());
                }
            }
            if word.len() == before {
                break;
            }
        }
        if !GENERIC.contains(&word.as_str()) {
            out.push_str(&word);
        }
    }
    out
}

/// Dice coefficient of the character bigrams of two normalised strings; strings too short for
/// a bigram compare equal or not.
pub fn dice(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() < 2 || b.len() < 2 {
        return if a == b && !a.is_empty() { 1.0 } else { 0.0 };
    }
    let mut left: Vec<(char, char)> = a.windows(2).map(|w| (w[0], w[1])).collect();
    let mut right: Vec<(char, char)> = b.windows(2).map(|w| (w[0], w[1])).collect();
    left.sort_unstable();
    right.sort_unstable();
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < left.len() && j < right.len() {
        match left[i].cmp(&right[j]) {
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    2.0 * common as f64 / (left.len() + right.len()) as f64
}

/// Same operator: 1, different: 0, one side unknown: 0.5 (neither evidence for nor against).
fn operator(a: &Facts<'_>, b: &Facts<'_>) -> f64 {
    if !a.operator_id.is_empty() && !b.operator_id.is_empty() {
        return if a.operator_id.eq_ignore_ascii_case(b.operator_id) {
            1.0
        } else {
            0.0
        };
    }
    let (x, y) = (normalise(a.operator_name), normalise(b.operator_name));
    if x.is_empty() || y.is_empty() {
        0.5
    } else if x == y {
        1.0
    } else {
        0.0
    }
}

/// Compares two stations. An empty address on either side counts half, like an unknown operator.
pub fn compare(a: &Facts<'_>, b: &Facts<'_>) -> Similarity {
    let name = dice(&normalise(a.name), &normalise(b.name));
    let (addr_a, addr_b) = (normalise(a.address), normalise(b.address));
    let address = if addr_a.is_empty() || addr_b.is_empty() {
        0.5
    } else {
        dice(&addr_a, &addr_b)
    };
    let operator = operator(a, b);
    Similarity {
        name,
        address,
        operator,
        total: NAME_WEIGHT * name + ADDRESS_WEIGHT * address + OPERATOR_WEIGHT * operator,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(name: &'a str, address: &'a str, op: &'a str) -> Facts<'a> {
        Facts {
            name,
            address,
            operator_id: op,
            operator_name: "",
        }
    }

    #[test]
    fn normalising_drops_spacing_case_and_generic_words() {
        assert_eq!(normalise("이마트 성수점 전기차충전소"), "이마트성수점");
        assert_eq!(normalise("이마트성수점충전소"), "이마트성수점");
        assert_eq!(normalise("GS칼텍스 (급속) Station"), "gs칼텍스");
        assert_eq!(dice("이마트성수점", "이마트성수점"), 1.0);
        assert_eq!(dice("", ""), 0.0);
    }

    #[test]
    fn the_same_station_agrees_and_a_neighbour_in_the_same_building_does_not() {
        let addr = "서울특별시 성동구 왕십리로 83";
        let ours = facts("이마트 성수점", addr, "ME");
        let again = facts("이마트 성수점 (급속)", "서울 성동구 왕십리로 83", "ME");
        let neighbour = facts("성수동 공영주차장", addr, "ME");
        let sharing_a_district = facts("성수동 주민센터", addr, "ME");
        let s = compare(&ours, &again);
        assert!(s.total > 0.9, "{s:?}");
        // A different name with the same address and operator stays below any sound threshold.
        for other in [neighbour, sharing_a_district] {
            let s = compare(&ours, &other);
            assert!(s.total < 0.55, "{s:?}");
        }
        let s = compare(&neighbour, &sharing_a_district);
        assert!(s.total < 0.65, "{s:?}");
    }
}

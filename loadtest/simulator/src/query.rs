//! Allocation-free (in the common case) query-string and percent-decoding helpers. Nothing here
//! panics on odd input: bad escapes are kept literally, invalid UTF-8 is reported.

use std::borrow::Cow;

/// The value of one query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param<'a> {
    Missing,
    /// Present; percent- and `+`-decoded.
    Value(Cow<'a, str>),
    /// Present but not valid UTF-8 once decoded.
    Invalid,
}

impl<'a> Param<'a> {
    /// The decoded value, treating an empty value as missing.
    pub(crate) fn non_empty(self) -> Param<'a> {
        match self {
            Param::Value(v) if v.trim().is_empty() => Param::Missing,
            other => other,
        }
    }
}

/// Iterates over the raw `(key, value, byte offset of the pair)` triples of a query string.
pub(crate) fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str, usize)> {
    let mut offset = 0usize;
    query.split('&').filter_map(move |pair| {
        let at = offset;
        offset += pair.len() + 1;
        if pair.is_empty() {
            return None;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        Some((k, v, at))
    })
}

fn key_matches(raw: &str, key: &str) -> bool {
    if raw == key {
        return true;
    }
    if raw.bytes().any(|c| c == b'%' || c == b'+') {
        return percent_decode(raw, true).is_some_and(|k| k == key);
    }
    false
}

/// The first occurrence of `key` in the query string.
pub(crate) fn param<'a>(query: Option<&'a str>, key: &str) -> Param<'a> {
    let Some(query) = query else {
        return Param::Missing;
    };
    for (k, v, _) in raw_pairs(query) {
        if key_matches(k, key) {
            return match percent_decode(v, true) {
                Some(v) => Param::Value(v),
                None => Param::Invalid,
            };
        }
    }
    Param::Missing
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (and `+` → space when `plus_is_space`, as in query strings). Returns
/// `None` if the result is not UTF-8. Borrows when there is nothing to decode.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> Option<Cow<'_, str>> {
    let bytes = s.as_bytes();
    if !bytes
        .iter()
        .any(|&c| c == b'%' || (plus_is_space && c == b'+'))
    {
        return Some(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi * 16 + lo);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Address-query normalisation: trim, lowercase, collapse runs of whitespace to one space.
#[must_use]
pub fn normalize_query(s: &str) -> String {
    normalized_chars(s).collect()
}

fn normalized_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.split_whitespace().enumerate().flat_map(|(i, word)| {
        (i > 0)
            .then_some(' ')
            .into_iter()
            .chain(word.chars().flat_map(char::to_lowercase))
    })
}

/// `normalize_query(a) == normalize_query(b)`, without allocating.
pub(crate) fn normalized_eq(a: &str, b: &str) -> bool {
    normalized_chars(a).eq(normalized_chars(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_decode_and_never_panic() {
        let q = Some("q=Gangnam+Station&format=jsonv2&x=%ED%95%9C&bad=%FF&odd=%zz%&k%65y=1&flag");
        assert_eq!(param(q, "q"), Param::Value("Gangnam Station".into()));
        assert_eq!(param(q, "x"), Param::Value("한".into()));
        assert_eq!(param(q, "bad"), Param::Invalid);
        assert_eq!(param(q, "odd"), Param::Value("%zz%".into()));
        assert_eq!(param(q, "key"), Param::Value("1".into()));
        assert_eq!(param(q, "flag"), Param::Value("".into()));
        assert_eq!(param(q, "flag").non_empty(), Param::Missing);
        assert_eq!(param(q, "nope"), Param::Missing);
        assert_eq!(param(None, "q"), Param::Missing);
        assert_eq!(param(Some("&&=&"), "q"), Param::Missing);
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_query("  Gangnam \t  STATION "), "gangnam station");
        assert!(normalized_eq(" seoul   city hall", "Seoul City Hall"));
        assert!(!normalized_eq("seoul cityhall", "Seoul City Hall"));
        assert!(normalized_eq("", "   "));
    }
}

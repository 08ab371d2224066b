//! Geometry of the simulated world: great-circle distances, the detour and speed model, and the
//! encoded-polyline format that OSRM (and Google) use.

/// Mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Road distance = great-circle distance × this factor.
pub const DETOUR_FACTOR: f64 = 1.3;
/// Travel speed on every road of the simulated world, metres per second (≈ 30 km/h).
pub const SPEED_MPS: f64 = 8.3;
/// A leg whose great-circle length exceeds this (metres) has no route (OSRM `NoRoute`, Kakao
/// `result_code 1`).
pub const MAX_LEG_M: f64 = 3_000_000.0;
/// Points south of this latitude are not near any road (OSRM `NoSegment`, Kakao `101/102/103`).
pub const MIN_ROUTABLE_LAT: f64 = -60.0;
/// Kakao answers `result_code 104` when origin and destination are closer than this (metres).
pub const MIN_SEPARATION_M: f64 = 5.0;

/// Great-circle distance in metres between two `(lat, lon)` points given in degrees.
#[must_use]
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let dlat = lat2 - lat1;
    let dlon = lon2 - lon1;
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().clamp(0.0, 1.0).asin()
}

/// Simulated road distance of one leg, metres: `haversine_m × DETOUR_FACTOR`.
#[must_use]
pub fn road_distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    haversine_m(a, b) * DETOUR_FACTOR
}

/// Simulated travel time for a road distance, seconds: `distance / SPEED_MPS`.
#[must_use]
pub fn travel_time_s(distance_m: f64) -> f64 {
    distance_m / SPEED_MPS
}

fn factor(precision: u32) -> f64 {
    10f64.powi(i32::try_from(precision.min(15)).unwrap_or(15))
}

/// Encodes `(lat, lon)` points (degrees) as an encoded polyline with `precision` decimal digits
/// (5 for OSRM's `polyline`, 6 for `polyline6`). Latitude comes first in each pair, as OSRM and
/// Google encode it.
#[must_use]
pub fn encode_polyline(points: &[(f64, f64)], precision: u32) -> String {
    let factor = factor(precision);
    let mut out = String::with_capacity(points.len() * 12);
    let (mut prev_lat, mut prev_lon) = (0i64, 0i64);
    for &(lat, lon) in points {
        // `as` saturates (and maps NaN to 0): never a panic on odd input.
        let lat = (lat * factor).round() as i64;
        let lon = (lon * factor).round() as i64;
        push_value(&mut out, lat.wrapping_sub(prev_lat));
        push_value(&mut out, lon.wrapping_sub(prev_lon));
        prev_lat = lat;
        prev_lon = lon;
    }
    out
}

fn push_value(out: &mut String, v: i64) {
    // Zig-zag: v << 1, inverted when negative.
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    while u >= 0x20 {
        out.push(char::from((((u & 0x1f) | 0x20) + 63) as u8));
        u >>= 5;
    }
    out.push(char::from((u + 63) as u8));
}

/// Decodes an encoded polyline into `(lat, lon)` points; `None` if the text is not a valid
/// polyline (a character outside `?`..`~`, or a truncated value).
#[must_use]
pub fn decode_polyline(text: &str, precision: u32) -> Option<Vec<(f64, f64)>> {
    let factor = factor(precision);
    let bytes = text.as_bytes();
    let mut i = 0usize;
    let (mut lat, mut lon) = (0i64, 0i64);
    let mut out = Vec::new();
    while i < bytes.len() {
        lat = lat.wrapping_add(next_value(bytes, &mut i)?);
        lon = lon.wrapping_add(next_value(bytes, &mut i)?);
        out.push((lat as f64 / factor, lon as f64 / factor));
    }
    Some(out)
}

fn next_value(bytes: &[u8], i: &mut usize) -> Option<i64> {
    let mut result = 0u64;
    let mut shift = 0u32;
    loop {
        let c = *bytes.get(*i)?;
        *i += 1;
        if !(63..=126).contains(&c) || shift >= 64 {
            return None;
        }
        let chunk = u64::from(c - 63);
        result |= (chunk & 0x1f) << shift;
        shift += 5;
        if chunk < 0x20 {
            break;
        }
    }
    Some(((result >> 1) as i64) ^ -((result & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_reference_polyline() {
        // The example of Google's "Encoded Polyline Algorithm Format" page.
        let pts = [(38.5, -120.2), (40.7, -120.95), (43.252, -126.453)];
        assert_eq!(encode_polyline(&pts, 5), "_p~iF~ps|U_ulLnnqC_mqNvxq`@");
        let back = decode_polyline("_p~iF~ps|U_ulLnnqC_mqNvxq`@", 5).expect("valid");
        for (a, b) in pts.iter().zip(&back) {
            assert!((a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9);
        }
    }

    #[test]
    fn precision_six_round_trip_and_bad_input() {
        let pts = [(37.497_942, 127.027_621), (35.115_225, 129.042_243)];
        let back = decode_polyline(&encode_polyline(&pts, 6), 6).expect("valid");
        for (a, b) in pts.iter().zip(&back) {
            assert!((a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6);
        }
        assert!(decode_polyline("_p~iF~ps|U_", 5).is_none());
        assert!(decode_polyline("abc\u{1}", 5).is_none());
        assert!(decode_polyline("", 5).is_some_and(|v| v.is_empty()));
        // Odd input never panics.
        let _ = encode_polyline(&[(f64::NAN, f64::INFINITY), (1e300, -1e300)], 40);
    }

    #[test]
    fn haversine_known_distance() {
        // Seoul City Hall → Busan Station is about 325 km as the crow flies.
        let d = haversine_m((37.566_295, 126.977_945), (35.115_225, 129.042_243));
        assert!((320_000.0..330_000.0).contains(&d), "{d}");
        assert!(haversine_m((10.0, 20.0), (10.0, 20.0)).abs() < 1e-9);
    }
}

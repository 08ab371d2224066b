//! Google's encoded polyline (precision 5, lat/lon order): how a route's geometry is stored,
//! whichever provider computed it.

/// Encodes `(lat, lon)` points with precision 5.
pub fn encode(points: &[(f64, f64)]) -> String {
    let mut out = String::with_capacity(points.len() * 8);
    let (mut prev_lat, mut prev_lon) = (0i64, 0i64);
    for &(lat, lon) in points {
        let (lat, lon) = ((lat * 1e5).round() as i64, (lon * 1e5).round() as i64);
        push(&mut out, lat - prev_lat);
        push(&mut out, lon - prev_lon);
        (prev_lat, prev_lon) = (lat, lon);
    }
    out
}

fn push(out: &mut String, value: i64) {
    let mut v = if value < 0 { !(value << 1) } else { value << 1 } as u64;
    while v >= 0x20 {
        out.push(char::from((((v & 0x1f) | 0x20) + 63) as u8));
        v >>= 5;
    }
    out.push(char::from((v + 63) as u8));
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_the_reference_example() {
        // The example from Google's documentation of the format.
        let points = [(38.5, -120.2), (40.7, -120.95), (43.252, -126.453)];
        assert_eq!(super::encode(&points), "_p~iF~ps|U_ulLnnqC_mqNvxq`@");
        assert_eq!(super::encode(&[]), "");
    }
}

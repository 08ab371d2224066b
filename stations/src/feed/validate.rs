//! Checking one item: every field the importer relies on, with the field named when it fails.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

use super::{Position, RawItem, Rejection, Scalar};

/// South Korea's bounding box, islands included (Marado 33.11 N, Dokdo 131.87 E, Baengnyeongdo
/// 124.6 E, Goseong 38.6 N), with a small margin.
pub const KOREA_LAT: (f64, f64) = (33.0, 38.7);
pub const KOREA_LON: (f64, f64) = (124.5, 132.0);

/// Korean time (+09:00, no daylight saving), the source's time zone.
pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}

/// One charger of the public data, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargerRow {
    pub at: Position,
    pub stat_id: String,
    pub chger_id: String,
    pub stat_nm: String,
    pub addr: String,
    pub lat: f64,
    pub lng: f64,
    /// Two digits (`2` in the file becomes `02`).
    pub chger_type: String,
    pub output_kw: Option<f32>,
    pub stat: i16,
    pub stat_upd: Option<DateTime<Utc>>,
    pub busi_id: String,
    pub busi_nm: String,
    pub use_time: String,
    pub zcode: String,
}

/// One line of a status feed, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub at: Position,
    pub stat_id: String,
    pub chger_id: String,
    pub stat: i16,
    pub stat_upd: Option<DateTime<Utc>>,
}

struct Item {
    raw: RawItem,
    at: Position,
}

impl Item {
    fn reject(&self, field: &'static str, reason: impl Into<String>) -> Rejection {
        Rejection {
            at: self.at,
            field,
            reason: reason.into(),
        }
    }

    /// The trimmed text of a field, `None` when absent or empty.
    fn text<'a>(
        &self,
        field: &'static str,
        value: &'a Option<Scalar>,
        max: usize,
    ) -> Result<Option<&'a str>, Rejection> {
        match value {
            None => Ok(None),
            Some(Scalar::NotScalar) => Err(self.reject(field, "expected a string or a number")),
            Some(Scalar::Text(s)) => {
                let s = s.trim();
                if s.is_empty() {
                    Ok(None)
                } else if s.chars().count() > max {
                    Err(self.reject(field, format!("longer than {max} characters")))
                } else if s.chars().any(char::is_control) {
                    Err(self.reject(field, "contains control characters"))
                } else {
                    Ok(Some(s))
                }
            }
        }
    }

    fn required<'a>(
        &self,
        field: &'static str,
        value: &'a Option<Scalar>,
        max: usize,
    ) -> Result<&'a str, Rejection> {
        self.text(field, value, max)?
            .ok_or_else(|| self.reject(field, "missing"))
    }

    fn key<'a>(
        &self,
        field: &'static str,
        value: &'a Option<Scalar>,
    ) -> Result<&'a str, Rejection> {
        let s = self.required(field, value, 64)?;
        if s.chars().any(char::is_whitespace) {
            return Err(self.reject(field, "contains spaces"));
        }
        Ok(s)
    }

    fn coordinate(&self, field: &'static str, value: &Option<Scalar>) -> Result<f64, Rejection> {
        let s = self.required(field, value, 32)?;
        let v: f64 = s
            .parse()
            .map_err(|_| self.reject(field, format!("not a number: {s:?}")))?;
        if !v.is_finite() {
            return Err(self.reject(field, "not a finite number"));
        }
        Ok(v)
    }

    fn stat(&self, value: &Option<Scalar>) -> Result<i16, Rejection> {
        let s = self.required("stat", value, 4)?;
        match s.parse::<i16>() {
            Ok(code @ (1..=5 | 9)) => Ok(code),
            _ => Err(self.reject("stat", format!("unknown status code {s:?} (1-5 or 9)"))),
        }
    }

    /// `yyyyMMddHHmmss` in Korean time, as the source writes it.
    fn stat_upd(&self, value: &Option<Scalar>) -> Result<Option<DateTime<Utc>>, Rejection> {
        let Some(s) = self.text("statUpdDt", value, 32)? else {
            return Ok(None);
        };
        NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
            .ok()
            .and_then(|t| t.and_local_timezone(kst()).single())
            .map(|t| Some(t.with_timezone(&Utc)))
            .ok_or_else(|| self.reject("statUpdDt", format!("not a yyyyMMddHHmmss time: {s:?}")))
    }

    fn not_an_object(&self) -> Result<(), Rejection> {
        if self.raw.not_an_object {
            return Err(self.reject(
                "row",
                match self.at {
                    Position::Line(_) => "the record's field count differs from the header's",
                    Position::Item(_) => "not an object",
                },
            ));
        }
        Ok(())
    }
}

/// Checks one charger item; `Ok(None)` for an item the source marks deleted (`delYn=Y`).
pub fn charger_row(raw: RawItem, at: Position) -> Result<Option<ChargerRow>, Rejection> {
    let it = Item { raw, at };
    it.not_an_object()?;
    let r = &it.raw;
    match it.text("delYn", &r.del_yn, 1)? {
        None | Some("N" | "n") => {}
        Some("Y" | "y") => return Ok(None),
        Some(other) => return Err(it.reject("delYn", format!("expected Y or N, got {other:?}"))),
    }
    let stat_id = it.key("statId", &r.stat_id)?;
    let chger_id = it.key("chgerId", &r.chger_id)?;
    let stat_nm = it.required("statNm", &r.stat_nm, 200)?;
    let lat = it.coordinate("lat", &r.lat)?;
    let lng = it.coordinate("lng", &r.lng)?;
    let in_lat = (KOREA_LAT.0..=KOREA_LAT.1).contains(&lat);
    let in_lon = (KOREA_LON.0..=KOREA_LON.1).contains(&lng);
    if !in_lat || !in_lon {
        let swapped = (KOREA_LAT.0..=KOREA_LAT.1).contains(&lng)
            && (KOREA_LON.0..=KOREA_LON.1).contains(&lat);
        let field = if in_lat { "lng" } else { "lat" };
        return Err(it.reject(
            field,
            if swapped {
                format!("({lat}, {lng}) is outside South Korea: lat and lng look swapped")
            } else {
                format!("({lat}, {lng}) is outside South Korea")
            },
        ));
    }
    let chger_type = it.required("chgerType", &r.chger_type, 4)?;
    let chger_type = match chger_type.parse::<u8>() {
        Ok(n) if n > 0 => format!("{n:02}"),
        _ => return Err(it.reject("chgerType", format!("not a type code: {chger_type:?}"))),
    };
    let output_kw = match it.text("output", &r.output, 16)? {
        None => None,
        Some(s) => match s.parse::<f32>() {
            Ok(kw) if kw > 0.0 && kw <= 1000.0 => Some(kw),
            _ => return Err(it.reject("output", format!("not a power in kW (0-1000]: {s:?}"))),
        },
    };
    let stat = it.stat(&r.stat)?;
    let stat_upd = it.stat_upd(&r.stat_upd_dt)?;
    let opt = |field, value, max| {
        it.text(field, value, max)
            .map(|v| v.unwrap_or("").to_string())
    };
    Ok(Some(ChargerRow {
        at,
        stat_id: stat_id.to_string(),
        chger_id: chger_id.to_string(),
        stat_nm: stat_nm.to_string(),
        addr: opt("addr", &r.addr, 300)?,
        lat,
        lng,
        chger_type,
        output_kw,
        stat,
        stat_upd,
        busi_id: opt("busiId", &r.busi_id, 32)?,
        busi_nm: opt("busiNm", &r.busi_nm, 100)?,
        use_time: opt("useTime", &r.use_time, 100)?,
        zcode: opt("zcode", &r.zcode, 8)?,
    }))
}

/// Checks one status item (`statId, chgerId, stat, statUpdDt`).
pub fn status_row(raw: RawItem, at: Position) -> Result<Option<StatusRow>, Rejection> {
    let it = Item { raw, at };
    it.not_an_object()?;
    let r = &it.raw;
    Ok(Some(StatusRow {
        at,
        stat_id: it.key("statId", &r.stat_id)?.to_string(),
        chger_id: it.key("chgerId", &r.chger_id)?.to_string(),
        stat: it.stat(&r.stat)?,
        stat_upd: it.stat_upd(&r.stat_upd_dt)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(fields: &[(&str, &str)]) -> RawItem {
        let mut map = serde_json::Map::new();
        for (k, v) in fields {
            map.insert(k.to_string(), serde_json::Value::String(v.to_string()));
        }
        serde_json::from_value(serde_json::Value::Object(map)).unwrap()
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("statId", "ME174017"),
            ("chgerId", "01"),
            ("statNm", "이마트 성수점"),
            ("lat", "37.5446"),
            ("lng", "127.0557"),
            ("chgerType", "4"),
            ("output", "100"),
            ("stat", "2"),
            ("statUpdDt", "20261201093000"),
        ]
    }

    fn with(changes: &[(&'static str, &'static str)]) -> Result<Option<ChargerRow>, Rejection> {
        let mut fields = good();
        for (k, v) in changes {
            fields.retain(|(f, _)| f != k);
            fields.push((k, v));
        }
        charger_row(item(&fields), Position::Item(7))
    }

    #[test]
    fn a_good_item_is_normalised() {
        let row = with(&[]).unwrap().unwrap();
        assert_eq!(row.chger_type, "04");
        assert_eq!(row.output_kw, Some(100.0));
        assert_eq!(
            row.stat_upd.unwrap().to_rfc3339(),
            "2026-12-01T00:30:00+00:00"
        );
        assert_eq!(with(&[("delYn", "Y")]).unwrap(), None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("lat", "")], "lat"),
            (&[("lat", "north")], "lat"),
            (&[("lat", "35.68"), ("lng", "139.76")], "lng"), // Tokyo
            (&[("lat", "127.05"), ("lng", "37.54")], "lat"), // swapped
            (&[("statId", "")], "statId"),
            (&[("chgerId", "0 1")], "chgerId"),
            (&[("output", "fast")], "output"),
            (&[("stat", "7")], "stat"),
            (&[("statUpdDt", "2026-12-01")], "statUpdDt"),
            (&[("chgerType", "DC")], "chgerType"),
            (&[("delYn", "maybe")], "delYn"),
        ];
        for (changes, field) in cases {
            let err = with(changes).unwrap_err();
            assert_eq!(err.field, *field, "{changes:?}: {err}");
            assert_eq!(err.at, Position::Item(7));
        }
        let swapped = with(&[("lat", "127.05"), ("lng", "37.54")]).unwrap_err();
        assert!(swapped.reason.contains("swapped"), "{swapped}");
    }
}

//! CSV with a header row naming the item fields, one record at a time.

use std::io::Read;
use std::path::Path;

use super::{FeedError, Position, RawItem, Scalar};

type Sink<'s> = dyn FnMut(RawItem, Position) -> bool + 's;

/// The item fields, in [`RawItem`]'s order.
const FIELDS: [&str; 15] = [
    "statId",
    "chgerId",
    "statNm",
    "addr",
    "lat",
    "lng",
    "chgerType",
    "output",
    "stat",
    "statUpdDt",
    "busiId",
    "busiNm",
    "useTime",
    "zcode",
    "delYn",
];

/// Reads every record of `reader`, handing each to `sink` with its line. Returns how many.
pub(super) fn read(
    reader: impl Read,
    path: &Path,
    required: &[&str],
    sink: &mut Sink<'_>,
) -> Result<u64, FeedError> {
    let malformed = |reason: String| FeedError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let not_utf8 = |line: u64| {
        malformed(format!(
            "line {line} is not UTF-8 (public CSV downloads are often CP949: convert with `iconv -f cp949 -t utf-8`)"
        ))
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(match e.kind() {
                csv::ErrorKind::Utf8 { .. } => not_utf8(1),
                _ => malformed(format!("reading the header: {e}")),
            });
        }
    };
    let mut column = [None::<usize>; 15];
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}').trim();
        if let Some(f) = FIELDS.iter().position(|f| *f == h) {
            column[f] = Some(i);
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| {
            FIELDS
                .iter()
                .position(|f| f == r)
                .and_then(|f| column[f])
                .is_none()
        })
        .collect();
    if !missing.is_empty() {
        return Err(malformed(format!(
            "the header has no {} column (it has: {})",
            missing.join(", "),
            headers.iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut record = csv::StringRecord::new();
    let mut count = 0u64;
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => not_utf8(line),
                    _ => malformed(format!("line {line}: {e}")),
                });
            }
        }
        count += 1;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let value = |f: usize| {
            column[f]
                .and_then(|i| record.get(i))
                .map(|v| Scalar::Text(v.to_string()))
        };
        let mut item = RawItem {
            stat_id: value(0),
            chger_id: value(1),
            stat_nm: value(2),
            addr: value(3),
            lat: value(4),
            lng: value(5),
            chger_type: value(6),
            output: value(7),
            stat: value(8),
            stat_upd_dt: value(9),
            busi_id: value(10),
            busi_nm: value(11),
            use_time: value(12),
            zcode: value(13),
            del_yn: value(14),
            not_an_object: false,
        };
        // A record longer or shorter than the header is misaligned (an unquoted comma): none of
        // its fields can be trusted.
        if record.len() != headers.len() {
            item = RawItem {
                not_an_object: true,
                ..RawItem::default()
            };
        }
        if !sink(item, Position::Line(line)) {
            break;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name_and_lines_counted_from_the_header() {
        let doc = "\u{feff}lng,statId,lat,extra\n127.1,ME1,37.5,x\n\"127.2\",ME2,37.6,y\n";
        let mut got = Vec::new();
        let mut sink = |item: RawItem, at: Position| {
            got.push((at, item.stat_id, item.lng, item.chger_id));
            true
        };
        read(doc.as_bytes(), Path::new("t.csv"), &["statId"], &mut sink).unwrap();
        let t = |s: &str| Some(Scalar::Text(s.to_string()));
        assert_eq!(
            got,
            [
                (Position::Line(2), t("ME1"), t("127.1"), None),
                (Position::Line(3), t("ME2"), t("127.2"), None)
            ]
        );
    }

    #[test]
    fn a_missing_column_or_a_cp949_file_is_refused_whole() {
        let mut sink = |_: RawItem, _: Position| true;
        let err = read(
            "lat,lng\n1,2\n".as_bytes(),
            Path::new("t.csv"),
            &["statId"],
            &mut sink,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no statId column"), "{err}");
        // "충전소" in CP949.
        let cp949: &[u8] = b"statId,statNm\nME1,\xc3\xe6\xc0\xfc\xbc\xd2\n";
        let err = read(cp949, Path::new("t.csv"), &["statId"], &mut sink).unwrap_err();
        assert!(err.to_string().contains("CP949"), "{err}");
    }
}

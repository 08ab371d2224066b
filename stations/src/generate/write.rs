//! Writing records in the public format (the service's JSON body, or CSV with the same columns),
//! and reading a file back into a [`Dataset`] (for `reload --from`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Dataset, GenCharger, GenStation, base_clock};
use crate::feed::{self, FeedError, Format};

/// The item fields, in the order the service lists them.
const COLUMNS: [&str; 15] = [
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

/// One item, with every value a string as the service sends it.
#[derive(Serialize)]
struct Item<'a> {
    #[serde(rename = "statId")]
    stat_id: &'a str,
    #[serde(rename = "chgerId")]
    chger_id: &'a str,
    #[serde(rename = "statNm")]
    stat_nm: &'a str,
    addr: &'a str,
    lat: String,
    lng: String,
    #[serde(rename = "chgerType")]
    chger_type: &'a str,
    output: String,
    stat: String,
    #[serde(rename = "statUpdDt")]
    stat_upd_dt: &'a str,
    #[serde(rename = "busiId")]
    busi_id: &'a str,
    #[serde(rename = "busiNm")]
    busi_nm: &'a str,
    #[serde(rename = "useTime")]
    use_time: &'a str,
    zcode: &'a str,
    #[serde(rename = "delYn")]
    del_yn: &'a str,
}

fn item<'a>(s: &'a GenStation, c: &'a GenCharger) -> Item<'a> {
    Item {
        stat_id: &s.stat_id,
        chger_id: &c.chger_id,
        stat_nm: &s.name,
        addr: &s.addr,
        lat: format!("{:.7}", s.lat),
        lng: format!("{:.7}", s.lng),
        chger_type: &c.chger_type,
        output: c.output_kw.map(|kw| kw.to_string()).unwrap_or_default(),
        stat: c.stat.to_string(),
        stat_upd_dt: &c.stat_upd,
        busi_id: &s.busi_id,
        busi_nm: &s.busi_nm,
        use_time: &s.use_time,
        zcode: &s.zcode,
        del_yn: "N",
    }
}

/// Writes `records` to `path` in `format`, one item per charger.
pub fn write(records: &[GenStation], path: &Path, format: Format) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let rows: usize = records.iter().map(|s| s.chargers.len()).sum();
    match format {
        Format::Json => {
            write!(
                out,
                "{{\"resultCode\":\"00\",\"resultMsg\":\"NORMAL SERVICE.\",\"totalCount\":{rows},\"pageNo\":1,\"numOfRows\":{rows},\"items\":{{\"item\":["
            )?;
            let mut first = true;
            for s in records {
                for c in &s.chargers {
                    if !first {
                        out.write_all(b",\n")?;
                    }
                    first = false;
                    serde_json::to_writer(&mut out, &item(s, c))?;
                }
            }
            out.write_all(b"]}}\n")?;
        }
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut out);
            w.write_record(COLUMNS)?;
            for s in records {
                for c in &s.chargers {
                    w.serialize(item(s, c))?;
                }
            }
            w.flush()?;
        }
    }
    out.flush()
}

/// Reads a file of the public format back into a dataset: one station per statId, in order of
/// first appearance, with its chargers; rows the importer would reject are left out.
pub async fn read(path: &Path, format: Option<Format>) -> Result<Dataset, FeedError> {
    let format = Format::resolve(format, path)?;
    let (mut rx, reader) = feed::spawn(
        PathBuf::from(path),
        format,
        feed::CHARGER_COLUMNS,
        feed::validate::charger_row,
    );
    let mut d = Dataset {
        clock: base_clock(),
        ..Dataset::default()
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut latest = String::new();
    while let Some(batch) = rx.recv().await {
        for row in batch.into_iter().flatten() {
            let upd = row
                .stat_upd
                .map(|t| {
                    t.with_timezone(&feed::validate::kst())
                        .format("%Y%m%d%H%M%S")
                        .to_string()
                })
                .unwrap_or_default();
            if upd > latest {
                latest.clone_from(&upd);
            }
            let charger = GenCharger {
                chger_id: row.chger_id,
                chger_type: row.chger_type,
                output_kw: row.output_kw.map(|kw| kw.round() as u32),
                stat: row.stat as u8,
                stat_upd: upd,
            };
            match index.get(&row.stat_id) {
                Some(&i) => d.stations[i].chargers.push(charger),
                None => {
                    index.insert(row.stat_id.clone(), d.stations.len());
                    d.used_keys.insert(row.stat_id.clone());
                    d.stations.push(GenStation {
                        truth: d.next_truth,
                        stat_id: row.stat_id,
                        name: row.stat_nm,
                        addr: row.addr,
                        lat: row.lat,
                        lng: row.lng,
                        busi_id: row.busi_id,
                        busi_nm: row.busi_nm,
                        use_time: row.use_time,
                        zcode: row.zcode,
                        chargers: vec![charger],
                    });
                    d.next_truth += 1;
                }
            }
        }
    }
    reader
        .await
        .map_err(|e| FeedError::Thread(e.to_string()))??;
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&latest, "%Y%m%d%H%M%S") {
        d.clock = t;
    }
    Ok(d)
}

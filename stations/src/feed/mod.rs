//! Reading the public charger data: the Korea Environment Corporation's EV charger service, one
//! item per charger with the fields `statId, chgerId, statNm, addr, lat, lng, chgerType, output,
//! stat, statUpdDt, busiId, busiNm, useTime, zcode, delYn`.
//!
//! Two shapes are accepted, both streamed (one item in memory at a time, never the whole file):
//!
//! - **JSON**: the service's body with `dataType=JSON`,
//!   `{"resultCode":"00", "totalCount":N, "items":{"item":[{...}, ...]}, ...}` (other keys in
//!   any order are ignored; the `{"response":{"body":{...}}}` envelope of other data.go.kr
//!   services and a lone `"item":{...}` object are accepted too), or a top-level array of items.
//!   Values may be strings, as the service sends them, or numbers.
//! - **CSV** with a header row naming the same columns (any order, extra columns ignored), UTF-8.
//!
//! Every item is validated on its own ([`validate`]); a bad one becomes a [`Rejection`] naming
//! its position (CSV line, JSON item number) and field, and the rest goes on. What makes the
//! file unreadable as a whole (I/O, JSON syntax, a missing column, not UTF-8) is a [`FeedError`].

mod csv;
mod json;
pub mod validate;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::sync::mpsc;

/// Rows handed over from the reading thread at once.
const BATCH: usize = 1024;

/// The file's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    /// From the file name's extension (`.json`, `.csv`).
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The given format, or the one the name says.
    pub fn resolve(given: Option<Format>, path: &Path) -> Result<Format, FeedError> {
        given
            .or_else(|| Format::from_path(path))
            .ok_or_else(|| FeedError::UnknownFormat(path.to_path_buf()))
    }
}

/// Where an item was in its file: a CSV line (the header is line 1) or a JSON item (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    Line(u64),
    Item(u64),
}

impl Position {
    pub fn number(self) -> u64 {
        match self {
            Position::Line(n) | Position::Item(n) => n,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Item(n) => write!(f, "item {n}"),
        }
    }
}

/// An item that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub at: Position,
    /// The source's field name (`lat`, `statId`, ...), or `row` for the row as a whole.
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.at, self.field, self.reason)
    }
}

/// The file as a whole cannot be read; nothing of it is imported.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("cannot tell the format of {0} from its name: pass --format json or --format csv")]
    UnknownFormat(PathBuf),
    #[error("the reading thread failed: {0}")]
    Thread(String),
}

/// A field's value as delivered: text (numbers are kept as their text), or something that is not
/// a single value (an object or array where a value belongs).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    NotScalar,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Text(String::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::NotScalar)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::NotScalar)
            }
        }
        d.deserialize_any(V)
    }
}

/// One item's fields as delivered, unchecked. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RawItem {
    #[serde(rename = "statId")]
    pub stat_id: Option<Scalar>,
    #[serde(rename = "chgerId")]
    pub chger_id: Option<Scalar>,
    #[serde(rename = "statNm")]
    pub stat_nm: Option<Scalar>,
    pub addr: Option<Scalar>,
    pub lat: Option<Scalar>,
    pub lng: Option<Scalar>,
    #[serde(rename = "chgerType")]
    pub chger_type: Option<Scalar>,
    pub output: Option<Scalar>,
    pub stat: Option<Scalar>,
    #[serde(rename = "statUpdDt")]
    pub stat_upd_dt: Option<Scalar>,
    #[serde(rename = "busiId")]
    pub busi_id: Option<Scalar>,
    #[serde(rename = "busiNm")]
    pub busi_nm: Option<Scalar>,
    #[serde(rename = "useTime")]
    pub use_time: Option<Scalar>,
    pub zcode: Option<Scalar>,
    #[serde(rename = "delYn")]
    pub del_yn: Option<Scalar>,
    /// Not an object where an item belongs.
    #[serde(skip)]
    pub not_an_object: bool,
}

/// The columns a CSV file must have for a kind of feed.
pub const CHARGER_COLUMNS: &[&str] = &[
    "statId",
    "chgerId",
    "statNm",
    "lat",
    "lng",
    "chgerType",
    "stat",
];
/// The columns of a status feed.
pub const STATUS_COLUMNS: &[&str] = &["statId", "chgerId", "stat"];

/// What the reading thread hands over: a batch of validated rows or rejections.
pub type Batch<T> = Vec<Result<T, Rejection>>;

/// A row check: a row, nothing (skipped on purpose, e.g. `delYn=Y`), or a rejection.
pub type Check<T> = fn(RawItem, Position) -> Result<Option<T>, Rejection>;

/// Reads `path` on a blocking thread and sends checked rows in batches; the channel is bounded,
/// so a slow consumer slows the reader instead of filling memory. The handle answers the number
/// of items read, or why the file could not be read. Dropping the receiver stops the reader.
pub fn spawn<T: Send + 'static>(
    path: PathBuf,
    format: Format,
    required: &'static [&'static str],
    check: Check<T>,
) -> (
    mpsc::Receiver<Batch<T>>,
    tokio::task::JoinHandle<Result<u64, FeedError>>,
) {
    let (tx, rx) = mpsc::channel::<Batch<T>>(8);
    let handle = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|source| FeedError::Io {
            path: path.clone(),
            source,
        })?;
        let reader = std::io::BufReader::with_capacity(256 * 1024, file);
        let mut batch: Batch<T> = Vec::with_capacity(BATCH);
        let mut open = true;
        let mut sink = |item: RawItem, at: Position| -> bool {
            match check(item, at) {
                Ok(Some(row)) => batch.push(Ok(row)),
                Ok(None) => {}
                Err(rejection) => batch.push(Err(rejection)),
            }
            if batch.len() >= BATCH {
                open = tx.blocking_send(std::mem::take(&mut batch)).is_ok();
            }
            open
        };
        let read = match format {
            Format::Json => json::read(reader, &path, &mut sink)?,
            Format::Csv => csv::read(reader, &path, required, &mut sink)?,
        };
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        Ok(read)
    });
    (rx, handle)
}

/// The SHA-256 of a file's bytes, hex: what makes a re-run of the same file recognisable.
pub fn digest(path: &Path) -> Result<String, FeedError> {
    let io = |source| FeedError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

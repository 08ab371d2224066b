//! Charging stations that keep their identity across the public data's reloads.
//!
//! The Korea Environment Corporation's charger service is re-delivered wholesale and its keys
//! (`statId`, `chgerId`) are not promised to survive a reload. So every station has an id of
//! ours (a UUID that is never reused), the source's keys are only aliases
//! ([`external_keys`](../../migrations)), and an import recognises a station by where it is and
//! what it is ([`matching`]), sending what it cannot decide to a review queue ([`review`]) instead
//! of guessing. Stations absent from a full reload are retired, never deleted, so favourites
//! ([`favourites`]) keep resolving.
//!
//! - [`feed`]: streaming readers of the public format (JSON body or CSV) and row validation;
//! - [`import`]: one transaction per file: stage, match, apply, retire; [`status`]: status feeds;
//! - [`query`]: nearest stations and one station by id, for the API;
//! - [`generate`]: realistic national files and reloads with traps, for tests and demos.

pub mod error;
pub mod favourites;
pub mod feed;
pub mod generate;
pub mod import;
pub mod matching;
pub mod model;
pub mod query;
pub mod review;
pub mod similarity;
pub mod status;

pub use error::Error;
pub use favourites::Favourite;
pub use model::{Charger, ChargerKind, ChargerStatus, Filters, Station};
pub use query::{get, nearest};

//! What a station is for the rest of routeq: our id, where it is, its chargers, whether the
//! source still delivers it; and the filters of a nearest search.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A charging station under our own id, with its chargers.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Station {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub operator_id: String,
    pub operator_name: String,
    pub use_time: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Set when a full reload no longer delivered it; the station still resolves.
    pub retired_at: Option<DateTime<Utc>>,
    /// Chargers the source still delivers, by their number within the station.
    pub chargers: Vec<Charger>,
}

impl Station {
    pub fn retired(&self) -> bool {
        self.retired_at.is_some()
    }
}

/// One charger of a station.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Charger {
    pub id: i64,
    /// The source's number of this charger within its station (`chgerId`).
    pub ext_charger_id: String,
    /// The source's type code (`chgerType`: `01`..`08`).
    pub charger_type: String,
    pub connectors: Vec<Connector>,
    pub output_kw: Option<f32>,
    pub status: ChargerStatus,
    pub status_at: Option<DateTime<Utc>>,
}

/// A charger's state as the source codes it (`stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChargerStatus {
    /// 1: the charger does not answer the operator.
    CommError,
    /// 2: free to charge.
    Available,
    /// 3: in use.
    Charging,
    /// 4: out of operation.
    Suspended,
    /// 5: under maintenance.
    Maintenance,
    /// 9: the operator does not know.
    Unknown,
}

impl ChargerStatus {
    pub fn from_code(code: i16) -> Option<ChargerStatus> {
        Some(match code {
            1 => ChargerStatus::CommError,
            2 => ChargerStatus::Available,
            3 => ChargerStatus::Charging,
            4 => ChargerStatus::Suspended,
            5 => ChargerStatus::Maintenance,
            9 => ChargerStatus::Unknown,
            _ => return None,
        })
    }

    pub fn code(self) -> i16 {
        match self {
            ChargerStatus::CommError => 1,
            ChargerStatus::Available => 2,
            ChargerStatus::Charging => 3,
            ChargerStatus::Suspended => 4,
            ChargerStatus::Maintenance => 5,
            ChargerStatus::Unknown => 9,
        }
    }
}

/// A plug a charger offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connector {
    DcChademo,
    AcSlow,
    Ac3,
    DcCombo,
}

impl Connector {
    pub fn is_dc(self) -> bool {
        matches!(self, Connector::DcChademo | Connector::DcCombo)
    }
}

/// The connectors behind the source's `chgerType` codes; an unknown code offers none we know of.
pub fn connectors(code: &str) -> &'static [Connector] {
    use Connector::*;
    match code {
        "01" => &[DcChademo],
        "02" => &[AcSlow],
        "03" => &[DcChademo, Ac3],
        "04" => &[DcCombo],
        "05" => &[DcChademo, DcCombo],
        "06" => &[DcChademo, Ac3, DcCombo],
        "07" => &[Ac3],
        "08" => &[DcCombo], // DC combo at low power ("완속")
        _ => &[],
    }
}

/// What a nearest search asks of a charger: one plug, or any DC or AC plug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargerKind {
    Connector(Connector),
    Dc,
    Ac,
}

impl ChargerKind {
    /// The type codes whose chargers offer this kind.
    pub fn type_codes(self) -> Vec<String> {
        (1..=8)
            .map(|n| format!("{n:02}"))
            .filter(|code| {
                connectors(code).iter().any(|c| match self {
                    ChargerKind::Connector(want) => *c == want,
                    ChargerKind::Dc => c.is_dc(),
                    ChargerKind::Ac => !c.is_dc(),
                })
            })
            .collect()
    }
}

impl std::str::FromStr for ChargerKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "dc" => ChargerKind::Dc,
            "ac" => ChargerKind::Ac,
            "dc_chademo" => ChargerKind::Connector(Connector::DcChademo),
            "ac_slow" => ChargerKind::Connector(Connector::AcSlow),
            "ac3" => ChargerKind::Connector(Connector::Ac3),
            "dc_combo" => ChargerKind::Connector(Connector::DcCombo),
            _ => {
                return Err(crate::Error::invalid(
                    "charger_type",
                    "expected one of dc, ac, dc_chademo, dc_combo, ac_slow, ac3",
                ));
            }
        })
    }
}

/// Filters of a nearest search: a station qualifies when one of its chargers meets them all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub charger_type: Option<ChargerKind>,
    pub min_kw: Option<f32>,
    /// Only chargers free now (`stat` 2).
    pub available: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charger_kinds_select_their_codes() {
        assert_eq!(
            ChargerKind::Dc.type_codes(),
            ["01", "03", "04", "05", "06", "08"]
        );
        assert_eq!(ChargerKind::Ac.type_codes(), ["02", "03", "06", "07"]);
        assert_eq!(
            "dc_combo".parse::<ChargerKind>().unwrap().type_codes(),
            ["04", "05", "06", "08"]
        );
        assert!("plasma".parse::<ChargerKind>().is_err());
        for code in [1, 2, 3, 4, 5, 9] {
            assert_eq!(ChargerStatus::from_code(code).unwrap().code(), code);
        }
        assert_eq!(ChargerStatus::from_code(6), None);
    }
}

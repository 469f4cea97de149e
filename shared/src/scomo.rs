//! SCOMO (`urn:oma:mo:oma-scomo:1.0`, OMA-TS-DM-SCOMO-V1_0): applications delivered the way
//! firmware is, under `./SCOMO/Download/<node>` with an `Exec` of
//! `Operations/DownloadInstall`, and reported with the `OperationComplete` generic alert.
//!
//! The delivery itself is [`crate::fumo::FumoDelivery`] with
//! [`crate::fumo::DeliveryKind::Application`]. portaldm speaks one result vocabulary, FUMO's
//! (`crate::fumo::ResultCode`); SCOMO's own codes (1200, 14xx) exist only on the wire and are
//! translated here, in both directions.

use serde::{Deserialize, Serialize};

use crate::fumo::ResultCode;

/// The SCOMO management object URN.
pub const MO_URN: &str = "urn:oma:mo:oma-scomo:1.0";
/// Root of the download subtree portaldm writes.
pub const ROOT: &str = "./SCOMO/Download/";
/// The operation portaldm executes (download, then install).
pub const OPERATION: &str = "Operations/DownloadInstall";
/// Meta Type of the result alert.
pub const RESULT_ALERT_TYPE: &str = "urn:oma:at:scomo:1.0:OperationComplete";

/// SCOMO 1200: successful.
pub const SUCCESSFUL: u16 = 1200;

/// Where a device keeps its SCOMO root, as its session found it (`session::discovery`) or its
/// profile says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ScomoPlace {
    /// Not looked for, or the device does not list its tree: the server's own `./SCOMO`,
    /// which portaldm's dmclient takes.
    #[default]
    Unknown,
    /// The device's own SCOMO root at `root` (e.g. `./Apps/SCOMO`): deliveries go under its
    /// `Download`, with SCOMO's leaves only.
    At {
        /// The root's URI.
        root: String,
    },
    /// The device lists its tree and has no SCOMO root within the search's bounds.
    Absent,
}

impl ScomoPlace {
    /// Whether applications can be delivered to this device: to its own root, or to the
    /// server's when nothing is known.
    pub fn takes_applications(&self) -> bool {
        !matches!(self, ScomoPlace::Absent)
    }

    /// Whether nothing is known (the default, left out of stored JSON).
    pub fn is_unknown(&self) -> bool {
        *self == ScomoPlace::Unknown
    }

    /// The device's own root, if it has one.
    pub fn root(&self) -> Option<&str> {
        match self {
            ScomoPlace::At { root } => Some(root),
            _ => None,
        }
    }
}

/// The SCOMO code a device reports for `code`.
pub fn to_wire(code: ResultCode) -> u16 {
    match code.0 {
        200 => SUCCESSFUL,
        402 | 404 => 1407, // failed package validation
        407 | 412 => 1402, // download failed
        410 => 1405,       // install failed
        _ => 1412,         // undefined error
    }
}

/// What a reported SCOMO code means in portaldm's vocabulary.
pub fn from_wire(code: u16) -> ResultCode {
    match code {
        SUCCESSFUL => ResultCode::SUCCESS,
        1402 | 1403 => ResultCode::DOWNLOAD_SERVER_UNAVAILABLE,
        1404..=1406 => ResultCode::UPDATE_FAILED,
        1407 => ResultCode::VALIDATION_FAILED,
        // User cancelled, not implemented, rejected, undefined …: a failure of unknown kind.
        _ => ResultCode(400),
    }
}

/// The code in an `OperationComplete` alert's data: a bare number, or the
/// `<ResultCode>…</ResultCode>` element some clients send.
pub fn parse_data(data: &str) -> Option<u16> {
    let data = data.trim();
    let inner = match data.find("ResultCode>") {
        Some(i) => data[i + "ResultCode>".len()..].split('<').next()?,
        None => data,
    };
    inner.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_translate_both_ways_for_what_portaldm_reports() {
        for c in [200u16, 404, 410, 412] {
            assert_eq!(from_wire(to_wire(ResultCode(c))), ResultCode(c), "{c}");
        }
        assert_eq!(from_wire(to_wire(ResultCode(402))), ResultCode::VALIDATION_FAILED);
        assert_eq!(from_wire(1401), ResultCode(400), "user cancelled: a failure");
        assert_ne!(from_wire(1412), ResultCode::SUCCESS);
    }

    #[test]
    fn data_is_a_number_or_a_result_code_element() {
        assert_eq!(parse_data(" 1200 "), Some(1200));
        assert_eq!(parse_data("<ResultCode>1405</ResultCode><Identifier>app</Identifier>"), Some(1405));
        assert_eq!(parse_data("&lt;ResultCode&gt;1200"), None);
        assert_eq!(parse_data("x"), None);
    }
}

//! Decision record v1 (SPEC §5): what the screener publishes for each parcel.
//!
//! - here: the record's types, and `decided_at`'s text;
//! - `json`: the record as published, written by hand (the bytes serde_json writes).

mod json;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// The schema tag of every decision record.
pub const DECISION_SCHEMA: &str = "decision/v1";

/// Its texts are [`CompactString`]s: the schema, the parcel key, the record id, the list
/// versions and the timestamp are all short enough (≤ 24 bytes) to sit inside the decision,
/// so making one allocates nothing for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Always [`DECISION_SCHEMA`].
    pub schema: CompactString,
    pub parcel_key: CompactString,
    pub record_id: CompactString,
    /// 1 for the first decision on a parcel key, +1 for each re-screen (amendment,
    /// cross-feed disagreement, list update).
    pub version: u32,
    pub decision: Verdict,
    pub lane: Lane,
    /// Why; a HOLD has at least one. Ordered deterministically (rule order, then party).
    pub reasons: Vec<Reason>,
    pub list_versions: ListVersions,
    /// RFC 3339 with milliseconds, UTC. A timing field: excluded from determinism checks.
    pub decided_at: CompactString,
    /// Time spent screening this record, in milliseconds. A timing field.
    pub latency_ms: f64,
}

impl Decision {
    /// Whether two decisions are the same apart from the timing fields (`decided_at`,
    /// `latency_ms`): what SPEC §5 promises for a redelivered decision.
    pub fn same_outcome_as(&self, other: &Decision) -> bool {
        self.schema == other.schema
            && self.parcel_key == other.parcel_key
            && self.record_id == other.record_id
            && self.version == other.version
            && self.decision == other.decision
            && self.lane == other.lane
            && self.reasons == other.reasons
            && self.list_versions == other.list_versions
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Release,
    Hold,
    Cancelled,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Release, Verdict::Hold, Verdict::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Release => "RELEASE",
            Verdict::Hold => "HOLD",
            Verdict::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Lane {
    /// A verified known shipper.
    Trusted,
    Standard,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Trusted => "TRUSTED",
            Lane::Standard => "STANDARD",
        }
    }
}

/// The reason codes of SPEC §5, in the order rules report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    WlMatch,
    WlPossible,
    KsVerified,
    KsMismatch,
    KsSuspended,
    DataIncomplete,
    DataInconsistent,
    ValueOverThreshold,
    CommodityRestricted,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 9] = [
        ReasonCode::WlMatch,
        ReasonCode::WlPossible,
        ReasonCode::KsVerified,
        ReasonCode::KsMismatch,
        ReasonCode::KsSuspended,
        ReasonCode::DataIncomplete,
        ReasonCode::DataInconsistent,
        ReasonCode::ValueOverThreshold,
        ReasonCode::CommodityRestricted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::WlMatch => "WL_MATCH",
            ReasonCode::WlPossible => "WL_POSSIBLE",
            ReasonCode::KsVerified => "KS_VERIFIED",
            ReasonCode::KsMismatch => "KS_MISMATCH",
            ReasonCode::KsSuspended => "KS_SUSPENDED",
            ReasonCode::DataIncomplete => "DATA_INCOMPLETE",
            ReasonCode::DataInconsistent => "DATA_INCONSISTENT",
            ReasonCode::ValueOverThreshold => "VALUE_OVER_THRESHOLD",
            ReasonCode::CommodityRestricted => "COMMODITY_RESTRICTED",
        }
    }

    /// Whether this reason alone makes the decision a HOLD (all but `KS_VERIFIED`).
    pub fn holds(self) -> bool {
        self != ReasonCode::KsVerified
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartyRole {
    Shipper,
    Consignee,
    Seller,
}

impl PartyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PartyRole::Shipper => "shipper",
            PartyRole::Consignee => "consignee",
            PartyRole::Seller => "seller",
        }
    }
}

/// One reason for a decision. Fields that do not apply to the code are absent from the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<PartyRole>,
    /// Watch list of the matched entry (`WL_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// Matched watch-list entry id (`WL_*`) or known-shipper id (`KS_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// The entry's name or alias that matched (`WL_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_name: Option<String>,
    /// Match score in [0, 1], rounded to 4 decimals (`WL_*`, `KS_*` name agreement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Human-readable detail: which field, which rule, which threshold. Never personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Reason {
    /// A reason with just a code; fill the rest with struct update syntax.
    pub fn new(code: ReasonCode) -> Self {
        Reason {
            code,
            party: None,
            list: None,
            entry_id: None,
            matched_name: None,
            score: None,
            detail: None,
        }
    }
}

/// The versions of the lists a decision was made with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListVersions {
    pub watchlist: CompactString,
    pub known_shippers: CompactString,
}

/// `at` as a decision's `decided_at`: RFC 3339 in UTC with milliseconds
/// (`2026-11-23T13:07:36.533Z`), as `to_rfc3339_opts(SecondsFormat::Millis, true)` writes
/// it, into the 24 bytes a [`CompactString`] holds without allocating. The digits are
/// written by hand: through `core::fmt` into a `CompactString` it cost ~2,500 instructions
/// a decision (chrono's writer, into a `String`, ~660 and an allocation).
pub fn decided_at(at: DateTime<Utc>) -> CompactString {
    let year = at.year();
    if !(0..=9999).contains(&year) {
        // Outside four digits chrono writes a sign; not a time a decision is made at.
        return at.to_rfc3339_opts(SecondsFormat::Millis, true).into();
    }
    // chrono keeps a leap second as nanoseconds over 10⁹ of second 59, and writes it as
    // second 60.
    let nanoseconds = at.nanosecond();
    let second = at.second() + u32::from(nanoseconds >= 1_000_000_000);
    let milliseconds = (nanoseconds % 1_000_000_000) / 1_000_000;
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let fields = [
        (0, 4, year.unsigned_abs()),
        (5, 2, at.month()),
        (8, 2, at.day()),
        (11, 2, at.hour()),
        (14, 2, at.minute()),
        (17, 2, second),
        (20, 3, milliseconds),
    ];
    for (start, width, mut value) in fields {
        for digit in text[start..start + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    // Only ASCII digits and punctuation were written.
    let text = std::str::from_utf8(&text).unwrap_or_default();
    debug_assert_eq!(text.len(), 24);
    CompactString::new(text)
}

/// Rounds a score for publication, so that decisions are stable text.
pub fn round_score(score: f64) -> f64 {
    (score * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    #[test]
    fn decided_at_is_what_chrono_writes_with_milliseconds() {
        let at = |day, hour, minute, second, nanosecond| {
            let naive = NaiveDate::from_ymd_opt(2026, 11, day)
                .and_then(|date| date.and_hms_nano_opt(hour, minute, second, nanosecond))
                .expect("a valid time");
            Utc.from_utc_datetime(&naive)
        };
        let instants = [
            at(23, 13, 7, 36, 533_999_999),
            at(1, 0, 0, 0, 0),
            at(30, 23, 59, 59, 999_000_000),
            at(9, 9, 9, 9, 9_000_000),
            // A leap second, which chrono writes as second 60.
            at(30, 23, 59, 59, 1_250_000_000),
            Utc::now(),
        ];
        for instant in instants {
            let expected = instant.to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(decided_at(instant), expected);
            assert!(!decided_at(instant).is_heap_allocated(), "{expected}");
        }
        // Years of fewer digits are padded; beyond four, chrono's own writing (with a sign).
        for year in [999, 10_000] {
            let instant = Utc
                .with_ymd_and_hms(year, 2, 3, 4, 5, 6)
                .single()
                .expect("a valid time");
            let expected = instant.to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(decided_at(instant), expected);
        }
    }
}

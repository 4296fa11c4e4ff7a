//! Decision record v1 (SPEC §5): what the screener publishes for each parcel.

use serde::{Deserialize, Serialize};

/// The schema tag of every decision record.
pub const DECISION_SCHEMA: &str = "decision/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Always [`DECISION_SCHEMA`].
    pub schema: String,
    pub parcel_key: String,
    pub record_id: String,
    /// 1 for the first decision on a parcel key, +1 for each re-screen (amendment,
    /// cross-feed disagreement, list update).
    pub version: u32,
    pub decision: Verdict,
    pub lane: Lane,
    /// Why; a HOLD has at least one. Ordered deterministically (rule order, then party).
    pub reasons: Vec<Reason>,
    pub list_versions: ListVersions,
    /// RFC 3339 with milliseconds, UTC. A timing field: excluded from determinism checks.
    pub decided_at: String,
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
    pub watchlist: String,
    pub known_shippers: String,
}

/// Rounds a score for publication, so that decisions are stable text.
pub fn round_score(score: f64) -> f64 {
    (score * 10_000.0).round() / 10_000.0
}

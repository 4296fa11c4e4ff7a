//! The parcel-screening engine. It turns a parcel record into a RELEASE or HOLD decision
//! with its reasons, and knows nothing of Kafka, HTTP or metrics: the service crate wraps it.
//!
//! Layout, one module per concept:
//! - [`record`]: parcel record v1, the parser/validator, the parcel key, the party names'
//!   match tokens (made once per report for dedup and screening).
//! - [`lists`]: watch-list entries and the loaders (OFAC SDN CSV set, CSL CSV, native JSONL).
//! - [`known_shippers`]: the known-shipper registry.
//! - [`matching`]: name normalisation, similarity, the candidate index and the [`matching::Matcher`].
//! - [`rules`]: the decision rules and their configuration; [`rules::Screener`] is the engine's front door.
//! - [`decision`]: decision record v1, the reason codes, and the record's JSON as published.
//! - [`pipeline`]: one report through dedup and screening, shared by the offline and streaming paths.
//! - [`dedup`]: which reports of a parcel are duplicates, amendments or cross-feed disagreements.
//! - `json_text` (inside the crate): where a JSON string's plain run ends, for the fast
//!   record parser and the decision writer.

pub mod decision;
pub mod dedup;
mod json_text;
pub mod known_shippers;
pub mod lists;
pub mod matching;
pub mod pipeline;
pub mod record;
pub mod rules;

//! parcel-screener, the service around the screening engine (`screener-engine`).
//!
//! The engine (records, lists, matching, rules, decisions) lives in its own crate under
//! `engine/` and knows nothing of Kafka, HTTP or metrics. This crate adds:
//! - [`config`]: the TOML configuration with environment overrides;
//! - [`evaluation`]: the matcher's evaluation harness (labelled set from the real lists);
//! - [`engine`]: building the engine from the configured list files;
//! - [`feed`]: a deterministic synthetic feed of courier and marketplace parcel reports;
//! - [`streaming`]: the Kafka pipeline (consume, screen, produce, commit after acknowledgement);
//! - [`logging`]: `tracing` set-up (text or JSON on stderr);
//! - [`metrics`]: Prometheus metrics and readiness; [`admin`]: the HTTP server for
//!   `/metrics` and `/health/*`;
//! - [`api`]: the enrollment API under the admin server (`/v1/known-shippers`, `/v1/lists`,
//!   `/v1/screen`), with bearer tokens;
//! - [`cli`]: the `parcel-screener` commands; `main.rs` only parses arguments and calls
//!   [`cli::run`].

pub mod admin;
pub mod allocator;
pub mod api;
pub mod cli;
pub mod config;
pub mod engine;
pub mod evaluation;
pub mod feed;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod streaming;

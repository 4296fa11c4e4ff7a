//! Hostile input (issue #8, SPEC §10 "bad input never stops the pipeline"): a corpus of
//! hand-made bad messages, each labelled with what must become of it, checked twice:
//!
//! 1. at the parser and engine, at unit speed: no panic, the expected rejection (its kind, and
//!    a message or field problem that names the field or the problem) or the expected
//!    decision, within a time bound;
//! 2. through the real pipeline on librdkafka's mock broker, interleaved with valid records:
//!    every valid record gets its decision, every hostile message is accounted for in
//!    `parcels.decisions` (the same decision as the offline engine) or `parcels.rejected`
//!    (the error and the original bytes), decided + rejected + duplicates = sent, and a valid
//!    record produced after all of them is still decided within a timeout. The pipeline's
//!    info-level log is captured: no hostile party name (log-injection payloads included)
//!    appears in it, and no line of it is forged.
//!
//! Sizes: a Kafka broker's default `message.max.bytes` is 1 MB, so the 10 MB string and the
//! 1M-item array go through the parser only; through the pipeline the over-limit record is
//! 300 KB (its envelope keeps the first 256 KiB, its size and SHA-256). The test
//! `oversized_message_rejection_does_not_stall_the_pipeline` sends a message of 800 KB, whose
//! envelope with all of it in base64 would be over the producer's own `message.max.bytes`
//! (once a finding: it stalled the pipeline). The `…_a_message_the_producer_refuses_…` tests
//! give the producer a decision over its `message.max.bytes`: the pipeline must stop with an
//! error, not retry forever.
//!
//! Duplicate keys: serde_json alone keeps the LAST value of a duplicated key, silently, so a
//! record could carry a watch-listed name that a first-wins reader sees and the screener does
//! not. The parser rejects any object with a key twice, at any depth, keys compared unescaped,
//! naming the key's path (cases `duplicate_key_*`; was a finding of issue #8).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};

use common::{bundled_config, read_topic, root};

use parcel_screener::live::LiveScreener;
use parcel_screener::streaming::config::KafkaConfig;
use parcel_screener::streaming::mock_broker::MockBroker;
use parcel_screener::streaming::rejected::{RejectedRecord, MAX_ORIGINAL_BYTES};
use parcel_screener::streaming::{run_pipeline, PipelineError, PipelineStats, StatsSnapshot};
use screener_engine::decision::{Decision, ReasonCode, Verdict};
use screener_engine::dedup::Deduplicator;
use screener_engine::pipeline::{process_report, ReportOutcome};
use screener_engine::record::{parse_record, ParseLimits, RecordError};
use screener_engine::rules::Screener;

// ---- the corpus ----

/// What must become of a message.
#[derive(Debug, Clone)]
enum Expect {
    /// Rejected with this error kind. `path`: a field problem at exactly this JSON path;
    /// `mentions`: each appears in the error message (the whole error, as published).
    Rejected {
        kind: &'static str,
        path: Option<&'static str>,
        mentions: &'static [&'static str],
    },
    /// Screened: a decision with this verdict and, if given, this reason.
    Decided {
        verdict: Verdict,
        reason: Option<ReasonCode>,
    },
}

#[derive(Debug, Clone)]
struct Case {
    label: &'static str,
    /// `None`: a Kafka tombstone (null value).
    payload: Option<Vec<u8>>,
    expect: Expect,
    /// Also sent through the pipeline (false for messages no default Kafka broker accepts).
    through_pipeline: bool,
    /// Party names of the case that must never reach an info-level log line.
    secrets: Vec<String>,
}

/// How long the readers wait, once they have what was expected, for extras that would
/// show a record published twice.
const EXTRAS_WAIT: Duration = Duration::from_secs(2);

/// The first sample parcel (S01-CLEAN: released, standard lane).
fn base() -> Value {
    let samples = std::fs::read(root().join("data/samples/parcels.jsonl")).expect("samples");
    let first = samples.split(|b| *b == b'\n').next().expect("a line");
    serde_json::from_slice(first).expect("sample JSON")
}

/// A valid record of its own parcel: the base with `record_id` and `house_bill` from `id`.
fn record(id: &str) -> Value {
    let mut value = base();
    value["record_id"] = json!(id);
    value["house_bill"] = json!(id);
    value
}

/// The record for case `label`, edited.
fn edited(label: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value = record(&hostile_id(label));
    edit(&mut value);
    serde_json::to_vec(&value).expect("serialisable")
}

/// The record for case `label`, serialised, with the first `needle` replaced by raw bytes
/// (for what `serde_json` will not write: bad UTF-8, raw control bytes, duplicate keys).
fn spliced(label: &str, needle: &str, replacement: &[u8]) -> Vec<u8> {
    let bytes = edited(label, |_| {});
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle} not in the record"));
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(replacement);
    out.extend_from_slice(&bytes[at + needle.len()..]);
    out
}

fn hostile_id(label: &str) -> String {
    format!("HOSTILE-{}", label.to_ascii_uppercase().replace('_', "-"))
}

fn rejected(
    kind: &'static str,
    path: Option<&'static str>,
    mentions: &'static [&'static str],
) -> Expect {
    Expect::Rejected {
        kind,
        path,
        mentions,
    }
}

fn decided(verdict: Verdict, reason: Option<ReasonCode>) -> Expect {
    Expect::Decided { verdict, reason }
}

const JANE: &str = "\"Jane Doe\"";
/// A name on the bundled OFAC list (entry 36).
const LISTED: &str = "AEROCARIBBEAN AIRLINES";

fn corpus() -> Vec<Case> {
    use ReasonCode::{DataIncomplete, ValueOverThreshold};
    use Verdict::{Hold, Release};
    let mut cases = Vec::new();
    let mut add = |label: &'static str, payload: Vec<u8>, expect: Expect| {
        cases.push(Case {
            label,
            payload: Some(payload),
            expect,
            through_pipeline: true,
            secrets: Vec::new(),
        })
    };

    // -- encoding --
    add(
        "invalid_utf8_in_name",
        spliced("invalid_utf8_in_name", JANE, b"\"Jane \xff\xfe Doe\""),
        rejected("invalid_utf8", None, &["UTF-8", "offset"]),
    );
    add(
        "overlong_utf8_slash",
        spliced("overlong_utf8_slash", JANE, b"\"Jane \xc0\xaf Doe\""),
        rejected("invalid_utf8", None, &["UTF-8"]),
    );
    add(
        "utf16_surrogate_bytes",
        spliced("utf16_surrogate_bytes", JANE, b"\"Jane \xed\xa0\x80 Doe\""),
        rejected("invalid_utf8", None, &["UTF-8"]),
    );
    add(
        "escaped_lone_surrogate",
        spliced("escaped_lone_surrogate", JANE, b"\"Jane \\ud800 Doe\""),
        rejected("invalid_json", None, &["hex escape"]),
    );
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend(edited("utf8_bom", |_| {}));
    add(
        "utf8_bom",
        with_bom,
        rejected("invalid_json", None, &["expected value"]),
    );

    // -- syntax and shape --
    add(
        "empty_message",
        Vec::new(),
        rejected("invalid_json", None, &["EOF"]),
    );
    add(
        "whitespace_only",
        b" \n\t ".to_vec(),
        rejected("invalid_json", None, &["EOF"]),
    );
    add(
        "top_level_array",
        b"[1, 2, 3]".to_vec(),
        rejected(
            "invalid_fields",
            Some("$"),
            &["expected an object, got an array"],
        ),
    );
    add(
        "top_level_number",
        b"42".to_vec(),
        rejected(
            "invalid_fields",
            Some("$"),
            &["expected an object, got a number"],
        ),
    );
    add(
        "top_level_string",
        b"\"DHL:1\"".to_vec(),
        rejected(
            "invalid_fields",
            Some("$"),
            &["expected an object, got a string"],
        ),
    );
    add(
        "top_level_null",
        b"null".to_vec(),
        rejected(
            "invalid_fields",
            Some("$"),
            &["expected an object, got null"],
        ),
    );
    let mut trailing = edited("trailing_garbage", |_| {});
    trailing.extend_from_slice(b" {\"record_id\": \"SMUGGLED\"}");
    add(
        "trailing_garbage",
        trailing,
        rejected("invalid_json", None, &["trailing characters"]),
    );
    let truncated = edited("truncated", |_| {});
    add(
        "truncated",
        truncated[..truncated.len() / 2].to_vec(),
        rejected("invalid_json", None, &["EOF"]),
    );
    add(
        "deep_nesting_100k_brackets",
        "[".repeat(100_000).into_bytes(),
        rejected("invalid_json", None, &["recursion limit"]),
    );
    let mut nested_field = b"{\"record_id\": ".to_vec();
    nested_field.extend("{\"a\":".repeat(40_000).into_bytes());
    add(
        "deep_nesting_in_a_field",
        nested_field,
        rejected("invalid_json", None, &["recursion limit"]),
    );
    // Within serde_json's recursion limit (128) and in an unknown field: ignored.
    add(
        "nesting_100_in_unknown_field",
        edited("nesting_100_in_unknown_field", |v| {
            let mut deep = json!(1);
            for _ in 0..100 {
                deep = json!([deep]);
            }
            v["extension"] = deep;
        }),
        decided(Release, None),
    );
    add(
        "record_id_is_an_object",
        edited("record_id_is_an_object", |v| {
            v["record_id"] = json!({"$ne": null})
        }),
        rejected(
            "invalid_fields",
            Some("record_id"),
            &["expected a string, got an object"],
        ),
    );
    add(
        "items_is_a_string",
        edited("items_is_a_string", |v| v["items"] = json!("[]")),
        rejected(
            "invalid_fields",
            Some("items"),
            &["expected an array, got a string"],
        ),
    );

    // -- sizes --
    add(
        "over_size_limit_300kb",
        edited("over_size_limit_300kb", |v| {
            v["padding"] = json!("x".repeat(300 * 1024))
        }),
        rejected("too_large", None, &["262144"]),
    );
    add(
        "name_over_max_chars",
        edited("name_over_max_chars", |v| {
            v["consignee"]["name"] = json!("N".repeat(1001))
        }),
        rejected(
            "invalid_fields",
            Some("consignee.name"),
            &["expected at most 1000 characters, got 1001"],
        ),
    );
    // 1000 characters, 3000 bytes: within the limit, which counts characters.
    add(
        "name_1000_cjk_chars",
        edited("name_1000_cjk_chars", |v| {
            v["consignee"]["name"] = json!("語".repeat(1000))
        }),
        decided(Release, None),
    );
    // 500 one-letter tokens: the most tokens a name within the limit can have.
    add(
        "name_500_tokens",
        edited("name_500_tokens", |v| {
            let name: Vec<String> = (0..500)
                .map(|i| char::from(b'A' + (i % 26) as u8).to_string())
                .collect();
            v["consignee"]["name"] = json!(name.join(" "))
        }),
        decided(Release, None),
    );
    add(
        "items_1001",
        edited("items_1001", |v| v["items"] = json!(vec![json!({}); 1001])),
        rejected(
            "invalid_fields",
            Some("items"),
            &["expected at most 1000 items, got 1001"],
        ),
    );
    add(
        "array_60k_in_unknown_field",
        edited("array_60k_in_unknown_field", |v| {
            v["extension"] = json!(vec![0; 60_000])
        }),
        decided(Release, None),
    );
    add(
        "identifiers_33",
        edited("identifiers_33", |v| {
            v["shipper"]["identifiers"] = json!(vec![json!({"scheme": "EORI", "value": "X"}); 33])
        }),
        rejected(
            "invalid_fields",
            Some("shipper.identifiers"),
            &["expected at most 32 identifiers, got 33"],
        ),
    );

    // -- numbers --
    add(
        "declared_value_1e400",
        spliced(
            "declared_value_1e400",
            "\"declared_value\":{\"amount\":18.0",
            b"\"declared_value\":{\"amount\":1e400",
        ),
        rejected("invalid_json", None, &["number out of range"]),
    );
    add(
        "declared_value_negative",
        edited("declared_value_negative", |v| {
            v["declared_value"]["amount"] = json!(-5)
        }),
        rejected(
            "invalid_fields",
            Some("declared_value.amount"),
            &["expected a number >= 0, got -5"],
        ),
    );
    for (label, literal) in [
        ("declared_value_nan_literal", &b"NaN"[..]),
        ("declared_value_infinity_literal", b"Infinity"),
        ("declared_value_minus_infinity_literal", b"-Infinity"),
    ] {
        let mut replacement = b"\"declared_value\":{\"amount\":".to_vec();
        replacement.extend_from_slice(literal);
        add(
            label,
            spliced(label, "\"declared_value\":{\"amount\":18.0", &replacement),
            rejected("invalid_json", None, &["line 1"]),
        );
    }
    add(
        "declared_value_nan_string",
        edited("declared_value_nan_string", |v| {
            v["declared_value"]["amount"] = json!("NaN")
        }),
        rejected(
            "invalid_fields",
            Some("declared_value.amount"),
            &["expected a number >= 0, got a string"],
        ),
    );
    add(
        "declared_value_1e308",
        edited("declared_value_1e308", |v| {
            v["declared_value"]["amount"] = json!(1e308)
        }),
        decided(Hold, Some(ValueOverThreshold)),
    );
    add(
        "declared_value_underflow_1e-400",
        spliced(
            "declared_value_underflow_1e-400",
            "\"declared_value\":{\"amount\":18.0",
            b"\"declared_value\":{\"amount\":1e-400",
        ),
        decided(Release, None),
    );
    add(
        "piece_count_2_pow_64",
        spliced(
            "piece_count_2_pow_64",
            "\"piece_count\":1",
            b"\"piece_count\":18446744073709551616",
        ),
        rejected(
            "invalid_fields",
            Some("piece_count"),
            &["expected an integer <= 4294967295"],
        ),
    );
    add(
        "piece_count_negative",
        edited("piece_count_negative", |v| v["piece_count"] = json!(-1)),
        rejected(
            "invalid_fields",
            Some("piece_count"),
            &["expected an integer >= 1, got -1"],
        ),
    );
    add(
        "piece_count_fraction",
        edited("piece_count_fraction", |v| v["piece_count"] = json!(1.5)),
        rejected(
            "invalid_fields",
            Some("piece_count"),
            &["expected an integer >= 1, got 1.5"],
        ),
    );
    add(
        "gross_weight_zero",
        edited("gross_weight_zero", |v| {
            v["gross_weight"]["value"] = json!(0)
        }),
        rejected(
            "invalid_fields",
            Some("gross_weight.value"),
            &["expected a number > 0, got 0"],
        ),
    );
    add(
        "sent_at_february_30",
        edited("sent_at_february_30", |v| {
            v["source"]["sent_at"] = json!("2026-02-30T10:00:00Z")
        }),
        rejected("invalid_fields", Some("source.sent_at"), &["RFC 3339"]),
    );

    // -- duplicate keys: rejected, naming the key's path (serde_json alone would keep the
    // last value silently, and a first-wins reader of the same bytes would see the first) --
    let id = hostile_id("duplicate_key_record_id");
    add(
        "duplicate_key_record_id",
        spliced(
            "duplicate_key_record_id",
            &format!("\"record_id\":\"{id}\""),
            format!("\"record_id\":\"SMUGGLED-FIRST\",\"record_id\":\"{id}\"").as_bytes(),
        ),
        rejected(
            "invalid_fields",
            Some("record_id"),
            &["record_id: duplicate key"],
        ),
    );
    // The listed name first, an innocent one last: last-wins screening would release what a
    // first-wins reader sees as a sanctioned consignee.
    add(
        "duplicate_key_listed_name_first",
        spliced(
            "duplicate_key_listed_name_first",
            JANE,
            format!("\"{LISTED}\",\"name\":\"Jane Doe\"").as_bytes(),
        ),
        rejected(
            "invalid_fields",
            Some("consignee.name"),
            &["consignee.name: duplicate key"],
        ),
    );
    // The reverse: rejected just the same.
    add(
        "duplicate_key_listed_name_last",
        spliced(
            "duplicate_key_listed_name_last",
            JANE,
            format!("\"Jane Doe\",\"name\":\"{LISTED}\"").as_bytes(),
        ),
        rejected(
            "invalid_fields",
            Some("consignee.name"),
            &["consignee.name: duplicate key"],
        ),
    );
    // A key spelled with an escape is the same key once unescaped.
    add(
        "duplicate_key_by_escape",
        spliced(
            "duplicate_key_by_escape",
            JANE,
            format!("\"Jane Doe\",\"n\\u0061me\":\"{LISTED}\"").as_bytes(),
        ),
        rejected(
            "invalid_fields",
            Some("consignee.name"),
            &["consignee.name: duplicate key"],
        ),
    );
    // In an unknown field, deep down: the same.
    add(
        "duplicate_key_in_unknown_field",
        spliced(
            "duplicate_key_in_unknown_field",
            JANE,
            format!("\"Jane Doe\",\"x-notes\":[{{\"by\":\"a\",\"by\":\"{LISTED}\"}}]").as_bytes(),
        ),
        rejected(
            "invalid_fields",
            Some("consignee.x-notes[0].by"),
            &["consignee.x-notes[0].by: duplicate key"],
        ),
    );

    // -- control characters, NUL, bidi overrides --
    add(
        "raw_nul_byte_in_name",
        spliced("raw_nul_byte_in_name", JANE, b"\"Jane\x00Doe\""),
        rejected("invalid_json", None, &["control character"]),
    );
    add(
        "raw_nul_byte_outside_strings",
        spliced("raw_nul_byte_outside_strings", JANE, b"\x00\"Jane Doe\""),
        rejected("invalid_json", None, &["expected value"]),
    );
    add(
        "raw_newline_in_name",
        spliced("raw_newline_in_name", JANE, b"\"Jane\nDoe\""),
        rejected("invalid_json", None, &["control character"]),
    );
    cases.extend(named_cases());
    cases.extend([
        Case {
            label: "tombstone_null_payload",
            payload: None,
            expect: rejected("invalid_json", None, &["EOF"]),
            through_pipeline: true,
            secrets: Vec::new(),
        },
        Case {
            label: "country_lower_case",
            payload: Some(edited("country_lower_case", |v| {
                v["destination_country"] = json!("us")
            })),
            expect: rejected(
                "invalid_fields",
                Some("destination_country"),
                &["expected ISO 3166-1 alpha-2 (upper case), got \"us\""],
            ),
            through_pipeline: true,
            secrets: Vec::new(),
        },
        Case {
            label: "empty_consignee_address",
            payload: Some(edited("empty_consignee_address", |v| {
                v["consignee"]["address"]["lines"] = json!([]);
                v["consignee"]["address"]["city"] = json!("");
            })),
            expect: decided(Hold, Some(DataIncomplete)),
            through_pipeline: true,
            secrets: Vec::new(),
        },
        Case {
            // Not blank, so the parser takes it, but no match token (an honorific and
            // punctuation): nothing to screen against the lists.
            label: "consignee_name_without_letters",
            payload: Some(edited("consignee_name_without_letters", |v| {
                v["consignee"]["name"] = json!("Mr. --");
            })),
            expect: decided(Hold, Some(DataIncomplete)),
            through_pipeline: true,
            secrets: Vec::new(),
        },
    ]);

    // -- too big for a default Kafka broker (message.max.bytes 1 MB): parser only --
    for case in [
        Case {
            label: "string_10mb",
            payload: Some(edited("string_10mb", |v| {
                v["consignee"]["name"] = json!("A".repeat(10 << 20))
            })),
            expect: rejected("too_large", None, &["over the limit of 262144 bytes"]),
            through_pipeline: false,
            secrets: Vec::new(),
        },
        Case {
            label: "items_1m",
            payload: Some(edited("items_1m", |v| {
                v["items"] = json!(vec![json!({}); 1_000_000])
            })),
            expect: rejected("too_large", None, &["262144"]),
            through_pipeline: false,
            secrets: Vec::new(),
        },
    ] {
        cases.push(case);
    }
    cases
}

/// Names that must be screened like any other name and never reach an info log line:
/// control characters, bidi overrides, injection payloads. Each carries a `marker`, a
/// distinctive part of it that the log check looks for.
fn named_cases() -> Vec<Case> {
    use ReasonCode::WlMatch;
    use Verdict::{Hold, Release};
    let named = |label: &'static str, role: &str, name: &str, marker: &str, expect: Expect| {
        assert!(
            name.contains(marker),
            "{label}: the marker is part of the name"
        );
        Case {
            label,
            payload: Some(edited(label, |v| v[role]["name"] = json!(name))),
            expect,
            through_pipeline: true,
            secrets: vec![marker.to_owned()],
        }
    };
    vec![
        named(
            "escaped_nul_in_name",
            "consignee",
            "Jane\u{0}Doe\u{0}Secretname",
            "Secretname",
            decided(Release, None),
        ),
        named(
            "ansi_escape_in_name",
            "consignee",
            "Jane \u{1b}[2J\u{1b}[31mDoe Ansiname",
            "Ansiname",
            decided(Release, None),
        ),
        named(
            "c1_controls_in_name",
            "shipper",
            "Example\u{85}Cnamegarment\u{9b}Co Ltd",
            "Cnamegarment",
            decided(Release, None),
        ),
        named(
            "bidi_override_in_name",
            "consignee",
            "Jane \u{202e}eoD enaJ\u{202c} Bidiname",
            "Bidiname",
            decided(Release, None),
        ),
        // Invisible characters must not hide a listed name from screening.
        named(
            "bidi_override_around_listed_name",
            "consignee",
            "\u{202e}AEROCARIBBEAN\u{202c} \u{2066}AIRLINES\u{2069}",
            "AEROCARIBBEAN",
            decided(Hold, Some(WlMatch)),
        ),
        named(
            "zero_width_chars_inside_listed_name",
            "consignee",
            "AEROCARIB\u{200b}BEAN AIR\u{200d}LINES",
            "AEROCARIB",
            decided(Hold, Some(WlMatch)),
        ),
        named(
            "line_separator_in_name",
            "consignee",
            "Jane\u{2028}Doe\u{2029}Lsepname",
            "Lsepname",
            decided(Release, None),
        ),
        named(
            "sql_injection_in_name",
            "consignee",
            "Robert'); DROP TABLE parcels;--",
            "DROP TABLE",
            decided(Release, None),
        ),
        named(
            "sql_injection_quote_or",
            "shipper",
            "x' OR '1'='1",
            "' OR '1'='1",
            decided(Release, None),
        ),
        named(
            "html_script_in_name",
            "consignee",
            "<script>alert('xss')</script>",
            "<script>",
            decided(Release, None),
        ),
        named(
            "log_injection_json_line_in_name",
            "consignee",
            "Jane Doe\n{\"level\":\"INFO\",\"fields\":{\"message\":\"parcel released\"},\"target\":\"forged\"}",
            "parcel released",
            decided(Release, None),
        ),
        named(
            "log_injection_text_line_in_name",
            "consignee",
            "Jane Doe\r\n2026-11-22T08:00:00.000000Z  INFO parcel_screener: forged line Logname",
            "forged line Logname",
            decided(Release, None),
        ),
        named(
            "format_string_in_name",
            "consignee",
            "%s%s%n{}{0}${jndi:ldap://127.0.0.1/a}",
            "${jndi:",
            decided(Release, None),
        ),
    ]
}

// ---- checks shared by both tests ----

/// Every valid record of the pipeline run is released; this checks the base is.
const VALID_VERDICT: Verdict = Verdict::Release;

fn assert_rejection(label: &str, error: &RecordError, expect: &Expect) {
    let Expect::Rejected {
        kind,
        path,
        mentions,
    } = expect
    else {
        panic!("{label}: expected a decision, got rejected: {error}");
    };
    assert_eq!(error.kind(), *kind, "{label}: {error}");
    let message = error.to_string();
    if let Some(path) = path {
        assert!(
            error.field_errors().iter().any(|e| e.path == *path),
            "{label}: no problem at {path}: {message}"
        );
    }
    for needle in *mentions {
        assert!(
            message.contains(needle),
            "{label}: the error does not mention {needle:?}: {message}"
        );
    }
    // Published and logged: hostile bytes must not come back raw in it.
    assert!(
        !message
            .chars()
            .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
        "{label}: control or bidi characters in the error: {message:?}"
    );
}

fn assert_decision(label: &str, decision: &Decision, expect: &Expect) {
    let Expect::Decided { verdict, reason } = expect else {
        panic!("{label}: expected a rejection, got a decision: {decision:?}");
    };
    assert_eq!(decision.decision, *verdict, "{label}: {decision:?}");
    if let Some(reason) = reason {
        assert!(
            decision.reasons.iter().any(|r| r.code == *reason),
            "{label}: no {reason:?} among {:?}",
            decision.reasons
        );
    }
}

/// What the offline engine makes of a case: its decision, or the parse error.
fn offline(
    screener: &Screener,
    limits: &ParseLimits,
    payload: &[u8],
) -> Result<Decision, RecordError> {
    let record = parse_record(payload, limits)?;
    let mut deduplicator = Deduplicator::new(Default::default());
    match process_report(
        screener,
        &mut deduplicator,
        &record.parcel_key(),
        &record,
        0,
    ) {
        ReportOutcome::Decided(decision) => Ok(decision),
        ReportOutcome::Duplicate(kind) => panic!("a first report is a duplicate: {kind:?}"),
    }
}

// ---- 1. parser and engine ----

#[test]
fn every_hostile_input_is_rejected_naming_the_problem_or_screened() {
    let config = bundled_config();
    let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
    let cases = corpus();
    let labels: BTreeSet<&str> = cases.iter().map(|c| c.label).collect();
    assert_eq!(labels.len(), cases.len(), "labels are unique");

    let mut rejected = 0;
    for case in &cases {
        let payload = case.payload.as_deref().unwrap_or_default();
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| offline(&screener, &config.limits, payload))
            .unwrap_or_else(|_| panic!("{}: the engine panicked", case.label));
        let elapsed = started.elapsed();
        match &outcome {
            Ok(decision) => assert_decision(case.label, decision, &case.expect),
            Err(error) => {
                rejected += 1;
                assert_rejection(case.label, error, &case.expect)
            }
        }
        // Debug build, shared 2-core machine: generous, but a pathological case is seconds.
        assert!(
            elapsed < Duration::from_secs(3),
            "{}: took {elapsed:?}",
            case.label
        );
    }
    assert!(rejected > cases.len() / 2, "most of the corpus is rejected");

    // With the size limit raised out of the way, the count limits still hold.
    let raised = ParseLimits {
        max_record_bytes: 64 << 20,
        ..config.limits.clone()
    };
    let items_1m = edited("items_1m", |v| {
        v["items"] = json!(vec![json!({}); 1_000_000])
    });
    let error = parse_record(&items_1m, &raised).expect_err("1M items");
    assert_eq!(
        error.field_errors()[0].to_string(),
        "items: expected at most 1000 items, got 1000000"
    );
    let string_10mb = edited("string_10mb", |v| {
        v["consignee"]["name"] = json!("A".repeat(10 << 20))
    });
    let error = parse_record(&string_10mb, &raised).expect_err("10 MB name");
    assert_eq!(
        error.field_errors()[0].to_string(),
        "consignee.name: expected at most 1000 characters, got 10485760"
    );
    let deep = "[".repeat(10 << 20);
    let error = parse_record(deep.as_bytes(), &raised).expect_err("10M brackets");
    assert!(error.to_string().contains("recursion limit"), "{error}");

    // The valid record the pipeline test interleaves is released.
    let valid = serde_json::to_vec(&record("VALID-0")).unwrap();
    assert_eq!(
        offline(&screener, &config.limits, &valid)
            .expect("valid")
            .decision,
        VALID_VERDICT
    );
}

// ---- 2. through the pipeline ----

/// Captured log output of this test binary (info level and above, text format as the
/// service's default).
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .try_init();
        logs
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "2")
        .create()
        .expect("producer")
}

async fn produce(producer: &FutureProducer, key: &str, payload: Option<&[u8]>) {
    let mut message = FutureRecord::<str, [u8]>::to("parcels.advance").key(key);
    if let Some(payload) = payload {
        message = message.payload(payload);
    }
    producer
        .send(message, Duration::from_secs(10))
        .await
        .unwrap_or_else(|(error, _)| panic!("producing {key}: {error}"));
}

/// How the run went, filled in by the shutdown future.
#[derive(Debug, Default)]
struct RunReport {
    first_batch: Option<StatsSnapshot>,
    first_batch_time: Duration,
    after_record_time: Option<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_through_the_pipeline_are_rejected_or_decided_and_never_stall_it() {
    let logs = captured_logs();
    let config = bundled_config();
    let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| c.through_pipeline)
        .collect();

    let broker = MockBroker::start(&[
        ("parcels.advance", 4),
        ("parcels.decisions", 4),
        ("parcels.rejected", 2),
    ])
    .expect("mock broker");
    let brokers = broker.bootstrap_servers().to_string();
    let producer = producer(&brokers);

    // A valid record before each hostile one, and one replayed (a duplicate), then all of it
    // is screened; a last valid record is produced once that is done.
    let mut sent = 0u64;
    let mut valid_ids = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let id = format!("VALID-{index}");
        let valid = serde_json::to_vec(&record(&id)).unwrap();
        produce(&producer, &format!("DHL:{id}"), Some(&valid)).await;
        valid_ids.push(id);
        // Hostile messages are keyed by their label, so that a rejection names its case.
        produce(
            &producer,
            &format!("hostile:{}", case.label),
            case.payload.as_deref(),
        )
        .await;
        sent += 2;
    }
    let replay = serde_json::to_vec(&record("VALID-0")).unwrap();
    produce(&producer, "DHL:VALID-0", Some(&replay)).await;
    sent += 1;

    let settings = KafkaConfig {
        brokers: brokers.clone(),
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        ..KafkaConfig::default()
    };
    let stats = Arc::new(PipelineStats::default());
    let report = Arc::new(Mutex::new(RunReport::default()));
    let shutdown = {
        let stats = stats.clone();
        let report = report.clone();
        let producer = producer.clone();
        async move {
            let started = tokio::time::Instant::now();
            let wait_for = |target: u64, limit: Duration| {
                let stats = stats.clone();
                async move {
                    let deadline = tokio::time::Instant::now() + limit;
                    while stats.snapshot().acknowledged < target {
                        if tokio::time::Instant::now() > deadline {
                            return false;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    true
                }
            };
            if !wait_for(sent, Duration::from_secs(120)).await {
                return; // reported below from the stats
            }
            {
                let mut report = report.lock().unwrap();
                report.first_batch = Some(stats.snapshot());
                report.first_batch_time = started.elapsed();
            }
            let after = serde_json::to_vec(&record("VALID-AFTER")).unwrap();
            let produced = tokio::time::Instant::now();
            produce(&producer, "DHL:VALID-AFTER", Some(&after)).await;
            if wait_for(sent + 1, Duration::from_secs(30)).await {
                report.lock().unwrap().after_record_time = Some(produced.elapsed());
            }
            // Let the auto-commit of stored offsets happen at least once.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    run_pipeline(
        &settings,
        config.limits.clone(),
        config.dedup.clone(),
        Arc::new(LiveScreener::new(screener.clone())),
        stats.clone(),
        shutdown,
    )
    .await
    .expect("the pipeline runs and stops cleanly");

    let report = std::mem::take(&mut *report.lock().unwrap());
    let first = report.first_batch.unwrap_or_else(|| {
        panic!(
            "the pipeline stalled: {sent} sent, after 120 s {:?}",
            stats.snapshot()
        )
    });
    let after_time = report
        .after_record_time
        .expect("a valid record produced after the hostile ones was not decided within 30 s");
    let total = stats.snapshot();

    // Counts: every message accounted for, exactly once.
    assert_eq!(first.received, sent, "{first:?}");
    assert_eq!(
        first.decided() + first.rejected + first.duplicates,
        sent,
        "decided + rejected + duplicates = sent: {first:?}"
    );
    assert_eq!(first.duplicates, 1, "the replayed record: {first:?}");
    assert_eq!(total.acknowledged, sent + 1, "{total:?}");
    assert_eq!(total.decided(), first.decided() + 1, "{total:?}");

    // Decisions, by record id.
    let decisions = read_topic(
        &brokers,
        "parcels.decisions",
        total.decided() as usize,
        EXTRAS_WAIT,
    )
    .await;
    assert_eq!(
        decisions.len() as u64,
        total.decided(),
        "decisions read back"
    );
    let mut by_record: BTreeMap<String, Decision> = BTreeMap::new();
    for (key, payload) in &decisions {
        let decision: Decision = serde_json::from_slice(payload).expect("decision JSON");
        assert_eq!(
            key.as_deref(),
            Some(decision.parcel_key.as_bytes()),
            "keyed by parcel key"
        );
        let previous = by_record.insert(decision.record_id.to_string(), decision);
        assert!(previous.is_none(), "one decision per record");
    }
    for id in valid_ids.iter().chain([&"VALID-AFTER".to_owned()]) {
        let decision = by_record
            .get(id)
            .unwrap_or_else(|| panic!("valid record {id} has no decision"));
        assert_eq!(decision.decision, VALID_VERDICT, "{id}: {decision:?}");
    }

    // Rejections, by the label in their key.
    let rejections = read_topic(
        &brokers,
        "parcels.rejected",
        total.rejected as usize,
        EXTRAS_WAIT,
    )
    .await;
    assert_eq!(
        rejections.len() as u64,
        total.rejected,
        "rejections read back"
    );
    let mut by_label: BTreeMap<String, RejectedRecord> = BTreeMap::new();
    for (_, payload) in &rejections {
        let envelope: RejectedRecord = serde_json::from_slice(payload).expect("envelope JSON");
        let label = envelope
            .source
            .key
            .as_deref()
            .and_then(|k| k.strip_prefix("hostile:"))
            .unwrap_or_else(|| panic!("a rejection not keyed by a case: {:?}", envelope.source))
            .to_owned();
        by_label.insert(label, envelope);
    }

    // Each case where it belongs, as the offline engine has it.
    let mut accounted = 0;
    for case in &cases {
        let payload = case.payload.as_deref().unwrap_or_default();
        match offline(&screener, &config.limits, payload) {
            Ok(expected) => {
                let decision = by_record
                    .get(expected.record_id.as_str())
                    .unwrap_or_else(|| panic!("{}: no decision in parcels.decisions", case.label));
                assert_decision(case.label, decision, &case.expect);
                assert!(
                    decision.same_outcome_as(&expected),
                    "{}: the pipeline decided {decision:?}, the engine {expected:?}",
                    case.label
                );
                assert!(
                    !by_label.contains_key(case.label),
                    "{}: decided and rejected",
                    case.label
                );
            }
            Err(error) => {
                let envelope = by_label
                    .get(case.label)
                    .unwrap_or_else(|| panic!("{}: not in parcels.rejected", case.label));
                assert_rejection(case.label, &error, &case.expect);
                assert_eq!(envelope.error, error.kind(), "{}", case.label);
                assert_eq!(envelope.message, error.to_string(), "{}", case.label);
                assert!(
                    envelope.is_of(payload),
                    "{}: the original's size, SHA-256 and bytes",
                    case.label
                );
                if payload.len() <= MAX_ORIGINAL_BYTES {
                    assert_eq!(
                        envelope.original().expect("base64"),
                        payload,
                        "{}: the original bytes, intact",
                        case.label
                    );
                    assert!(!envelope.original_truncated, "{}", case.label);
                } else {
                    assert!(envelope.original_truncated, "{}", case.label);
                    assert_eq!(
                        envelope.original().expect("base64"),
                        &payload[..MAX_ORIGINAL_BYTES],
                        "{}: the first bytes of the original",
                        case.label
                    );
                }
                assert_eq!(envelope.source.topic, "parcels.advance");
                assert!(envelope.source.offset >= 0);
            }
        }
        accounted += 1;
    }
    assert_eq!(accounted, cases.len());
    assert_eq!(
        by_label.len() as u64 + (by_record.len() - valid_ids.len() - 1) as u64,
        cases.len() as u64,
        "every hostile message is in exactly one of the two topics"
    );

    // The log at info level: no hostile name, no forged line.
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("partitions assigned"),
        "the pipeline's log was captured:\n{logs}"
    );
    for case in &cases {
        for secret in &case.secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "{}: {secret:?} of a party name is in the info log:\n{logs}",
                case.label
            );
        }
    }
    for line in logs.lines() {
        assert!(
            !line.contains("forged") && !line.starts_with('{'),
            "a forged log line: {line:?}"
        );
    }
    eprintln!(
        "hostile_input: {sent} sent ({} hostile), {} decided, {} rejected, {} duplicate; first \
         batch in {:?}, the record after it decided in {after_time:?}",
        cases.len(),
        first.decided(),
        first.rejected,
        first.duplicates,
        report.first_batch_time,
    );
    drop(broker);
}

/// Once a finding (issue #8): a record of 0.75-1 MB, which a Kafka broker with the default
/// `message.max.bytes` (1 MB) accepts, is rejected by size, but an envelope carrying all of
/// it in base64 (4/3 of the size) is over the producer's own `message.max.bytes` (1,000,000);
/// librdkafka refused it at enqueue and the worker retried forever, stalling its partitions
/// (and a restart on the same record). Now the envelope keeps the first 256 KiB, with the
/// size and SHA-256 of the whole: it is published, and the record behind it is decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_rejection_does_not_stall_the_pipeline() {
    let logs = captured_logs();
    let config = bundled_config();
    let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
    let broker = MockBroker::start(&[
        ("parcels.advance", 1),
        ("parcels.decisions", 1),
        ("parcels.rejected", 1),
    ])
    .expect("mock broker");
    let brokers = broker.bootstrap_servers().to_string();
    let producer = producer(&brokers);
    let big = edited("record_800kb", |v| {
        v["padding"] = json!("x".repeat(800 * 1024))
    });
    assert!(
        big.len() * 4 / 3 > 1_000_000,
        "base64 of it is over 1,000,000 bytes"
    );
    produce(&producer, "hostile:record_800kb", Some(&big)).await;
    let valid = serde_json::to_vec(&record("VALID-BEHIND-800KB")).unwrap();
    produce(&producer, "DHL:VALID-BEHIND-800KB", Some(&valid)).await;

    let settings = KafkaConfig {
        brokers: brokers.clone(),
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        ..KafkaConfig::default()
    };
    let stats = Arc::new(PipelineStats::default());
    let watched = stats.clone();
    let observer = stats.clone();
    let shutdown = async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while watched.snapshot().acknowledged < 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // Were the worker stalled, it would still be at shutdown: run the pipeline on its own
    // task and give up on it (the test process ends with it) rather than hang the test.
    let pipeline = tokio::spawn(async move {
        run_pipeline(
            &settings,
            config.limits.clone(),
            config.dedup.clone(),
            Arc::new(LiveScreener::new(screener)),
            stats,
            shutdown,
        )
        .await
    });
    let stopped = tokio::time::timeout(Duration::from_secs(60), pipeline).await;
    let snapshot = observer.snapshot();
    let enqueue_failures: Vec<String> = {
        let logs = logs.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&logs)
            .lines()
            .filter(|line| {
                line.contains("enqueue failed")
                    || line.contains("over the producer's message.max.bytes")
            })
            .map(str::to_owned)
            .collect()
    };
    let result = stopped.unwrap_or_else(|_| {
        panic!("the pipeline did not stop within 60 s: {snapshot:?}; logged: {enqueue_failures:?}")
    });
    result
        .expect("the pipeline task")
        .expect("the pipeline stops cleanly");
    assert_eq!(
        (snapshot.rejected, snapshot.released, snapshot.acknowledged),
        (1, 1, 2),
        "the 800 KB record rejected and the record behind it released: {snapshot:?}"
    );
    assert!(
        enqueue_failures.is_empty(),
        "no enqueue failure: {enqueue_failures:?}"
    );

    // The rejection: a truncated envelope that still identifies the record.
    let rejections = read_topic(&brokers, "parcels.rejected", 1, EXTRAS_WAIT).await;
    assert_eq!(rejections.len(), 1, "one rejection");
    let (key, payload) = &rejections[0];
    assert!(payload.len() < 500_000, "{} bytes", payload.len());
    assert_eq!(key.as_deref(), Some(&b"hostile:record_800kb"[..]));
    let envelope: RejectedRecord = serde_json::from_slice(payload).expect("envelope JSON");
    assert_eq!(envelope.error, "too_large");
    assert!(envelope.original_truncated);
    assert_eq!(envelope.original_size_bytes, big.len() as u64);
    assert_eq!(
        envelope.original().expect("base64"),
        &big[..MAX_ORIGINAL_BYTES]
    );
    assert!(
        envelope.is_of(&big),
        "size, SHA-256 and first bytes of the record"
    );
    let decisions = read_topic(&brokers, "parcels.decisions", 1, EXTRAS_WAIT).await;
    assert_eq!(decisions.len(), 1, "one decision");
    let decision: Decision = serde_json::from_slice(&decisions[0].1).expect("decision JSON");
    assert_eq!(decision.record_id, "VALID-BEHIND-800KB");
    assert_eq!(decision.decision, VALID_VERDICT);
    drop(broker);
}

/// An outcome the producer refuses for good (here a decision of over 1000 bytes, the
/// producer's `message.max.bytes` set to 1000) is not retried forever: the pipeline stops with a delivery
/// error, promptly, without committing the record, and says why once at error level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_producer_refuses_stops_the_pipeline_with_an_error() {
    let logs = captured_logs();
    let config = bundled_config();
    let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
    let broker = MockBroker::start(&[
        ("parcels.advance", 1),
        ("parcels.decisions", 1),
        ("parcels.rejected", 1),
    ])
    .expect("mock broker");
    let brokers = broker.bootstrap_servers().to_string();
    let producer = producer(&brokers);
    // A decision repeats the record id and the parcel key: over 1000 bytes with this id.
    let id = format!("VALID-REFUSED-{}", "9".repeat(900));
    let valid = serde_json::to_vec(&record(&id)).unwrap();
    produce(&producer, &format!("DHL:{id}"), Some(&valid)).await;

    let mut settings = KafkaConfig {
        brokers: brokers.clone(),
        group_id: "refused".into(),
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        ..KafkaConfig::default()
    };
    settings
        .client_properties
        .insert("message.max.bytes".into(), "1000".into());
    let stats = Arc::new(PipelineStats::default());
    let observer = stats.clone();
    let shutdown = tokio::time::sleep(Duration::from_secs(60));
    let started = Instant::now();
    let pipeline = tokio::spawn(async move {
        run_pipeline(
            &settings,
            config.limits.clone(),
            config.dedup.clone(),
            Arc::new(LiveScreener::new(screener)),
            stats,
            shutdown,
        )
        .await
    });
    let result = tokio::time::timeout(Duration::from_secs(90), pipeline)
        .await
        .expect("the pipeline stopped")
        .expect("the pipeline task");
    let elapsed = started.elapsed();
    let error = result
        .map(|()| observer.snapshot())
        .expect_err("the pipeline stops with an error");
    assert!(
        matches!(error, PipelineError::Delivery { offset: 0, .. }),
        "{error}"
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "stopped on the failure, not at shutdown: {elapsed:?}"
    );
    let snapshot = observer.snapshot();
    assert_eq!(
        snapshot.acknowledged, 0,
        "nothing acknowledged: {snapshot:?}"
    );
    let logs = {
        let logs = logs.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&logs).into_owned()
    };
    let logged: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("cannot enqueue the outcome of a record"))
        .collect();
    assert_eq!(logged.len(), 1, "logged once: {logged:?}");
    assert!(
        logged[0].contains("ERROR") && logged[0].contains("MessageSizeTooLarge"),
        "{logged:?}"
    );
    assert!(
        !logs.contains("bootstrap.servers"),
        "the failed delivery's own producer is quiet:\n{logs}"
    );
    assert!(
        !logs.contains("enqueue failed; retrying"),
        "a permanent error is not retried:\n{logs}"
    );

    // Nothing was committed: the record is read again, and decided, with a producer that
    // takes it.
    let settings = KafkaConfig {
        brokers: brokers.clone(),
        group_id: "refused".into(),
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        ..KafkaConfig::default()
    };
    let config = bundled_config();
    let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
    let stats = Arc::new(PipelineStats::default());
    let watched = stats.clone();
    let shutdown = async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while watched.snapshot().acknowledged < 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    run_pipeline(
        &settings,
        config.limits.clone(),
        config.dedup.clone(),
        Arc::new(LiveScreener::new(screener)),
        stats.clone(),
        shutdown,
    )
    .await
    .expect("the second run");
    assert_eq!(stats.snapshot().released, 1, "{:?}", stats.snapshot());
    drop(broker);
}

/// The same with `kafka.delivery = exactly-once`: the committer finds the failed outcome in
/// its batch, aborts the open transaction instead of committing it, and stops the pipeline
/// (the transaction's records are read again; the mock broker does not keep transactional
/// offsets, so that part is not checked here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_exactly_once_a_message_the_producer_refuses_stops_the_pipeline_with_an_error() {
    let config = bundled_config();
    let (screener, _) = parcel_screener::engine::build_screener(&config).expect("engine");
    let broker = MockBroker::start(&[
        ("parcels.advance", 1),
        ("parcels.decisions", 1),
        ("parcels.rejected", 1),
    ])
    .expect("mock broker");
    let brokers = broker.bootstrap_servers().to_string();
    let producer = producer(&brokers);
    let id = format!("VALID-REFUSED-EOS-{}", "9".repeat(900));
    let valid = serde_json::to_vec(&record(&id)).unwrap();
    produce(&producer, &format!("DHL:{id}"), Some(&valid)).await;

    let mut settings = KafkaConfig {
        brokers: brokers.clone(),
        group_id: "refused-eos".into(),
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        delivery: parcel_screener::streaming::config::DeliveryGuarantee::ExactlyOnce,
        transactional_id: Some("refused-eos".into()),
        ..KafkaConfig::default()
    };
    settings
        .client_properties
        .insert("message.max.bytes".into(), "1000".into());
    let stats = Arc::new(PipelineStats::default());
    let observer = stats.clone();
    let shutdown = tokio::time::sleep(Duration::from_secs(60));
    let started = Instant::now();
    let pipeline = tokio::spawn(async move {
        run_pipeline(
            &settings,
            config.limits.clone(),
            config.dedup.clone(),
            Arc::new(LiveScreener::new(screener)),
            stats,
            shutdown,
        )
        .await
    });
    let result = tokio::time::timeout(Duration::from_secs(90), pipeline)
        .await
        .expect("the pipeline stopped")
        .expect("the pipeline task");
    let elapsed = started.elapsed();
    let error = result
        .map(|()| observer.snapshot())
        .expect_err("the pipeline stops with an error");
    assert!(
        matches!(
            error,
            PipelineError::Delivery {
                offset: 0,
                source: rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::error::RDKafkaErrorCode::MessageSizeTooLarge
                ),
                ..
            }
        ),
        "{error}"
    );
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    drop(broker);
}

//! A decision's JSON, written by hand: the bytes `serde_json::to_vec` writes for it, at a
//! fraction of the cost.
//!
//! Every decided record is published as JSON, so this runs once per decision on the
//! screening workers. Through serde it cost ~4,900 instructions a decision (callgrind,
//! BENCHMARKS.md "Decisions written by hand"): each field name went through the escaping
//! writer byte by byte, as did every value. Here the field names are literals, a value is
//! scanned eight bytes at a time and copied whole when nothing in it needs escaping (nearly
//! always), and numbers go through serde_json's own formatter, so the text is the same to
//! the byte. The test `decisions_are_written_as_serde_json_writes_them` holds that, over
//! every field, escapes and number edge cases included.

use serde_json::ser::{CompactFormatter, Formatter};

use super::{Decision, Reason};
use crate::json_text::first_special_byte;

impl Decision {
    /// The decision as JSON, in a buffer that holds a typical decision (250–400 bytes) at
    /// once.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DECISION_JSON_CAPACITY);
        self.write_json(&mut out);
        out
    }

    /// Appends the decision as JSON to `out`: what `serde_json::to_writer` writes.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"schema":"#);
        push_string(out, &self.schema);
        out.extend_from_slice(br#","parcel_key":"#);
        push_string(out, &self.parcel_key);
        out.extend_from_slice(br#","record_id":"#);
        push_string(out, &self.record_id);
        out.extend_from_slice(br#","version":"#);
        push_u32(out, self.version);
        out.extend_from_slice(br#","decision":""#);
        out.extend_from_slice(self.decision.as_str().as_bytes());
        out.extend_from_slice(br#"","lane":""#);
        out.extend_from_slice(self.lane.as_str().as_bytes());
        out.extend_from_slice(br#"","reasons":["#);
        for (index, reason) in self.reasons.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            push_reason(out, reason);
        }
        out.extend_from_slice(br#"],"list_versions":{"watchlist":"#);
        push_string(out, &self.list_versions.watchlist);
        out.extend_from_slice(br#","known_shippers":"#);
        push_string(out, &self.list_versions.known_shippers);
        out.extend_from_slice(br#"},"decided_at":"#);
        push_string(out, &self.decided_at);
        out.extend_from_slice(br#","latency_ms":"#);
        push_f64(out, self.latency_ms);
        out.push(b'}');
    }
}

/// Room for a typical decision; `serde_json::to_vec` starts at 128 bytes and grows twice.
const DECISION_JSON_CAPACITY: usize = 512;

/// A reason: its code, then the fields that apply (absent ones are left out, as
/// `skip_serializing_if` does).
fn push_reason(out: &mut Vec<u8>, reason: &Reason) {
    out.extend_from_slice(br#"{"code":""#);
    out.extend_from_slice(reason.code.as_str().as_bytes());
    out.push(b'"');
    if let Some(party) = reason.party {
        out.extend_from_slice(br#","party":""#);
        out.extend_from_slice(party.as_str().as_bytes());
        out.push(b'"');
    }
    let texts = [
        (&br#","list":"#[..], &reason.list),
        (br#","entry_id":"#, &reason.entry_id),
        (br#","matched_name":"#, &reason.matched_name),
    ];
    for (name, value) in texts {
        if let Some(value) = value {
            out.extend_from_slice(name);
            push_string(out, value);
        }
    }
    if let Some(score) = reason.score {
        out.extend_from_slice(br#","score":"#);
        push_f64(out, score);
    }
    if let Some(detail) = &reason.detail {
        out.extend_from_slice(br#","detail":"#);
        push_string(out, detail);
    }
    out.push(b'}');
}

/// A JSON string: quoted, with serde_json's escapes (`\"`, `\\`, the short forms of
/// backspace, form feed, newline, carriage return and tab, `\u00xx` for the other control
/// characters; nothing else is escaped).
fn push_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut copied = 0;
    while let Some(offset) = first_special_byte(&bytes[copied..]) {
        let at = copied + offset;
        out.extend_from_slice(&bytes[copied..at]);
        push_escape(out, bytes[at]);
        copied = at + 1;
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

fn push_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0C => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX_DIGITS[usize::from(byte >> 4)],
                HEX_DIGITS[usize::from(byte & 0xF)],
            ]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

fn push_u32(out: &mut Vec<u8>, value: u32) {
    // Writing into a `Vec` cannot fail.
    let _ = CompactFormatter.write_u32(out, value);
}

/// A number as serde_json writes an `f64`: its shortest form, or `null` when not finite.
fn push_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        // Writing into a `Vec` cannot fail.
        let _ = CompactFormatter.write_f64(out, value);
    } else {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Lane, ListVersions, PartyRole, ReasonCode, Verdict};

    fn decision(reasons: Vec<Reason>) -> Decision {
        Decision {
            schema: "decision/v1".into(),
            parcel_key: "SFX|945665615751|US".into(),
            record_id: "SF-INTL-0000000001".into(),
            version: 3,
            decision: Verdict::Hold,
            lane: Lane::Standard,
            reasons,
            list_versions: ListVersions {
                watchlist: "sha256:0123456789abcdef".into(),
                known_shippers: "ks-2026-11-23".into(),
            },
            decided_at: "2026-11-23T13:07:36.533Z".into(),
            latency_ms: 0.123,
        }
    }

    fn assert_written_as_serde_json(decision: &Decision) {
        let expected = serde_json::to_vec(decision).expect("serialisable");
        assert_eq!(
            String::from_utf8_lossy(&decision.to_json()),
            String::from_utf8_lossy(&expected)
        );
    }

    #[test]
    fn decisions_are_written_as_serde_json_writes_them() {
        assert_written_as_serde_json(&decision(Vec::new()));
        let full = Reason {
            party: Some(PartyRole::Consignee),
            list: Some("OFAC-SDN".into()),
            entry_id: Some("36".into()),
            matched_name: Some("AEROCARIBBEAN AIRLINES".into()),
            score: Some(0.9312),
            detail: Some("name 0.9312 ≥ 0.92; country agrees".into()),
            ..Reason::new(ReasonCode::WlMatch)
        };
        let mut every_reason: Vec<Reason> = ReasonCode::ALL.into_iter().map(Reason::new).collect();
        every_reason.push(full.clone());
        for role in [PartyRole::Shipper, PartyRole::Seller] {
            every_reason.push(Reason {
                party: Some(role),
                score: Some(1.0),
                ..Reason::new(ReasonCode::KsVerified)
            });
        }
        let mut held = decision(every_reason);
        assert_written_as_serde_json(&held);
        for verdict in Verdict::ALL {
            for lane in [Lane::Trusted, Lane::Standard] {
                held.decision = verdict;
                held.lane = lane;
                assert_written_as_serde_json(&held);
            }
        }

        // Texts with every byte JSON escapes, at every position of an eight-byte word, and
        // non-ASCII text, which is not escaped.
        let mut texts: Vec<String> = vec![String::new(), "Müller & Söhne 株式会社 😀".into()];
        for byte in (0u8..0x20).chain([b'"', b'\\', b'/', 0x7F]) {
            for position in 0..17 {
                let mut text = "abcdefghijklmnopq".to_string();
                text.insert(position, char::from(byte));
                texts.push(text);
            }
        }
        for text in texts {
            let mut decision = decision(vec![Reason {
                matched_name: Some(text.clone()),
                detail: Some(format!("{text}{text}")),
                ..full.clone()
            }]);
            decision.record_id = text.as_str().into();
            decision.parcel_key = format!("K|{text}").into();
            assert_written_as_serde_json(&decision);
        }

        // Numbers: shortest forms, exponents, integers as floats, and the extremes.
        for value in [
            0.0,
            -0.0,
            1.0,
            0.1,
            12.5,
            1e-7,
            123_456_789.125,
            1e21,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut decision = decision(vec![Reason {
                score: Some(value),
                ..full.clone()
            }]);
            decision.latency_ms = value;
            assert_written_as_serde_json(&decision);
        }
        for version in [0, 1, 9, 10, 99_999, u32::MAX] {
            let mut decision = decision(Vec::new());
            decision.version = version;
            assert_written_as_serde_json(&decision);
        }
    }
}

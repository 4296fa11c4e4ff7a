//! Content-derived list versions.

use super::WatchEntry;

/// A version name for a set of watch-list entries, derived from their content: the same
/// entries give the same version on every instance and after every restart, so decisions
/// stay deterministic. `wl-` and 16 hex digits. Independent of entry order.
pub fn content_version(entries: &[WatchEntry]) -> String {
    let mut lines: Vec<Vec<u8>> = entries
        .iter()
        // Serialising a plain struct of strings cannot fail.
        .map(|entry| serde_json::to_vec(entry).unwrap_or_default())
        .collect();
    lines.sort_unstable();
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for line in &lines {
        hasher.update(line);
        hasher.update(b"\n");
    }
    format!("wl-{:016x}", hasher.digest())
}

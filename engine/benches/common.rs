//! Shared by the benchmarks: the bundled lists and realistic queries.

use std::path::Path;

use screener_engine::lists::{self, ListFormat, WatchEntry};

/// The full bundled lists, as the default config screens against: the OFAC SDN 2021-07 set
/// (names, aliases, addresses) and the CSL extract.
pub fn bundled_entries() -> Vec<WatchEntry> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/lists");
    let mut entries = lists::load(
        ListFormat::OfacSdn,
        &data.join("ofac-sdn-2021-07"),
        Some("OFAC-SDN"),
    )
    .expect("OFAC SDN set")
    .entries;
    entries.extend(
        lists::load(
            ListFormat::Csl,
            &data.join("csl-2023-extract/consolidated.csv"),
            None,
        )
        .expect("CSL extract")
        .entries,
    );
    entries
}

const GIVEN: &[&str] = &[
    "James", "Mary", "Wei", "Li", "Maria", "Jose", "Ahmed", "Fatima", "Olga", "Ivan", "Yuki",
    "Hiroshi", "Anna", "Peter", "Priya", "Rahul", "Chen", "Sofia", "Lucas", "Emma", "Omar",
    "Aisha", "Kim", "Nguyen",
];
const SURNAMES: &[&str] = &[
    "Smith", "Johnson", "Garcia", "Martinez", "Wang", "Zhang", "Kumar", "Singh", "Ivanova",
    "Petrov", "Tanaka", "Sato", "Muller", "Schmidt", "Dubois", "Rossi", "Silva", "Santos", "Tran",
    "Le", "Hassan", "Ali", "Kowalski",
];

/// Realistic party names: 80% clean consignee-like names, 20% list names with a typo, the
/// share of each being much higher than in real traffic, so that matches are exercised.
pub fn queries(entries: &[WatchEntry], count: usize) -> Vec<String> {
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as usize
    };
    (0..count)
        .map(|_| {
            if next() % 5 == 0 {
                let entry = &entries[next() % entries.len()];
                let mut name: Vec<char> = entry.name.chars().collect();
                if name.len() > 4 {
                    let at = 1 + next() % (name.len() - 2);
                    name.remove(at);
                }
                name.into_iter().collect()
            } else {
                format!(
                    "{} {}",
                    GIVEN[next() % GIVEN.len()],
                    SURNAMES[next() % SURNAMES.len()]
                )
            }
        })
        .collect()
}

//! ISO 3166-1 alpha-2 country codes: validation, and mapping the country names that lists
//! publish ("Cuba", "Korea, North", "Burma") to codes.

#[path = "country_table.rs"]
mod table;

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (upper case, e.g. `US`).
pub fn is_alpha2(code: &str) -> bool {
    table::COUNTRIES
        .binary_search_by(|(candidate, _)| candidate.cmp(&code))
        .is_ok()
}

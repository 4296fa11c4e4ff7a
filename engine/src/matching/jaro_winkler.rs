//! Jaro-Winkler similarity (prefix scale 0.1, prefix of at most 4, boost only when Jaro > 0.7),
//! compared character by character, never byte by byte.
//!
//! Written here rather than taken from `strsim` because the matcher calls it on short ASCII
//! tokens millions of times: this version keeps its match flags in two `u64` bit sets when
//! both sides are at most 64 units long, so the hot path does not allocate. `strsim` is kept
//! as a dev-dependency to cross-check it.

/// Jaro-Winkler similarity of two strings, in [0, 1], by Unicode scalar values.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    if a.is_ascii() && b.is_ascii() {
        return jaro_winkler_units(a.as_bytes(), b.as_bytes());
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    jaro_winkler_units(&a, &b)
}

/// Jaro-Winkler similarity of two sequences of comparable units (bytes of ASCII text, chars).
pub fn jaro_winkler_units<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    let jaro = jaro_units(a, b);
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = a
        .iter()
        .zip(b)
        .take(4)
        .take_while(|(left, right)| left == right)
        .count();
    jaro + 0.1 * prefix as f64 * (1.0 - jaro)
}

/// Jaro similarity of two sequences.
pub fn jaro_units<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (matches, transpositions) = if a.len() <= 64 && b.len() <= 64 {
        count_matches_bitset(a, b)
    } else {
        count_matches_vec(a, b)
    };
    if matches == 0 {
        return 0.0;
    }
    // Half the transpositions, rounded down, as strsim and jellyfish count them.
    let half_transpositions = (transpositions / 2) as f64;
    let matches = matches as f64;
    (matches / a.len() as f64
        + matches / b.len() as f64
        + (matches - half_transpositions) / matches)
        / 3.0
}

fn search_range(a_len: usize, b_len: usize) -> usize {
    (a_len.max(b_len) / 2).saturating_sub(1)
}

/// Matches and transpositions with match flags in bit sets (both sides ≤ 64 units).
fn count_matches_bitset<T: PartialEq>(a: &[T], b: &[T]) -> (usize, usize) {
    debug_assert!(a.len() <= 64 && b.len() <= 64);
    let range = search_range(a.len(), b.len());
    let mut a_flags: u64 = 0;
    let mut b_flags: u64 = 0;
    let mut matches = 0;
    for (i, unit) in a.iter().enumerate() {
        let low = i.saturating_sub(range);
        let high = (i + range + 1).min(b.len());
        for (j, candidate) in b.iter().enumerate().take(high).skip(low) {
            if b_flags & (1 << j) == 0 && candidate == unit {
                a_flags |= 1 << i;
                b_flags |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    let mut transpositions = 0;
    let mut remaining_b = b_flags;
    let mut remaining_a = a_flags;
    while remaining_a != 0 {
        let i = remaining_a.trailing_zeros() as usize;
        let j = remaining_b.trailing_zeros() as usize;
        if a[i] != b[j] {
            transpositions += 1;
        }
        remaining_a &= remaining_a - 1;
        remaining_b &= remaining_b - 1;
    }
    (matches, transpositions)
}

/// Matches and transpositions for long inputs.
fn count_matches_vec<T: PartialEq>(a: &[T], b: &[T]) -> (usize, usize) {
    let range = search_range(a.len(), b.len());
    let mut a_flags = vec![false; a.len()];
    let mut b_flags = vec![false; b.len()];
    let mut matches = 0;
    for (i, unit) in a.iter().enumerate() {
        let low = i.saturating_sub(range);
        let high = (i + range + 1).min(b.len());
        for j in low..high {
            if !b_flags[j] && b[j] == *unit {
                a_flags[i] = true;
                b_flags[j] = true;
                matches += 1;
                break;
            }
        }
    }
    let a_matched = a.iter().zip(&a_flags).filter(|(_, &f)| f).map(|(u, _)| u);
    let b_matched = b.iter().zip(&b_flags).filter(|(_, &f)| f).map(|(u, _)| u);
    let transpositions = a_matched.zip(b_matched).filter(|(x, y)| x != y).count();
    (matches, transpositions)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public test vectors in `data/jw_test_vectors.csv` (jellyfish and strsim suites).
    #[test]
    fn agrees_with_public_test_vectors() {
        let vectors = include_str!("../../../data/jw_test_vectors.csv");
        let mut checked = 0;
        for line in vectors.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let fields: Vec<&str> = line.splitn(4, ',').collect();
            let [a, b, expected, _source] = fields[..] else {
                panic!("bad vector line {line:?}");
            };
            let expected: f64 = expected.parse().expect("expected score is a number");
            let got = jaro_winkler(a, b);
            assert!(
                (got - expected).abs() <= 0.002,
                "jaro_winkler({a:?}, {b:?}) = {got}, expected {expected}"
            );
            checked += 1;
        }
        assert_eq!(checked, 24);
    }

    #[test]
    fn long_inputs_take_the_vector_path_and_agree_with_strsim() {
        let a = "THE QUICK BROWN FOX JUMPED OVER THE LAZY DOG AND KEPT RUNNING INTO THE WOODS";
        let b = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG AND KEEPS RUNNING INTO THE WOOD";
        assert!(a.len() > 64);
        assert!((jaro_winkler(a, b) - strsim::jaro_winkler(a, b)).abs() < 1e-12);
    }

    #[test]
    fn bitset_path_agrees_with_strsim_on_name_tokens() {
        let tokens = [
            "MOHAMMED",
            "MUHAMMAD",
            "AEROCARIBBEAN",
            "AEROCARIBEAN",
            "HUSSEIN",
            "HUSAYN",
            "BANK",
            "BANCO",
            "A",
            "AB",
            "ABC",
            "XYZ",
        ];
        for a in tokens {
            for b in tokens {
                let expected = strsim::jaro_winkler(a, b);
                assert!((jaro_winkler(a, b) - expected).abs() < 1e-12, "{a} {b}");
            }
        }
    }
}

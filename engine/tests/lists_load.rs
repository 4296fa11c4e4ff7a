//! Loads the real sample lists in `data/lists/` and small malformed fixtures, asserting exact
//! counts.
//!
//! The expected numbers were counted independently with Python's `csv` module (UTF-8, every
//! sample file is valid UTF-8):
//! - OFAC entries: records of `sdn.csv` with 12 fields (the only other record in each file is
//!   the final control-Z line).
//! - OFAC aliases: `alt.csv` rows whose stripped `alt_name` is neither the entry's primary
//!   name nor an alias already seen for that entry (11910 rows: 4 repeat the primary name,
//!   2 repeat an alias).
//! - OFAC addresses: `add.csv` rows where Address, City and Country are not all `-0-`
//!   (13837 rows, of which 2397 are entirely empty).
//! - CSL entries: records with as many fields as the header (all but the last, which the
//!   extract truncates after 8 fields); aliases: `alt_names` split on `;`, stripped, without
//!   empties, the primary name or repeats; addresses: `addresses` split on `;`, non-empty.
//! - The 2024-05-02 → 2024-05-03 difference: set difference of the stripped ent_nums.

use screener_engine::lists::{
    self, csl, native, ofac, EntityType, ListFormat, LoadReport, WatchEntry,
};
use std::path::{Path, PathBuf};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/lists")
        .join(path)
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lists")
        .join(path)
}

fn entry<'a>(report: &'a LoadReport, id: &str) -> &'a WatchEntry {
    report
        .entries
        .iter()
        .find(|entry| entry.id == id)
        .unwrap_or_else(|| panic!("no entry {id}"))
}

fn totals(report: &LoadReport) -> (usize, usize, usize) {
    (
        report.entries.len(),
        report.entries.iter().map(|e| e.aliases.len()).sum(),
        report.entries.iter().map(|e| e.addresses.len()).sum(),
    )
}

/// (file name, line, problem) of every problem.
fn problems(report: &LoadReport) -> Vec<(String, Option<u64>, String)> {
    report
        .problems
        .iter()
        .map(|p| {
            let file = p.file.file_name().map(|n| n.to_string_lossy().into_owned());
            (file.unwrap_or_default(), p.line, p.problem.clone())
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_invariants(report: &LoadReport) {
    for entry in &report.entries {
        assert!(!entry.id.is_empty() && !entry.list.is_empty(), "{entry:?}");
        assert_eq!(entry.name, entry.name.trim(), "{entry:?}");
        assert!(!entry.name.is_empty(), "{entry:?}");
        for alias in &entry.aliases {
            assert!(
                !alias.is_empty() && alias == alias.trim() && *alias != entry.name,
                "{entry:?}"
            );
        }
        let mut sorted = entry.countries.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, entry.countries, "{entry:?}");
        assert!(
            entry.countries.iter().all(|c| lists::country::is_alpha2(c)),
            "{entry:?}"
        );
    }
}

#[test]
fn ofac_2021_07_full_set() {
    let report = ofac::load_dir(&data("ofac-sdn-2021-07"), "OFAC-SDN").expect("loads");
    assert_invariants(&report);
    assert_eq!(problems(&report), vec![]);
    assert_eq!(totals(&report), (8976, 11904, 11440));
    let types = |t| report.entries.iter().filter(|e| e.entity_type == t).count();
    assert_eq!(
        [
            types(EntityType::Individual),
            types(EntityType::Entity),
            types(EntityType::Vessel),
            types(EntityType::Aircraft),
            types(EntityType::Unknown),
        ],
        [4620, 3673, 406, 277, 0]
    );
    // Publication order.
    assert_eq!(report.entries[0].id, "36");
    assert_eq!(report.entries[1].id, "173");

    let aero = entry(&report, "36");
    assert_eq!(aero.list, "OFAC-SDN");
    assert_eq!(aero.key(), "OFAC-SDN:36");
    assert_eq!(aero.name, "AEROCARIBBEAN AIRLINES");
    assert_eq!(aero.aliases, strings(&["AERO-CARIBBEAN"]));
    assert_eq!(aero.addresses, strings(&["Havana, Cuba"]));
    assert_eq!(aero.countries, strings(&["CU"]));
    assert_eq!(aero.entity_type, EntityType::Entity);

    let bank = entry(&report, "306");
    assert_eq!(bank.aliases, strings(&["NATIONAL BANK OF CUBA"]));
    assert_eq!(
        bank.addresses,
        strings(&[
            "Zweierstrasse 35, Zurich CH-8022, Switzerland",
            "Avenida de Concha Espina 8, Madrid E-28036, Spain",
            "Dai-Ichi Bldg. 6th Floor, 10-2 Nihombashi, 2-chome, Chuo-ku, Tokyo 103, Japan",
            "Federico Boyd Avenue & 51 Street, Panama City, Panama",
        ])
    );
    assert_eq!(bank.countries, strings(&["CH", "ES", "JP", "PA"]));

    // An individual: "nationality Iran; citizen Iran" in Remarks, an all-empty add.csv row.
    let ahmadian = entry(&report, "10480");
    assert_eq!(ahmadian.name, "AHMADIAN, Ali Akbar");
    assert_eq!(ahmadian.entity_type, EntityType::Individual);
    assert_eq!(ahmadian.aliases, strings(&["AHMADIYAN, Ali Akbar"]));
    assert!(ahmadian.addresses.is_empty());
    assert_eq!(ahmadian.countries, strings(&["IR"]));

    // Nationality Israel, alt. nationality "Congo, Democratic Republic of the", addresses in both.
    let gertler = entry(&report, "23252");
    assert_eq!(gertler.countries, strings(&["CD", "IL"]));
    assert_eq!(gertler.addresses.len(), 3);

    // Address countries (Iran, Pakistan, United Arab Emirates) plus the nationality.
    let naway = entry(&report, "9754");
    assert_eq!(naway.aliases.len(), 5);
    assert_eq!(
        naway.addresses,
        strings(&["Iran", "Karachi, Pakistan", "United Arab Emirates"])
    );
    assert_eq!(naway.countries, strings(&["AE", "IR", "PK"]));

    // A vessel: its flag is a country.
    let vessel = entry(&report, "4243");
    assert_eq!(vessel.name, "SAND SWAN");
    assert_eq!(vessel.entity_type, EntityType::Vessel);
    assert_eq!(vessel.countries, strings(&["CY"]));
}

#[test]
fn ofac_2024_sets_without_alt_and_add() {
    let before = ofac::load_dir(&data("ofac-sdn-2024-05-02"), "OFAC-SDN").expect("loads");
    let after = ofac::load_dir(&data("ofac-sdn-2024-05-03"), "OFAC-SDN").expect("loads");
    assert_invariants(&before);
    assert_invariants(&after);
    assert_eq!(problems(&before), vec![]);
    assert_eq!(problems(&after), vec![]);
    assert_eq!(totals(&before), (14973, 0, 0));
    assert_eq!(totals(&after), (14965, 0, 0));

    // Python: set(ids of 05-03) - set(ids of 05-02) is empty; the reverse is the 8 below
    // (EMPEROR AVIATION LTD and its seven 9H- aircraft); no other row changed.
    let ids = |report: &LoadReport| -> std::collections::BTreeSet<u64> {
        report
            .entries
            .iter()
            .map(|e| e.id.parse().expect("numeric"))
            .collect()
    };
    let (before_ids, after_ids) = (ids(&before), ids(&after));
    assert_eq!(after_ids.difference(&before_ids).count(), 0);
    assert_eq!(
        before_ids
            .difference(&after_ids)
            .copied()
            .collect::<Vec<_>>(),
        [38556, 38557, 38558, 38559, 38560, 38563, 38565, 38566]
    );
    assert_eq!(entry(&before, "38556").name, "EMPEROR AVIATION LTD");
    assert_eq!(entry(&before, "38557").entity_type, EntityType::Aircraft);
    let unchanged = before
        .entries
        .iter()
        .filter(|e| after_ids.contains(&e.id.parse::<u64>().unwrap_or(0)))
        .zip(&after.entries)
        .all(|(old, new)| old == new);
    assert!(unchanged);

    // Without add.csv, countries come from Remarks and flags only.
    let streshinskiy = entry(&after, "41488");
    assert_eq!(streshinskiy.countries, strings(&["CY", "IL", "RU"]));
    let ebano = entry(&after, "4243");
    assert_eq!(
        (ebano.name.as_str(), ebano.entity_type),
        ("EBANO", EntityType::Vessel)
    );
    assert_eq!(ebano.countries, strings(&["PA"]));
}

#[test]
fn csl_extract() {
    let report = csl::load_file(&data("csl-2023-extract/consolidated.csv"), None).expect("loads");
    assert_invariants(&report);
    // The extract's last record is cut off after 8 of 29 fields (line 4232, the last line).
    assert_eq!(
        problems(&report),
        vec![(
            "consolidated.csv".to_owned(),
            Some(4232),
            "expected 29 fields, found 8; row skipped".to_owned()
        )]
    );
    assert_eq!(totals(&report), (4226, 6129, 6219));
    let per_list = |list: &str| report.entries.iter().filter(|e| e.list == list).count();
    for (list, count) in [
        ("CSL-SDN", 1737),
        ("CSL-EL", 919),
        ("CSL-DPL", 577),
        ("CSL-SSI", 288),
        ("CSL-UVL", 186),
        ("CSL-ISN", 144),
        ("CSL-DTC", 142),
        ("CSL-PLC", 78),
        ("CSL-MEU", 71),
        ("CSL-CMIC", 68),
        ("CSL-NS-MBS", 14),
        ("CSL-FSE", 1),
        ("CSL-CAP", 1),
    ] {
        assert_eq!(per_list(list), count, "{list}");
    }
    let types = |t| report.entries.iter().filter(|e| e.entity_type == t).count();
    assert_eq!(
        [
            types(EntityType::Individual),
            types(EntityType::Entity),
            types(EntityType::Vessel),
            types(EntityType::Unknown),
        ],
        [1124, 1060, 3, 2039]
    );

    let telecom = entry(&report, "30882");
    assert_eq!(telecom.list, "CSL-CMIC");
    assert_eq!(telecom.name, "China Telecom Corporation Limited");
    assert_eq!(
        telecom.aliases,
        strings(&[
            "CHINA TELECOM",
            "CHINA TELECOM CO., LTD",
            "CHINA TELECOM CORP LTD"
        ])
    );
    assert_eq!(
        telecom.addresses,
        strings(&["31 Jinrong Street, Xicheng District, Beijing, 100033, CN"])
    );
    assert_eq!(telecom.countries, strings(&["CN"]));

    // An individual with addresses in three countries, citizenships and nationalities.
    let gonzalez = entry(&report, "10901");
    assert_eq!(gonzalez.list, "CSL-SDN");
    assert_eq!(gonzalez.entity_type, EntityType::Individual);
    assert_eq!(gonzalez.aliases.len(), 6);
    assert_eq!(gonzalez.addresses.len(), 7);
    assert_eq!(gonzalez.countries, strings(&["AW", "CO", "VE"]));

    // The same _id under two sources is two entries with two keys.
    let gazprombank: Vec<String> = report
        .entries
        .iter()
        .filter(|e| e.id == "17016")
        .map(WatchEntry::key)
        .collect();
    assert_eq!(gazprombank, ["CSL-NS-MBS:17016", "CSL-SSI:17016"]);

    // Repaired text: U+0092 (Windows-1252 apostrophe read as Latin-1), embedded line breaks.
    let cast = entry(&report, "b8f67f26ea5e4120a2792841d8c4c82a");
    assert_eq!(cast.name, "CAST Xi\u{2019}an Spaceflight Engine Factory");
    assert_eq!(cast.list, "CSL-MEU");
    let flying = entry(&report, "88d7be1ee1494f8cb034c6b514686606");
    assert_eq!(flying.name, "Government Flying Service");
    assert_eq!(flying.countries, strings(&["CN"]));

    // A caller's list name replaces the derived labels.
    let named =
        csl::load_file(&data("csl-2023-extract/consolidated.csv"), Some("CSL")).expect("loads");
    assert!(named.entries.iter().all(|e| e.list == "CSL"));
    // ... and then the 7 ids that two sources share collide.
    assert_eq!(named.entries.len(), 4226 - 7);
    assert_eq!(named.problems.len(), 1 + 7);
}

#[test]
fn load_dispatches_on_format() {
    let ofac = lists::load(ListFormat::OfacSdn, &data("ofac-sdn-2024-05-03"), None).expect("loads");
    assert_eq!(ofac.entries.len(), 14965);
    assert!(ofac.entries.iter().all(|e| e.list == "OFAC-SDN"));
    let custom = lists::load(
        ListFormat::OfacSdn,
        &data("ofac-sdn-2024-05-03"),
        Some("SDN"),
    )
    .expect("loads");
    assert_eq!(custom.entries[0].key(), "SDN:36");
    let csl = lists::load(
        ListFormat::Csl,
        &data("csl-2023-extract/consolidated.csv"),
        None,
    )
    .expect("loads");
    assert_eq!(csl.entries.len(), 4226);
    let jsonl = lists::load(ListFormat::Jsonl, &fixture("native.jsonl"), None).expect("loads");
    assert_eq!(jsonl.entries.len(), 2);
}

#[test]
fn whole_2021_set_and_csl_load_quickly() {
    let started = std::time::Instant::now();
    let sdn = ofac::load_dir(&data("ofac-sdn-2021-07"), "OFAC-SDN").expect("loads");
    let csl = csl::load_file(&data("csl-2023-extract/consolidated.csv"), None).expect("loads");
    let elapsed = started.elapsed();
    eprintln!(
        "loaded {} + {} entries in {elapsed:?}",
        sdn.entries.len(),
        csl.entries.len()
    );
    // Generous: debug builds are much slower than release (well under 100 ms there).
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn malformed_ofac_rows_are_problems_with_line_numbers() {
    let report = ofac::load_dir(&fixture("ofac-malformed"), "OFAC-SDN").expect("loads");
    assert_invariants(&report);
    let expected = [
        ("sdn.csv", 2, "bad ent_num \"X12\"; row skipped"),
        ("sdn.csv", 3, "expected 12 fields, found 4; row skipped"),
        (
            "sdn.csv",
            4,
            "a quoted field runs on to line 5 (an unbalanced quote?); row skipped, reading \
             resumes on the next line",
        ),
        ("sdn.csv", 7, "ent_num 500: no name; row skipped"),
        ("sdn.csv", 8, "ent_num 36 appears again; row skipped"),
        (
            "sdn.csv",
            10,
            "ent_num 502: unknown SDN_Type \"ship\"; kept as unknown",
        ),
        ("alt.csv", 3, "ent_num 999 is not in sdn.csv; row skipped"),
        ("alt.csv", 4, "bad ent_num \"abc\"; row skipped"),
        ("alt.csv", 5, "no alt_name; row skipped"),
        ("alt.csv", 6, "expected 5 fields, found 4; row skipped"),
        ("add.csv", 3, "ent_num 777 is not in sdn.csv; row skipped"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(file, line, problem)| (file.to_string(), Some(*line), problem.to_string()))
        .collect();
    assert_eq!(problems(&report), expected);

    let ids: Vec<&str> = report.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["36", "4243", "10480", "501", "502"]);
    let aero = entry(&report, "36");
    assert_eq!(aero.aliases, strings(&["AERO-CARIBBEAN"]));
    assert_eq!(aero.countries, strings(&["CU"]));
    let vessel = entry(&report, "4243");
    assert_eq!(vessel.aliases, strings(&["ANA I"]));
    assert!(vessel.addresses.is_empty());
    assert_eq!(vessel.countries, strings(&["CY"]));
    let ahmadian = entry(&report, "10480");
    assert_eq!(ahmadian.addresses, strings(&["Some Street, Tehran, Iran"]));
    assert_eq!(ahmadian.countries, strings(&["IR", "KP"]));
    // Windows-1252 bytes (0xC9, 0x92) decoded, not rejected; Kosovo has no ISO code.
    let cafe = entry(&report, "501");
    assert_eq!(cafe.name, "CAF\u{C9} M\u{2019}S");
    assert_eq!(cafe.addresses, strings(&["Pristina, Kosovo"]));
    assert!(cafe.countries.is_empty());
    assert_eq!(entry(&report, "502").entity_type, EntityType::Unknown);
}

#[test]
fn ofac_directory_without_sdn_csv_is_an_error() {
    let error = ofac::load_dir(&fixture("no-such-dir"), "OFAC-SDN").expect_err("no sdn.csv");
    assert!(matches!(error, lists::ListError::Io { .. }), "{error}");
}

#[test]
fn malformed_csl_rows_are_problems_with_line_numbers() {
    let report = csl::load_file(&fixture("csl-malformed.csv"), None).expect("loads");
    assert_invariants(&report);
    let expected = [
        (4, "expected 10 fields, found 3; row skipped"),
        (5, "e5: no name; row skipped"),
        (6, "CSL-EL:e1 appears again; row skipped"),
        (12, "e11: unknown type \"Ship\"; kept as unknown"),
        (
            13,
            "unbalanced quotes: a quoted field opened on this line is not closed before the end \
             of the file; line skipped",
        ),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(line, problem)| {
            (
                "csl-malformed.csv".to_owned(),
                Some(*line),
                problem.to_string(),
            )
        })
        .collect();
    assert_eq!(problems(&report), expected);

    let ids: Vec<&str> = report.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e1", "1001", "e8", "2002", "e11"]);
    let acme = entry(&report, "e1");
    assert_eq!(acme.list, "CSL-EL");
    assert_eq!(acme.entity_type, EntityType::Entity);
    assert_eq!(acme.aliases, strings(&["ACME", "ACME WIDGETS"]));
    assert_eq!(
        acme.addresses,
        strings(&["1 Main St, Beijing, CN", "2 Side St, Moscow, Russia"])
    );
    assert_eq!(acme.countries, strings(&["CN", "RU"]));
    let doe = entry(&report, "1001");
    assert_eq!(doe.list, "CSL-SDN");
    assert_eq!(doe.name, "DOE, John");
    assert_eq!(doe.entity_type, EntityType::Individual);
    assert_eq!(doe.addresses, strings(&["Havana, CU", "Caracas, 1010"]));
    assert_eq!(doe.countries, strings(&["CU", "VE"]));
    let flying = entry(&report, "e8");
    assert_eq!(flying.name, "Government Flying Service");
    assert_eq!(
        flying.addresses,
        strings(&["18 South Perimeter Road, Lantau, Hong Kong, China, CN"])
    );
    assert_eq!(flying.entity_type, EntityType::Unknown);
    let numbered = entry(&report, "2002");
    assert_eq!(
        (numbered.list.as_str(), numbered.entity_type),
        ("CSL", EntityType::Vessel)
    );
}

#[test]
fn csl_header_problems_are_errors() {
    let error = csl::load_file(&fixture("native.jsonl"), None).expect_err("not a CSL header");
    assert!(matches!(error, lists::ListError::Format { .. }), "{error}");
    let error = csl::load_file(&fixture("no-such-file.csv"), None).expect_err("missing");
    assert!(matches!(error, lists::ListError::Io { .. }), "{error}");
}

#[test]
fn native_jsonl_file() {
    let report = native::load_file(&fixture("native.jsonl"), None).expect("loads");
    assert_invariants(&report);
    let lines: Vec<(Option<u64>, bool)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.problem.ends_with("; line skipped")))
        .collect();
    assert_eq!(
        lines,
        [
            (Some(3), true),
            (Some(4), true),
            (Some(5), true),
            (Some(6), true),
            (Some(8), true),
            (Some(9), true)
        ]
    );
    assert!(report.problems[1].problem.contains("missing field `name`"));
    assert!(report.problems[2].problem.contains("\"Atlantis\""));
    assert!(report.problems[3]
        .problem
        .contains("OFAC-SDN:36 appears again"));
    assert!(report.problems[4]
        .problem
        .contains("unknown variant `ship`"));
    assert!(report.problems[5].problem.contains("id: must not be empty"));

    assert_eq!(report.entries.len(), 2);
    let aero = &report.entries[0];
    assert_eq!(aero.key(), "OFAC-SDN:36");
    assert_eq!(aero.aliases, strings(&["AERO-CARIBBEAN"]));
    let someone = &report.entries[1];
    assert_eq!(someone.name, "Someone");
    assert_eq!(someone.aliases, strings(&["Some One"]));
    assert_eq!(someone.countries, strings(&["CU", "KP"]));
    assert_eq!(someone.entity_type, EntityType::Individual);

    // A list name fills a missing `list` and overrides the lines' own.
    let named = native::load_file(&fixture("native.jsonl"), Some("MINE")).expect("loads");
    assert!(named.entries.iter().all(|e| e.list == "MINE"));
    assert_eq!(named.entries.len(), 2);
    // Line 4 now has a list but still no name.
    assert_eq!(named.problems.len(), 6);
}

#[test]
fn native_round_trip_of_every_loaded_entry() {
    let sdn = ofac::load_dir(&data("ofac-sdn-2021-07"), "OFAC-SDN").expect("loads");
    let csl = csl::load_file(&data("csl-2023-extract/consolidated.csv"), None).expect("loads");
    for entry in sdn.entries.iter().chain(&csl.entries) {
        let line = native::to_line(entry);
        assert!(!line.contains('\n'));
        assert_eq!(native::parse_line(&line).as_ref(), Ok(entry), "{line}");
    }
}

/// Every distinct country value the samples use (extracted with Python into the fixture)
/// maps, except the ones below.
#[test]
fn country_values_used_by_the_samples_map() {
    let text = std::fs::read_to_string(fixture("country-values.txt")).expect("fixture");
    let (mut distinct, mut uses, mut mapped_uses) = (0, 0, 0);
    let mut unmapped = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (count, value) = line.split_once('\t').expect("count<TAB>value");
        let count: usize = count.parse().expect("count");
        distinct += 1;
        uses += count;
        match lists::country::alpha2_from_name(value) {
            Some(_) => mapped_uses += count,
            None => unmapped.push(value),
        }
    }
    unmapped.sort_unstable();
    assert_eq!((distinct, uses), (343, 34985));
    // No ISO 3166-1 code: Kosovo (XK is user-assigned), a disputed region, non-answers.
    let no_code = [
        "Kosovo",
        "None Identified",
        "Region: Kafia Kingi",
        "XK",
        "region: kafia kingi",
        "undetermined",
    ];
    // Not countries: the last part of CSL addresses that leave the country out.
    let not_countries = [
        "Al-Mansour",
        "Beijing",
        "Chengdu",
        "China 610036",
        "D. 10 OFIS 201",
        "Egs Bloklari B-1 Blok Kat: 1 No",
        "Guangzhou",
        "Jabaliya",
        "NM",
        "No. 2",
        "S.A.",
        "Shanghai 200233",
        "Solon",
        "The Taxila district",
        "Wattana District",
    ];
    let mut expected: Vec<&str> = no_code.iter().chain(&not_countries).copied().collect();
    expected.sort_unstable();
    assert_eq!(unmapped, expected);
    // 322 of the 328 distinct country values map (98.2%; 322 of 326, 98.8%, leaving out the
    // two non-answers); by occurrence 34 920 of the 34 968 country values (99.9%).
    assert_eq!(distinct - unmapped.len(), 322);
    assert_eq!(mapped_uses, 34920);
}

/// Deterministic mutation fuzzing: corrupted bytes (quotes, commas, line breaks, control-Z,
/// invalid UTF-8, truncation) must give problems, never a panic.
#[test]
fn corrupted_inputs_never_panic() {
    let dir = std::env::temp_dir().join(format!("lists-load-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let head = |path: PathBuf| {
        let mut bytes = std::fs::read(path).expect("sample");
        bytes.truncate(6000);
        bytes
    };
    let seeds = [
        head(data("ofac-sdn-2021-07/sdn.csv")),
        head(data("ofac-sdn-2021-07/alt.csv")),
        head(data("csl-2023-extract/consolidated.csv")),
        std::fs::read(fixture("csl-malformed.csv")).expect("fixture"),
        std::fs::read(fixture("native.jsonl")).expect("fixture"),
    ];
    let noise = b"\",\n\r;\x1a\xff\xc3\x00-0- {}[]";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    for round in 0..300 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..1 + random(20) {
            let at = random(bytes.len().max(1));
            match random(10) {
                0..=4 if !bytes.is_empty() => {
                    let at = at.min(bytes.len() - 1);
                    bytes[at] = noise[random(noise.len())];
                }
                0..=8 => bytes.insert(at.min(bytes.len()), noise[random(noise.len())]),
                _ => bytes.truncate(at),
            }
        }
        for name in ["sdn.csv", "alt.csv", "add.csv", "list.csv", "list.jsonl"] {
            std::fs::write(dir.join(name), &bytes).expect("write");
        }
        let _ = ofac::load_dir(&dir, "OFAC-SDN").expect("sdn.csv exists");
        let _ = csl::load_file(&dir.join("list.csv"), None);
        let _ = native::load_file(&dir.join("list.jsonl"), None).expect("file exists");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

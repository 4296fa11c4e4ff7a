//! The feed's contract: determinism, shares, parseability, and that every kind of report
//! means to the engine what its name says.

use super::*;
use std::collections::{HashMap, HashSet};

use screener_engine::dedup::{DedupConfig, DedupOutcome, Deduplicator, DuplicateKind};
use screener_engine::known_shippers::{self, KnownShipper};
use screener_engine::pipeline::sent_at_ms;
use screener_engine::record::{
    parse_record, parse_record_by_walk, CompactString, FilerType, ParcelRecord, ParseLimits,
};
use screener_engine::rules::RulesConfig;

/// A few real list names (OFAC SDN primary names and aliases, as published).
fn watchlist_names() -> Vec<String> {
    [
        "AEROCARIBBEAN AIRLINES",
        "HAMMAMI, Omar Shafik",
        "ABBAS, Sidiki",
        "BANCO NACIONAL DE CUBA",
        "NATIONAL BANK OF CUBA",
        "ANGLO-CARIBBEAN CO., LTD.",
        "AVIA IMPORT",
        "MOHAMMED, Khalid Shaikh",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The bundled sample registry: 5 usable (active and valid) of 8.
fn registry() -> Vec<KnownShipper> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples/known_shippers.jsonl");
    let (shippers, problems) = known_shippers::load_file(&path).expect("sample registry");
    assert!(problems.is_empty(), "{problems:?}");
    shippers
}

fn generate(config: FeedConfig) -> Vec<FeedReport> {
    FeedGenerator::new(config, watchlist_names(), registry()).collect()
}

fn config(seed: u64, parcels: usize) -> FeedConfig {
    FeedConfig {
        seed,
        parcels,
        ..FeedConfig::default()
    }
}

fn parse(report: &FeedReport) -> ParcelRecord {
    parse_record(&report.bytes, &ParseLimits::default()).unwrap_or_else(|error| {
        panic!(
            "{:?} report does not parse: {error}\n{}",
            report.kind,
            String::from_utf8_lossy(&report.bytes)
        )
    })
}

/// The consignee names of a feed's original reports: (all, distinct).
fn consignee_names(reports: &[FeedReport]) -> (usize, usize) {
    let names: Vec<String> = reports
        .iter()
        .filter(|report| report.kind == ReportKind::Original)
        .map(|report| parse(report).consignee.name.to_string())
        .collect();
    let distinct: std::collections::HashSet<&String> = names.iter().collect();
    (names.len(), distinct.len())
}

#[test]
fn new_name_share_makes_most_consignee_names_new_and_draws_apart() {
    let parcels = 4000;
    let pooled = generate(config(3, parcels));
    // A share that never comes up still draws on every parcel: from the names' own stream,
    // so the feed is the default's, byte for byte.
    let never = generate(FeedConfig {
        new_name_share: 1e-12,
        ..config(3, parcels)
    });
    assert!(
        pooled == never,
        "the mixed names' draws leave the rest of the feed alone"
    );
    let mixed = generate(FeedConfig {
        new_name_share: 1.0,
        ..config(3, parcels)
    });
    let (pooled_names, pooled_distinct) = consignee_names(&pooled);
    let (mixed_names, mixed_distinct) = consignee_names(&mixed);
    assert_eq!(pooled_names, parcels);
    assert_eq!(mixed_names, parcels);
    // Same-culture names repeat within a few thousand parcels; mixed ones almost never.
    assert!(
        mixed_distinct * 100 >= mixed_names * 97,
        "{mixed_distinct} distinct of {mixed_names} mixed names"
    );
    assert!(
        mixed_distinct > pooled_distinct,
        "{mixed_distinct} mixed against {pooled_distinct} pooled"
    );
    // Every mixed name is a given name and a surname of the pools, never a listed name.
    let watch = WatchNames::new(watchlist_names());
    for report in mixed.iter().filter(|r| r.kind == ReportKind::Original) {
        let record = parse(report);
        let words: Vec<&str> = record.consignee.name.split_whitespace().collect();
        assert!(words.len() >= 2, "{}", record.consignee.name);
        let planted = report
            .planted
            .watchlist_hit
            .as_ref()
            .is_some_and(|hit| hit.party == PlantedParty::Consignee);
        assert!(planted || !watch.is_listed(&record.consignee.name));
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let first = generate(config(7, 3000));
    let second = generate(config(7, 3000));
    assert_eq!(first.len(), second.len());
    assert!(first == second, "same seed, same reports");
    let other = generate(config(8, 3000));
    let differing = first
        .iter()
        .zip(&other)
        .filter(|(a, b)| a.bytes != b.bytes)
        .count();
    assert!(differing > 2900, "only {differing} reports differ");
    // The registry's order does not matter (it may come from a hash map).
    let mut reversed = registry();
    reversed.reverse();
    let shuffled: Vec<FeedReport> =
        FeedGenerator::new(config(7, 3000), watchlist_names(), reversed).collect();
    assert!(first == shuffled);
}

/// Within `sigmas` standard deviations of a binomial(n, p), and at least 3 off.
fn assert_near(what: &str, count: u64, n: usize, p: f64, sigmas: f64) {
    let expected = n as f64 * p;
    let tolerance = (sigmas * (n as f64 * p * (1.0 - p)).sqrt()).max(3.0);
    assert!(
        (count as f64 - expected).abs() <= tolerance,
        "{what}: {count}, expected {expected:.0} ± {tolerance:.0}"
    );
}

#[test]
fn counts_per_kind_follow_the_shares() {
    let n = 20_000;
    let defaults = FeedConfig::default();
    let mut generator = FeedGenerator::new(config(3, n), watchlist_names(), registry());
    let mut counted: HashMap<ReportKind, u64> = HashMap::new();
    for report in generator.by_ref() {
        *counted.entry(report.kind).or_default() += 1;
    }
    let stats = generator.stats().clone();
    for kind in ReportKind::ALL {
        assert_eq!(stats.count(kind), counted.get(&kind).copied().unwrap_or(0));
    }
    assert_eq!(stats.count(ReportKind::Original), n as u64);
    let cross = defaults.cross_feed_share;
    let disagree = defaults.disagree_share;
    let checks = [
        (ReportKind::Duplicate, defaults.duplicate_share),
        (ReportKind::CrossFeed, cross * (1.0 - disagree)),
        (ReportKind::CrossFeedDisagreeing, cross * disagree),
        (ReportKind::Amend, defaults.amend_share),
        (ReportKind::Cancel, defaults.cancel_share),
        (ReportKind::Malformed, defaults.malformed_share),
    ];
    for (kind, share) in checks {
        assert_near(kind.as_str(), stats.count(kind), n, share, 5.0);
    }
    assert_near(
        "watch-list hits",
        stats.watchlist_hits,
        n,
        defaults.watchlist_hit_share,
        5.0,
    );
    // Known shippers are not planted on a parcel whose shipper is a planted watch-list name.
    assert_near(
        "known shipper",
        stats.known_shipper,
        n,
        defaults.known_shipper_share,
        5.0,
    );
    assert_near(
        "value over",
        stats.value_over,
        n,
        defaults.value_over_share,
        5.0,
    );
    assert_near(
        "restricted goods",
        stats.restricted_goods,
        n,
        defaults.restricted_goods_share,
        5.0,
    );
    let summary = stats.to_string();
    assert!(summary.contains(&format!("{n} original")), "{summary}");
}

#[test]
fn malformed_reports_fail_to_parse_and_every_other_report_parses() {
    let reports = generate(FeedConfig {
        malformed_share: 0.05,
        ..config(11, 20_000)
    });
    let mut malformations: HashMap<Malformation, usize> = HashMap::new();
    let mut keys = HashSet::new();
    for report in &reports {
        assert!(!report.bytes.contains(&b'\n'), "a report is one line");
        assert!(!report.bytes.is_empty());
        if report.kind == ReportKind::Malformed {
            let malformation = report.planted.malformation.expect("how it was broken");
            *malformations.entry(malformation).or_default() += 1;
            assert!(
                parse_record(&report.bytes, &ParseLimits::default()).is_err(),
                "{malformation:?} parses: {}",
                String::from_utf8_lossy(&report.bytes)
            );
            assert!(report.key.contains(':'), "a plausible key: {}", report.key);
            assert!(keys.insert(report.key.clone()), "a parcel of its own");
            continue;
        }
        let record = parse(report);
        assert_eq!(record.parcel_key(), report.key);
        if report.kind == ReportKind::Original {
            assert!(keys.insert(report.key.clone()), "unique house bills");
            let digits = record.house_bill.len();
            assert!((10..=12).contains(&digits), "{}", record.house_bill);
            assert!(record.house_bill.bytes().all(|b| b.is_ascii_digit()));
            assert!((1..=5).contains(&record.items.len()));
        }
    }
    for malformation in Malformation::ALL {
        assert!(
            malformations.get(&malformation).copied().unwrap_or(0) > 20,
            "{malformation:?} is in the mix: {malformations:?}"
        );
    }
}

#[test]
fn the_parsers_fast_path_agrees_with_its_full_path_on_every_report() {
    let reports = generate(FeedConfig {
        malformed_share: 0.05,
        ..config(13, 10_000)
    });
    let limits = ParseLimits::default();
    let mut valid = 0;
    for report in &reports {
        let parsed = parse_record(&report.bytes, &limits);
        assert_eq!(
            parsed,
            parse_record_by_walk(&report.bytes, &limits),
            "{:?} report: {}",
            report.kind,
            String::from_utf8_lossy(&report.bytes)
        );
        valid += usize::from(parsed.is_ok());
    }
    assert!(
        valid > reports.len() * 9 / 10,
        "{valid} of {}",
        reports.len()
    );
}

fn is_courier(record: &ParcelRecord) -> bool {
    record.source.filer_type != FilerType::Marketplace
}

#[test]
fn cross_feed_copies_have_the_same_key_and_the_other_filer() {
    let reports = generate(config(5, 10_000));
    let mut originals: HashMap<String, ParcelRecord> = HashMap::new();
    let mut cross_feed = 0;
    for report in &reports {
        match report.kind {
            ReportKind::Original => {
                originals.insert(report.key.clone(), parse(report));
            }
            ReportKind::CrossFeed | ReportKind::CrossFeedDisagreeing => {
                cross_feed += 1;
                let record = parse(report);
                let original = originals.get(&report.key).expect("the original came first");
                assert_eq!(record.parcel_key(), report.key);
                assert_ne!(is_courier(&record), is_courier(original), "the other filer");
                assert_ne!(record.source.filer_id, original.source.filer_id);
                assert_ne!(record.record_id, original.record_id);
                assert_eq!(report.feed == FeedName::Courier, is_courier(&record));
                let agrees = record.consignee.name.to_uppercase()
                    == original.consignee.name.to_uppercase()
                    && record.declared_value == original.declared_value;
                assert_eq!(agrees, report.kind == ReportKind::CrossFeed);
                assert_eq!(record.items, original.items);
            }
            ReportKind::Duplicate => {
                assert!(originals.contains_key(&report.key));
            }
            ReportKind::Amend | ReportKind::Cancel => {
                let record = parse(report);
                let original = originals.get(&report.key).expect("the original came first");
                assert_eq!(
                    record.source.filer_id, original.source.filer_id,
                    "same filer"
                );
            }
            ReportKind::Malformed => {}
        }
    }
    assert!(cross_feed > 2500);
}

/// The engine's deduplicator agrees with the kinds: replays and agreeing cross-feed reports
/// are duplicates, disagreeing ones are inconsistent changes, amendments changes, and
/// cancellations cancellations.
#[test]
fn kinds_mean_to_the_deduplicator_what_they_say() {
    let reports = generate(config(9, 10_000));
    let mut deduplicator = Deduplicator::new(DedupConfig::default());
    for report in &reports {
        if report.kind == ReportKind::Malformed {
            continue;
        }
        let record = parse(report);
        let outcome = deduplicator.observe(&report.key, &record, sent_at_ms(&record, 0));
        let fits = match report.kind {
            ReportKind::Original => outcome == DedupOutcome::New,
            ReportKind::Duplicate | ReportKind::CrossFeed => {
                outcome == DedupOutcome::Duplicate(DuplicateKind::Exact)
            }
            ReportKind::CrossFeedDisagreeing => matches!(
                &outcome,
                DedupOutcome::Changed { inconsistent_fields, .. } if !inconsistent_fields.is_empty()
            ),
            ReportKind::Amend => matches!(outcome, DedupOutcome::Changed { .. }),
            ReportKind::Cancel => matches!(outcome, DedupOutcome::Cancel { .. }),
            ReportKind::Malformed => true,
        };
        assert!(
            fits,
            "{:?} gave {outcome:?}: {}",
            report.kind,
            String::from_utf8_lossy(&report.bytes)
        );
    }
}

#[test]
fn known_shipper_reports_carry_an_active_enrollment_with_its_name() {
    let registry: HashMap<String, KnownShipper> = registry()
        .into_iter()
        .map(|shipper| (shipper.id.clone(), shipper))
        .collect();
    let reports = generate(FeedConfig {
        known_shipper_share: 0.3,
        ..config(13, 5000)
    });
    let mut used = HashSet::new();
    for report in reports.iter().filter(|r| r.kind == ReportKind::Original) {
        let record = parse(report);
        match &report.planted.known_shipper_id {
            Some(id) => {
                assert_eq!(record.known_shipper_id.as_deref(), Some(id.as_str()));
                let enrolled = registry.get(id).expect("an enrolled id");
                assert_eq!(enrolled.status, KnownShipperStatus::Active);
                let sent_at = DateTime::parse_from_rfc3339(&record.source.sent_at)
                    .expect("RFC 3339")
                    .with_timezone(&Utc);
                assert!(enrolled.is_valid_on(sent_at), "{id} valid on {sent_at}");
                assert_eq!(record.shipper.name, enrolled.name);
                assert_eq!(record.shipper.address.country, enrolled.country);
                assert_eq!(
                    record.marketplace.as_ref().map(|m| m.name.as_str()),
                    Some(match enrolled.enrolled_by.as_str() {
                        "MKT-ACME" => "Acme Marketplace",
                        "MKT-BAZAAR" => "Bazaar Global",
                        other => other,
                    })
                );
                // The enrolled address, split into fields, keeps every word.
                let filed = format!(
                    "{} {} {}",
                    record.shipper.address.lines.join(" "),
                    record.shipper.address.city,
                    record
                        .shipper
                        .address
                        .postal_code
                        .clone()
                        .unwrap_or_default()
                );
                let words = |text: &str| -> Vec<String> {
                    let mut words: Vec<String> = text
                        .split(|c: char| !c.is_alphanumeric() && c != '-')
                        .filter(|w| !w.is_empty())
                        .map(str::to_string)
                        .collect();
                    words.sort();
                    words
                };
                assert_eq!(words(&filed), words(&enrolled.address));
                used.insert(id.clone());
            }
            None => assert!(record.known_shipper_id.is_none()),
        }
    }
    // Active and valid in November 2026: 0001, 0002 (to 2027-03), BAZR-0001, BAZR-0004,
    // ACME-0004; never SUSPENDED ACME-0003, REVOKED BAZR-0002 or expired BAZR-0003.
    let expected: HashSet<String> = [
        "KS-ACME-0001",
        "KS-ACME-0002",
        "KS-ACME-0004",
        "KS-BAZR-0001",
        "KS-BAZR-0004",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(used, expected);
}

#[test]
fn watchlist_hits_use_a_listed_name() {
    let names = watchlist_names();
    let reports = generate(FeedConfig {
        watchlist_hit_share: 0.2,
        ..config(17, 3000)
    });
    let mut perturbations = HashSet::new();
    let mut hits = 0;
    for report in reports.iter().filter(|r| r.kind == ReportKind::Original) {
        let Some(hit) = &report.planted.watchlist_hit else {
            continue;
        };
        hits += 1;
        assert!(names.contains(&hit.listed_name), "{}", hit.listed_name);
        let record = parse(report);
        let filed = match hit.party {
            PlantedParty::Shipper => &record.shipper.name,
            PlantedParty::Consignee => &record.consignee.name,
        };
        assert_eq!(filed, &hit.filed_name);
        if hit.perturbation == Perturbation::None {
            assert_eq!(hit.filed_name, hit.listed_name);
        } else {
            assert_ne!(hit.filed_name, hit.listed_name);
        }
        perturbations.insert(hit.perturbation);
    }
    assert!(hits > 450, "{hits}");
    assert_eq!(perturbations.len(), 4, "{perturbations:?}");
}

#[test]
fn clean_traffic_is_never_named_as_a_listed_party() {
    // Names the pools could produce, listed: the generator must draw again.
    let listed = vec!["SMITH, James".to_string(), "Maria Garcia".to_string()];
    let reports: Vec<FeedReport> =
        FeedGenerator::new(config(19, 20_000).clean(), listed, registry()).collect();
    assert_eq!(reports.len(), 20_000);
    for report in &reports {
        assert_eq!(report.kind, ReportKind::Original);
        assert!(report.planted.watchlist_hit.is_none());
        assert!(!report.planted.value_over && !report.planted.restricted_goods);
        let record = parse(report);
        for name in [&record.consignee.name, &record.shipper.name] {
            let upper = name.to_uppercase();
            assert!(upper != "JAMES SMITH" && upper != "SMITH JAMES", "{name}");
            assert!(upper != "MARIA GARCIA" && upper != "GARCIA MARIA", "{name}");
        }
    }
}

#[test]
fn values_and_goods_are_planted_where_said_and_only_there() {
    let rules = RulesConfig::default();
    let reports = generate(FeedConfig {
        value_over_share: 0.1,
        restricted_goods_share: 0.1,
        ..config(23, 5000)
    });
    for report in reports.iter().filter(|r| r.kind == ReportKind::Original) {
        let record = parse(report);
        let threshold = rules
            .value
            .threshold_for(&record.destination_country)
            .expect("every destination has a threshold");
        let value = rules
            .value
            .convert(
                record.declared_value.amount,
                &record.declared_value.currency,
                &threshold.currency,
            )
            .expect("a configured currency");
        assert_eq!(
            value > threshold.amount,
            report.planted.value_over,
            "{value} vs {threshold:?}"
        );
        let items_total: f64 = record.items.iter().map(|i| i.value.amount).sum();
        assert!((items_total - record.declared_value.amount).abs() < 0.01);
        let restricted = record.items.iter().any(|item| {
            item.hs_code.as_deref().is_some_and(|code| {
                rules
                    .restricted_goods
                    .hs_prefixes
                    .iter()
                    .any(|p| code.starts_with(p.as_str()))
            }) || rules
                .restricted_goods
                .matching_keyword(&item.description)
                .is_some()
        });
        assert_eq!(
            restricted, report.planted.restricted_goods,
            "{:?}",
            record.items
        );
    }
}

#[test]
fn reports_are_ordered_in_feed_time_and_follow_ups_stay_close() {
    let reports = generate(config(29, 5000));
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    let mut last_sent_at = CompactString::default();
    for (position, report) in reports.iter().enumerate() {
        match report.kind {
            ReportKind::Original | ReportKind::Malformed => {
                first_seen.insert(&report.key, position);
            }
            _ => {
                let original = first_seen[report.key.as_str()];
                assert!(position - original < 1000, "{:?} too late", report.kind);
            }
        }
        if matches!(report.kind, ReportKind::Duplicate | ReportKind::Malformed) {
            continue;
        }
        let record = parse(report);
        assert!(record.source.sent_at > last_sent_at, "sent_at increases");
        last_sent_at = record.source.sent_at;
    }
    assert!(last_sent_at.starts_with("2026-11-01T00:"), "{last_sent_at}");
}

#[test]
fn no_parcels_no_reports_and_odd_shares_do_not_panic() {
    assert!(generate(config(1, 0)).is_empty());
    let odd = FeedConfig {
        duplicate_share: f64::NAN,
        cross_feed_share: 5.0,
        disagree_share: -1.0,
        amend_share: 1.0,
        cancel_share: 1.0,
        malformed_share: 1.0,
        watchlist_hit_share: 1.0,
        known_shipper_share: 1.0,
        value_over_share: 1.0,
        restricted_goods_share: 1.0,
        ..config(31, 200)
    };
    let reports: Vec<FeedReport> =
        FeedGenerator::new(odd.clone(), Vec::new(), Vec::new()).collect();
    // Each parcel: original, cross-feed, amend, cancel, malformed.
    assert_eq!(reports.len(), 1000);
    let reports = generate(odd);
    assert_eq!(reports.len(), 1000);
}

#[test]
fn parse_share_takes_zero_to_one_and_refuses_the_rest() {
    assert_eq!(parse_share("0"), Ok(0.0));
    assert_eq!(parse_share("1"), Ok(1.0));
    assert_eq!(parse_share(" 0.3 "), Ok(0.3));
    for refused in ["1.0001", "-0.1", "30", "NaN", "inf", "", "0,3", "30%"] {
        let error = parse_share(refused).expect_err(refused);
        assert!(
            error.contains(&format!("{refused:?}")),
            "{refused}: {error}"
        );
    }
}

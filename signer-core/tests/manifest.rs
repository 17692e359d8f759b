//! Public verification vectors (RFC 8463, RFC 6376, the Mail::DKIM corpus
//! and dkimpy's test data; provenance in vectors/SOURCES.md), each with the
//! expected result, checked against waxseal's verifier. Keys come from
//! record files, not DNS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use waxseal_core::{DkimResult, KeyAnswer, VerifyPolicy, verify};

/// The verification time of every row: fixed, so that `t=` and `x=` rows
/// give the same answer on any day (2025-12-01T00:00:00Z, after every
/// vector's `t=`).
const PINNED_NOW: u64 = 1_764_547_200;

/// What waxseal said for each row at [`PINNED_NOW`], per signature
/// `result/reason` (RFC 8601 result, waxseal's reason with its detail): the file
/// below, checked row by row, so that a row decides even where the
/// manifest only says "fail" (a key that stopped loading fails too, with
/// another reason). `WAXSEAL_UPDATE_VECTORS=1` rewrites it; review the
/// diff.
const RESULTS: &str = "RESULTS.tsv";

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Rows where the manifest keeps Mail::DKIM's own expectation (its test
/// suite accepts pre-standard signatures) and RFC 6376 decides otherwise.
/// waxseal follows the RFC; the peers are split the same way.
fn rfc_decides(file: &str) -> Option<(&'static str, &'static str)> {
    let name = file.rsplit('/').next().unwrap_or(file);
    let no_version = [
        "good_ietf01_1",
        "good_ietf01_2",
        "mine_ietf01_1",
        "mine_ietf01_2",
        "mine_ietf01_3",
        "mine_ietf01_4",
        "multiple_1",
    ];
    let old_version = ["mine_ietf05_1", "no_body_1", "no_body_2", "no_body_3"];
    let stem = name.trim_end_matches(".eml");
    if no_version.contains(&stem) {
        return Some((
            "fail",
            "RFC 6376 3.5: v= is REQUIRED, and 6.1.1: a signature missing a \
            required tag MUST be ignored (PERMFAIL); dkimpy and OpenDKIM agree, Mail::DKIM and \
            mailauth accept the pre-standard draft",
        ));
    }
    if old_version.contains(&stem) {
        return Some((
            "fail",
            "RFC 6376 6.1.1: a signature with a version other than v=1 MUST be \
            ignored (PERMFAIL, incompatible version); dkimpy agrees",
        ));
    }
    None
}

fn load_keys(spec: &str) -> HashMap<String, KeyAnswer> {
    let mut map = HashMap::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let p = vectors().join(part);
        let files: Vec<PathBuf> = if p.is_dir() {
            std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        } else {
            vec![p]
        };
        for f in files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "txt"))
        {
            let name = f
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .to_ascii_lowercase();
            map.insert(
                name,
                KeyAnswer::from_record_text(&std::fs::read_to_string(&f).unwrap()),
            );
        }
    }
    map
}

#[test]
fn public_vectors_give_the_expected_results() {
    let manifest = std::fs::read_to_string(vectors().join("MANIFEST.tsv")).unwrap();
    let now = PINNED_NOW;
    let update = std::env::var_os("WAXSEAL_UPDATE_VECTORS").is_some();
    let golden: HashMap<String, String> = std::fs::read_to_string(vectors().join(RESULTS))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut written = String::from("file\tkeys\tmode\tpolicy\tresults\n");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, keys, expected, mode, policy_name) =
            (cols[0], cols[1], cols[2], cols[3], cols[4]);
        let notes = cols.get(9).copied().unwrap_or("");
        if notes.contains("DISPUTED") {
            continue;
        }
        let (expected, why) = match rfc_decides(file) {
            Some((e, why)) => (e, Some(why)),
            None => (expected, None),
        };
        let msg = std::fs::read(vectors().join(file)).unwrap();
        let keys = load_keys(keys);
        let mut policy = VerifyPolicy::default();
        if policy_name == "lax" {
            policy.allow_rsa_sha1 = true;
            policy.min_rsa_bits = 512;
        }
        let report = verify(&msg, &policy, Some(now), &mut |name: &str| {
            keys.get(&name.to_ascii_lowercase())
                .cloned()
                .unwrap_or(KeyAnswer::NxDomain)
        });
        let got = match &report {
            Err(_) => "fail",
            Ok(r) => {
                let passes = r.results.iter().map(|s| s.result == DkimResult::Pass);
                let ok = if mode == "any" {
                    passes.clone().any(|p| p)
                } else {
                    !r.results.is_empty() && passes.clone().all(|p| p)
                };
                if ok { "pass" } else { "fail" }
            }
        };
        checked += 1;
        // the result and reason of each signature, as decided here
        let results = match &report {
            Err(e) => format!("error:{}", e.code()),
            Ok(r) if r.results.is_empty() => "none".to_string(),
            Ok(r) => r
                .results
                .iter()
                .map(|s| {
                    format!(
                        "{}/{}",
                        s.result.as_str(),
                        // the reason with its detail (which tag, which
                        // key error), one field: no comma inside
                        s.reason
                            .map_or("-".to_string(), |r| format!("{r:?}").replace(", ", " "))
                    )
                })
                .collect::<Vec<_>>()
                .join(","),
        };
        let row = format!("{file}\t{}\t{mode}\t{policy_name}", cols[1]);
        written.push_str(&format!("{row}\t{results}\n"));
        match golden.get(&row) {
            _ if update => {}
            Some(want) if *want == results => {}
            Some(want) => mismatches.push(format!(
                "{file} [{mode} {policy_name}]: results {results}, {RESULTS} says {want}"
            )),
            None => mismatches.push(format!(
                "{file} [{mode} {policy_name}]: not in {RESULTS} (WAXSEAL_UPDATE_VECTORS=1 adds it)"
            )),
        }
        if got != expected {
            let detail = match &report {
                Err(e) => format!("error: {e}"),
                Ok(r) => r
                    .results
                    .iter()
                    .map(|s| s.summary())
                    .collect::<Vec<_>>()
                    .join(" | "),
            };
            let why = why
                .map(|w| format!(" (expected by {w})"))
                .unwrap_or_default();
            mismatches.push(format!(
                "{file} [{mode} {policy_name}] expected {expected}{why}, got {got}: {detail}"
            ));
        }
    }
    if update {
        std::fs::write(vectors().join(RESULTS), written).unwrap();
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked} vectors disagree:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    eprintln!("{checked} public vectors give the expected result");
}

//! One vector file, every face: the same key, message, time and options
//! must give byte-identical DKIM-Signature fields from the native core, the
//! npm package in Node, in headless Chromium, in workerd and in Deno (both
//! its WebCrypto path and its WebAssembly path), and the WebAssembly
//! component in wasmtime. Errors must carry the same code everywhere, and
//! what each face signs must verify in that face.
//!
//! Needs `wasm/build.sh` (the package in wasm/pkg, the components in
//! wasm/component) and `scripts/setup-js.sh` (Chromium, miniflare, Deno).
//! `WAXSEAL_UPDATE_VECTORS=1` rewrites the expected values from the native
//! core (only when the output format changes on purpose).
//!
//! Rooms: the vectors, the native core and the JavaScript faces here; the
//! components in wasmtime in `component`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod component;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};
use waxseal_core::{
    Canonicalization, Domain, Identity, KeyAnswer, KeyRecord, PrivateKey, Selector, SignOptions,
    Signer, VerifyPolicy, base64,
};
use waxseal_tests::repo_root;

const VERIFY_NOW: u64 = 1_700_000_000;

fn vectors_path() -> PathBuf {
    repo_root().join("tests/faces/vectors.json")
}

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap()
}

fn key_text(v: &Value, name: &str) -> String {
    let rel = v["keys"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no key {name}"));
    std::fs::read_to_string(repo_root().join(rel)).unwrap()
}

fn message(v: &Value, name: &str) -> Vec<u8> {
    let m = &v["messages"][name];
    match (m["file"].as_str(), m["text"].as_str()) {
        (Some(f), _) => std::fs::read(repo_root().join(f)).unwrap(),
        (_, Some(t)) => t.as_bytes().to_vec(),
        _ => panic!("message {name} has neither file nor text"),
    }
}

/// The vector file with keys, messages and DNS records inlined: what the
/// JavaScript runners and the component test get.
fn resolved() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let v = vectors();
        let mut keys = BTreeMap::new();
        for name in v["keys"].as_object().unwrap().keys() {
            keys.insert(name.clone(), json!(key_text(&v, name)));
        }
        let mut dns = BTreeMap::new();
        let mut cases = Vec::new();
        for c in v["cases"].as_array().unwrap() {
            for s in c["signatures"].as_array().unwrap() {
                let pem = key_text(&v, s["key"].as_str().unwrap());
                if let (Ok(k), Ok(sel), Ok(dom)) = (
                    PrivateKey::parse(pem.as_bytes()),
                    Selector::new(s["selector"].as_str().unwrap()),
                    Domain::new(s["domain"].as_str().unwrap()),
                ) {
                    dns.insert(
                        sel.record_name(&dom),
                        json!([KeyRecord::new(&k.public_key()).txt_strings()]),
                    );
                }
            }
            let mut c = c.clone();
            let msg = message(&v, c["message"].as_str().unwrap());
            c["message"] = json!(base64::encode(&msg));
            cases.push(c);
        }
        let out = json!({ "keys": keys, "dns": dns, "cases": cases });
        let p = std::env::temp_dir().join(format!("waxseal-faces-{}.json", std::process::id()));
        std::fs::write(&p, serde_json::to_string(&out).unwrap()).unwrap();
        p
    })
}

fn sign_options(s: &Value) -> Result<SignOptions, waxseal_core::Error> {
    let mut o = SignOptions::new(
        Domain::new(s["domain"].as_str().unwrap())?,
        Selector::new(s["selector"].as_str().unwrap())?,
    );
    o.timestamp = s["timestamp"].as_u64();
    o.expiration = s["expiration"].as_u64();
    if let Some(i) = s["identity"].as_str() {
        o.identity = Some(Identity::new(i)?);
    }
    let strings = |k: &str| {
        s[k].as_array().map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
    };
    if let Some(h) = strings("headers") {
        o.headers.sign = h.into_iter().map(Into::into).collect();
        o.headers.oversign.clear();
    }
    if let Some(h) = strings("oversign") {
        o.headers.oversign = h.into_iter().map(Into::into).collect();
    }
    if let Some(c) = s["canonicalization"].as_str() {
        o.canonicalization = Canonicalization::parse(c.as_bytes())?;
    }
    o.body_length = s["bodyLength"].as_bool().unwrap_or(false);
    o.copy_headers = s["copyHeaders"].as_bool().unwrap_or(false);
    Ok(o)
}

/// The native core's answer for one case: the header field(s), or
/// `error:CODE`.
fn native_case(v: &Value, c: &Value) -> String {
    let msg = message(v, c["message"].as_str().unwrap());
    let run = || -> Result<String, waxseal_core::Error> {
        let mut signer = Signer::new();
        for s in c["signatures"].as_array().unwrap() {
            let key = PrivateKey::parse(key_text(v, s["key"].as_str().unwrap()).as_bytes())?;
            signer.add(sign_options(s)?, key)?;
        }
        signer.update(&msg)?;
        let sigs = signer.finish()?;
        let lf = waxseal_core::message::uses_bare_lf(&msg);
        Ok(sigs
            .iter()
            .map(|s| if lf { s.field_lf() } else { s.field.clone() })
            .collect())
    };
    match run() {
        Ok(h) => h,
        Err(e) => format!("error:{}", e.code()),
    }
}

/// The expected results, checked against (or, with
/// WAXSEAL_UPDATE_VECTORS=1, written from) the native core.
fn expected() -> &'static BTreeMap<String, String> {
    static EXPECTED: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let mut v = vectors();
        let update = std::env::var_os("WAXSEAL_UPDATE_VECTORS").is_some();
        let mut out = BTreeMap::new();
        let snapshot = v.clone();
        for c in v["cases"].as_array_mut().unwrap() {
            let got = native_case(&snapshot, c);
            let name = c["name"].as_str().unwrap().to_string();
            if update {
                c["expected"] = json!(got);
            } else {
                assert_eq!(
                    c["expected"].as_str(),
                    Some(got.as_str()),
                    "native core differs from the vector file for {name}"
                );
            }
            out.insert(name, got);
        }
        if update {
            std::fs::write(
                vectors_path(),
                serde_json::to_string_pretty(&v).unwrap() + "\n",
            )
            .unwrap();
        }
        out
    })
}

fn pkg_dir() -> PathBuf {
    let p = repo_root().join("wasm/pkg");
    assert!(
        p.join("wasm/waxseal_wasm_bg.wasm").exists(),
        "build the npm package first: wasm/build.sh npm"
    );
    p
}

fn js_home() -> PathBuf {
    std::env::var_os("WAXSEAL_JS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/waxseal-js"))
}

fn run_json(mut cmd: Command, what: &str) -> Value {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e} (run scripts/setup-js.sh)"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: bad JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Compares a JavaScript runtime's report with the expected values.
fn check_js(face: &str, report: Value) {
    let want = expected();
    let rows = report.as_array().unwrap();
    assert_eq!(rows.len(), want.len(), "{face}: one row per case");
    let mut bad = Vec::new();
    for r in rows {
        let name = r["name"].as_str().unwrap();
        let exp = &want[name];
        for path in ["async", "sync"] {
            if r[path].as_str() != Some(exp.as_str()) {
                bad.push(format!(
                    "{name} ({path}):\n  want {exp:?}\n  got  {}",
                    r[path]
                ));
            }
        }
        if !exp.starts_with("error:") {
            let n = exp.matches("DKIM-Signature:").count();
            let all_pass = vec!["pass"; n].join(",");
            if r["verify"].as_str() != Some(all_pass.as_str()) {
                bad.push(format!("{name}: verifies as {} in {face}", r["verify"]));
            }
        }
    }
    assert!(bad.is_empty(), "{face} differs:\n{}", bad.join("\n"));
    eprintln!(
        "{face}: {} vectors identical to the native core (WebCrypto and WebAssembly paths)",
        rows.len()
    );
}

#[test]
fn native_core_matches_the_vector_file_and_verifies() {
    let v = vectors();
    for (name, header) in expected() {
        if header.starts_with("error:") {
            continue;
        }
        let c = v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name.as_str())
            .unwrap();
        let mut signed = header.as_bytes().to_vec();
        signed.extend_from_slice(&message(&v, c["message"].as_str().unwrap()));
        let r = waxseal_core::verify(
            &signed,
            &VerifyPolicy::default(),
            Some(VERIFY_NOW),
            &mut |n: &str| {
                let resolved: Value =
                    serde_json::from_str(&std::fs::read_to_string(resolved()).unwrap()).unwrap();
                match resolved["dns"][n].as_array() {
                    Some(recs) => KeyAnswer::Records(
                        recs.iter()
                            .map(|r| {
                                r.as_array()
                                    .unwrap()
                                    .iter()
                                    .map(|s| s.as_str().unwrap().as_bytes().to_vec())
                                    .collect()
                            })
                            .collect(),
                    ),
                    None => KeyAnswer::NxDomain,
                }
            },
        )
        .unwrap();
        assert!(
            r.results
                .iter()
                .all(|x| x.result == waxseal_core::DkimResult::Pass),
            "{name}: {:?}",
            r.results
        );
    }
}

#[test]
fn node_face() {
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/faces/run-node.mjs"))
        .arg(pkg_dir())
        .arg(resolved());
    check_js("node", run_json(cmd, "node"));
}

#[test]
fn chromium_face() {
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/faces/run-chromium.mjs"))
        .arg(pkg_dir())
        .arg(resolved());
    cmd.env("WAXSEAL_JS_HOME", js_home());
    check_js("chromium", run_json(cmd, "chromium"));
}

#[test]
fn workerd_face() {
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/faces/run-workerd.mjs"))
        .arg(pkg_dir())
        .arg(resolved());
    cmd.env("WAXSEAL_JS_HOME", js_home());
    check_js("workerd", run_json(cmd, "workerd"));
}

#[test]
fn deno_face() {
    let deno = js_home().join("node_modules/.bin/deno");
    let pkg = pkg_dir();
    let mut cmd = Command::new(&deno);
    cmd.args(["run", "--no-remote", "--no-prompt"])
        .arg(format!(
            "--allow-read={},{},{}",
            pkg.display(),
            resolved().display(),
            repo_root().join("tests/faces").display()
        ))
        .arg(repo_root().join("tests/faces/run-deno.mjs"))
        .arg(&pkg)
        .arg(resolved())
        .env("DENO_NO_UPDATE_CHECK", "1")
        .env("DENO_DIR", js_home().join("deno-dir"));
    check_js("deno", run_json(cmd, "deno"));
}

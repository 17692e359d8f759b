//! The verifier: every result and reason of RFC 6376 6 and RFC 8301, the
//! sans-I/O protocol, Authentication-Results, diagnostics, and round trips
//! with the signer.
//!
//! Rooms: the helpers here, then `vectors` (published vectors), `results`
//! (every result and reason), `protocol` (the sans-I/O protocol and its
//! outputs) and `properties` (round trips, changes after signing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod properties;
mod protocol;
mod results;
mod vectors;

use std::collections::HashMap;

use waxseal_core::verify::{Diagnostics, QueryKind};
use waxseal_core::{
    Canonicalization, DkimResult, Domain, HeaderSelection, Identity, KeyAnswer, KeyRecord,
    PrivateKey, Reason, Selector, SignOptions, Signer, VerificationReport, Verifier, VerifyPolicy,
    prepend_signatures, verify,
};

const A3_SIGNED: &[u8] = include_bytes!("../vectors/rfc8463/a3-signed.eml");
const A3_ED_RECORD: &str = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const A3_RSA_RECORD: &str = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
const A3_TIME: u64 = 1528637909;
const NOW: u64 = 1_800_000_000;

const MSG: &[u8] = b"From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.net>\r\n\
Subject: dinner\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\nMessage-ID: <1@example.com>\r\n\
\r\nHi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n";

fn key(name: &str) -> PrivateKey {
    let p = format!("{}/tests/vectors/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    PrivateKey::parse(&std::fs::read(p).unwrap()).unwrap()
}

type Dns = HashMap<String, KeyAnswer>;

fn run(msg: &[u8], dns: &Dns, policy: &VerifyPolicy, now: Option<u64>) -> VerificationReport {
    verify(msg, policy, now, &mut |name: &str| {
        dns.get(name).cloned().unwrap_or(KeyAnswer::NxDomain)
    })
    .unwrap()
}

fn a3_dns() -> Dns {
    let mut dns = Dns::new();
    dns.insert(
        "brisbane._domainkey.football.example.com".into(),
        KeyAnswer::record(A3_ED_RECORD),
    );
    dns.insert(
        "test._domainkey.football.example.com".into(),
        KeyAnswer::record(A3_RSA_RECORD),
    );
    dns
}

/// Answers every query of `v` from `dns` (NXDOMAIN for names not in it).
fn answer_all(v: &mut Verifier, dns: &Dns) {
    for q in v.queries() {
        v.answer(
            &q.name,
            dns.get(&q.name).cloned().unwrap_or(KeyAnswer::NxDomain),
        );
    }
}

fn results(r: &VerificationReport) -> Vec<(DkimResult, Option<Reason>)> {
    r.results.iter().map(|s| (s.result, s.reason)).collect()
}

/// Signs MSG (or `msg`) with `o` and `k`, returns message and DNS map.
fn signed(msg: &[u8], o: SignOptions, k: &PrivateKey) -> (Vec<u8>, Dns) {
    let mut dns = Dns::new();
    dns.insert(
        o.selector.record_name(&o.domain),
        KeyAnswer::record(KeyRecord::new(&k.public_key()).to_txt()),
    );
    let mut s = Signer::new();
    s.add(o, k).unwrap();
    s.update(msg).unwrap();
    (prepend_signatures(msg, &s.finish().unwrap()), dns)
}

fn opts(sel: &str) -> SignOptions {
    let mut o = SignOptions::new(
        Domain::new("example.com").unwrap(),
        Selector::new(sel).unwrap(),
    );
    o.timestamp = Some(NOW - 60);
    o
}

fn single(r: &VerificationReport) -> (DkimResult, Option<Reason>) {
    assert_eq!(r.results.len(), 1, "{r:?}");
    (r.results[0].result, r.results[0].reason)
}

//! The verifier: every result and reason of RFC 6376 6 and RFC 8301, the
//! sans-I/O protocol, Authentication-Results, diagnostics, and round trips
//! with the signer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use waxseal_core::verify::{Diagnostics, QueryKind};
use waxseal_core::{
    Canonicalization, DkimResult, Domain, HeaderSelection, Identity, KeyAnswer, KeyRecord,
    PrivateKey, Reason, Selector, SignOptions, Signer, VerificationReport, Verifier, VerifyPolicy,
    prepend_signatures, verify,
};

const A3_SIGNED: &[u8] = include_bytes!("vectors/rfc8463/a3-signed.eml");
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

#[test]
fn rfc8463_a3_both_signatures_pass() {
    let r = run(
        A3_SIGNED,
        &a3_dns(),
        &VerifyPolicy::default(),
        Some(A3_TIME),
    );
    assert_eq!(
        results(&r),
        [(DkimResult::Pass, None), (DkimResult::Pass, None)]
    );
    assert_eq!(r.results[0].key_bits, Some(256));
    assert_eq!(r.results[1].key_bits, Some(1024));
}

#[test]
fn rfc8463_a3_with_only_one_key_published() {
    for (keep, passing) in [("brisbane", 0), ("test", 1)] {
        let mut dns = a3_dns();
        dns.retain(|k, _| k.starts_with(keep));
        let r = run(A3_SIGNED, &dns, &VerifyPolicy::default(), Some(A3_TIME));
        assert_eq!(r.results[passing].result, DkimResult::Pass);
        let other = &r.results[1 - passing];
        assert_eq!(
            (other.result, other.reason),
            (DkimResult::PermError, Some(Reason::KeyNotFound))
        );
        assert!(r.any_pass());
    }
}

#[test]
fn rfc8463_a3_tampered() {
    let dns = a3_dns();
    let p = VerifyPolicy::default();
    let body = run(
        include_bytes!("vectors/rfc8463/a3-body-changed.eml"),
        &dns,
        &p,
        None,
    );
    assert!(
        body.results
            .iter()
            .all(|s| s.reason == Some(Reason::BodyHashMismatch))
    );
    assert!(body.results.iter().all(|s| s.result == DkimResult::Fail));
    let subject = run(
        include_bytes!("vectors/rfc8463/a3-subject-changed.eml"),
        &dns,
        &p,
        None,
    );
    assert!(
        subject
            .results
            .iter()
            .all(|s| s.reason == Some(Reason::BadSignature))
    );
    // From is oversigned in A.3: a second From on top breaks both
    let from = run(
        include_bytes!("vectors/rfc8463/a3-from-prepended.eml"),
        &dns,
        &p,
        None,
    );
    assert!(
        from.results
            .iter()
            .all(|s| s.reason == Some(Reason::BadSignature))
    );
    // and bare-LF line endings verify like CRLF
    let lf = run(include_bytes!("vectors/rfc8463/a3-lf.eml"), &dns, &p, None);
    assert_eq!(
        results(&lf),
        [(DkimResult::Pass, None), (DkimResult::Pass, None)]
    );
}

#[test]
fn rfc6376_a2_passes_and_tampered_fails() {
    let mut dns = Dns::new();
    let rec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/rfc6376/keys/brisbane._domainkey.example.com.txt"
    ))
    .unwrap();
    dns.insert(
        "brisbane._domainkey.example.com".into(),
        KeyAnswer::record(rec.trim()),
    );
    let p = VerifyPolicy::default();
    let r = run(
        include_bytes!("vectors/rfc6376/a2-signed.eml"),
        &dns,
        &p,
        None,
    );
    assert_eq!(single(&r), (DkimResult::Pass, None));
    assert_eq!(
        r.authentication_results("mx.example.net"),
        "mx.example.net; dkim=pass header.d=example.com header.s=brisbane \
         header.i=joe@football.example.com header.a=rsa-sha256 header.b=AuUoFEfD"
    );
    let r = run(
        include_bytes!("vectors/rfc6376/a2-body-changed.eml"),
        &dns,
        &p,
        None,
    );
    assert_eq!(
        single(&r),
        (DkimResult::Fail, Some(Reason::BodyHashMismatch))
    );
}

#[test]
fn unsigned_message_is_none() {
    let r = run(MSG, &Dns::new(), &VerifyPolicy::default(), Some(NOW));
    assert!(r.results.is_empty());
    assert_eq!(r.authentication_results("mx"), "mx; dkim=none");
    assert_eq!(r.policy.from_domain.as_deref(), Some("example.com"));
}

#[test]
fn key_answers_rfc6376_6_1_2() {
    let k = key("ed25519.pem");
    let (msg, good) = signed(MSG, opts("s"), &k);
    let name = "s._domainkey.example.com".to_string();
    let p = VerifyPolicy::default();
    let with = |answer: KeyAnswer| {
        let mut dns = Dns::new();
        dns.insert(name.clone(), answer);
        single(&run(&msg, &dns, &p, Some(NOW)))
    };
    let txt = KeyRecord::new(&k.public_key()).to_txt();
    assert_eq!(
        single(&run(&msg, &good, &p, Some(NOW))),
        (DkimResult::Pass, None)
    );
    assert_eq!(
        with(KeyAnswer::NxDomain),
        (DkimResult::PermError, Some(Reason::KeyNotFound))
    );
    assert_eq!(
        with(KeyAnswer::TempFail),
        (DkimResult::TempError, Some(Reason::KeyUnavailable))
    );
    assert_eq!(
        with(KeyAnswer::Records(vec![])),
        (DkimResult::PermError, Some(Reason::KeyNotFound))
    );
    assert_eq!(
        with(KeyAnswer::record("v=DKIM1; k=ed25519; p=")),
        (DkimResult::Fail, Some(Reason::KeyRevoked))
    );
    assert_eq!(
        with(KeyAnswer::record(txt.replace("k=ed25519", "k=rsa"))),
        (DkimResult::PermError, Some(Reason::KeyAlgorithmMismatch))
    );
    assert_eq!(
        with(KeyAnswer::record(
            txt.replace("k=ed25519", "k=ed25519; h=sha1")
        )),
        (DkimResult::PermError, Some(Reason::HashNotAllowed))
    );
    assert_eq!(
        with(KeyAnswer::record(
            txt.replace("k=ed25519", "k=ed25519; s=web")
        )),
        (DkimResult::PermError, Some(Reason::ServiceNotEmail))
    );
    assert!(matches!(
        with(KeyAnswer::record("v=DKIM1; k=ed25519; p=AAAA")),
        (DkimResult::PermError, Some(Reason::KeySyntax(_)))
    ));
    assert!(matches!(
        with(KeyAnswer::record("v=DKIM1; k=dsa; p=AAAA")),
        (DkimResult::PermError, Some(Reason::KeySyntax(_)))
    ));
    // RFC 6376 6.1.2: a record not in the key format is a key syntax
    // error; 3.6.1: one with another v= is discarded, leaving no key
    assert_eq!(
        with(KeyAnswer::record("google-site-verification=abc")),
        (
            DkimResult::PermError,
            Some(Reason::KeySyntax(waxseal_core::Error::TagListSyntax {
                offset: 6
            }))
        )
    );
    assert_eq!(
        with(KeyAnswer::record("v=spf1 -all")),
        (DkimResult::PermError, Some(Reason::KeyNotFound))
    );
    // RFC 6376 3.6.2.2: the strings of one record are concatenated
    let (a, b) = txt.split_at(txt.len() / 2);
    assert_eq!(
        with(KeyAnswer::Records(vec![vec![
            a.as_bytes().to_vec(),
            b.as_bytes().to_vec()
        ]])),
        (DkimResult::Pass, None)
    );
    // several records: the one that verifies counts
    let other = KeyRecord::new(&key("rsa1024.pem").public_key()).to_txt();
    assert_eq!(
        with(KeyAnswer::Records(vec![
            vec![other.into_bytes()],
            vec![txt.clone().into_bytes()]
        ])),
        (DkimResult::Pass, None)
    );
    // test mode is reported, the result unchanged
    let mut dns = Dns::new();
    dns.insert(
        name.clone(),
        KeyAnswer::record(txt.replace("k=ed25519", "k=ed25519; t=y")),
    );
    let r = run(&msg, &dns, &p, Some(NOW));
    assert_eq!(single(&r), (DkimResult::Pass, None));
    assert!(r.results[0].testing);
    assert!(
        r.authentication_results("mx")
            .contains("dkim=pass (key in test mode)")
    );
    // a wrong key
    let mut dns = Dns::new();
    dns.insert(
        name,
        KeyAnswer::record(
            KeyRecord::new(&PrivateKey::from_ed25519_seed(&[9; 32]).public_key()).to_txt(),
        ),
    );
    assert_eq!(
        single(&run(&msg, &dns, &p, Some(NOW))),
        (DkimResult::Fail, Some(Reason::BadSignature))
    );
}

#[test]
fn identity_rules() {
    let k = key("ed25519.pem");
    let p = VerifyPolicy::default();
    let mut o = opts("s");
    o.identity = Some(Identity::new("joe@mail.example.com").unwrap());
    let (msg, mut dns) = signed(MSG, o, &k);
    assert_eq!(
        single(&run(&msg, &dns, &p, Some(NOW))),
        (DkimResult::Pass, None)
    );
    // t=s: i= must be exactly d=
    let txt = KeyRecord::new(&k.public_key())
        .to_txt()
        .replace("k=ed25519", "k=ed25519; t=s");
    dns.insert("s._domainkey.example.com".into(), KeyAnswer::record(txt));
    assert_eq!(
        single(&run(&msg, &dns, &p, Some(NOW))),
        (DkimResult::PermError, Some(Reason::StrictIdentityMismatch))
    );
    // i= not under d=: rewrite the signature's i= (label-wise check)
    let evil =
        String::from_utf8_lossy(&msg).replace("i=joe@mail.example.com", "i=joe@evilexample.com");
    let r = run(evil.as_bytes(), &dns, &p, Some(NOW));
    assert_eq!(
        single(&r),
        (
            DkimResult::PermError,
            Some(Reason::Syntax(waxseal_core::Error::IdentityNotInDomain))
        )
    );
    assert_eq!(r.results[0].labels.domain.as_deref(), Some("example.com"));
}

#[test]
fn policy_results_rfc8301_and_time() {
    let k = key("ed25519.pem");
    let p = VerifyPolicy::default();
    // expired, and in the future
    let mut o = opts("s");
    o.expiration = Some(NOW - 10);
    o.timestamp = Some(NOW - 100);
    let (msg, dns) = signed(MSG, o, &k);
    assert_eq!(
        single(&run(&msg, &dns, &p, Some(NOW))),
        (
            DkimResult::Policy,
            Some(Reason::Expired {
                expiration: NOW - 10
            })
        )
    );
    assert_eq!(
        single(&run(&msg, &dns, &p, Some(NOW - 50))),
        (DkimResult::Pass, None)
    );
    let lax = VerifyPolicy {
        ignore_expiration: true,
        ..VerifyPolicy::default()
    };
    assert_eq!(
        single(&run(&msg, &dns, &lax, Some(NOW))),
        (DkimResult::Pass, None)
    );
    let mut o = opts("s");
    o.timestamp = Some(NOW + 3600);
    let (msg, dns) = signed(MSG, o, &k);
    assert_eq!(
        single(&run(&msg, &dns, &p, Some(NOW))),
        (
            DkimResult::Policy,
            Some(Reason::FutureTimestamp {
                timestamp: NOW + 3600
            })
        )
    );
    assert_eq!(
        single(&run(&msg, &dns, &p, Some(NOW + 3500))),
        (DkimResult::Pass, None)
    );
    assert_eq!(single(&run(&msg, &dns, &p, None)), (DkimResult::Pass, None));
}

#[test]
fn rfc8301_key_size_and_rsa_sha1() {
    // a 1024-bit key passes; with a 2048-bit floor it is policy
    let k = key("rsa1024.pem");
    let (msg, dns) = signed(MSG, opts("s"), &k);
    assert_eq!(
        single(&run(&msg, &dns, &VerifyPolicy::default(), Some(NOW))),
        (DkimResult::Pass, None)
    );
    let strict = VerifyPolicy {
        min_rsa_bits: 2048,
        ..VerifyPolicy::default()
    };
    assert_eq!(
        single(&run(&msg, &dns, &strict, Some(NOW))),
        (DkimResult::Policy, Some(Reason::KeyTooSmall { bits: 1024 }))
    );
    // the Mail::DKIM corpus has real rsa-sha1 and 512-bit signatures
    let msg = include_bytes!("vectors/maildkim/corpus/good_rfc4871_3.eml");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/maildkim/keys/");
    let lookup = &mut |name: &str| match std::fs::read_to_string(format!("{dir}{name}.txt")) {
        Ok(t) => KeyAnswer::from_record_text(&t),
        Err(_) => KeyAnswer::NxDomain,
    };
    let r = verify(msg, &VerifyPolicy::default(), None, lookup).unwrap();
    let reasons: Vec<_> = r.results.iter().map(|s| (s.result, s.reason)).collect();
    assert!(
        reasons.iter().all(|(res, _)| *res == DkimResult::Policy),
        "{reasons:?}"
    );
    let lax = VerifyPolicy {
        allow_rsa_sha1: true,
        min_rsa_bits: 512,
        ..VerifyPolicy::default()
    };
    let r = verify(msg, &lax, None, lookup).unwrap();
    assert!(r.any_pass(), "{:?}", results(&r));
}

#[test]
fn body_length_tag() {
    let k = key("ed25519.pem");
    let mut o = opts("s");
    o.body_length = true;
    let (msg, dns) = signed(MSG, o, &k);
    let p = VerifyPolicy::default();
    assert_eq!(
        single(&run(&msg, &dns, &p, Some(NOW))),
        (DkimResult::Pass, None)
    );
    // text appended after signing: covered by l=, but the tail is unsigned
    let mut longer = msg.clone();
    longer.extend_from_slice(b"Click here: http://evil.example/\r\n");
    let r = run(&longer, &dns, &p, Some(NOW));
    let tail = r.results[0].unsigned_body_bytes;
    assert_eq!(tail, 34);
    assert!(matches!(
        single(&r),
        (DkimResult::Policy, Some(Reason::PartialBody { .. }))
    ));
    let lax = VerifyPolicy {
        allow_unsigned_body_tail: true,
        ..VerifyPolicy::default()
    };
    assert_eq!(
        single(&run(&longer, &dns, &lax, Some(NOW))),
        (DkimResult::Pass, None)
    );
    // body cut short: l= larger than the body
    let cut = &msg[..msg.len() - 10];
    assert!(matches!(
        single(&run(cut, &dns, &p, Some(NOW))),
        (
            DkimResult::PermError,
            Some(Reason::BodyLengthTooLarge { .. })
        )
    ));
}

#[test]
fn from_must_be_signed_rfc6376_6_1_1() {
    let k = key("ed25519.pem");
    let mut o = opts("s");
    o.headers = HeaderSelection::only(["to", "subject"]);
    let (msg, dns) = signed(MSG, o, &k);
    // The signer always adds From; remove it from h= by hand to test.
    let text = String::from_utf8_lossy(&msg).replacen("h=from:to:subject", "h=to:subject", 1);
    let r = run(text.as_bytes(), &dns, &VerifyPolicy::default(), Some(NOW));
    assert_eq!(
        single(&r),
        (DkimResult::PermError, Some(Reason::FromNotSigned))
    );
    // with the named relaxation, the (now wrong) signature is checked
    let lax = VerifyPolicy {
        allow_unsigned_from: true,
        ..VerifyPolicy::default()
    };
    let r = run(text.as_bytes(), &dns, &lax, Some(NOW));
    assert_eq!(single(&r), (DkimResult::Fail, Some(Reason::BadSignature)));
}

/// Regression (hardening issue, item 3: a second From field passes):
/// signed with From not oversigned, then `From: Evil <...>` put on top.
/// The signature still verifies, as RFC 6376 alone allows, but the reader
/// sees the evil address: `policy` with the reason by default (RFC 6376
/// 8.15, RFC 5322 3.6; DMARC rejects it too), `pass` only under the named
/// relaxation. A message without From is the same; the signer refuses
/// both.
#[test]
fn a_second_from_field_does_not_pass() {
    let k = key("ed25519.pem");
    let mut o = opts("s");
    o.headers = HeaderSelection::only(["from", "subject", "date", "to"]);
    let (msg, dns) = signed(MSG, o, &k);
    let mut evil = b"From: Evil <ceo@evil.example>\r\n".to_vec();
    evil.extend_from_slice(&msg);
    // the signed From is the one at the bottom: the signature verifies
    let r = run(&evil, &dns, &VerifyPolicy::default(), Some(NOW));
    assert_eq!(
        single(&r),
        (DkimResult::Policy, Some(Reason::FromCount { count: 2 }))
    );
    assert_eq!(r.results[0].reason.unwrap().code(), "from_count");
    assert!(
        r.authentication_results("mx")
            .contains("dkim=policy reason=\"the message has 2 From fields")
    );
    let lax = VerifyPolicy {
        allow_from_count: true,
        ..VerifyPolicy::default()
    };
    let r = run(&evil, &dns, &lax, Some(NOW));
    assert_eq!(single(&r), (DkimResult::Pass, None));
    // a changed body still fails first: policy is for valid signatures
    let mut broken = evil.clone();
    broken.extend_from_slice(b"appended\r\n");
    let r = run(&broken, &dns, &VerifyPolicy::default(), Some(NOW));
    assert_eq!(
        single(&r),
        (DkimResult::Fail, Some(Reason::BodyHashMismatch))
    );
    // the signer refuses to sign a message with two From fields
    let mut s = Signer::new();
    s.add(opts("s"), &k).unwrap();
    assert_eq!(
        s.update(&evil[..evil.len() - 10])
            .and_then(|()| s.finish().map(drop)),
        Err(waxseal_core::Error::SeveralFrom { count: 2 })
    );
    assert_eq!(
        waxseal_core::Error::SeveralFrom { count: 2 }.code(),
        "ERR_SEVERAL_FROM"
    );
}

#[test]
fn too_many_signatures_are_neutral() {
    let k = key("ed25519.pem");
    let mut s = Signer::new();
    for i in 0..4 {
        s.add(opts(&format!("s{i}")), &k).unwrap();
    }
    s.update(MSG).unwrap();
    let msg = prepend_signatures(MSG, &s.finish().unwrap());
    let mut dns = Dns::new();
    for i in 0..4 {
        dns.insert(
            format!("s{i}._domainkey.example.com"),
            KeyAnswer::record(KeyRecord::new(&k.public_key()).to_txt()),
        );
    }
    let p = VerifyPolicy {
        max_signatures: 2,
        ..VerifyPolicy::default()
    };
    let r = run(&msg, &dns, &p, Some(NOW));
    assert_eq!(
        results(&r),
        [
            (DkimResult::Pass, None),
            (DkimResult::Pass, None),
            (
                DkimResult::Neutral,
                Some(Reason::TooManySignatures { limit: 2, more: 2 })
            ),
        ]
    );
    assert!(r.authentication_results("mx").contains(
        "dkim=neutral reason=\"not checked: 2 more signature(s) beyond the limit of 2\""
    ));
}

/// Past the limit, the signatures of the From domain are the ones
/// verified first (relays and lists sign above the author).
#[test]
fn past_the_limit_the_from_domain_is_verified_first() {
    let k = key("ed25519.pem");
    let mut dns = Dns::new();
    // `msg` signed by each of `domains`, prepended top to bottom in order
    let mut signed_by = |msg: &[u8], domains: &[&str]| {
        let mut s = Signer::new();
        for &d in domains {
            let mut o = opts("s");
            o.domain = Domain::new(d).unwrap();
            dns.insert(
                format!("s._domainkey.{d}"),
                KeyAnswer::record(KeyRecord::new(&k.public_key()).to_txt()),
            );
            s.add(o, &k).unwrap();
        }
        s.update(msg).unwrap();
        prepend_signatures(msg, &s.finish().unwrap())
    };
    // three relays' signatures, the author's, one by a parent domain of
    // nobody's
    let msg = signed_by(
        MSG,
        &[
            "relay1.example",
            "relay2.example",
            "relay3.example",
            "example.com",
            "com.example",
        ],
    );
    // with no signature of the From domain itself, one of a parent domain
    // (aligned under DMARC's relaxed mode) goes before the relays'
    let sub = String::from_utf8(MSG.to_vec())
        .unwrap()
        .replace("joe@example.com", "joe@news.example.com");
    let sub = signed_by(sub.as_bytes(), &["relay1.example", "example.com"]);
    let verified = |msg: &[u8], max_signatures: usize| {
        let p = VerifyPolicy {
            max_signatures,
            ..VerifyPolicy::default()
        };
        run(msg, &dns, &p, Some(NOW))
    };
    let got = |r: &VerificationReport| -> Vec<(Option<String>, DkimResult)> {
        r.results
            .iter()
            .map(|x| (x.labels.domain.clone(), x.result))
            .collect()
    };
    let name = |d: &str| Some(d.to_string());

    let r = verified(&msg, 2);
    assert_eq!(
        got(&r),
        [
            (name("relay1.example"), DkimResult::Pass),
            (name("relay2.example"), DkimResult::Neutral),
            (name("example.com"), DkimResult::Pass),
        ]
    );
    assert_eq!(
        r.results[1].reason,
        Some(Reason::TooManySignatures { limit: 2, more: 3 })
    );
    assert_eq!(
        got(&verified(&sub, 1)),
        [
            (name("relay1.example"), DkimResult::Neutral),
            (name("example.com"), DkimResult::Pass),
        ]
    );
}

#[test]
fn sans_io_protocol() {
    let k = key("ed25519.pem");
    let (msg, dns) = signed(MSG, opts("s"), &k);
    let mut v = Verifier::new(VerifyPolicy::default(), Some(NOW));
    let split = msg.iter().position(|b| *b == b'\n').unwrap() + 1;
    v.update(&msg[..split]).unwrap();
    assert!(!v.headers_complete());
    assert!(v.queries().is_empty());
    v.update(&msg[split..]).unwrap();
    assert!(v.headers_complete());
    let q = v.queries();
    assert_eq!(q[0].name, "s._domainkey.example.com");
    assert_eq!(q[0].kind, QueryKind::Key);
    assert_eq!(q[1].name, "_policy._domainkey.example.com");
    assert_eq!(q[2].name, "_dmarc.example.com");
    // answers can come in any order, names are case-insensitive
    v.answer(
        "_dmarc.example.com.",
        KeyAnswer::record("v=DMARC1; p=reject"),
    );
    v.answer(
        "S._DOMAINKEY.EXAMPLE.COM",
        dns["s._domainkey.example.com"].clone(),
    );
    assert_eq!(v.pending_queries().len(), 1);
    let r = v.finish().unwrap();
    assert_eq!(single(&r), (DkimResult::Pass, None));
    assert_eq!(
        r.policy.dmarc.unwrap().unwrap().policy,
        waxseal_core::policy::DmarcPolicy::Reject
    );
    assert!(r.policy.legacy.is_none());
    // an unanswered key query is a temporary error
    let mut v = Verifier::new(VerifyPolicy::default(), Some(NOW));
    v.update(&msg).unwrap();
    assert_eq!(
        single(&v.finish().unwrap()),
        (DkimResult::TempError, Some(Reason::KeyUnavailable))
    );
}

#[test]
fn diagnostics_show_what_was_hashed() {
    let k = key("ed25519.pem");
    let (msg, dns) = signed(MSG, opts("s"), &k);
    let tampered = String::from_utf8_lossy(&msg)
        .replace("hungry", "angry")
        .into_bytes();
    let mut v = Verifier::new(VerifyPolicy::default(), Some(NOW));
    v.diagnostics(1 << 20);
    v.update(&tampered).unwrap();
    answer_all(&mut v, &dns);
    let r = v.finish().unwrap();
    assert_eq!(r.results[0].reason, Some(Reason::BodyHashMismatch));
    let d: &Diagnostics = r.results[0].diagnostics.as_ref().unwrap();
    assert!(
        d.canonical_body
            .ends_with(b"We lost the game. Are you angry yet?\r\n")
    );
    assert!(
        d.canonical_headers
            .starts_with(b"from:Joe <joe@example.com>\r\n")
    );
    assert!(d.canonical_headers.ends_with(b"b="));
    assert_eq!(d.computed_body_hash.len(), 32);
    assert!(!d.body_truncated);
}

#[test]
fn malformed_signatures_are_permerror_with_salvaged_labels() {
    let bad = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; b=abcd\r\n\
From: a@example.com\r\n\r\nbody\r\n";
    let r = run(bad, &Dns::new(), &VerifyPolicy::default(), Some(NOW));
    assert_eq!(
        single(&r),
        (
            DkimResult::PermError,
            Some(Reason::Syntax(waxseal_core::Error::MissingTag("bh")))
        )
    );
    assert_eq!(
        r.authentication_results("mx"),
        "mx; dkim=permerror reason=\"signature syntax error: required tag bh= is missing\" \
         header.d=example.com header.s=sel header.a=rsa-sha256 header.b=abcd"
    );
    let garbage = b"DKIM-Signature: \x01\x02 garbage;;;\r\nFrom: a@example.com\r\n\r\n";
    let r = run(garbage, &Dns::new(), &VerifyPolicy::default(), Some(NOW));
    assert!(matches!(
        single(&r),
        (DkimResult::PermError, Some(Reason::Syntax(_)))
    ));
    assert_eq!(
        r.authentication_results("mx"),
        "mx; dkim=permerror reason=\"signature syntax error: tag list syntax error at byte 1\""
    );
}

#[test]
fn authentication_results_field_is_folded() {
    let r = run(
        A3_SIGNED,
        &a3_dns(),
        &VerifyPolicy::default(),
        Some(A3_TIME),
    );
    let f = r.authentication_results_field("mx.example.net");
    assert_eq!(
        f,
        "Authentication-Results: mx.example.net;\r\n\
         \tdkim=pass header.d=football.example.com header.s=brisbane header.i=@football.example.com header.a=ed25519-sha256 header.b=\"/gCrinpc\";\r\n\
         \tdkim=pass header.d=football.example.com header.s=test header.i=@football.example.com header.a=rsa-sha256 header.b=F45dVWDf\r\n"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn canon() -> impl Strategy<Value = Canonicalization> {
        prop_oneof![
            Just(Canonicalization::SIMPLE_SIMPLE),
            Just(Canonicalization::SIMPLE_RELAXED),
            Just(Canonicalization::RELAXED_SIMPLE),
            Just(Canonicalization::RELAXED_RELAXED),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every option combination signs and verifies.
        #[test]
        fn sign_then_verify_round_trips(
            c in canon(), ed in any::<bool>(), l in any::<bool>(), x in any::<bool>(),
            z in any::<bool>(), i in any::<bool>(), lf in any::<bool>(),
            body in "[a-z \t\r\n]{0,60}",
        ) {
            let k = if ed { key("ed25519.pem") } else { key("rsa1024.pem") };
            let mut o = opts("s");
            o.canonicalization = c;
            o.body_length = l;
            o.copy_headers = z;
            if x { o.expiration = Some(NOW + 3600); }
            if i { o.identity = Some(Identity::new("joe@sub.example.com").unwrap()); }
            let mut msg = b"From: a@example.com\r\nSubject: s\r\n\r\n".to_vec();
            msg.extend_from_slice(body.as_bytes());
            if lf {
                msg = String::from_utf8(msg).unwrap().replace("\r\n", "\n").into_bytes();
            }
            let (signed, dns) = signed(&msg, o, &k);
            let r = run(&signed, &dns, &VerifyPolicy::default(), Some(NOW));
            prop_assert_eq!(single(&r), (DkimResult::Pass, None));
        }

        /// Any change of a byte inside a signed header field or the body
        /// makes verification fail (relaxed canonicalization forgives only
        /// white-space changes, so changes here are to non-space bytes).
        #[test]
        fn single_byte_changes_fail(pos in any::<prop::sample::Index>(), new in b'a'..=b'z', relaxed in any::<bool>()) {
            let k = key("ed25519.pem");
            let mut o = opts("s");
            o.canonicalization = if relaxed { Canonicalization::RELAXED_RELAXED } else { Canonicalization::SIMPLE_SIMPLE };
            let (signed, dns) = signed(MSG, o, &k);
            let sig_end = find(&signed, b"\r\nFrom:") + 2;
            let candidates: Vec<usize> = (sig_end..signed.len())
                .filter(|&p| signed[p].is_ascii_alphanumeric() && signed[p] != new)
                .filter(|&p| !relaxed || !signed[p].eq_ignore_ascii_case(&new) || !in_header_name(&signed, p))
                .collect();
            let p = candidates[pos.index(candidates.len())];
            let mut changed = signed.clone();
            changed[p] = new;
            let r = run(&changed, &dns, &VerifyPolicy::default(), Some(NOW));
            prop_assert_eq!(r.results[0].result, DkimResult::Fail, "changed byte {} ({:?})", p, signed[p] as char);
        }
    }

    fn find(h: &[u8], n: &[u8]) -> usize {
        h.windows(n.len()).position(|w| w == n).unwrap()
    }

    /// True inside a field name (relaxed canonicalization lower-cases
    /// those, so a change of case only is not a change).
    fn in_header_name(m: &[u8], p: usize) -> bool {
        let line_start = m[..p]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        !m[line_start..p].contains(&b':')
    }

    #[test]
    fn adding_an_unsigned_header_passes() {
        let k = key("ed25519.pem");
        let (signed, dns) = signed(MSG, opts("s"), &k);
        let mut m =
            b"Received: from relay.example.net by mx.example.org\r\nX-Spam: no\r\n".to_vec();
        m.extend_from_slice(&signed);
        let pos = find(&m, b"\r\n\r\n") + 2;
        m.splice(pos..pos, b"X-Added: later\r\n".iter().copied());
        assert_eq!(
            single(&run(&m, &dns, &VerifyPolicy::default(), Some(NOW))),
            (DkimResult::Pass, None)
        );
    }

    #[test]
    fn a_second_from_fails_when_from_is_oversigned() {
        let k = key("ed25519.pem");
        let (signed, dns) = signed(MSG, opts("s"), &k);
        for (label, at_top) in [("top", true), ("bottom", false)] {
            let mut m = signed.clone();
            let pos = if at_top { 0 } else { find(&m, b"\r\n\r\n") + 2 };
            m.splice(
                pos..pos,
                b"From: Mallory <m@evil.example>\r\n".iter().copied(),
            );
            let r = run(&m, &dns, &VerifyPolicy::default(), Some(NOW));
            assert_eq!(
                single(&r),
                (DkimResult::Fail, Some(Reason::BadSignature)),
                "{label}"
            );
        }
        // without oversigning, a From added at the top still verifies
        // cryptographically (the reason oversigning is the default); the
        // verifier's From count stops it, unless relaxed
        let mut o = opts("s");
        o.headers.oversign.clear();
        let (signed, dns) = super::signed(MSG, o, &k);
        let mut m = b"From: Mallory <m@evil.example>\r\n".to_vec();
        m.extend_from_slice(&signed);
        assert_eq!(
            single(&run(&m, &dns, &VerifyPolicy::default(), Some(NOW))),
            (DkimResult::Policy, Some(Reason::FromCount { count: 2 }))
        );
        let lax = VerifyPolicy {
            allow_from_count: true,
            ..VerifyPolicy::default()
        };
        assert_eq!(
            single(&run(&m, &dns, &lax, Some(NOW))),
            (DkimResult::Pass, None)
        );
    }

    /// Issue 17, item 8: `Content-Type: text/html` and `MIME-Version` added
    /// to a signed plain-text message (which had neither) changed what the
    /// reader sees and still passed; the default signing list now oversigns
    /// the MIME fields, so adding any of them breaks the signature.
    #[test]
    fn absent_fields_are_not_protected_mime_fields_added() {
        let k = key("ed25519.pem");
        let (signed, dns) = signed(MSG, opts("s"), &k);
        assert!(!signed.windows(12).any(|w| w == b"Content-Type"));
        let h = String::from_utf8_lossy(&signed[..find(&signed, b"b=")]).to_string();
        for name in ["mime-version", "content-type", "content-transfer-encoding"] {
            assert!(h.contains(name), "{name} in h=: {h}");
        }
        for added in [
            &b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n"[..],
            b"Content-Type: text/html; charset=utf-8\r\n",
            b"Content-Transfer-Encoding: quoted-printable\r\n",
        ] {
            for at_top in [true, false] {
                let mut m = signed.clone();
                let pos = if at_top { 0 } else { find(&m, b"\r\n\r\n") + 2 };
                m.splice(pos..pos, added.iter().copied());
                assert_eq!(
                    single(&run(&m, &dns, &VerifyPolicy::default(), Some(NOW))),
                    (DkimResult::Fail, Some(Reason::BadSignature)),
                    "{} at top: {at_top}",
                    String::from_utf8_lossy(added)
                );
            }
        }
        // the same message signed without oversigning lets them through:
        // what the default changed
        let mut o = opts("s");
        o.headers.oversign.clear();
        let (signed, dns) = super::signed(MSG, o, &k);
        let mut m = b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n".to_vec();
        m.extend_from_slice(&signed);
        assert_eq!(
            single(&run(&m, &dns, &VerifyPolicy::default(), Some(NOW))),
            (DkimResult::Pass, None)
        );
    }
}

#[test]
fn streaming_split_at_every_offset_gives_the_same_results() {
    let dns = a3_dns();
    let want = results(&run(
        A3_SIGNED,
        &dns,
        &VerifyPolicy::default(),
        Some(A3_TIME),
    ));
    for cut in 0..=A3_SIGNED.len() {
        let mut v = Verifier::new(VerifyPolicy::default(), Some(A3_TIME));
        v.update(&A3_SIGNED[..cut]).unwrap();
        v.update(&A3_SIGNED[cut..]).unwrap();
        answer_all(&mut v, &dns);
        assert_eq!(results(&v.finish().unwrap()), want, "cut at {cut}");
    }
}

#[test]
fn record_text_forms() {
    assert_eq!(
        KeyAnswer::from_record_text("NXDOMAIN\n"),
        KeyAnswer::NxDomain
    );
    assert_eq!(
        KeyAnswer::from_record_text("\u{feff}v=DKIM1; p=AB\n CD\n"),
        KeyAnswer::record("v=DKIM1; p=ABCD")
    );
    assert_eq!(
        KeyAnswer::from_record_text("s._domainkey IN TXT ( \"v=DKIM1; \" \"p=a\\\"b\\\\\" )"),
        KeyAnswer::Records(vec![vec![b"v=DKIM1; ".to_vec(), b"p=a\"b\\".to_vec()]])
    );
    // RFC 1035 5.1 \DDD: a byte by its decimal value
    assert_eq!(
        KeyAnswer::from_record_text("\"k=\\101d25519\\059 p=\\0\""),
        KeyAnswer::Records(vec![vec![b"k=ed25519; p=0".to_vec()]])
    );
    // unterminated: the rest counts
    assert_eq!(
        KeyAnswer::from_record_text("\"v=DKIM1; p=AB"),
        KeyAnswer::record("v=DKIM1; p=AB")
    );
}

/// SHA-256 through the [`waxseal_core::ExternalSha256`] hook (as the
/// WebAssembly component does with its host), counting the bytes hashed.
mod external {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sha2::Digest as _;
    use waxseal_core::ExternalSha256;

    pub(crate) static BYTES: AtomicUsize = AtomicUsize::new(0);

    pub(crate) struct Counted(pub(crate) sha2::Sha256);

    impl ExternalSha256 for Counted {
        fn update(&mut self, data: &[u8]) {
            BYTES.fetch_add(data.len(), Ordering::Relaxed);
            self.0.update(data);
        }
        fn fork(&self) -> Box<dyn ExternalSha256> {
            Box::new(Counted(self.0.clone()))
        }
        fn finish(self: Box<Self>) -> [u8; 32] {
            self.0.finalize().into()
        }
    }

    pub(crate) fn make() -> Box<dyn ExternalSha256> {
        Box::new(Counted(sha2::Sha256::new()))
    }
}

#[test]
fn external_sha256_gives_the_same_signatures_and_results() {
    use std::sync::atomic::Ordering;
    use waxseal_core::HashAlgorithm;
    use waxseal_core::hash::Hasher;

    for k in ["ed25519.pem", "rsa2048.pem"] {
        let key = key(k);
        let mut o = SignOptions::new(
            Domain::new("example.com").unwrap(),
            Selector::new("s").unwrap(),
        );
        o.timestamp = Some(NOW);
        let want = waxseal_core::sign(MSG, &[(&o, &key)]).unwrap();
        let before = external::BYTES.load(Ordering::Relaxed);
        let mut s = Signer::new();
        s.set_sha256(external::make);
        s.add(o.clone(), &key).unwrap();
        s.update(MSG).unwrap();
        let got = s.finish().unwrap();
        assert_eq!(got[0].field, want[0].field, "{k}");
        // the body and the header data went through the hook
        let hashed = external::BYTES.load(Ordering::Relaxed) - before;
        assert!(hashed > MSG.len(), "{k}: {hashed} bytes");

        let (msg, dns) = signed(MSG, o, &key);
        let mut v = Verifier::new(VerifyPolicy::default(), Some(NOW));
        v.set_sha256(external::make);
        let before = external::BYTES.load(Ordering::Relaxed);
        v.update(&msg).unwrap();
        answer_all(&mut v, &dns);
        let r = v.finish().unwrap();
        assert_eq!(results(&r), [(DkimResult::Pass, None)], "{k}");
        assert!(external::BYTES.load(Ordering::Relaxed) - before > MSG.len());
    }

    // a cloned running hash forks the external state
    let mut a = Hasher::with_sha256(HashAlgorithm::Sha256, Some(external::make));
    a.update(b"ab");
    let mut b = a.clone();
    a.update(b"c");
    b.update(b"d");
    assert_eq!(a.finish(), HashAlgorithm::Sha256.digest(b"abc"));
    assert_eq!(b.finish(), HashAlgorithm::Sha256.digest(b"abd"));
}

/// Regression (hardening issue, item 5: CR-only line endings): an old Mac
/// file was signed as one giant header field with an empty body; it is
/// refused with a clear error by the signer and the verifier, in one chunk
/// or many, small or over the header limit.
#[test]
fn cr_only_line_ends_are_refused() {
    let k = key("ed25519.pem");
    let mac = String::from_utf8_lossy(MSG)
        .replace("\r\n", "\r")
        .into_bytes();
    let mut s = Signer::new();
    s.add(opts("s"), &k).unwrap();
    s.update(&mac).unwrap();
    assert_eq!(s.finish().map(drop), Err(waxseal_core::Error::CrLineEnds));
    let e = waxseal_core::Error::CrLineEnds;
    assert_eq!(e.code(), "ERR_MALFORMED_MESSAGE");
    assert!(e.to_string().contains("CR only"));
    let mut v = Verifier::new(VerifyPolicy::default(), Some(NOW));
    v.update(&mac).unwrap();
    assert_eq!(v.finish().map(drop), Err(waxseal_core::Error::CrLineEnds));
    // a big one: refused, not "header too large"
    let mut big = mac.clone();
    while big.len() < 2 << 20 {
        big.extend_from_slice(b"a line of an old Mac file\r");
    }
    let mut s = Signer::new();
    s.add(opts("s"), &k).unwrap();
    let r = big.chunks(4096).try_for_each(|c| s.update(c));
    assert_eq!(r, Err(waxseal_core::Error::CrLineEnds));
    let mut v = Verifier::new(VerifyPolicy::default(), Some(NOW));
    let r = big.chunks(4096).try_for_each(|c| v.update(c));
    assert_eq!(r, Err(waxseal_core::Error::CrLineEnds));
    // a bare CR inside a line of an ordinary message is still data
    let mut odd = MSG.to_vec();
    odd.extend_from_slice(b"a\rb\r\n");
    let (signed, dns) = signed(&odd, opts("s"), &k);
    let r = run(&signed, &dns, &VerifyPolicy::default(), Some(NOW));
    assert_eq!(single(&r), (DkimResult::Pass, None));
}

/// Regression (hardening issue, item 7): encrypted and EC keys got the
/// generic "cannot decode the private key"; now they say what they are and
/// what to do.
#[test]
fn unusable_keys_say_why() {
    use waxseal_core::Error;
    let read = |n: &str| {
        std::fs::read(format!(
            "{}/tests/vectors/keys/{n}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    assert_eq!(
        PrivateKey::parse(&read("ed25519-encrypted.pem")).err(),
        Some(Error::EncryptedPrivateKey)
    );
    assert_eq!(
        PrivateKey::parse(&read("ec-p256.pem")).err(),
        Some(Error::UnsupportedPrivateKeyType)
    );
    assert_eq!(
        PrivateKey::parse(&read("ec-p256-sec1.pem")).err(),
        Some(Error::UnsupportedPrivateKeyType)
    );
    assert!(
        Error::EncryptedPrivateKey
            .to_string()
            .contains("openssl pkey")
    );
    assert!(
        Error::UnsupportedPrivateKeyType
            .to_string()
            .contains("RSA or Ed25519")
    );
    assert_eq!(Error::EncryptedPrivateKey.code(), "ERR_INVALID_KEY");
    // garbage is still just not a key
    assert_eq!(
        PrivateKey::parse(b"not a key").err(),
        Some(Error::InvalidPrivateKey)
    );
    assert!(PrivateKey::parse(&read("ed25519.pem")).is_ok());
}

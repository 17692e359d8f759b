//! Every result and reason of RFC 6376 6 and RFC 8301: key answers,
//! identities, expiry and clock skew, key sizes and rsa-sha1, `l=`, the
//! From rules, the signature limit, malformed signatures, unusable keys.

use super::*;

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
    let msg = include_bytes!("../vectors/maildkim/corpus/good_rfc4871_3.eml");
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

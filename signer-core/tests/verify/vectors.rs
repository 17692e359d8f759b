//! The published vectors: RFC 8463 A.3 (RSA and Ed25519, with one key
//! missing, tampered) and RFC 6376 A.2; an unsigned message.

use super::*;

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
        include_bytes!("../vectors/rfc8463/a3-body-changed.eml"),
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
        include_bytes!("../vectors/rfc8463/a3-subject-changed.eml"),
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
        include_bytes!("../vectors/rfc8463/a3-from-prepended.eml"),
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
    let lf = run(
        include_bytes!("../vectors/rfc8463/a3-lf.eml"),
        &dns,
        &p,
        None,
    );
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
        include_bytes!("../vectors/rfc6376/a2-signed.eml"),
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
        include_bytes!("../vectors/rfc6376/a2-body-changed.eml"),
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

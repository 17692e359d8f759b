//! The sans-I/O protocol, diagnostics, the Authentication-Results field,
//! streaming at every split, record forms, and SHA-256 from the host hook.

use super::*;

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

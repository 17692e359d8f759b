//! Round trips and changes after signing: every option combination passes
//! (proptest), a changed byte fails; an added unsigned field passes, an
//! added From or MIME field (oversigned) fails.

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
    let mut m = b"Received: from relay.example.net by mx.example.org\r\nX-Spam: no\r\n".to_vec();
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

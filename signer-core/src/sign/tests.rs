//! The signer's unit tests.

use super::selection::*;
use super::*;
use crate::canonicalize::Canonicalization;
use crate::domain::{Domain, Identity, Selector};
use crate::keys::PrivateKey;
use crate::message::Message;
#[allow(unused_imports)]
use crate::test_prelude::*;

fn ed_key() -> PrivateKey {
    PrivateKey::from_ed25519_seed_base64("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap()
}

fn opts() -> SignOptions {
    SignOptions::new(
        Domain::new("example.com").unwrap(),
        Selector::new("s").unwrap(),
    )
}

/// The h= list by the rule, name by name, with no filter or plan.
fn h_list_reference(sel: &HeaderSelection, fields: &[HeaderField<'_>]) -> Vec<String> {
    let listed: Vec<String> = sel
        .sign
        .iter()
        .chain(&sel.oversign)
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let mut names = Vec::new();
    if !listed.iter().any(|n| n == "from") {
        names.push("from".to_string());
    }
    let mut h = Vec::new();
    for n in names.into_iter().chain(listed) {
        if h.contains(&n) {
            continue;
        }
        let count = fields.iter().filter(|f| f.is(&n)).count()
            + usize::from(sel.oversign.iter().any(|o| o.eq_ignore_ascii_case(&n)));
        h.extend(core::iter::repeat_n(n, count));
    }
    h
}

#[test]
fn h_lists_follow_the_rule_for_short_and_long_selections() {
    // Up to 64 names the plan dedupes with the filter bits, above with
    // a set: both give the rule's list, for names that repeat in other
    // cases, share filter bits, are absent or oversigned.
    let m = Message::parse(
        b"From: a\r\nTo: b\r\nX-1: 1\r\nx-2: 2\r\nX-1: 3\r\nSubject: s\r\nX-30: 4\r\n\r\n",
    )
    .unwrap();
    for n in [1usize, 5, 20, 40, 63, 64, 65, 80, 150] {
        let mut sel = HeaderSelection::only((0..n).map(|i| {
            let name = format!("x-{}", i % 37);
            if i % 3 == 0 {
                name.to_uppercase()
            } else {
                name
            }
        }));
        sel.oversign = (0..n / 4)
            .map(|i| HeaderName::from(format!("X-{}", i * 3)))
            .chain([HeaderName::from("Subject")])
            .collect();
        let got = sel.h_list(&m.fields).unwrap();
        assert_eq!(got, h_list_reference(&sel, &m.fields), "{n} names");
        // the fields the plan selects on the way are select_headers' choice
        let (_, picked) = HeaderPlan::new(&sel).h_list(&m.fields).unwrap();
        let raws = |v: Vec<&HeaderField<'_>>| v.iter().map(|f| f.raw.to_vec()).collect::<Vec<_>>();
        assert_eq!(
            raws(picked),
            raws(select_headers(&m.fields, &got)),
            "{n} names"
        );
    }
    let sel = HeaderSelection::default();
    assert_eq!(
        sel.h_list(&m.fields).unwrap(),
        h_list_reference(&sel, &m.fields)
    );
}

#[test]
fn h_list_counts_and_oversigns() {
    let m = Message::parse(
        b"Received: x\r\nFrom: a\r\nTo: b\r\nTo: c\r\nX-Other: 1\r\nMessage-ID: <1@x>\r\n\r\n",
    )
    .unwrap();
    let h = HeaderSelection::default().h_list(&m.fields).unwrap();
    assert_eq!(
        h,
        [
            "from",
            "from",
            "reply-to",
            "subject",
            "date",
            "to",
            "to",
            "to",
            "cc",
            "message-id",
            "mime-version",
            "content-type",
            "content-transfer-encoding"
        ]
    );
    let h = HeaderSelection::only(["To", "X-Other"])
        .h_list(&m.fields)
        .unwrap();
    assert_eq!(h, ["from", "to", "to", "x-other"]);
    // repeats count once, where first listed; From keeps its place
    let mut sel = HeaderSelection::only(["To", "X-OTHER", "to", "From", "absent"]);
    sel.oversign = vec!["x-other".into(), "Absent".into(), "FROM".into()];
    let h = sel.h_list(&m.fields).unwrap();
    assert_eq!(
        h,
        ["to", "to", "x-other", "x-other", "from", "from", "absent"]
    );
    let none = Message::parse(b"To: b\r\n\r\n").unwrap();
    assert_eq!(
        HeaderSelection::default().h_list(&none.fields),
        Err(Error::MissingFrom)
    );
    assert_eq!(
        HeaderSelection::only(["bad name"]).h_list(&m.fields),
        Err(Error::InvalidHeaderName)
    );
    // a valid RFC 5322 field name, but `;` would end the h= tag
    assert_eq!(
        HeaderSelection::only(["from", "x;y"]).h_list(&m.fields),
        Err(Error::InvalidHeaderName)
    );
}

#[test]
fn rfc6376_5_4_2_bottom_up_selection() {
    let m = Message::parse(b"X: 1\r\nFrom: a\r\nX: 2\r\nX: 3\r\n\r\n").unwrap();
    let h: Vec<String> = ["x", "X", "from", "x", "x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let sel = select_headers(&m.fields, &h);
    let raws: Vec<&[u8]> = sel.iter().map(|f| f.raw).collect();
    assert_eq!(
        raws,
        [&b"X: 3\r\n"[..], b"X: 2\r\n", b"From: a\r\n", b"X: 1\r\n"]
    );
}

#[test]
fn small_and_indexed_selection_agree() {
    // Header blocks of 1..=70 fields over a few names (the long name
    // shares the filter's last length bit), selected by h= lists with
    // repeats, other cases and absent names; above 64 fields the
    // public function takes the indexed path.
    let names = [
        "X",
        "from",
        "Subject",
        "x-a-very-long-header-name-that-is-longer-than-sixty-three-bytes-total",
    ];
    let mut block = Vec::new();
    for n in 1..=70usize {
        block.extend_from_slice(names[(n * 7) % 4].as_bytes());
        block.extend_from_slice(format!(": {n}\r\n").as_bytes());
        let mut msg = block.clone();
        msg.extend_from_slice(b"\r\n");
        let m = Message::parse(&msg).unwrap();
        let h: Vec<String> = (0..n + 3)
            .map(|i| match (i * 5 + n) % 6 {
                0 => "x".into(),
                1 => "FROM".into(),
                2 => "subject".into(),
                3 => "absent".into(),
                4 => names[3].to_uppercase(),
                _ => "X".into(),
            })
            .collect();
        let want = select_headers_indexed(&m.fields, &h);
        if n <= SMALL_HEADER_BLOCK {
            assert_eq!(select_headers_small(&m.fields, &h), want, "n={n}");
        }
        assert_eq!(select_headers(&m.fields, &h), want, "n={n}");
    }
}

#[test]
fn chunked_signing_equals_one_shot() {
    let msg = b"From: a@example.com\r\nSubject: t\r\n\r\nHello  \r\nworld\r\n\r\n";
    let key = ed_key();
    let mut o = opts();
    o.timestamp = Some(1);
    let want = sign(msg, &[(&o, &key)]).unwrap();
    for split in 0..=msg.len() {
        let mut s = Signer::new();
        s.add(o.clone(), &key).unwrap();
        s.update(&msg[..split]).unwrap();
        s.update(&msg[split..]).unwrap();
        assert_eq!(s.finish().unwrap(), want, "split at {split}");
    }
}

#[test]
fn a_reset_signer_signs_like_a_fresh_one() {
    // One signer, reset between messages, gives what a new signer per
    // message gives: after a finished message, a half-fed one (header
    // block incomplete, then body started) and a failed one.
    let key = ed_key();
    let rsa = PrivateKey::parse(include_bytes!("../../tests/vectors/keys/rsa2048.pem")).unwrap();
    let mut o = opts();
    o.timestamp = Some(1);
    let mut o2 = opts();
    o2.headers = HeaderSelection::only(["Subject", "X-A"]);
    o2.canonicalization = Canonicalization::SIMPLE_SIMPLE;
    let msgs: [&[u8]; 3] = [
        b"From: a@example.com\r\nSubject: one\r\n\r\nHello  \r\nworld\r\n",
        b"X-A: 1\r\nFrom: b@example.com\r\nX-A: 2\r\n\r\n",
        b"FROM: c@example.com\r\nsubject: three\r\n",
    ];
    let mut reused = Signer::new();
    reused.add(o.clone(), &key).unwrap();
    reused.add(o2.clone(), &rsa).unwrap();
    let leftovers: [&[u8]; 3] = [b"From: x\r\nSubj", b"From: x\r\n\r\nbody", b"To: y\r\n\r\n"];
    for (msg, left) in msgs.iter().zip(leftovers) {
        let want = sign(msg, &[(&o, &key), (&o2, &rsa)]).unwrap();
        reused.reset();
        // the last one fails (no From) at update or finish
        if reused.update(left).is_ok() {
            let _ = reused.finish();
        }
        reused.reset();
        reused.update(msg).unwrap();
        assert_eq!(reused.finish().unwrap(), want);
    }
    // a signature added between messages gets its own body hash
    let mut o3 = opts();
    o3.canonicalization = Canonicalization::RELAXED_SIMPLE;
    reused.reset();
    reused.add(o3.clone(), &key).unwrap();
    reused.update(msgs[0]).unwrap();
    let want = sign(msgs[0], &[(&o, &key), (&o2, &rsa), (&o3, &key)]).unwrap();
    assert_eq!(reused.finish().unwrap(), want);
}

#[test]
fn options_are_checked() {
    let key = ed_key();
    let mut o = opts();
    o.identity = Some(Identity::new("x@evilexample.com").unwrap());
    assert_eq!(Signer::new().add(o, &key), Err(Error::IdentityNotInDomain));
    let mut o = opts();
    o.timestamp = Some(10);
    o.expiration = Some(5);
    assert_eq!(
        Signer::new().add(o, &key),
        Err(Error::ExpirationBeforeTimestamp)
    );
    assert_eq!(Signer::new().update(b"x"), Err(Error::NothingToSign));
    assert_eq!(Signer::new().finish(), Err(Error::NothingToSign));
}

#[test]
fn errors_on_bad_messages() {
    let key = ed_key();
    let o = opts();
    assert_eq!(
        sign(b"To: x\r\n\r\nbody", &[(&o, &key)]),
        Err(Error::MissingFrom)
    );
    assert!(matches!(
        sign(b"garbage without colon\r\n\r\n", &[(&o, &key)]),
        Err(Error::MalformedHeaderField { .. })
    ));
    assert_eq!(sign(b"", &[(&o, &key)]), Err(Error::EmptyMessage));
    let mut s = Signer::new().max_header_bytes(16);
    s.add(o, &key).unwrap();
    assert_eq!(
        s.update(b"From: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        Err(Error::HeaderTooLarge { limit: 16 })
    );
}

#[test]
fn pending_signatures_complete_to_the_same_headers() {
    let key = ed_key();
    let mut o = opts();
    o.timestamp = Some(5);
    let msg = b"From: a@example.com\r\n\r\nbody\r\n";
    let want = sign(msg, &[(&o, &key)]).unwrap();
    let mut s = Signer::new();
    s.add_external(o, SigningAlgorithm::Ed25519Sha256).unwrap();
    s.update(msg).unwrap();
    assert_eq!(s.finish(), Err(Error::NothingToSign));
    let pending = s.finish_pending().unwrap();
    assert_eq!(pending[0].data_to_sign(), pending[0].digest().as_bytes());
    let b = key.sign_digest(pending[0].data_to_sign()).unwrap();
    let got = pending.into_iter().next().unwrap().complete(b);
    assert_eq!(got, want[0]);
    assert_eq!(
        Signer::new().add_external(opts(), SigningAlgorithm::RsaSha1),
        Err(Error::UnsupportedAlgorithm)
    );
}

#[test]
fn z_copies_are_quoted_printable() {
    let m = Message::parse(b"Subject:  a|b; c=d\r\n \xc3\xa9 \r\n\r\n").unwrap();
    assert_eq!(z_copy(&m.fields[0]), "Subject:a=7Cb=3B=20c=3Dd=20=C3=A9");
}

#[test]
fn prepend_keeps_line_endings() {
    let key = ed_key();
    let o = opts();
    let lf = b"From: a\n\nbody\n";
    let sigs = sign(lf, &[(&o, &key)]).unwrap();
    let out = prepend_signatures(lf, &sigs);
    assert!(!out.windows(2).any(|w| w == b"\r\n"));
    let crlf = b"From: a\r\n\r\nbody\r\n";
    let out = prepend_signatures(crlf, &sign(crlf, &[(&o, &key)]).unwrap());
    assert!(out.starts_with(b"DKIM-Signature: v=1;"));
    // same signature for both line ending styles
    assert_eq!(sigs, sign(crlf, &[(&o, &key)]).unwrap());
}

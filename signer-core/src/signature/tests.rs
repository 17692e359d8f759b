//! Signature parsing and writing tests.

use super::write::{Folder, decimal};
use super::*;
use crate::base64;
use crate::error::Error;
#[allow(unused_imports)]
use crate::test_prelude::*;

const A3_ED: &[u8] = b" v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n subject : date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n";

#[test]
fn base64_value_folds_like_the_encoded_text() {
    // on the stack and, above 512 bytes (RSA keys over 4096 bits), not
    for len in [0usize, 1, 2, 3, 32, 64, 256, 511, 512, 513, 1024] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        for start in [0usize, 5, 60, 75] {
            let mut a = Folder::new();
            a.out.push_str(&"y".repeat(start));
            a.col += start;
            let mut b = Folder::resume(a.out.clone());
            a.splittable_value(&base64::encode(&data), b"");
            b.base64_value(&data);
            assert_eq!(a.out, b.out, "{len} bytes from column {start}");
            assert_eq!(a.col, b.col);
        }
    }
}

#[test]
fn list_value_folds_like_the_joined_text() {
    // lists of names of many lengths, from many starting columns
    let names: Vec<HeaderName> = (1..40)
        .map(|i| HeaderName::Owned("x".repeat((i * 7) % 23 + 1)))
        .collect();
    for start in 0..80 {
        for n in 0..names.len() {
            let items = &names[..n];
            let mut a = Folder::new();
            a.out.push_str(&"y".repeat(start));
            a.col += start;
            let mut b = Folder::resume(a.out.clone());
            a.splittable_value(&items.join(":"), b":");
            b.list_value(items, ':');
            assert_eq!(a.out, b.out, "start {start}, {n} names");
            assert_eq!(a.col, b.col);
        }
    }
    let mut d = [0u8; 20];
    assert_eq!(decimal(0, &mut d), "0");
    assert_eq!(decimal(1_700_000_000, &mut d), "1700000000");
    assert_eq!(decimal(u64::MAX, &mut d), "18446744073709551615");
}

#[test]
fn parses_rfc8463_a3_signature() {
    let (s, region) = DkimSignature::parse_with_b_region(A3_ED).unwrap();
    assert_eq!(s.algorithm, SigningAlgorithm::Ed25519Sha256);
    assert_eq!(s.canonicalization, Canonicalization::RELAXED_RELAXED);
    assert_eq!(s.domain.as_str(), "football.example.com");
    assert_eq!(s.selector.as_str(), "brisbane");
    assert_eq!(s.timestamp, Some(1528637909));
    assert_eq!(
        s.signed_headers,
        [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "from",
            "subject",
            "date"
        ]
    );
    assert_eq!(s.signature.len(), 64);
    assert_eq!(s.body_hash.len(), 32);
    assert!(s.uses_dns_txt());
    assert_eq!(s.auid().to_string(), "@football.example.com");
    // the b= region runs from after '=' to the end, CRLF included
    assert!(A3_ED[..region.start].ends_with(b"b="));
    assert_eq!(region.end, A3_ED.len());
}

fn base() -> Vec<u8> {
    b"v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA".to_vec()
}

#[test]
fn required_tags_and_values() {
    assert!(DkimSignature::parse(&base()).is_ok());
    for (tag, err) in [
        ("v", Error::MissingTag("v")),
        ("a", Error::MissingTag("a")),
        ("d", Error::MissingTag("d")),
        ("s", Error::MissingTag("s")),
        ("h", Error::MissingTag("h")),
        ("bh", Error::MissingTag("bh")),
    ] {
        let text = String::from_utf8(base()).unwrap();
        let cut: Vec<&str> = text
            .split("; ")
            .filter(|t| !t.starts_with(&format!("{tag}=")))
            .collect();
        assert_eq!(
            DkimSignature::parse(cut.join("; ").as_bytes()),
            Err(err),
            "{tag}"
        );
    }
    let with = |extra: &str| {
        let mut v = base();
        v.extend_from_slice(extra.as_bytes());
        DkimSignature::parse(&v)
    };
    assert_eq!(
        with("; i=joe@evilexample.com"),
        Err(Error::IdentityNotInDomain)
    );
    assert!(with("; i=joe@sub.Example.com").is_ok());
    assert_eq!(with("; t=10; x=10"), Err(Error::ExpirationBeforeTimestamp));
    assert_eq!(with("; l=-1"), Err(Error::InvalidTagValue("l")));
    assert_eq!(
        with("; l=99999999999999999999999"),
        Err(Error::InvalidTagValue("l"))
    );
    assert_eq!(with("; c=fancy"), Err(Error::UnsupportedCanonicalization));
    assert_eq!(with("; h=from"), Err(Error::DuplicateTag { offset: 68 }));
    let v2 = String::from_utf8(base()).unwrap().replace("v=1", "v=2");
    assert_eq!(
        DkimSignature::parse(v2.as_bytes()),
        Err(Error::UnsupportedVersion)
    );
    let rsa1 = String::from_utf8(base())
        .unwrap()
        .replace("rsa-sha256", "rsa-md5");
    assert_eq!(
        DkimSignature::parse(rsa1.as_bytes()),
        Err(Error::UnsupportedAlgorithm)
    );
    let unknown = with("; foo=bar baz").unwrap();
    assert_eq!(
        unknown.unknown_tags,
        [("foo".to_string(), "bar baz".to_string())]
    );
}

#[test]
fn rfc6376_2_11_i_tag_is_quoted_printable() {
    let mut v = base();
    v.extend_from_slice(b"; i=jlong@example=2Ecom");
    let s = DkimSignature::parse(&v).unwrap();
    assert_eq!(s.identity.unwrap().to_string(), "jlong@example.com");
    let mut v = base();
    v.extend_from_slice(b"; i=a=3Db@example.com");
    let s = DkimSignature::parse(&v).unwrap();
    assert_eq!(s.identity.as_ref().unwrap().local_part(), Some("a=b"));
    // written back encoded, so it parses to the same identity
    let h = s.to_header();
    assert!(h.contains("i=a=3Db@example.com;"));
    assert_eq!(DkimSignature::parse(&h.as_bytes()[15..]).unwrap(), s);
    let mut v = base();
    v.extend_from_slice(b"; i=a=zz@example.com");
    assert_eq!(DkimSignature::parse(&v), Err(Error::InvalidIdentity));
    assert_eq!(qp_decode(b"a=4"), None);
}

#[test]
fn salvage_from_broken_signature() {
    let l = SignatureLabels::salvage(b"v=1; a=rsa-sha256; d=example.com; s=sel; b=ab cd");
    assert_eq!(l.domain.as_deref(), Some("example.com"));
    assert_eq!(l.selector.as_deref(), Some("sel"));
    assert_eq!(l.signature.as_deref(), Some("abcd"));
    // b=: its first 8 characters (RFC 6008), whole ones
    let l = SignatureLabels::salvage(b"v=1; b=ab\r\n cd ef\tgh ij");
    assert_eq!(l.signature.as_deref(), Some("abcdefgh"));
    let l = SignatureLabels::salvage(
        "v=1; b=\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}".as_bytes(),
    );
    assert_eq!(
        l.signature.as_deref(),
        Some("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}")
    );
    assert_eq!(SignatureLabels::salvage(b"v=1; b=ab\x01cd").signature, None);
}

fn sample() -> DkimSignature {
    DkimSignature {
        algorithm: SigningAlgorithm::RsaSha256,
        signature: vec![0xAB; 256],
        body_hash: vec![7; 32],
        canonicalization: Canonicalization::RELAXED_RELAXED,
        domain: Domain::new("mail.example.com").unwrap(),
        signed_headers: [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "mime-version",
            "content-type",
            "content-transfer-encoding",
            "from",
            "to",
            "subject",
            "date",
            "cc",
            "reply-to",
        ]
        .iter()
        .map(|s| HeaderName::Owned(s.to_string()))
        .collect(),
        identity: Some(Identity::new("someone@mail.example.com").unwrap()),
        body_length: Some(12345),
        query_methods: None,
        selector: Selector::new("sel2024").unwrap(),
        timestamp: Some(1_700_000_000),
        expiration: Some(1_700_086_400),
        copied_headers: None,
        unknown_tags: vec![],
    }
}

#[test]
fn header_folds_at_78_and_round_trips() {
    let s = sample();
    let h = s.to_header();
    assert!(h.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"));
    assert!(h.ends_with("\r\n"));
    for line in h.trim_end_matches("\r\n").split("\r\n") {
        assert!(line.len() <= FOLD_WIDTH, "{} > 78: {line:?}", line.len());
    }
    // continuation lines start with a TAB; the b= value starts on the b= line
    assert!(
        h.split("\r\n")
            .skip(1)
            .all(|l| l.is_empty() || l.starts_with('\t'))
    );
    assert!(!h.contains("b=\r\n"));
    let value = &h.as_bytes()[HEADER_NAME.len() + 1..];
    assert_eq!(DkimSignature::parse(value).unwrap(), s);
    // the unsigned form is the signed one with the b= value deleted
    let (_, region) = DkimSignature::parse_with_b_region(value).unwrap();
    let mut stripped = h.as_bytes()[..HEADER_NAME.len() + 1 + region.start].to_vec();
    stripped.extend_from_slice(&value[region.end..]);
    assert_eq!(stripped, s.unsigned_header().as_bytes());
}

#[test]
fn very_long_names_still_fold_safely() {
    let mut s = sample();
    s.signed_headers = vec![("x-".to_string() + &"a".repeat(100)).into(); 3];
    let h = s.to_header();
    let value = &h.as_bytes()[HEADER_NAME.len() + 1..];
    assert_eq!(DkimSignature::parse(value).unwrap(), s);
}

#[test]
fn salvage_leaves_out_what_cannot_be_reported() {
    // longer than any DNS name, or a C1 control once decoded (U+0085, a
    // line break to some log viewers): left out, as if absent
    let long = ["v=1; a=rsa-sha256; s=sel; d=", &"a".repeat(256)].concat();
    let l = SignatureLabels::salvage(long.as_bytes());
    assert_eq!(l.domain, None);
    assert_eq!(l.selector.as_deref(), Some("sel"));
    let l = SignatureLabels::salvage(b"v=1; d=\xC2\x85x.com; s=sel; a=rsa-sha256; i=x=0A@x.com");
    assert_eq!((l.domain, l.identity), (None, None));
    assert_eq!(l.selector.as_deref(), Some("sel"));
    assert_eq!(l.algorithm.as_deref(), Some("rsa-sha256"));
    // the longest valid values stay
    let name = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61),
    ]
    .join(".");
    assert_eq!(name.len(), 253);
    let sig = ["v=1; d=", &name, "; b=", &"A".repeat(1366)].concat();
    let l = SignatureLabels::salvage(sig.as_bytes());
    assert_eq!(l.domain.as_deref(), Some(name.as_str()));
    assert_eq!(l.signature.as_deref(), Some("AAAAAAAA"));
}

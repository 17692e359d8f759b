//! Published test vectors, byte for byte: RFC 8463 Appendix A.3 (re-signing
//! the unsigned message with the A.1 keys and the A.3 tags gives the
//! published `bh=` and `b=` of both signatures) and RFC 6376 Appendix A.2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use waxseal_core::sign::{header_hash, select_headers};
use waxseal_core::signature::HEADER_NAME;
use waxseal_core::{
    BodyHasher, DkimSignature, KeyRecord, Message, PrivateKey, SignDigest, SignOptions, Signer,
    base64,
};

const A3_SIGNED: &[u8] = include_bytes!("vectors/rfc8463/a3-signed.eml");
const A3_UNSIGNED: &[u8] = include_bytes!("vectors/rfc8463/a3-unsigned.eml");
const A1_RSA: &[u8] = include_bytes!("vectors/rfc8463/test.rsa.private.pem");
const A1_ED25519: &str = include_str!("vectors/rfc8463/brisbane.ed25519.seed.b64");
const A2_RSA_RECORD: &[u8] =
    include_bytes!("vectors/rfc8463/keys/test._domainkey.football.example.com.txt");
const A2_ED_RECORD: &[u8] =
    include_bytes!("vectors/rfc8463/keys/brisbane._domainkey.football.example.com.txt");
const RFC6376_A2: &[u8] = include_bytes!("vectors/rfc6376/a2-signed.eml");
const RFC6376_C_KEY: &[u8] =
    include_bytes!("vectors/rfc6376/keys/brisbane._domainkey.example.com.txt");

/// A zone-file style record file ("..." "...") as one TXT value.
fn record_value(file: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(file).unwrap();
    if text.contains('"') {
        text.split('"')
            .skip(1)
            .step_by(2)
            .collect::<String>()
            .into_bytes()
    } else {
        text.trim().as_bytes().to_vec()
    }
}

/// The signature fields of a message with their parsed tags and the field
/// with the b= value deleted (RFC 6376 3.7).
fn signatures(msg: &Message<'_>) -> Vec<(DkimSignature, Vec<u8>)> {
    msg.fields
        .iter()
        .filter(|f| f.is(HEADER_NAME))
        .map(|f| {
            let (sig, region) = DkimSignature::parse_with_b_region(f.value).unwrap();
            let off = f.raw.len() - f.value.len();
            let mut unsigned = f.raw[..off + region.start].to_vec();
            unsigned.extend_from_slice(&f.raw[off + region.end..]);
            (sig, unsigned)
        })
        .collect()
}

fn body_hash(sig: &DkimSignature, body: &[u8]) -> Vec<u8> {
    let mut h = BodyHasher::new(
        sig.canonicalization.body,
        sig.algorithm.hash(),
        sig.body_length,
    );
    h.update(body);
    h.finish().digest.as_bytes().to_vec()
}

#[test]
fn rfc8463_a3_resigning_reproduces_published_signatures() {
    let signed = Message::parse(A3_SIGNED).unwrap();
    let unsigned = Message::parse(A3_UNSIGNED).unwrap();
    let sigs = signatures(&signed);
    assert_eq!(sigs.len(), 2);
    for (sig, unsigned_field) in sigs {
        let key = match sig.selector.as_str() {
            "brisbane" => PrivateKey::from_ed25519_seed_base64(A1_ED25519).unwrap(),
            "test" => PrivateKey::parse(A1_RSA).unwrap(),
            other => panic!("unexpected selector {other}"),
        };
        assert_eq!(key.algorithm(), sig.algorithm);
        assert_eq!(
            body_hash(&sig, unsigned.body),
            sig.body_hash,
            "bh= of {}",
            sig.algorithm
        );
        let selected = select_headers(&unsigned.fields, &sig.signed_headers);
        let digest = header_hash(
            sig.algorithm.hash(),
            sig.canonicalization.header,
            &selected,
            &unsigned_field,
        );
        let b = key.sign_digest(digest.as_bytes()).unwrap();
        assert_eq!(
            base64::encode(&b),
            base64::encode(&sig.signature),
            "b= of {}",
            sig.algorithm
        );
    }
}

#[test]
fn rfc8463_a1_ed25519_key_as_pkcs8_pem_is_the_same_key() {
    // brisbane.ed25519.pem is the A.1 seed in PKCS#8, for tools and faces
    // that take PEM only
    let pem = PrivateKey::parse(include_bytes!("vectors/rfc8463/brisbane.ed25519.pem")).unwrap();
    assert_eq!(
        pem.public_key(),
        PrivateKey::from_ed25519_seed_base64(A1_ED25519)
            .unwrap()
            .public_key()
    );
}

#[test]
fn rfc8463_a2_records_match_a1_keys() {
    let ed = KeyRecord::parse(&record_value(A2_ED_RECORD)).unwrap();
    let rsa = KeyRecord::parse(&record_value(A2_RSA_RECORD)).unwrap();
    assert_eq!(
        ed.decode_public_key().unwrap(),
        PrivateKey::from_ed25519_seed_base64(A1_ED25519)
            .unwrap()
            .public_key()
    );
    assert_eq!(
        rsa.decode_public_key().unwrap(),
        PrivateKey::parse(A1_RSA).unwrap().public_key()
    );
}

#[test]
fn rfc8463_a3_high_level_signer_dual_signs_in_one_pass() {
    // The Signer with the A.3 settings: its own tag order and h= list give
    // other b= values, but the same body hash, and both signatures verify.
    let ed = PrivateKey::from_ed25519_seed_base64(A1_ED25519).unwrap();
    let rsa = PrivateKey::parse(A1_RSA).unwrap();
    let mut signer = Signer::new();
    for (sel, key) in [("brisbane", &ed), ("test", &rsa)] {
        let mut o = SignOptions::new(
            "football.example.com".parse().unwrap(),
            sel.parse().unwrap(),
        );
        o.identity = Some("@football.example.com".parse().unwrap());
        o.timestamp = Some(1528637909);
        signer.add(o, key).unwrap();
    }
    signer.update(A3_UNSIGNED).unwrap();
    let out = signer.finish().unwrap();
    let published = signatures(&Message::parse(A3_SIGNED).unwrap());
    let mut message = Vec::new();
    for s in &out {
        assert_eq!(s.signature.body_hash, published[0].0.body_hash);
        message.extend_from_slice(s.field.as_bytes());
    }
    message.extend_from_slice(A3_UNSIGNED);
    let msg = Message::parse(&message).unwrap();
    for ((sig, unsigned_field), key) in signatures(&msg).into_iter().zip([&ed, &rsa]) {
        let selected = select_headers(&msg.fields, &sig.signed_headers);
        let digest = header_hash(
            sig.algorithm.hash(),
            sig.canonicalization.header,
            &selected,
            &unsigned_field,
        );
        key.public_key()
            .verify_digest(sig.algorithm, digest.as_bytes(), &sig.signature)
            .unwrap();
    }
}

#[test]
fn rfc6376_a2_signature_verifies_with_appendix_c_key() {
    let msg = Message::parse(RFC6376_A2).unwrap();
    let sigs = signatures(&msg);
    assert_eq!(sigs.len(), 1);
    let (sig, unsigned_field) = &sigs[0];
    assert_eq!(sig.canonicalization.to_string(), "simple/simple");
    assert_eq!(sig.auid().to_string(), "joe@football.example.com");
    assert_eq!(&body_hash(sig, msg.body), &sig.body_hash);
    let key = KeyRecord::parse(&record_value(RFC6376_C_KEY))
        .unwrap()
        .decode_public_key()
        .unwrap();
    let selected = select_headers(&msg.fields, &sig.signed_headers);
    let digest = header_hash(
        sig.algorithm.hash(),
        sig.canonicalization.header,
        &selected,
        unsigned_field,
    );
    key.verify_digest(sig.algorithm, digest.as_bytes(), &sig.signature)
        .unwrap();
    // and the same body hash from the unsigned Appendix A.1 message
    let a1 = Message::parse(include_bytes!("vectors/rfc6376/a1-unsigned.eml")).unwrap();
    assert_eq!(body_hash(sig, a1.body), sig.body_hash);
}

//! What both WebAssembly faces share: option parsing, key handling, DNS
//! record and verification report shapes, randomness.

use waxseal_core::record::KeyRecord;
use waxseal_core::{
    Canonicalization, Domain, Error, Identity, KeyType, PrivateKey, PublicKey, Selector,
    SignOptions,
};

/// The host's randomness: WebCrypto's `getRandomValues` in JavaScript,
/// `wasi:random` in a component.
pub fn rng() -> getrandom::SysRng {
    getrandom::SysRng
}

/// Generates a key: `"rsa"` (with `bits`, default 2048) or `"ed25519"`.
pub fn generate_key(algorithm: &str, bits: Option<u32>) -> Result<PrivateKey, Error> {
    match algorithm {
        #[cfg(feature = "rsa-keygen")]
        "rsa" => PrivateKey::generate_rsa(
            &mut rng(),
            bits.map_or(waxseal_core::keys::RSA_DEFAULT_BITS, |b| b as usize),
        ),
        // not built in (see Cargo.toml): the JS API uses WebCrypto
        #[cfg(not(feature = "rsa-keygen"))]
        "rsa" => {
            let _ = bits;
            Err(Error::UnsupportedAlgorithm)
        }
        "ed25519" => PrivateKey::generate_ed25519(&mut rng()),
        _ => Err(Error::UnsupportedKeyType),
    }
}

/// Parses `c=`-style canonicalization names: `relaxed/relaxed`, `simple`,
/// ...
pub fn canonicalization(name: &str) -> Result<Canonicalization, Error> {
    Canonicalization::parse(name.as_bytes())
}

/// Options for one signature, as the faces receive them.
#[derive(Debug, Clone, Default)]
pub struct SignSpec {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `i=`.
    pub identity: Option<String>,
    /// Header names to sign (default: the core's default list).
    pub headers: Option<Vec<String>>,
    /// Header names to oversign (default: the core's default list).
    pub oversign: Option<Vec<String>>,
    /// `c=` (default relaxed/relaxed).
    pub canonicalization: Option<String>,
    /// `t=`.
    pub timestamp: Option<u64>,
    /// `x=`.
    pub expiration: Option<u64>,
    /// Write `l=`.
    pub body_length: bool,
    /// Write `z=`.
    pub copy_headers: bool,
}

impl SignSpec {
    /// The core's options.
    pub fn options(&self) -> Result<SignOptions, Error> {
        let mut o = SignOptions::new(Domain::new(&self.domain)?, Selector::new(&self.selector)?);
        o.identity = self.identity.as_deref().map(Identity::new).transpose()?;
        if let Some(h) = &self.headers {
            o.headers.sign = h.iter().cloned().map(Into::into).collect();
            // an explicit list means: exactly these, oversigned only if asked
            o.headers.oversign = Vec::new();
        }
        if let Some(over) = &self.oversign {
            o.headers.oversign = over.iter().cloned().map(Into::into).collect();
        }
        if let Some(c) = &self.canonicalization {
            o.canonicalization = canonicalization(c)?;
        }
        o.timestamp = self.timestamp;
        o.expiration = self.expiration;
        o.body_length = self.body_length;
        o.copy_headers = self.copy_headers;
        Ok(o)
    }
}

/// A public key from what a user may hold: a private key (any form
/// [`PrivateKey::parse`] takes), a `BEGIN PUBLIC KEY` PEM, or the base64
/// `p=` data with its key type.
pub fn public_key(key: &str, key_type: Option<&str>) -> Result<PublicKey, Error> {
    let t = key.trim();
    if t.contains("-----BEGIN PUBLIC KEY-----") {
        let b64: String = t.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = waxseal_core::base64::decode(b64.as_bytes())?;
        // RSA SPKI, or an Ed25519 SPKI (12-byte prefix + 32-byte key)
        if let Ok(k) = PublicKey::from_record_data(KeyType::Rsa, &der) {
            return Ok(k);
        }
        if der.len() == 44 {
            return PublicKey::from_record_data(KeyType::Ed25519, &der[12..]);
        }
        return Err(Error::InvalidPublicKey);
    }
    if t.contains("-----BEGIN") {
        return Ok(PrivateKey::parse(t.as_bytes())?.public_key());
    }
    let kt = match key_type {
        Some(k) => KeyType::parse(k.as_bytes())?,
        None => KeyType::Rsa,
    };
    // a raw 32-byte Ed25519 seed in base64 is a private key
    if key_type.is_none()
        && let Ok(k) = PrivateKey::parse(t.as_bytes())
    {
        return Ok(k.public_key());
    }
    PublicKey::from_record_data(kt, &waxseal_core::base64::decode(t.as_bytes())?)
}

/// A DNS key record in every shape a user needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// `<selector>._domainkey.<domain>`.
    pub name: String,
    /// The TXT value as one string (for provider web forms).
    pub value: String,
    /// The value in strings of at most 255 bytes.
    pub strings: Vec<String>,
    /// A zone-file line.
    pub zone_line: String,
    /// Publishing instructions.
    pub readme: String,
}

/// Builds the key record for `key`.
pub fn dns_record(
    key: &PublicKey,
    selector: &str,
    domain: &str,
    testing: bool,
    strict: bool,
    notes: Option<String>,
) -> Result<DnsRecord, Error> {
    let selector = Selector::new(selector)?;
    let domain = Domain::new(domain)?;
    let mut rec = KeyRecord::new(key).with_testing(testing);
    rec.strict_identity = strict;
    if let Some(n) = notes {
        if n.contains(';') || n.bytes().any(|b| b.is_ascii_control()) {
            return Err(Error::InvalidTagValue("n"));
        }
        rec.notes = Some(n);
    }
    Ok(DnsRecord {
        name: selector.record_name(&domain),
        value: rec.to_txt(),
        strings: rec.txt_strings(),
        zone_line: rec.zone_line(&selector, &domain),
        readme: rec.readme(&selector, &domain),
    })
}

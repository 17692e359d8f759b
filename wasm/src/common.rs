//! What both WebAssembly faces share: option parsing, key handling, DNS
//! record and verification report shapes, randomness.

pub use waxseal_core::SignSpec;
use waxseal_core::record::KeyRecord;
use waxseal_core::{Domain, Error, KeyType, PrivateKey, PublicKey, Selector};

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

/// A public key from what a user may hold (see
/// [`PublicKey::from_key_file`]); `key_type` is a `k=` value.
pub fn public_key(key: &[u8], key_type: Option<&str>) -> Result<PublicKey, Error> {
    let kt = key_type.map(|k| KeyType::parse(k.as_bytes())).transpose()?;
    PublicKey::from_key_file(key, kt)
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
    // written quoted-printable by the core: any text is fine
    rec.notes = notes;
    Ok(DnsRecord {
        name: selector.record_name(&domain),
        value: rec.to_txt(),
        strings: rec.txt_strings(),
        zone_line: rec.zone_line(&selector, &domain),
        readme: rec.readme(&selector, &domain),
    })
}

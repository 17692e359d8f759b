//! DKIM key records in DNS (RFC 6376 3.6.1): `v=DKIM1; k=; p=; t=; h=;
//! s=; n=`, parsed and built, and rendered for publishing: a zone-file line
//! with the value split into strings of at most 255 bytes (RFC 1035
//! 3.3.14, RFC 6376 3.6.2.2), one plain string for provider web forms, and
//! a `dns_readme.txt`-style explanation.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::base64;
use crate::domain::{Domain, Selector};
use crate::error::Error;
use crate::hash::HashAlgorithm;
use crate::keys::{KeyType, PublicKey};
use crate::tag_list::TagList;

/// Longest character-string in a TXT record (RFC 1035 3.3).
pub const TXT_STRING_MAX: usize = 255;

/// A DKIM key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `k=`: key type. Default (tag absent): RSA.
    pub key_type: KeyType,
    /// `p=`: the public key data, base64-decoded. Empty means the key was
    /// revoked (RFC 6376 3.6.1).
    pub public_key: Vec<u8>,
    /// `h=`: hash algorithms the key may be used with; `None` (tag absent)
    /// allows all. Unknown names are ignored when parsing, as the RFC asks.
    pub hash_algorithms: Option<Vec<HashAlgorithm>>,
    /// `s=`: service types; `None` (tag absent) means `*`. Unknown types
    /// are kept as written.
    pub service_types: Option<Vec<String>>,
    /// `t=y`: the domain is testing DKIM; verifiers must not treat
    /// signed mail differently from unsigned mail. Default: false.
    pub testing: bool,
    /// `t=s`: the i= domain must equal d= exactly, no subdomains.
    /// Default: false.
    pub strict_identity: bool,
    /// `n=`: notes for humans, as text: written quoted-printable (RFC 6376
    /// 3.6.1 `qp-section`) and read back decoded. Default: none.
    pub notes: Option<String>,
}

/// Writes `text` as an `n=` value (RFC 6376 3.6.1: a `qp-section`, RFC
/// 2045 6.7): printable ASCII as it is, except `=` and `;` (which would end
/// the tag); every other byte (non-ASCII, controls) and a space at either
/// end (which tag parsing strips) as `=XX`.
fn qp_encode(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let edge = i == 0 || i == b.len() - 1;
        if (c.is_ascii_graphic() && c != b'=' && c != b';') || (c == b' ' && !edge) {
            out.push(char::from(c));
        } else {
            out.push('=');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        }
    }
}

/// Decodes a quoted-printable `n=` value; an `=` not followed by two hex
/// digits is kept as it is.
fn qp_decode(value: &[u8]) -> Vec<u8> {
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'='
            && let (Some(h), Some(l)) = (
                value.get(i + 1).and_then(|&c| hex(c)),
                value.get(i + 2).and_then(|&c| hex(c)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    out
}

impl KeyRecord {
    /// A record publishing `key`, with no optional tags.
    pub fn new(key: &PublicKey) -> Self {
        KeyRecord {
            key_type: key.key_type(),
            public_key: key.to_record_data(),
            hash_algorithms: None,
            service_types: None,
            testing: false,
            strict_identity: false,
            notes: None,
        }
    }

    /// The same record with `t=y` set or cleared.
    pub fn with_testing(mut self, testing: bool) -> Self {
        self.testing = testing;
        self
    }

    /// Parses a TXT record value; several strings of one record must be
    /// concatenated by the caller first (RFC 6376 3.6.2.2).
    pub fn parse(txt: &[u8]) -> Result<Self, Error> {
        let tags = TagList::parse(txt)?;
        if let Some(v) = tags.get("v") {
            // "This tag MUST be the first tag in the record. Records
            // beginning with a 'v=' tag with any other value MUST be
            // discarded."
            let first = tags.iter().next().map(|t| t.name);
            if v.value != b"DKIM1" || first != Some("v") {
                return Err(Error::InvalidRecordVersion);
            }
        }
        let key_type = match tags.get("k") {
            Some(k) => KeyType::parse(k.value)?,
            None => KeyType::Rsa,
        };
        let p = tags.get("p").ok_or(Error::MissingTag("p"))?;
        let public_key = base64::decode(p.value)?;
        let hash_algorithms = tags.get("h").map(|h| {
            list_items(h.value)
                .filter_map(|a| match a {
                    b"sha256" => Some(HashAlgorithm::Sha256),
                    b"sha1" => Some(HashAlgorithm::Sha1),
                    _ => None,
                })
                .collect()
        });
        let service_types = tags.get("s").map(|s| {
            list_items(s.value)
                .map(|i| String::from_utf8_lossy(i).into_owned())
                .collect()
        });
        let mut testing = false;
        let mut strict_identity = false;
        if let Some(t) = tags.get("t") {
            for flag in list_items(t.value) {
                match flag {
                    b"y" => testing = true,
                    b"s" => strict_identity = true,
                    _ => {} // "Unrecognized flags MUST be ignored."
                }
            }
        }
        let notes = tags
            .get("n")
            .map(|n| String::from_utf8_lossy(&qp_decode(n.value)).into_owned());
        Ok(KeyRecord {
            key_type,
            public_key,
            hash_algorithms,
            service_types,
            testing,
            strict_identity,
            notes,
        })
    }

    /// True when `p=` is empty: the key was revoked.
    pub fn is_revoked(&self) -> bool {
        self.public_key.is_empty()
    }

    /// True when the record may be used for email (`s=` absent, `*` or
    /// `email`).
    pub fn allows_email(&self) -> bool {
        match &self.service_types {
            None => true,
            Some(list) => list.iter().any(|s| s == "*" || s == "email"),
        }
    }

    /// True when the record allows `hash` (`h=` absent or listing it).
    pub fn allows_hash(&self, hash: HashAlgorithm) -> bool {
        match &self.hash_algorithms {
            None => true,
            Some(list) => list.contains(&hash),
        }
    }

    /// Decodes the public key.
    pub fn decode_public_key(&self) -> Result<PublicKey, Error> {
        PublicKey::from_record_data(self.key_type, &self.public_key)
    }

    /// The TXT value: `v=DKIM1; k=...; [h=; s=; t=; n=;] p=...`.
    pub fn to_txt(&self) -> String {
        let mut s = String::from("v=DKIM1; k=");
        s.push_str(self.key_type.as_str());
        if let Some(h) = &self.hash_algorithms {
            s.push_str("; h=");
            join(&mut s, h.iter().map(|a| a.as_str()));
        }
        if let Some(st) = &self.service_types {
            s.push_str("; s=");
            join(&mut s, st.iter().map(String::as_str));
        }
        if self.testing || self.strict_identity {
            s.push_str("; t=");
            let flags = [(self.testing, "y"), (self.strict_identity, "s")];
            join(&mut s, flags.iter().filter(|f| f.0).map(|f| f.1));
        }
        if let Some(n) = &self.notes {
            s.push_str("; n=");
            qp_encode(n, &mut s);
        }
        s.push_str("; p=");
        s.push_str(&base64::encode(&self.public_key));
        s
    }

    /// The TXT value split into character-strings of at most 255 bytes.
    pub fn txt_strings(&self) -> Vec<String> {
        split_txt(&self.to_txt())
    }

    /// A zone-file line (BIND syntax) for `<selector>._domainkey.<domain>`.
    pub fn zone_line(&self, selector: &Selector, domain: &Domain) -> String {
        let mut s = selector.record_name(domain);
        s.push_str(". IN TXT ");
        let parts = self.txt_strings();
        if parts.len() == 1 {
            quote(&mut s, &parts[0]);
        } else {
            s.push('(');
            for (i, p) in parts.iter().enumerate() {
                s.push_str(if i == 0 { " " } else { "\n\t" });
                quote(&mut s, p);
            }
            s.push_str(" )");
        }
        s
    }

    /// Instructions for publishing the record, in the spirit of MDaemon's
    /// and opendkim-genkey's `dns_readme.txt`.
    pub fn readme(&self, selector: &Selector, domain: &Domain) -> String {
        let name = selector.record_name(domain);
        let mut s = String::new();
        let _ = write!(
            s,
            "DKIM public key for {domain}, selector \"{selector}\"\n\
             \n\
             Publish this TXT record in the DNS zone of {domain}:\n\
             \n\
             \x20 Name:  {name}\n\
             \x20 Type:  TXT\n\
             \x20 Value: {value}\n\
             \n\
             Web forms of DNS providers usually want the name relative to the\n\
             zone (\"{selector}._domainkey\") and the value as one string, as above;\n\
             the provider splits it into strings of at most 255 bytes itself.\n\
             \n\
             The same record as a zone-file line (BIND and compatible servers):\n\
             \n\
             {zone}\n\
             \n",
            value = self.to_txt(),
            zone = self.zone_line(selector, domain),
        );
        if self.testing {
            s.push_str(
                "The record is in test mode (t=y): receivers treat mail from this\n\
                 domain as if it were unsigned when a signature fails, so mistakes\n\
                 cost nothing while you set up. Keep t=y until the record has\n\
                 propagated (wait at least the TTL of the zone) and signed test\n\
                 messages verify at a few receivers; then publish the record again\n\
                 without t=y.\n",
            );
        } else {
            s.push_str(
                "The record is live (no t=y): failing signatures count against your\n\
                 mail at receivers. While setting up a new domain, prefer publishing\n\
                 it in test mode first (t=y) until it has propagated and verifies.\n",
            );
        }
        s.push_str(
            "\nKeep the private key secret; anyone holding it can sign mail as this\n\
             domain. To retire a key, publish the record with an empty p= (\"p=\")\n\
             so that receivers see it as revoked.\n",
        );
        s
    }
}

/// Splits a TXT value into character-strings of at most 255 bytes (never
/// inside a UTF-8 sequence).
pub fn split_txt(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while rest.len() > TXT_STRING_MAX {
        let mut cut = TXT_STRING_MAX;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(rest[..cut].to_string());
        rest = &rest[cut..];
    }
    out.push(rest.to_string());
    out
}

/// Items of a colon-separated list value (`h=`, `s=`, `t=`), with white
/// space around the items removed.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b':').map(|item| {
        let mut i = item;
        while let [first, rest @ ..] = i {
            if !crate::tag_list::is_fws(*first) {
                break;
            }
            i = rest;
        }
        while let [rest @ .., last] = i {
            if !crate::tag_list::is_fws(*last) {
                break;
            }
            i = rest;
        }
        i
    })
}

fn join<'a>(s: &mut String, items: impl Iterator<Item = &'a str>) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(item);
    }
}

fn quote(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    const RFC8463_RSA_RECORD: &str = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

    #[test]
    fn rfc8463_a2_records_parse() {
        let r = KeyRecord::parse(RFC8463_RSA_RECORD.as_bytes()).unwrap();
        assert_eq!(r.key_type, KeyType::Rsa);
        assert_eq!(r.decode_public_key().unwrap().bits(), 1024);
        assert_eq!(r.to_txt(), RFC8463_RSA_RECORD);
        let e =
            KeyRecord::parse(b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
                .unwrap();
        assert_eq!(e.key_type, KeyType::Ed25519);
        assert!(e.decode_public_key().is_ok());
    }

    #[test]
    fn rfc6376_3_6_1_tags() {
        let r =
            KeyRecord::parse(b"k=rsa; h=sha1 : sha256:md5; s=email:foo; t=y:s:x; n=hi there; p=")
                .unwrap();
        assert!(r.is_revoked());
        assert!(r.allows_hash(HashAlgorithm::Sha256));
        assert_eq!(r.hash_algorithms.as_ref().unwrap().len(), 2);
        assert!(r.allows_email());
        assert!(r.testing && r.strict_identity);
        assert_eq!(r.notes.as_deref(), Some("hi there"));
    }

    #[test]
    fn notes_are_quoted_printable() {
        let key = PrivateKey::parse(include_bytes!(
            "../tests/vectors/rfc8463/test.rsa.private.pem"
        ))
        .unwrap()
        .public_key();
        for (text, written) in [
            ("rotated 2026", "n=rotated 2026;"),
            ("a=b; c", "n=a=3Db=3B c;"),
            ("café", "n=caf=C3=A9;"),
            (" edge ", "n==20edge=20;"),
            ("two\r\nlines", "n=two=0D=0Alines;"),
        ] {
            let mut r = KeyRecord::new(&key);
            r.notes = Some(text.into());
            let txt = r.to_txt();
            assert!(txt.contains(written), "{txt}");
            let back = KeyRecord::parse(txt.as_bytes()).unwrap();
            assert_eq!(back.notes.as_deref(), Some(text));
            assert_eq!(back.public_key, r.public_key);
        }
        assert_eq!(qp_decode(b"=4x=41=").as_slice(), b"=4xA=");
        let only_web = KeyRecord::parse(b"s=web; h=md5; p=").unwrap();
        assert!(!only_web.allows_email());
        assert!(!only_web.allows_hash(HashAlgorithm::Sha256));
        assert!(KeyRecord::parse(b"s=*; p=").unwrap().allows_email());
    }

    #[test]
    fn version_must_be_first_and_dkim1() {
        assert_eq!(
            KeyRecord::parse(b"k=rsa; v=DKIM1; p="),
            Err(Error::InvalidRecordVersion)
        );
        assert_eq!(
            KeyRecord::parse(b"v=DKIM2; p="),
            Err(Error::InvalidRecordVersion)
        );
        assert_eq!(KeyRecord::parse(b"v=DKIM1"), Err(Error::MissingTag("p")));
        assert_eq!(
            KeyRecord::parse(b"k=dsa; p="),
            Err(Error::UnsupportedKeyType)
        );
        assert_eq!(KeyRecord::parse(b"p=!!!"), Err(Error::InvalidBase64));
        assert_eq!(KeyRecord::parse(b"p=@@@@"), Err(Error::InvalidBase64));
    }

    #[test]
    fn zone_line_splits_at_255_bytes() {
        let key = PrivateKey::parse(include_bytes!(
            "../tests/vectors/rfc8463/test.rsa.private.pem"
        ))
        .unwrap();
        let rec = KeyRecord::new(&key.public_key()).with_testing(true);
        let txt = rec.to_txt();
        assert!(txt.starts_with("v=DKIM1; k=rsa; t=y; p=MIGf"));
        let parts = rec.txt_strings();
        assert!(parts.iter().all(|p| p.len() <= 255));
        assert_eq!(parts.concat(), txt);
        let sel = Selector::new("test").unwrap();
        let dom = Domain::new("example.com").unwrap();
        let line = rec.zone_line(&sel, &dom);
        assert!(line.starts_with("test._domainkey.example.com. IN TXT "));
        // the record round-trips through parse
        assert_eq!(KeyRecord::parse(txt.as_bytes()).unwrap(), rec);
        let readme = rec.readme(&sel, &dom);
        assert!(readme.contains("test._domainkey.example.com"));
        assert!(readme.contains("t=y"));
    }

    #[test]
    fn split_txt_lengths() {
        let v = "a".repeat(600);
        let parts = split_txt(&v);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(split_txt(""), [""]);
        let u = "é".repeat(200); // 400 bytes, 2-byte chars
        assert!(
            split_txt(&u)
                .iter()
                .all(|p| p.len() <= 255 && p.len() % 2 == 0)
        );
    }
}

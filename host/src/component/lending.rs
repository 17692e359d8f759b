//! Keys lent to the sandbox for one message: the host signs only the
//! header data of the signatures they were lent for (see [`Lending`]).

use std::sync::{Arc, Mutex};

use super::wit;
use crate::crypto::NativeKey;

/// The keys an instance may use for the message it is signing, each bound
/// to the `d=` and `s=` of the signatures it was lent for.
///
/// Design note: the component asks the host to sign "the header data" of
/// a signature (RFC 6376 3.7). A sandbox is there because the parser may be
/// compromised by a hostile message; a compromised parser must not turn a
/// key into a signing oracle for data of its choosing. So the host signs
/// only data that ends in a `DKIM-Signature` field (canonicalized, with an
/// empty `b=`, as 3.7 hashes it) whose `d=` and `s=` are the ones the key
/// was lent for, and refuses anything else with a [`Refusal`]. What the
/// parser can still do is sign other header fields of that same domain's
/// mail under that signature, which is what the key is for anyway.
///
/// The field must also carry the `t=`, `x=` and `l=` the options ask for
/// (a signature without expiry, or with `l=0` so that it holds for any
/// body, is not what was lent), and each option gets one signature per
/// message: a lending is made for one message.
pub struct Lending {
    keys: Arc<Vec<NativeKey>>,
    /// The signatures lent for: key `handle` (`SigningKey::Host`) signs for
    /// its option's `d=` and `s=`. Shared, not copied, per message.
    options: Arc<[wit::SignOptions]>,
    /// Which options have had their signature.
    used: Mutex<Vec<bool>>,
}

impl Default for Lending {
    fn default() -> Self {
        Lending::new(Arc::default(), Arc::new([]))
    }
}

impl Lending {
    /// Lends `keys` (handle `i` is `keys[i]`) for the signatures in
    /// `options` that name host keys.
    pub fn new(keys: Arc<Vec<NativeKey>>, options: Arc<[wit::SignOptions]>) -> Self {
        let used = Mutex::new(vec![false; options.len()]);
        Lending {
            keys,
            options,
            used,
        }
    }

    /// `(handle, d=, s=)` of each signature a host key is lent for.
    fn bound(&self) -> impl Iterator<Item = (u32, &str, &str)> {
        self.options.iter().filter_map(|o| match o.key {
            wit::SigningKey::Host(h) => Some((h, o.domain.as_str(), o.selector.as_str())),
            wit::SigningKey::Pem(_) => None,
        })
    }

    /// The keys, by handle.
    pub fn keys(&self) -> &[NativeKey] {
        &self.keys
    }

    pub(super) fn key(&self, handle: u32) -> Option<&NativeKey> {
        self.bound()
            .any(|(h, _, _)| h == handle)
            .then(|| self.keys.get(handle as usize))
            .flatten()
    }

    /// `crypto.sign`: the header data signed with key `handle`, if the data
    /// is a signature's header data for a `d=`/`s=` the key was lent for.
    pub fn sign(&self, handle: u32, data: &[u8]) -> Result<Vec<u8>, Refusal> {
        let key = self.key(handle).ok_or(Refusal::NoKey(handle))?;
        let tags = signature_field_tags(data)?;
        let (d, s) = (tags.d, tags.s);
        let mut used = self.used.lock().map_err(|_| Refusal::Used)?;
        let mut lent_for = false;
        let mut slot = None;
        for (i, o) in self.options.iter().enumerate() {
            if o.key == wit::SigningKey::Host(handle)
                && same_name(d, &o.domain)
                && same_name(s, &o.selector)
            {
                lent_for = true;
                if !used[i] {
                    slot = Some((i, o));
                    break;
                }
            }
        }
        if !lent_for {
            return Err(Refusal::NotLentFor {
                domain: text(d),
                selector: text(s),
            });
        }
        let Some((i, o)) = slot else {
            return Err(Refusal::Used);
        };
        let number = |v: Option<&[u8]>| {
            v.map(|v| std::str::from_utf8(trim_fws(v)).ok()?.parse::<u64>().ok())
        };
        if number(tags.t) != o.timestamp.map(Some)
            || number(tags.x) != o.expiration.map(Some)
            || tags.l.is_some() != o.body_length
        {
            return Err(Refusal::NotAsLent);
        }
        used[i] = true;
        drop(used);
        key.sign_header_data(data)
            .map_err(|e| Refusal::Crypto(e.to_string()))
    }
}

/// Why the host refused to sign (see [`Lending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No key with this handle was lent to the instance.
    NoKey(u32),
    /// The data does not end in a `DKIM-Signature` field.
    NotASignature,
    /// The signature field's `b=` is missing or not empty.
    SignatureNotEmpty,
    /// The field's `d=`/`s=` are not the ones the key was lent for.
    NotLentFor {
        /// `d=` of the field.
        domain: String,
        /// `s=` of the field.
        selector: String,
    },
    /// The field's `t=`, `x=` or `l=` are not the ones the options ask
    /// for.
    NotAsLent,
    /// The signature lent for this message was made already.
    Used,
    /// The key could not sign.
    Crypto(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoKey(h) => write!(f, "no key with handle {h} is lent for this message"),
            Refusal::NotASignature => {
                f.write_str("refused: the data does not end in a DKIM-Signature field")
            }
            Refusal::SignatureNotEmpty => {
                f.write_str("refused: the DKIM-Signature field's b= is missing or not empty")
            }
            Refusal::NotLentFor { domain, selector } => write!(
                f,
                "refused: the key is not lent for d={domain} s={selector}"
            ),
            Refusal::NotAsLent => f.write_str(
                "refused: the DKIM-Signature field's t=, x= or l= are not the ones asked for",
            ),
            Refusal::Used => f.write_str("refused: this message's signature was made already"),
            Refusal::Crypto(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Refusal {}

/// The tags of a signature field the host checks before it signs.
struct FieldTags<'a> {
    d: &'a [u8],
    s: &'a [u8],
    t: Option<&'a [u8]>,
    x: Option<&'a [u8]>,
    l: Option<&'a [u8]>,
}

/// The tags of the `DKIM-Signature` field that header data ends with
/// (RFC 6376 3.7: the signature field comes last, without its final CRLF,
/// with an empty `b=`; its name as written for `simple`, lower-cased for
/// `relaxed`).
fn signature_field_tags(data: &[u8]) -> Result<FieldTags<'_>, Refusal> {
    // the last field starts after the last LF that does not begin a fold
    // (searched from the end: only the signature field is scanned)
    let mut end = data.len();
    let start = loop {
        match memchr::memrchr(b'\n', &data[..end]) {
            Some(i) if matches!(data.get(i + 1), Some(b' ' | b'\t')) => end = i,
            Some(i) => break i + 1,
            None => break 0,
        }
    };
    let field = &data[start..];
    let colon = memchr::memchr(b':', field).ok_or(Refusal::NotASignature)?;
    let name = field[..colon].trim_ascii_end();
    if !name.eq_ignore_ascii_case(b"dkim-signature") {
        return Err(Refusal::NotASignature);
    }
    // d=, s= and b= of the tag list (RFC 6376 3.2), read in place. The
    // rest of the field's syntax is the verifier's business; a duplicate
    // of one of these three is refused (3.2: tags MUST NOT repeat).
    let (mut d, mut sel, mut b) = (None, None, None);
    let (mut t, mut x, mut l) = (None, None, None);
    let list = &field[colon + 1..];
    let mut at = 0;
    while at < list.len() {
        let end = memchr::memchr(b';', &list[at..]).map_or(list.len(), |i| at + i);
        let tag = &list[at..end];
        at = end + 1;
        let Some(eq) = memchr::memchr(b'=', tag) else {
            continue;
        };
        let slot = match trim_fws(&tag[..eq]) {
            b"d" => &mut d,
            b"s" => &mut sel,
            b"b" => &mut b,
            b"t" => &mut t,
            b"x" => &mut x,
            b"l" => &mut l,
            _ => continue,
        };
        if slot.replace(&tag[eq + 1..]).is_some() {
            return Err(Refusal::NotASignature);
        }
    }
    match b {
        Some(v) if v.iter().all(|c| is_fws(*c)) => {}
        _ => return Err(Refusal::SignatureNotEmpty),
    }
    match (d, sel) {
        (Some(d), Some(s)) => Ok(FieldTags { d, s, t, x, l }),
        _ => Err(Refusal::NotASignature),
    }
}

fn trim_fws(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !is_fws(*b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_fws(*b)).map_or(start, |i| i + 1);
    &v[start..end]
}

fn is_fws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `value` (folding white space left out) is `want`, ASCII case ignored.
fn same_name(value: &[u8], want: &str) -> bool {
    let mut v = value.iter().copied().filter(|b| !is_fws(*b));
    let mut w = want.bytes();
    loop {
        match (v.next(), w.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => {}
            _ => return false,
        }
    }
}

/// A label for a refusal message.
fn text(value: &[u8]) -> String {
    let v: Vec<u8> = value.iter().copied().filter(|b| !is_fws(*b)).collect();
    String::from_utf8_lossy(&v).into_owned()
}

#[cfg(test)]
mod lending_tests {
    //! A compromised parser cannot make a lent key sign data of its choosing
    //! (issue: keys lend only what they are for).
    use super::*;
    use crate::component::bindings::waxseal::dkim::crypto::Host as _;
    use crate::component::imports::HostState;

    fn key() -> NativeKey {
        let mut rng = rand::rng();
        let k = waxseal_core::PrivateKey::generate_ed25519(&mut rng).unwrap();
        NativeKey::from_core(k).unwrap()
    }

    fn options(domain: &str, selector: &str) -> wit::SignOptions {
        wit::SignOptions {
            domain: domain.into(),
            selector: selector.into(),
            key: wit::SigningKey::Host(0),
            identity: None,
            headers: None,
            oversign: None,
            canonicalization: None,
            timestamp: None,
            expiration: None,
            body_length: false,
            copy_headers: false,
        }
    }

    fn lent() -> HostState {
        let keys = Arc::new(vec![key()]);
        HostState::new(
            1 << 20,
            Arc::new(Lending::new(
                keys,
                Arc::new([options("example.com", "sel")]),
            )),
        )
    }

    const RELAXED: &[u8] = b"from:Joe <joe@example.com>\r\nsubject:hi\r\n\
        dkim-signature:v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=sel; h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=";

    #[test]
    fn lent_key_signs_its_own_signature_field() {
        let mut s = lent();
        assert!(matches!(s.sign(0, RELAXED.to_vec()).unwrap(), Ok(sig) if sig.len() == 64));
        // one signature per message: a second is refused
        assert!(s.sign(0, RELAXED.to_vec()).unwrap().is_err());
        // simple canonicalization: the name as written, folded lines
        let mut s = lent();
        let simple = b"From: Joe <joe@example.com>\r\nDKIM-Signature: v=1; a=ed25519-sha256; d=Example.COM;\r\n\ts=sel; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\tb=";
        assert!(s.sign(0, simple.to_vec()).unwrap().is_ok());
    }

    /// A compromised parser cannot get a signature that outlives what was
    /// lent (no x=, a later one) or holds for any body (`l=0`).
    #[test]
    fn lent_key_signs_only_the_tags_asked_for() {
        let mut o = options("example.com", "sel");
        o.timestamp = Some(1_700_000_000);
        o.expiration = Some(1_700_086_400);
        let lending = || Lending::new(Arc::new(vec![key()]), Arc::new([o.clone()]));
        let field = |tags: &str| {
            String::from_utf8_lossy(RELAXED)
                .replace("h=from:subject;", &format!("h=from:subject;{tags}"))
        };
        let good = field(" t=1700000000; x=1700086400;");
        assert!(lending().sign(0, good.as_bytes()).is_ok());
        for bad in [
            " t=1700000000;",
            " t=1700000000; x=9999999999;",
            " t=1700000001; x=1700086400;",
            " t=1700000000; x=1700086400; l=0;",
            "",
        ] {
            assert_eq!(
                lending().sign(0, field(bad).as_bytes()).unwrap_err(),
                Refusal::NotAsLent,
                "{bad}"
            );
        }
        let l = lending();
        assert!(l.sign(0, good.as_bytes()).is_ok());
        assert_eq!(l.sign(0, good.as_bytes()).unwrap_err(), Refusal::Used);
    }

    #[test]
    fn lent_key_refuses_crafted_data() {
        let lending = Lending::new(
            Arc::new(vec![key()]),
            Arc::new([options("example.com", "sel")]),
        );
        let refuse = |data: &[u8]| lending.sign(0, data).unwrap_err();
        // arbitrary data, e.g. a TLS handshake transcript or another message
        assert_eq!(refuse(b"any data the parser likes"), Refusal::NotASignature);
        assert_eq!(refuse(b""), Refusal::NotASignature);
        // the signature field is not last
        let mut tail = RELAXED.to_vec();
        tail.extend_from_slice(b"\r\nx-extra:1");
        assert_eq!(refuse(&tail), Refusal::NotASignature);
        // another domain or selector
        let other = String::from_utf8_lossy(RELAXED).replace("d=example.com", "d=bank.example");
        assert_eq!(
            refuse(other.as_bytes()),
            Refusal::NotLentFor {
                domain: "bank.example".into(),
                selector: "sel".into()
            }
        );
        let other = String::from_utf8_lossy(RELAXED).replace("s=sel", "s=other");
        assert!(matches!(
            refuse(other.as_bytes()),
            Refusal::NotLentFor { .. }
        ));
        // a duplicated d= (verifiers reject the field; never signed)
        let dup = String::from_utf8_lossy(RELAXED)
            .replace("d=example.com;", "d=example.com; d=bank.example;");
        assert_eq!(refuse(dup.as_bytes()), Refusal::NotASignature);
        // a b= that is not empty, or none
        let mut filled = RELAXED.to_vec();
        filled.extend_from_slice(b"AAAA");
        assert_eq!(refuse(&filled), Refusal::SignatureNotEmpty);
        let no_b = String::from_utf8_lossy(RELAXED).replace("; b=", "");
        assert_eq!(refuse(no_b.as_bytes()), Refusal::SignatureNotEmpty);
        // a handle that was not lent
        assert_eq!(lending.sign(1, RELAXED).unwrap_err(), Refusal::NoKey(1));
        // nothing lent: an idle instance signs nothing
        assert_eq!(
            Lending::default().sign(0, RELAXED).unwrap_err(),
            Refusal::NoKey(0)
        );
    }

    #[test]
    fn crafted_data_through_the_import_gets_an_error_not_a_signature() {
        let mut s = lent();
        let r = s.sign(0, b"attacker-chosen bytes".to_vec()).unwrap();
        assert!(
            r.unwrap_err()
                .contains("does not end in a DKIM-Signature field")
        );
        assert_eq!(
            s.key_algorithm(0).unwrap(),
            Some(wit::SigningAlgorithm::Ed25519Sha256)
        );
        assert_eq!(s.key_algorithm(1).unwrap(), None);
    }
}

//! `--worker native|wasm|mail-auth|limit`: one contender of the cross-peer
//! benchmark (`bench/peers/run.py`; the keys are the bench's own, those
//! `--peer-setup` writes for the other workers), driven over stdin with the
//! line protocol every peer worker speaks (see `bench/peers/README.md`):
//!
//! - `sign rsa|ed|dual FILE N`: sign FILE's message N times (`dual`: with
//!   both keys, the RSA signature first); answers `ok SECONDS`
//! - `signout rsa|ed|dual FILE OUT`: sign once, write the signature
//!   field(s) and the message to OUT
//! - `verify FILE N`: verify N times, every signature must pass
//! - `quit`
//!
//! Failures answer `err TEXT` and the worker goes on. Signing covers the
//! five fields every contender signs (From, To, Subject, Date, Message-ID),
//! relaxed/relaxed, SHA-256. `limit` is the floor no DKIM implementation
//! can go under: raw AWS-LC hashing the whole message once with SHA-256
//! plus one RSA-2048 or Ed25519 operation.
//!
//! `--peer-setup DIR` writes the keys (PKCS#8 PEM) and their key records
//! (`records.json`, and `records.txt` for OpenDKIM's file queries).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use aws_lc_rs::signature::{
    ED25519, Ed25519KeyPair, KeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
    UnparsedPublicKey,
};
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use waxseal::component::Limits;
use waxseal::engine::{Engine, SignSpec};
use waxseal_core::{PrivateKey, VerifyPolicy};

use crate::peer::MailAuthVerifier;
use crate::{HEADERS, key_pem, lookup, setup};

/// Writes the keys and records the peer workers read.
pub(crate) fn peer_setup(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let s = setup();
    // the vectors' keys are PKCS#8 PEM, which every peer reads
    for (file, name) in [("rsa.pem", "rsa2048.pem"), ("ed.pem", "ed25519.pem")] {
        std::fs::write(dir.join(file), key_pem(name)).unwrap();
    }
    let mut json = String::from("{");
    let mut txt = String::new();
    for (i, (name, record)) in s.records.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        json.push_str(&format!("{sep}\"{name}\": \"{record}\""));
        txt.push_str(&format!("{name} {record}\n"));
    }
    json.push_str("}\n");
    std::fs::write(dir.join("records.json"), json).unwrap();
    std::fs::write(dir.join("records.txt"), txt).unwrap();
}

/// One contender's operations.
trait Contender {
    fn sign(&self, alg: &str, msg: &[u8]) -> Result<Vec<u8>, String>;
    fn verify(&self, signed: &[u8]) -> Result<(), String>;
}

struct Waxseal {
    engine: Engine,
    s: crate::Setup,
    /// The signing options for RSA and Ed25519, made once (as mail-auth's
    /// signers are).
    specs: [SignSpec; 2],
}

impl Waxseal {
    fn new(engine: Engine) -> Self {
        let spec = |key: usize, selector: &str| SignSpec {
            key,
            spec: waxseal_core::SignSpec {
                domain: "example.com".into(),
                selector: selector.into(),
                headers: Some(HEADERS.iter().map(|h| h.to_string()).collect()),
                ..Default::default()
            },
        };
        Waxseal {
            engine,
            s: setup(),
            specs: [spec(0, "rsa"), spec(1, "ed")],
        }
    }
}

impl Contender for Waxseal {
    fn sign(&self, alg: &str, msg: &[u8]) -> Result<Vec<u8>, String> {
        // both signatures in one pass over the message
        let specs = match alg {
            "rsa" => &self.specs[..1],
            "ed" => &self.specs[1..],
            "dual" => &self.specs[..],
            _ => return Err(format!("unknown algorithm {alg}")),
        };
        let out = self
            .engine
            .sign(msg, specs, self.s.keys.clone())
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok(out.into_bytes())
    }
    fn verify(&self, signed: &[u8]) -> Result<(), String> {
        let r = self
            .engine
            .verify(
                signed,
                &VerifyPolicy::default(),
                None,
                "bench",
                &mut lookup(&self.s.records),
            )
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        match r.verdicts.iter().find(|v| v.result != "pass") {
            None if !r.verdicts.is_empty() => Ok(()),
            None => Err("no signature".into()),
            Some(v) => Err(format!("{}: {}", v.result, v.summary)),
        }
    }
}

struct MailAuth {
    rsa: DkimSigner<RsaKey<Sha256>, Done>,
    ed: DkimSigner<Ed25519Key, Done>,
    verifier: MailAuthVerifier,
}

impl Contender for MailAuth {
    fn sign(&self, alg: &str, msg: &[u8]) -> Result<Vec<u8>, String> {
        let field =
            |sig: mail_auth::Result<mail_auth::dkim::Signature>| -> Result<Vec<u8>, String> {
                Ok(sig.map_err(|e| e.to_string())?.to_header().into_bytes())
            };
        match alg {
            "rsa" => field(self.rsa.sign(msg)),
            "ed" => field(self.ed.sign(msg)),
            // its API signs with one key per pass
            "dual" => Ok([field(self.rsa.sign(msg))?, field(self.ed.sign(msg))?].concat()),
            _ => Err(format!("unknown algorithm {alg}")),
        }
    }
    fn verify(&self, signed: &[u8]) -> Result<(), String> {
        self.verifier.check(signed)
    }
}

/// Raw AWS-LC: the whole message hashed once plus one signature operation.
/// Its "signature" is a field carrying the raw signature in hex, which its
/// `verify` checks over the rest (the limit verifies what it signed).
struct Limit {
    rsa: RsaKeyPair,
    ed: Ed25519KeyPair,
    rng: aws_lc_rs::rand::SystemRandom,
}

impl Contender for Limit {
    fn sign(&self, alg: &str, msg: &[u8]) -> Result<Vec<u8>, String> {
        if alg == "dual" {
            return Err("the limit has no dual case".into());
        }
        let sig = if alg == "rsa" {
            let mut sig = vec![0; self.rsa.public_modulus_len()];
            self.rsa
                .sign(&RSA_PKCS1_SHA256, &self.rng, msg, &mut sig)
                .map_err(|e| e.to_string())?;
            sig
        } else {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, msg);
            self.ed.sign(digest.as_ref()).as_ref().to_vec()
        };
        // hex without a formatter call per byte: the limit's own overhead
        // stays far below the operation it measures
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = Vec::with_capacity(16 + 2 * sig.len());
        out.extend_from_slice(b"X-Limit: ");
        out.extend_from_slice(alg.as_bytes());
        out.push(b' ');
        for b in sig {
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        out.extend_from_slice(b"\r\n");
        Ok(out)
    }
    fn verify(&self, signed: &[u8]) -> Result<(), String> {
        let bad = || "not a message the limit signed (signout first)".to_string();
        let rest = signed.strip_prefix(b"X-Limit: ").ok_or_else(bad)?;
        let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let field = std::str::from_utf8(&rest[..eol]).map_err(|_| bad())?;
        let msg = &rest[eol + 2..];
        let (alg, hex) = field.split_once(' ').ok_or_else(bad)?;
        let sig: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let ok = if alg == "rsa" {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, self.rsa.public_key().as_ref())
                .verify(msg, &sig)
        } else {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, msg);
            UnparsedPublicKey::new(&ED25519, self.ed.public_key().as_ref())
                .verify(digest.as_ref(), &sig)
        };
        ok.map_err(|_| "did not verify".to_string())
    }
}

fn contender(kind: &str) -> Box<dyn Contender> {
    let s = setup();
    let der = |name: &str| {
        PrivateKey::parse(key_pem(name).as_bytes())
            .unwrap()
            .to_pkcs8_der()
            .unwrap()
    };
    match kind {
        "native" => Box::new(Waxseal::new(Engine::Native)),
        "wasm" => Box::new(Waxseal::new(Engine::wasm(None, Limits::default()).unwrap())),
        "mail-auth" => Box::new(MailAuth {
            rsa: DkimSigner::from_key(
                RsaKey::<Sha256>::from_pkcs8_der(&der("rsa2048.pem")).unwrap(),
            )
            .domain("example.com")
            .selector("rsa")
            .headers(HEADERS)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed),
            ed: DkimSigner::from_key(
                Ed25519Key::from_pkcs8_maybe_unchecked_der(&der("ed25519.pem")).unwrap(),
            )
            .domain("example.com")
            .selector("ed")
            .headers(HEADERS)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed),
            verifier: MailAuthVerifier::new(&s),
        }),
        "limit" => Box::new(Limit {
            rsa: RsaKeyPair::from_pkcs8(&der("rsa2048.pem")).unwrap(),
            ed: Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der("ed25519.pem")).unwrap(),
            rng: aws_lc_rs::rand::SystemRandom::new(),
        }),
        other => {
            eprintln!("unknown worker {other}: native, wasm, mail-auth or limit");
            std::process::exit(2);
        }
    }
}

/// The worker loop.
pub(crate) fn worker(kind: &str) {
    let c = contender(kind);
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let w: Vec<&str> = line.split_whitespace().collect();
        let reply = match w.as_slice() {
            ["quit"] => break,
            ["sign", alg, file, n] => load(&mut files, file).and_then(|msg| {
                let n: u64 = n.parse().map_err(|_| "bad count".to_string())?;
                let start = Instant::now();
                for _ in 0..n {
                    c.sign(alg, msg)?;
                }
                Ok(format!("{:.9}", start.elapsed().as_secs_f64()))
            }),
            ["signout", alg, file, dest] => load(&mut files, file).and_then(|msg| {
                let sig = c.sign(alg, msg)?;
                std::fs::write(dest, [&sig[..], msg].concat()).map_err(|e| e.to_string())?;
                Ok("0".to_string())
            }),
            ["verify", file, n] => load(&mut files, file).and_then(|msg| {
                let n: u64 = n.parse().map_err(|_| "bad count".to_string())?;
                let start = Instant::now();
                for _ in 0..n {
                    c.verify(msg)?;
                }
                Ok(format!("{:.9}", start.elapsed().as_secs_f64()))
            }),
            _ => Err(format!("unknown command: {line}")),
        };
        match reply {
            Ok(r) => writeln!(out, "ok {r}"),
            Err(e) => writeln!(out, "err {}", e.replace('\n', " ")),
        }
        .unwrap();
        out.flush().unwrap();
    }
}

fn load<'a>(files: &'a mut HashMap<String, Vec<u8>>, path: &str) -> Result<&'a [u8], String> {
    if !files.contains_key(path) {
        let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        files.insert(path.to_string(), data);
    }
    Ok(&files[path])
}

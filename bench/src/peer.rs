//! The peer: Stalwart's mail-auth (aws-lc-rs), signing and verifying the
//! same messages.

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::DkimSigner;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};
use waxseal_core::PrivateKey;

use crate::{HEADERS, Setup, key_pem};

/// mail-auth's DNS cache, filled with the bench's records, parsed: what
/// an MX that has seen the selector before holds (mail-auth caches keys
/// parsed; waxseal parses the cached TXT record for each message).
pub(crate) struct TxtCache(std::sync::Mutex<std::collections::HashMap<Box<str>, Txt>>);

impl ResolverCache<Box<str>, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }
    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }
    fn insert(&self, key: Box<str>, value: Txt, _: Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// mail-auth verifying with every record of `s` in its cache (it never
/// asks the network: a miss would fail the pass assertion).
pub(crate) struct MailAuthVerifier {
    auth: MessageAuthenticator,
    cache: TxtCache,
    rt: tokio::runtime::Runtime,
}

impl MailAuthVerifier {
    pub(crate) fn new(s: &Setup) -> Self {
        let cache = TxtCache(Default::default());
        for (name, txt) in &s.records {
            let key = DomainKey::parse(txt.as_bytes()).unwrap();
            cache.insert(
                format!("{name}.").into_boxed_str(),
                Txt::DomainKey(Arc::new(key)),
                Instant::now() + Duration::from_secs(86400),
            );
        }
        MailAuthVerifier {
            auth: MessageAuthenticator::new_cloudflare().unwrap(),
            cache,
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        }
    }

    pub(crate) fn verify(&self, signed: &[u8]) {
        self.check(signed).unwrap();
    }

    /// Verifies `signed`: every signature must pass.
    pub(crate) fn check(&self, signed: &[u8]) -> Result<(), String> {
        let msg = AuthenticatedMessage::parse(signed).ok_or("mail-auth: unparsable message")?;
        let out = self.rt.block_on(
            self.auth
                .verify_dkim(Parameters::new(&msg).with_txt_cache(&self.cache)),
        );
        if !out.is_empty() && out.iter().all(|o| *o.result() == DkimResult::Pass) {
            Ok(())
        } else {
            Err(format!(
                "mail-auth: {:?}",
                out.iter().map(|o| o.result().clone()).collect::<Vec<_>>()
            ))
        }
    }
}

/// A 2 KB message signed by mail-auth (the five fields), for the
/// verification race: every contender verifies the same bytes.
pub(crate) fn mail_auth_signed(key: usize, msg: &[u8]) -> Vec<u8> {
    let sig = if key == 0 {
        let der = PrivateKey::parse(key_pem("rsa2048.pem").as_bytes())
            .unwrap()
            .to_pkcs8_der()
            .unwrap();
        DkimSigner::from_key(RsaKey::<Sha256>::from_pkcs8_der(&der).unwrap())
            .domain("example.com")
            .selector("rsa")
            .headers(HEADERS)
            .sign(msg)
            .unwrap()
            .to_header()
    } else {
        let der = PrivateKey::parse(key_pem("ed25519.pem").as_bytes())
            .unwrap()
            .to_pkcs8_der()
            .unwrap();
        DkimSigner::from_key(Ed25519Key::from_pkcs8_maybe_unchecked_der(&der).unwrap())
            .domain("example.com")
            .selector("ed")
            .headers(HEADERS)
            .sign(msg)
            .unwrap()
            .to_header()
    };
    [sig.as_bytes(), msg].concat()
}

//! What a signature is asked for: its options, the flat `SignSpec` the
//! faces fill in, and the finished header field.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use crate::canonicalize::Canonicalization;
use crate::domain::{Domain, Identity, Selector};
use crate::error::Error;
use crate::keys::SigningAlgorithm;
use crate::signature::DkimSignature;

use super::*;

/// What to sign and how: one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// `d=`: the signing domain. Required.
    pub domain: Domain,
    /// `s=`: the selector. Required.
    pub selector: Selector,
    /// `i=`: the agent or user identifier; must be the domain or a
    /// subdomain of it. Default: none (receivers then use `@` + d=).
    pub identity: Option<Identity>,
    /// Which header fields to sign. Default: [`HeaderSelection::default`].
    pub headers: HeaderSelection,
    /// `c=`. Default: relaxed/relaxed.
    pub canonicalization: Canonicalization,
    /// `t=`: the signing time in seconds since 1970, supplied by the
    /// caller (the core has no clock). Default: none (no t= tag).
    pub timestamp: Option<u64>,
    /// `x=`: expiration time in seconds since 1970; must be later than
    /// `timestamp`. Default: none.
    pub expiration: Option<u64>,
    /// Write `l=` with the length of the canonicalized body. Default:
    /// false. Warning: with l=, anyone can append text (a new MIME part,
    /// a link) to the message without breaking the signature; only use
    /// it for lists that are known to append footers.
    pub body_length: bool,
    /// Write `z=` with copies of the signed header fields, for diagnosis.
    /// Default: false.
    pub copy_headers: bool,
}

impl SignOptions {
    /// Options with the required fields and every default.
    pub fn new(domain: Domain, selector: Selector) -> Self {
        SignOptions {
            domain,
            selector,
            identity: None,
            headers: HeaderSelection::default(),
            canonicalization: Canonicalization::RELAXED_RELAXED,
            timestamp: None,
            expiration: None,
            body_length: false,
            copy_headers: false,
        }
    }

    pub(super) fn validate(&self, alg: SigningAlgorithm) -> Result<(), Error> {
        if alg == SigningAlgorithm::RsaSha1 {
            return Err(Error::UnsupportedAlgorithm); // RFC 8301 3.1
        }
        // no verifier could look the key up
        if !self.selector.record_name_fits(&self.domain) {
            return Err(Error::InvalidSelector);
        }
        if let Some(i) = &self.identity
            && !i.is_within(&self.domain)
        {
            return Err(Error::IdentityNotInDomain);
        }
        if let (Some(t), Some(x)) = (self.timestamp, self.expiration)
            && x <= t
        {
            return Err(Error::ExpirationBeforeTimestamp);
        }
        self.headers.validate()
    }
}

/// Signing options as text, the way a command line, a JavaScript object
/// or a WIT record carries them. [`options`](Self::options) checks them
/// and gives the [`SignOptions`]; every face of waxseal goes through it, so
/// they read options the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignSpec {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `i=`.
    pub identity: Option<String>,
    /// Header names to sign, exactly these (none oversigned unless
    /// `oversign` names them). Default: [`HeaderSelection::default`].
    pub headers: Option<Vec<String>>,
    /// Header names to oversign. Default: the default selection's list
    /// when `headers` is not given, else none.
    pub oversign: Option<Vec<String>>,
    /// `c=` as written in the tag (`relaxed/simple`, `simple`, ...).
    /// Default: relaxed/relaxed.
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
    /// Checks the text and builds the options.
    pub fn options(&self) -> Result<SignOptions, Error> {
        let mut o = SignOptions::new(Domain::new(&self.domain)?, Selector::new(&self.selector)?);
        o.identity = self.identity.as_deref().map(Identity::new).transpose()?;
        if let Some(h) = &self.headers {
            o.headers.sign = h.iter().cloned().map(Cow::Owned).collect();
            // an explicit list means: exactly these, oversigned only if asked
            o.headers.oversign = Vec::new();
        }
        if let Some(over) = &self.oversign {
            o.headers.oversign = over.iter().cloned().map(Cow::Owned).collect();
        }
        if let Some(c) = &self.canonicalization {
            o.canonicalization = Canonicalization::parse(c.as_bytes())?;
        }
        o.timestamp = self.timestamp;
        o.expiration = self.expiration;
        o.body_length = self.body_length;
        o.copy_headers = self.copy_headers;
        Ok(o)
    }
}

/// A signature made by the [`Signer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The complete header field, `DKIM-Signature: ...`, folded with CRLF
    /// and ending in CRLF: prepend it to the message.
    pub field: String,
    /// The signature's tags.
    pub signature: DkimSignature,
}

impl SignatureHeader {
    /// The field with LF line endings, for messages stored with LF.
    pub fn field_lf(&self) -> String {
        self.field.replace("\r\n", "\n")
    }
}

//! Signing (RFC 6376 5): choosing the header fields, hashing header and
//! body, and producing `DKIM-Signature` fields, several in one pass over
//! the message.
//!
//! ```
//! use waxseal_core::{sign, Domain, PrivateKey, Selector, SignOptions};
//! let key = PrivateKey::from_ed25519_seed(&[7; 32]);
//! let mut opts = SignOptions::new(Domain::new("example.com")?, Selector::new("sel")?);
//! opts.timestamp = Some(1_700_000_000);
//! let sigs = sign(b"From: a@example.com\r\n\r\nHi\r\n", &[(&opts, &key)])?;
//! assert!(sigs[0].field.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"));
//! # Ok::<(), waxseal_core::Error>(())
//! ```

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::OnceCell;
use core::fmt;

use crate::error::Error;
use crate::hash::{BodyHashSet, Digest, Sha256Factory};
use crate::keys::{SignDigest, SigningAlgorithm};
use crate::message::{self, FieldSpan, HeaderField};
use crate::signature::DkimSignature;

mod header_hash;
mod options;
mod selection;

pub use header_hash::*;
pub use options::*;
pub use selection::*;

/// Default limit on the size of the header block the [`Signer`] buffers.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 1024 * 1024;

enum State {
    /// Collecting the header block; `scan` is where the search for its end
    /// resumes.
    Headers {
        scan: usize,
    },
    /// Hashing the body; the header block is `buf[..header_len]`, its
    /// fields at `spans` (parsed once, when the block was complete).
    Body {
        header_len: usize,
        spans: Vec<FieldSpan>,
        hashes: BodyHashSet,
        slots: Vec<usize>,
    },
    Done,
}

struct Request<'k> {
    options: SignOptions,
    /// `options.headers`, compiled.
    plan: HeaderPlan,
    algorithm: SigningAlgorithm,
    /// None: the private-key operation happens elsewhere (see
    /// [`Signer::add_external`] and [`Signer::finish_pending`]).
    key: Option<Box<dyn SignDigest + 'k>>,
}

/// A signature whose header data is complete and whose private-key
/// operation is still to be done, for signing with crypto that is not a
/// [`SignDigest`] (WebCrypto in JavaScript, which is asynchronous; a key
/// held by another process).
///
/// It is read-only: what is hashed is fixed, and
/// [`complete`](Self::complete) reuses the field text written then.
#[derive(Clone)]
pub struct PendingSignature {
    signature: DkimSignature,
    /// The field as hashed: every tag, folded, ending in `b=`.
    unsigned_field: String,
    header_input: Vec<u8>,
    /// SHA-256 of `header_input`, computed when first asked for: a caller
    /// whose crypto hashes for itself (RSA, or a host that hashes and
    /// signs in one step) never needs it.
    digest: OnceCell<Digest>,
    /// Where SHA-256 is computed (see [`Signer::set_sha256`]).
    sha256: Option<Sha256Factory>,
}

impl fmt::Debug for PendingSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignature")
            .field("signature", &self.signature)
            .field("unsigned_field", &self.unsigned_field)
            .field("header_input", &self.header_input)
            .finish_non_exhaustive()
    }
}

/// Equal when they sign the same data the same way (where SHA-256 is
/// computed does not matter).
impl PartialEq for PendingSignature {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
            && self.unsigned_field == other.unsigned_field
            && self.header_input == other.header_input
    }
}

impl Eq for PendingSignature {}

impl PendingSignature {
    /// The signing algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.signature.algorithm
    }

    /// The signature's tags, with an empty `b=`.
    pub fn signature(&self) -> &DkimSignature {
        &self.signature
    }

    /// The canonicalized header data (RFC 6376 3.7). RSASSA-PKCS1-v1_5
    /// with SHA-256 over these bytes gives `b=` (as WebCrypto's
    /// `sign("RSASSA-PKCS1-v1_5", key, header_input)` does).
    pub fn header_input(&self) -> &[u8] {
        &self.header_input
    }

    /// SHA-256 of [`header_input`](Self::header_input): what
    /// [`SignDigest::sign_digest`] signs, and, for Ed25519, the message
    /// that Ed25519 signs (RFC 8463 3). Computed on the first call.
    pub fn digest(&self) -> &Digest {
        self.digest.get_or_init(|| {
            self.signature
                .algorithm
                .hash()
                .digest_with(&self.header_input, self.sha256)
        })
    }

    /// The data to give a crypto API that hashes for itself: the header
    /// data for RSA, the digest for Ed25519 (which signs the digest).
    pub fn data_to_sign(&self) -> &[u8] {
        match self.signature.algorithm {
            SigningAlgorithm::Ed25519Sha256 => self.digest().as_bytes(),
            _ => &self.header_input,
        }
    }

    /// Completes the signature with the private-key operation's result.
    pub fn complete(mut self, signature: Vec<u8>) -> SignatureHeader {
        self.signature.signature = signature;
        SignatureHeader {
            field: self.signature.header_with_b(self.unsigned_field),
            signature: self.signature,
        }
    }
}

/// A streaming signer: makes one or more signatures over one message in a
/// single pass. Memory is bounded by the header block (see
/// [`max_header_bytes`](Self::max_header_bytes)); the body streams.
///
/// ```
/// use waxseal_core::{Domain, PrivateKey, Selector, SignOptions, Signer};
/// let key = PrivateKey::from_ed25519_seed(&[7; 32]);
/// let opts = SignOptions::new(Domain::new("example.com")?, Selector::new("sel")?);
/// let mut signer = Signer::new();
/// signer.add(opts, &key)?;
/// signer.update(b"From: a@example.com\r\nSubject: hi\r\n")?;
/// signer.update(b"\r\nBody text\r\n")?;
/// let sigs = signer.finish()?;
/// assert_eq!(sigs.len(), 1);
/// # Ok::<(), waxseal_core::Error>(())
/// ```
pub struct Signer<'k> {
    requests: Vec<Request<'k>>,
    buf: Vec<u8>,
    state: State,
    max_header_bytes: usize,
    sha256: Option<Sha256Factory>,
    /// The body hashes of the last message, reset, with the index of each
    /// request's hash: the next message reuses them (and their buffers).
    spare: Option<(BodyHashSet, Vec<usize>)>,
}

impl Default for Signer<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'k> Signer<'k> {
    /// A signer with no signatures requested yet.
    pub fn new() -> Self {
        Signer {
            requests: Vec::new(),
            buf: Vec::new(),
            state: State::Headers { scan: 0 },
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            sha256: None,
            spare: None,
        }
    }

    /// Sets the largest header block accepted (default 1 MiB).
    pub fn max_header_bytes(mut self, limit: usize) -> Self {
        self.max_header_bytes = limit;
        self
    }

    /// Computes SHA-256 (body and header hashes) with `sha256` instead of
    /// the built-in implementation: see [`ExternalSha256`]. Must be called
    /// before the first [`update`](Self::update).
    ///
    /// [`ExternalSha256`]: crate::ExternalSha256
    pub fn set_sha256(&mut self, sha256: Sha256Factory) {
        self.sha256 = Some(sha256);
        self.spare = None;
    }

    /// Requests one more signature. Must be called before the first
    /// [`update`](Self::update).
    pub fn add(&mut self, options: SignOptions, key: impl SignDigest + 'k) -> Result<(), Error> {
        if !matches!(self.state, State::Headers { scan: 0 }) || !self.buf.is_empty() {
            return Err(Error::AlreadyFinished);
        }
        let algorithm = key.algorithm();
        options.validate(algorithm)?;
        self.spare = None;
        self.requests.push(Request {
            plan: HeaderPlan::new(&options.headers),
            options,
            algorithm,
            key: Some(Box::new(key)),
        });
        Ok(())
    }

    /// Requests a signature whose private-key operation the caller does
    /// itself: finish with [`finish_pending`](Self::finish_pending).
    pub fn add_external(
        &mut self,
        options: SignOptions,
        algorithm: SigningAlgorithm,
    ) -> Result<(), Error> {
        if !matches!(self.state, State::Headers { scan: 0 }) || !self.buf.is_empty() {
            return Err(Error::AlreadyFinished);
        }
        options.validate(algorithm)?;
        self.spare = None;
        self.requests.push(Request {
            plan: HeaderPlan::new(&options.headers),
            options,
            algorithm,
            key: None,
        });
        Ok(())
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        match &mut self.state {
            State::Headers { scan } => {
                if self.requests.is_empty() {
                    return Err(Error::NothingToSign);
                }
                if self.buf.is_empty() {
                    // Fast path (one-shot signing): the header block ends
                    // inside this chunk, so the body is hashed straight
                    // from it without copying.
                    if let Some((header_len, body_start)) = message::find_header_end(chunk, 0) {
                        if header_len > self.max_header_bytes {
                            return Err(Error::HeaderTooLarge {
                                limit: self.max_header_bytes,
                            });
                        }
                        self.buf.extend_from_slice(&chunk[..body_start]);
                        self.start_body(header_len)?;
                        if let State::Body { hashes, .. } = &mut self.state {
                            hashes.update(&chunk[body_start..]);
                        }
                        return Ok(());
                    }
                }
                let from = *scan;
                self.buf.extend_from_slice(chunk);
                match message::find_header_end(&self.buf, from) {
                    Some((header_len, body_start)) => {
                        if header_len > self.max_header_bytes {
                            return Err(Error::HeaderTooLarge {
                                limit: self.max_header_bytes,
                            });
                        }
                        self.start_body(header_len)?;
                        let body = self.buf.split_off(body_start);
                        if let State::Body { hashes, .. } = &mut self.state {
                            hashes.update(&body);
                        }
                    }
                    None => {
                        if self.buf.len() > self.max_header_bytes {
                            if message::cr_only(&self.buf) {
                                return Err(Error::CrLineEnds);
                            }
                            return Err(Error::HeaderTooLarge {
                                limit: self.max_header_bytes,
                            });
                        }
                        *scan = message::resume_point(&self.buf, from);
                    }
                }
                Ok(())
            }
            State::Body { hashes, .. } => {
                hashes.update(chunk);
                Ok(())
            }
            State::Done => Err(Error::AlreadyFinished),
        }
    }

    fn start_body(&mut self, header_len: usize) -> Result<(), Error> {
        // Parse now so that a malformed header block fails early.
        let block = &self.buf[..header_len];
        if message::cr_only(block) {
            return Err(Error::CrLineEnds);
        }
        let spans = message::parse_header_spans(block)?;
        // exactly one From (RFC 5322 3.6; RFC 6376 8.15)
        match spans.iter().filter(|s| s.field(block).is("from")).count() {
            0 => return Err(Error::MissingFrom),
            1 => {}
            count => return Err(Error::SeveralFrom { count }),
        }
        let (hashes, slots) = match self.spare.take() {
            Some(spare) => spare,
            None => {
                let mut hashes = BodyHashSet::new();
                hashes.set_sha256(self.sha256);
                let slots = self
                    .requests
                    .iter()
                    .map(|r| hashes.add(r.options.canonicalization.body, r.algorithm.hash(), None))
                    .collect();
                (hashes, slots)
            }
        };
        self.state = State::Body {
            header_len,
            spans,
            hashes,
            slots,
        };
        Ok(())
    }

    /// Ends the message and makes the signatures, in the order requested.
    /// Every signature must have been added with a key ([`add`](Self::add)).
    pub fn finish(&mut self) -> Result<Vec<SignatureHeader>, Error> {
        if self.requests.iter().any(|r| r.key.is_none()) {
            return Err(Error::NothingToSign);
        }
        let pending = self.finish_pending()?;
        let mut out = Vec::with_capacity(pending.len());
        for (p, req) in pending.into_iter().zip(&self.requests) {
            let key = req.key.as_ref().ok_or(Error::NothingToSign)?;
            let b = key.sign_digest(p.digest().as_bytes())?;
            out.push(p.complete(b));
        }
        Ok(out)
    }

    /// Ends the message and computes every signature up to the private-key
    /// operation, which is left to the caller ([`PendingSignature`]).
    pub fn finish_pending(&mut self) -> Result<Vec<PendingSignature>, Error> {
        if matches!(self.state, State::Headers { .. }) {
            if self.requests.is_empty() {
                return Err(Error::NothingToSign);
            }
            // No empty line: the whole message is header, the body empty.
            let len = self.buf.len();
            if len == 0 {
                return Err(Error::EmptyMessage);
            }
            if len > self.max_header_bytes {
                return Err(Error::HeaderTooLarge {
                    limit: self.max_header_bytes,
                });
            }
            self.start_body(len)?;
        }
        let (header_len, spans, mut hashes, slots) =
            match core::mem::replace(&mut self.state, State::Done) {
                State::Body {
                    header_len,
                    spans,
                    hashes,
                    slots,
                } => (header_len, spans, hashes, slots),
                _ => return Err(Error::AlreadyFinished),
            };
        let body_hashes = hashes.finish_reset();
        let block = &self.buf[..header_len];
        let fields: Vec<HeaderField<'_>> = spans.iter().map(|s| s.field(block)).collect();
        let mut out = Vec::with_capacity(self.requests.len());
        for (req, slot) in self.requests.iter().zip(&slots) {
            let bh = &body_hashes[*slot];
            out.push(prepare_one(
                req,
                &fields,
                bh.digest,
                bh.canonical_len,
                self.sha256,
            )?);
        }
        self.spare = Some((hashes, slots));
        self.clear_buf();
        Ok(out)
    }

    /// Makes the signer ready for the next message, with the same
    /// signatures requested: options are checked and compiled once when
    /// added, and serve every message after (an MTA signs all mail of a
    /// domain alike). Whatever the last message left (finished or not) is
    /// dropped.
    ///
    /// ```
    /// use waxseal_core::{Domain, PrivateKey, Selector, SignOptions, Signer};
    /// let key = PrivateKey::from_ed25519_seed(&[7; 32]);
    /// let opts = SignOptions::new(Domain::new("example.com")?, Selector::new("sel")?);
    /// let mut signer = Signer::new();
    /// signer.add(opts, &key)?;
    /// for body in ["one", "two"] {
    ///     signer.reset();
    ///     signer.update(format!("From: a@example.com\r\n\r\n{body}\r\n").as_bytes())?;
    ///     assert_eq!(signer.finish()?.len(), 1);
    /// }
    /// # Ok::<(), waxseal_core::Error>(())
    /// ```
    pub fn reset(&mut self) {
        self.clear_buf();
        self.state = State::Headers { scan: 0 };
    }

    /// Empties the header buffer, keeping its memory up to [`KEEP_BUF`].
    fn clear_buf(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUF {
            self.buf = Vec::new();
        }
    }
}

/// The header buffer a signer keeps for its next message ([`Signer::reset`]);
/// a larger one (a huge header block) is freed.
const KEEP_BUF: usize = 64 * 1024;

fn prepare_one(
    req: &Request<'_>,
    fields: &[HeaderField<'_>],
    body_hash: Digest,
    body_len: u64,
    sha256: Option<Sha256Factory>,
) -> Result<PendingSignature, Error> {
    let (o, algorithm) = (&req.options, req.algorithm);
    // the options were validated when added to the signer
    let (h, selected) = req.plan.h_list(fields)?;
    let copied_headers = o.copy_headers.then(|| {
        let parts: Vec<String> = selected.iter().map(|f| z_copy(f)).collect();
        parts.join("|")
    });
    let signature = DkimSignature {
        algorithm,
        signature: Vec::new(),
        body_hash: body_hash.as_bytes().to_vec(),
        canonicalization: o.canonicalization,
        domain: o.domain.clone(),
        signed_headers: h,
        identity: o.identity.clone(),
        body_length: o.body_length.then_some(body_len),
        query_methods: None,
        selector: o.selector.clone(),
        timestamp: o.timestamp,
        expiration: o.expiration,
        copied_headers,
        unknown_tags: Vec::new(),
    };
    let unsigned_field = signature.unsigned_header();
    let header_input = header_hash_input(
        o.canonicalization.header,
        &selected,
        unsigned_field.as_bytes(),
    );
    Ok(PendingSignature {
        signature,
        unsigned_field,
        header_input,
        digest: OnceCell::new(),
        sha256,
    })
}

/// A header field copy for `z=`: `name:value`, unfolded, value white
/// space trimmed, in DKIM-Quoted-Printable (RFC 6376 2.11) with `|`
/// encoded as well (3.5, z= tag).
fn z_copy(f: &HeaderField<'_>) -> String {
    let mut s = String::from_utf8_lossy(f.name).into_owned();
    s.push(':');
    let value: Vec<u8> = f
        .value
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let start = value
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |i| i + 1);
    crate::signature::qp_encode_into(&mut s, &value[start..end], true);
    s
}

/// Signs a whole message in one call: one signature per `(options, key)`
/// pair, in that order.
pub fn sign(
    message: &[u8],
    requests: &[(&SignOptions, &dyn SignDigest)],
) -> Result<Vec<SignatureHeader>, Error> {
    let mut signer = Signer::new();
    for (o, k) in requests {
        signer.add((*o).clone(), *k)?;
    }
    signer.update(message)?;
    signer.finish()
}

/// The message with the signature fields prepended (first signature on
/// top), using the message's own line ending style: LF when its first
/// line ends in a bare LF, CRLF otherwise.
pub fn prepend_signatures(message: &[u8], signatures: &[SignatureHeader]) -> Vec<u8> {
    let lf = match memchr::memchr(b'\n', message) {
        Some(i) => i == 0 || message[i - 1] != b'\r',
        None => false,
    };
    let mut out = Vec::with_capacity(message.len() + signatures.len() * 512);
    for s in signatures {
        if lf {
            out.extend_from_slice(s.field_lf().as_bytes());
        } else {
            out.extend_from_slice(s.field.as_bytes());
        }
    }
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests;

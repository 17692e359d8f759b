//! Hash algorithms and the body hash (RFC 6376 3.7, `bh=`).

use alloc::boxed::Box;
use alloc::vec::Vec;

use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::canonicalize::{BodyCanonicalizer, CanonicalizationAlgorithm};

/// A hash algorithm of DKIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256, the only one waxseal signs with.
    Sha256,
    /// SHA-1: only for verifying old `rsa-sha1` signatures, which RFC 8301
    /// says MUST NOT be signed and MUST NOT be considered valid.
    Sha1,
}

impl HashAlgorithm {
    /// The name used in key records (`h=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha1 => "sha1",
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha1 => 20,
        }
    }

    /// Hashes `data` in one go.
    pub fn digest(self, data: &[u8]) -> Digest {
        self.digest_with(data, None)
    }

    /// Hashes `data` in one go; SHA-256 from `sha256` when given.
    pub fn digest_with(self, data: &[u8], sha256: Option<Sha256Factory>) -> Digest {
        match Hasher::with_sha256(self, sha256) {
            Hasher::External(h) => Digest {
                bytes: h.digest(data),
                len: 32,
            },
            mut h => {
                h.update(data);
                h.finish()
            }
        }
    }
}

/// A finished hash value (up to 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    bytes: [u8; 32],
    len: u8,
}

impl Digest {
    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl core::fmt::Debug for Digest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// SHA-256 computed outside the core: by the host of a WebAssembly
/// component, where native code with the CPU's SHA instructions is several
/// times faster than SHA-256 compiled to WebAssembly. The core still does
/// all parsing and canonicalization and hands over canonical bytes only.
/// Install one with [`Signer::set_sha256`](crate::Signer::set_sha256) or
/// [`Verifier::set_sha256`](crate::Verifier::set_sha256). `Send`, so a
/// signer or verifier can move to another thread between chunks.
pub trait ExternalSha256: Send {
    /// Adds data.
    fn update(&mut self, data: &[u8]);
    /// An independent copy of the running state.
    fn fork(&self) -> Box<dyn ExternalSha256>;
    /// The digest of everything added.
    fn finish(self: Box<Self>) -> [u8; 32];
    /// The digest of everything added, then `data`: for a hash whose data
    /// is all at hand (the header data), in one step where the
    /// implementation can (one call into a host instead of several).
    fn digest(mut self: Box<Self>, data: &[u8]) -> [u8; 32] {
        self.update(data);
        self.finish()
    }
    /// The digest of everything added, the state starting over in place
    /// (keeping its buffers, for the next message); `None`, with nothing
    /// changed, where the implementation cannot (the caller then makes a
    /// fresh state).
    fn finish_reset(&mut self) -> Option<[u8; 32]> {
        None
    }
}

/// Makes a fresh [`ExternalSha256`] state.
pub type Sha256Factory = fn() -> Box<dyn ExternalSha256>;

/// A running hash.
pub enum Hasher {
    /// SHA-256 (uses SHA-NI or other CPU extensions where present).
    Sha256(Sha256),
    /// SHA-1.
    Sha1(Sha1),
    /// SHA-256 computed elsewhere.
    External(Box<dyn ExternalSha256>),
}

impl Clone for Hasher {
    fn clone(&self) -> Self {
        match self {
            Hasher::Sha256(h) => Hasher::Sha256(h.clone()),
            Hasher::Sha1(h) => Hasher::Sha1(h.clone()),
            Hasher::External(h) => Hasher::External(h.fork()),
        }
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(alg: HashAlgorithm) -> Self {
        Self::with_sha256(alg, None)
    }

    /// A fresh hasher; SHA-256 from `sha256` when given.
    pub fn with_sha256(alg: HashAlgorithm, sha256: Option<Sha256Factory>) -> Self {
        match (alg, sha256) {
            (HashAlgorithm::Sha256, Some(make)) => Hasher::External(make()),
            (HashAlgorithm::Sha256, None) => Hasher::Sha256(Sha256::new()),
            (HashAlgorithm::Sha1, _) => Hasher::Sha1(Sha1::new()),
        }
    }

    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::External(h) => h.update(data),
        }
    }

    /// The hash of everything added; the hasher starts over (in place
    /// where it can: a SHA-256 from `sha256` may keep its buffers).
    pub fn finish_reset(&mut self, alg: HashAlgorithm, sha256: Option<Sha256Factory>) -> Digest {
        if let Hasher::External(h) = self
            && let Some(bytes) = h.finish_reset()
        {
            return Digest { bytes, len: 32 };
        }
        core::mem::replace(self, Hasher::with_sha256(alg, sha256)).finish()
    }

    /// The hash of everything added.
    pub fn finish(self) -> Digest {
        let mut bytes = [0u8; 32];
        let len = match self {
            Hasher::Sha256(h) => {
                bytes.copy_from_slice(&h.finalize());
                32
            }
            Hasher::Sha1(h) => {
                bytes[..20].copy_from_slice(&h.finalize());
                20
            }
            Hasher::External(h) => {
                bytes = h.finish();
                32
            }
        };
        Digest { bytes, len }
    }
}

/// The result of hashing a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyHash {
    /// The body hash (`bh=`).
    pub digest: Digest,
    /// Length of the whole canonicalized body in bytes.
    pub canonical_len: u64,
    /// How many canonicalized bytes were hashed: the whole body, or the
    /// `l=` limit when it is shorter. When `hashed_len < canonical_len`,
    /// part of the body is not covered by the signature.
    pub hashed_len: u64,
}

/// A hash that stops after `limit` bytes (the `l=` tag, which counts
/// canonicalized bytes, RFC 6376 3.5) and counts everything it is given.
#[derive(Clone)]
struct LimitedHash {
    hasher: Hasher,
    limit: Option<u64>,
    hashed: u64,
}

impl LimitedHash {
    fn new(alg: HashAlgorithm, limit: Option<u64>, sha256: Option<Sha256Factory>) -> Self {
        LimitedHash {
            hasher: Hasher::with_sha256(alg, sha256),
            limit,
            hashed: 0,
        }
    }

    fn update(&mut self, data: &[u8]) {
        let take = match self.limit {
            Some(l) => (l - self.hashed).min(data.len() as u64) as usize,
            None => data.len(),
        };
        if take > 0 {
            self.hasher.update(&data[..take]);
            self.hashed += take as u64;
        }
    }
}

/// The body hash in one streaming pass: canonicalization and hashing
/// together, memory independent of the body size.
///
/// ```
/// use waxseal_core::{BodyHasher, CanonicalizationAlgorithm, HashAlgorithm};
/// let mut h = BodyHasher::new(CanonicalizationAlgorithm::Relaxed, HashAlgorithm::Sha256, None);
/// h.update(b"Hi.\r\n\r\nWe lost the game.  ");
/// h.update(b"Are you hungry yet?\r\n\r\n");
/// let bh = h.finish();
/// assert_eq!(bh.canonical_len, 46);
/// ```
#[derive(Clone)]
pub struct BodyHasher {
    canon: BodyCanonicalizer,
    hash: LimitedHash,
    total: u64,
}

impl BodyHasher {
    /// A body hasher; `limit` is the `l=` value, if any.
    pub fn new(canon: CanonicalizationAlgorithm, alg: HashAlgorithm, limit: Option<u64>) -> Self {
        let mut canon = BodyCanonicalizer::new(canon);
        canon.set_interleave(true);
        BodyHasher {
            canon,
            hash: LimitedHash::new(alg, limit, None),
            total: 0,
        }
    }

    /// Adds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        let (hash, total) = (&mut self.hash, &mut self.total);
        self.canon.update(chunk, &mut |b: &[u8]| {
            *total += b.len() as u64;
            hash.update(b);
        });
    }

    /// Ends the body and returns its hash.
    pub fn finish(mut self) -> BodyHash {
        let (hash, total) = (&mut self.hash, &mut self.total);
        self.canon.finish(&mut |b: &[u8]| {
            *total += b.len() as u64;
            hash.update(b);
        });
        BodyHash {
            digest: self.hash.hasher.finish(),
            canonical_len: self.total,
            hashed_len: self.hash.hashed,
        }
    }
}

/// Several body hashes in one pass over the body, as needed to make or
/// check several signatures at once: each body canonicalization runs once
/// and feeds every hash that uses it; identical requests share one hash.
#[derive(Clone, Default)]
pub struct BodyHashSet {
    groups: Vec<(BodyCanonicalizer, Vec<usize>)>,
    requests: Vec<(CanonicalizationAlgorithm, HashAlgorithm, Option<u64>)>,
    sha256: Option<Sha256Factory>,
    hashes: Vec<LimitedHash>,
    totals: Vec<u64>,
}

impl BodyHashSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the SHA-256 hashes added from now on come from `sha256`
    /// (`None`: the built-in one).
    pub fn set_sha256(&mut self, sha256: Option<Sha256Factory>) {
        self.sha256 = sha256;
        if sha256.is_some() {
            // the hashes made from now on (also in finish_reset) are a
            // call away: no small pieces for them
            for (canon, _) in &mut self.groups {
                canon.set_interleave(false);
            }
        }
    }

    /// Asks for a body hash; returns its index in the result of
    /// [`finish`](Self::finish). Asking twice for the same thing returns
    /// the same index.
    pub fn add(
        &mut self,
        canon: CanonicalizationAlgorithm,
        alg: HashAlgorithm,
        limit: Option<u64>,
    ) -> usize {
        if let Some(i) = self.requests.iter().position(|r| *r == (canon, alg, limit)) {
            return i;
        }
        let idx = self.requests.len();
        self.requests.push((canon, alg, limit));
        self.hashes.push(LimitedHash::new(alg, limit, self.sha256));
        let g = match self.groups.iter().position(|g| g.0.algorithm() == canon) {
            Some(g) => g,
            None => {
                self.groups
                    .push((BodyCanonicalizer::new(canon), alloc::vec![]));
                self.totals.push(0);
                self.groups.len() - 1
            }
        };
        let (canonicalizer, members) = &mut self.groups[g];
        members.push(idx);
        // pieces as the scan passes them only where every hash of the
        // group runs here (a host's SHA-256 is a call away)
        let hashes = &self.hashes;
        canonicalizer.set_interleave(
            members
                .iter()
                .all(|&m| !matches!(hashes[m].hasher, Hasher::External(_))),
        );
        idx
    }

    /// Adds the next chunk of the body to every hash.
    pub fn update(&mut self, chunk: &[u8]) {
        for (g, (canon, members)) in self.groups.iter_mut().enumerate() {
            let hashes = &mut self.hashes;
            let total = &mut self.totals[g];
            canon.update(chunk, &mut |b: &[u8]| {
                *total += b.len() as u64;
                for &m in members.iter() {
                    hashes[m].update(b);
                }
            });
        }
    }

    /// Ends the body; the results in the order of the indices `add` gave.
    pub fn finish(mut self) -> Vec<BodyHash> {
        self.end_bodies();
        let (groups, totals) = (&self.groups, &self.totals);
        self.hashes
            .into_iter()
            .enumerate()
            .map(|(m, h)| BodyHash {
                digest: h.hasher.finish(),
                canonical_len: canonical_len(groups, totals, m),
                hashed_len: h.hashed,
            })
            .collect()
    }

    /// [`finish`](Self::finish), leaving the set ready for another body
    /// with the same requests (and its buffers allocated).
    pub fn finish_reset(&mut self) -> Vec<BodyHash> {
        self.end_bodies();
        let sha256 = self.sha256;
        let mut out = Vec::with_capacity(self.hashes.len());
        for (m, (h, r)) in self.hashes.iter_mut().zip(&self.requests).enumerate() {
            out.push(BodyHash {
                digest: h.hasher.finish_reset(r.1, sha256),
                canonical_len: canonical_len(&self.groups, &self.totals, m),
                hashed_len: core::mem::take(&mut h.hashed),
            });
        }
        self.totals.iter_mut().for_each(|t| *t = 0);
        out
    }

    /// Ends every canonicalization (each is reset for another body) and
    /// feeds what it held back; `totals` then holds each group's canonical
    /// length.
    fn end_bodies(&mut self) {
        for (g, (canon, members)) in self.groups.iter_mut().enumerate() {
            let hashes = &mut self.hashes;
            let total = &mut self.totals[g];
            canon.finish(&mut |b: &[u8]| {
                *total += b.len() as u64;
                for &m in members.iter() {
                    hashes[m].update(b);
                }
            });
        }
    }
}

/// The canonical length behind hash `m`: the total of its group.
fn canonical_len(groups: &[(BodyCanonicalizer, Vec<usize>)], totals: &[u64], m: usize) -> u64 {
    groups
        .iter()
        .zip(totals)
        .find(|((_, members), _)| members.contains(&m))
        .map_or(0, |(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_prelude::*;
    use CanonicalizationAlgorithm::{Relaxed, Simple};

    #[test]
    fn limit_counts_canonical_bytes() {
        let mut h = BodyHasher::new(Relaxed, HashAlgorithm::Sha256, Some(3));
        h.update(b"a    b\r\n\r\n");
        let r = h.finish();
        assert_eq!(r.canonical_len, 5); // "a b\r\n"
        assert_eq!(r.hashed_len, 3);
        assert_eq!(r.digest, HashAlgorithm::Sha256.digest(b"a b"));
    }

    #[test]
    fn set_matches_single_hashers() {
        let body = b"Hi  there \r\n\r\nbye\n\n";
        let mut set = BodyHashSet::new();
        let reqs = [
            (Relaxed, HashAlgorithm::Sha256, None),
            (Simple, HashAlgorithm::Sha256, None),
            (Relaxed, HashAlgorithm::Sha1, Some(4)),
            (Relaxed, HashAlgorithm::Sha256, None),
        ];
        let idx: Vec<usize> = reqs.iter().map(|r| set.add(r.0, r.1, r.2)).collect();
        assert_eq!(idx, [0, 1, 2, 0]);
        // twice: the second body after finish_reset
        for body in [&body[..], b"second\r\n  body  \r\n\r\n"] {
            set.update(&body[..5]);
            set.update(&body[5..]);
            let got = set.finish_reset();
            for (r, i) in reqs.iter().zip(&idx) {
                let mut h = BodyHasher::new(r.0, r.1, r.2);
                h.update(body);
                assert_eq!(got[*i], h.finish());
            }
        }
    }

    /// An external SHA-256 that buffers its data and starts over in place.
    struct Buffered(Vec<u8>);

    impl ExternalSha256 for Buffered {
        fn update(&mut self, data: &[u8]) {
            self.0.extend_from_slice(data);
        }
        fn fork(&self) -> Box<dyn ExternalSha256> {
            Box::new(Buffered(self.0.clone()))
        }
        fn finish(self: Box<Self>) -> [u8; 32] {
            Sha256::digest(&self.0).into()
        }
        fn finish_reset(&mut self) -> Option<[u8; 32]> {
            let d = Sha256::digest(&self.0).into();
            self.0.clear();
            Some(d)
        }
    }

    #[test]
    fn external_hashes_start_over_in_place() {
        fn buffered() -> Box<dyn ExternalSha256> {
            Box::new(Buffered(Vec::new()))
        }
        let mut set = BodyHashSet::new();
        set.set_sha256(Some(buffered));
        let a = set.add(Relaxed, HashAlgorithm::Sha256, None);
        let b = set.add(Simple, HashAlgorithm::Sha256, Some(7));
        for body in [&b"one  line\r\n"[..], b"", b"two\r\nlines \r\n\r\n", b"x"] {
            set.update(body);
            let got = set.finish_reset();
            for (i, canon, limit) in [(a, Relaxed, None), (b, Simple, Some(7))] {
                let mut h = BodyHasher::new(canon, HashAlgorithm::Sha256, limit);
                h.update(body);
                assert_eq!(got[i], h.finish(), "{:?}", String::from_utf8_lossy(body));
            }
        }
    }
}

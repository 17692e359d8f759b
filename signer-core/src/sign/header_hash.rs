//! The header hash (RFC 6376 3.7): the selected fields and the signature
//! field without its `b=` value, canonicalized, hashed.

use alloc::vec::Vec;

use crate::canonicalize::{CanonicalizationAlgorithm, canonicalize_header};
use crate::hash::{Digest, HashAlgorithm};
use crate::message::HeaderField;

/// The header hash (RFC 6376 3.7): the selected header fields, each
/// canonicalized, then the signature's own field with an empty `b=` value
/// (`unsigned_field`: name, colon and value, no final CRLF needed),
/// canonicalized, without its final CRLF.
pub fn header_hash(
    hash: HashAlgorithm,
    canon: CanonicalizationAlgorithm,
    selected: &[&HeaderField<'_>],
    unsigned_field: &[u8],
) -> Digest {
    hash.digest(&header_hash_input(canon, selected, unsigned_field))
}

/// The canonicalized header data that [`header_hash`] hashes (RFC 6376
/// 3.7): what RSA signs, and what diagnostics show.
pub fn header_hash_input(
    canon: CanonicalizationAlgorithm,
    selected: &[&HeaderField<'_>],
    unsigned_field: &[u8],
) -> Vec<u8> {
    // room for the usual case: canonical forms are no longer than the
    // fields plus a CRLF each (simple with bare LFs may grow further)
    let size = selected.iter().map(|f| f.raw.len() + 2).sum::<usize>() + unsigned_field.len() + 2;
    let mut buf = Vec::with_capacity(size);
    for f in selected {
        canonicalize_header(canon, f.raw, &mut buf);
    }
    canonicalize_header(canon, unsigned_field, &mut buf);
    buf.truncate(buf.len() - 2);
    buf
}

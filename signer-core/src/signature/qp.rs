//! DKIM-Quoted-Printable (RFC 6376 2.11).

use alloc::string::String;
use alloc::vec::Vec;

/// Decodes DKIM-Quoted-Printable (RFC 6376 2.11): `=XX` is the byte with
/// hex value XX (either case accepted); folding white space was removed
/// by the caller. `None` for a malformed `=` sequence.
pub fn qp_decode(v: &[u8]) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'=' {
            let hi = hex(*v.get(i + 1)?)?;
            let lo = hex(*v.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Encodes DKIM-Quoted-Printable (RFC 6376 2.11): every byte outside
/// `%x21-3A / %x3C / %x3E-7E` (so `;`, `=`, white space, controls and
/// 8-bit bytes) as `=XX`.
pub fn qp_encode(v: &[u8]) -> String {
    let mut s = String::with_capacity(v.len());
    qp_encode_into(&mut s, v, false);
    s
}

/// [`qp_encode`] appending to `out`; with `encode_bar`, `|` is encoded too
/// (the z= tag separates its copies with it, RFC 6376 3.5).
pub(crate) fn qp_encode_into(out: &mut String, v: &[u8], encode_bar: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if matches!(b, 0x21..=0x3a | 0x3c | 0x3e..=0x7e) && !(encode_bar && b == b'|') {
            out.push(b as char);
        } else {
            out.push('=');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

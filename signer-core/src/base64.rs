//! Base64 as DKIM uses it (RFC 6376 2.4: RFC 2045 base64, in tags with
//! folding white space allowed anywhere).

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Error;

/// The standard alphabet (RFC 4648 4); padding is written, and optional
/// when reading (some publishers drop it).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of the padded encoding of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Encodes with padding, no line breaks.
pub fn encode(data: &[u8]) -> String {
    let mut out = alloc::vec![0u8; encoded_len(data.len())];
    let n = encode_to(data, &mut out).len();
    out.truncate(n);
    // only alphabet characters and `=` were written
    String::from_utf8(out).unwrap_or_default()
}

/// Encodes with padding into the start of `out`, which should hold
/// [`encoded_len`] bytes, and returns the text; a shorter `out` gets as
/// many whole groups as fit (and no padding).
///
/// Design note: a table lookup per character with no per-call set-up. The
/// values encoded are short (`bh=`, `b=`: 32 to 512 bytes), where the
/// general engine's set-up costs more than the loop, in WebAssembly most.
pub fn encode_to<'o>(data: &[u8], out: &'o mut [u8]) -> &'o str {
    let a = |v: u32| ALPHABET[(v & 63) as usize];
    let (groups, rest) = data.as_chunks::<3>();
    let (slots, _) = out.as_chunks_mut::<4>();
    for (g, o) in groups.iter().zip(slots.iter_mut()) {
        let v = u32::from(g[0]) << 16 | u32::from(g[1]) << 8 | u32::from(g[2]);
        *o = [a(v >> 18), a(v >> 12), a(v >> 6), a(v)];
    }
    let mut n = groups.len().min(slots.len()) * 4;
    // the last one or two bytes, padded, after all whole groups
    if let ([first, more @ ..], true, Some(o)) =
        (rest, n == groups.len() * 4, slots.get_mut(groups.len()))
    {
        let v = u32::from(*first) << 16 | more.first().map_or(0, |b| u32::from(*b) << 8);
        let third = if more.is_empty() { b'=' } else { a(v >> 6) };
        *o = [a(v >> 18), a(v >> 12), third, b'='];
        n += 4;
    }
    core::str::from_utf8(&out[..n]).unwrap_or_default()
}

/// The value of each alphabet character; 0xff for every other byte.
const VALUES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Decodes, ignoring folding white space (SP, HTAB, CR, LF) anywhere.
/// Padding is optional, and when present follows a short last group;
/// the unused low bits of a short last group must be zero (a canonical
/// encoding, as RFC 4648 3.5 allows decoders to require).
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Error> {
    decode_clean(&crate::tag_list::without_fws(text)).ok_or(Error::InvalidBase64)
}

fn decode_clean(text: &[u8]) -> Option<Vec<u8>> {
    let pad = text
        .iter()
        .rev()
        .take(2)
        .take_while(|b| **b == b'=')
        .count();
    let body = &text[..text.len() - pad];
    let tail = body.len() % 4;
    // padding follows a short last group, and does not overfill it (it
    // may stop short: "AA=" decodes, as in the base64 crate's reading);
    // a group of one character is no byte
    if tail == 1 || (pad > 0 && (tail == 0 || tail + pad > 4)) {
        return None;
    }
    let (groups, rest) = body.as_chunks::<4>();
    let mut out = Vec::with_capacity(groups.len() * 3 + 2);
    for g in groups {
        let [a, b, c, d] = g.map(|x| VALUES[usize::from(x)]);
        if (a | b | c | d) & 0xc0 != 0 {
            return None;
        }
        let v = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    // at most three characters
    let mut vals = [0u8; 3];
    for (v, x) in vals.iter_mut().zip(rest) {
        *v = VALUES[usize::from(*x)];
    }
    let vals = &vals[..rest.len()];
    if vals.iter().any(|v| v & 0xc0 != 0) {
        return None;
    }
    match *vals {
        [] => {}
        [a, b] if b & 0x0f == 0 => out.push(a << 2 | b >> 4),
        [a, b, c] if c & 0x03 == 0 => {
            out.push(a << 2 | b >> 4);
            out.push(b << 4 | c >> 2);
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

    /// The `base64` crate's engine with the same rules, as the reference.
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );

    #[test]
    fn decode_matches_the_general_engine() {
        // every string of up to 6 characters over an alphabet with the
        // edge cases (values with and without low bits, padding, a foreign
        // byte), and longer encodings of every length
        let chars = b"AQgh/+=*";
        for n in 0..=6u32 {
            for k in 0..8usize.pow(n) {
                let (mut x, mut t) = (k, Vec::new());
                for _ in 0..n {
                    t.push(chars[x % 8]);
                    x /= 8;
                }
                assert_eq!(
                    decode_clean(&t),
                    ENGINE.decode(&t).ok(),
                    "{:?}",
                    String::from_utf8_lossy(&t)
                );
            }
        }
        for len in 0..=200usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 131 + len * 7) as u8).collect();
            let text = ENGINE.encode(&data);
            assert_eq!(decode(text.as_bytes()).unwrap(), data);
            let bare = text.trim_end_matches('=');
            assert_eq!(decode(bare.as_bytes()).unwrap(), data);
        }
    }
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    #[test]
    fn fws_and_padding() {
        assert_eq!(decode(b"aGVs\r\n\tbG8=").unwrap(), b"hello");
        assert_eq!(decode(b"aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode(b"aGVsbG8*"), Err(Error::InvalidBase64));
        assert_eq!(encode(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn encode_matches_the_general_engine() {
        // every length of the three residues, bytes of every value
        for len in 0..=200usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 167 + len * 31) as u8).collect();
            let want = ENGINE.encode(&data);
            assert_eq!(encode(&data), want, "{len} bytes");
            assert_eq!(encoded_len(len), want.len());
            // a buffer with room to spare, and one too short: whole groups only
            let mut big = [0u8; 300];
            assert_eq!(encode_to(&data, &mut big), want);
            let mut short = [0u8; 10];
            let part = encode_to(&data, &mut short);
            assert_eq!(part, &want[..want.len().min(8)], "{len} bytes, short");
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(encode(&all), ENGINE.encode(&all));
    }
}

//! Writing a `DKIM-Signature` field, folded to 78 columns.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::base64;
use crate::message::HeaderName;

use super::*;

impl DkimSignature {
    /// The whole header field as waxseal writes it, folded to 78 columns,
    /// with CRLF line breaks and a final CRLF. Tags come in the order v a c
    /// d i q s t x l h z bh b; `b=` is last, so the hashed form of the
    /// field is [`unsigned_header`](Self::unsigned_header).
    pub fn to_header(&self) -> String {
        self.header_with_b(self.unsigned_header())
    }

    /// [`to_header`](Self::to_header) from this signature's
    /// [`unsigned_header`](Self::unsigned_header), already written.
    pub(crate) fn header_with_b(&self, unsigned: String) -> String {
        let mut w = Folder::resume(unsigned);
        w.base64_value(&self.signature);
        w.out.push_str("\r\n");
        w.out
    }

    /// The header field with an empty `b=` and no final CRLF: exactly the
    /// bytes that go into the header hash for this signature (RFC 6376
    /// 3.7), before canonicalization.
    pub fn unsigned_header(&self) -> String {
        let mut w = Folder::new();
        self.write_unsigned(&mut w);
        w.out
    }

    fn write_unsigned(&self, w: &mut Folder) {
        w.tag("v", "1");
        w.tag("a", self.algorithm.as_str());
        w.tag("c", self.canonicalization.as_str());
        w.tag("d", self.domain.as_str());
        if let Some(i) = &self.identity {
            w.tag("i", &qp_encode(i.to_string().as_bytes()));
        }
        if let Some(q) = &self.query_methods {
            w.tag("q", &q.join(":"));
        }
        w.tag("s", self.selector.as_str());
        let mut digits = [0u8; 20];
        if let Some(t) = self.timestamp {
            w.tag("t", decimal(t, &mut digits));
        }
        if let Some(x) = self.expiration {
            w.tag("x", decimal(x, &mut digits));
        }
        if let Some(l) = self.body_length {
            w.tag("l", decimal(l, &mut digits));
        }
        for (name, value) in &self.unknown_tags {
            w.tag(name, value);
        }
        w.start_tag("h");
        if self.signed_headers.iter().any(|n| n.contains(':')) {
            // not field names: fold as text (only a hand-made value can get here)
            w.splittable_value(&self.signed_headers.join(":"), b":");
        } else {
            w.list_value(&self.signed_headers, ':');
        }
        w.out.push(';');
        w.col += 1;
        if let Some(z) = &self.copied_headers {
            w.start_tag("z");
            w.splittable_value(z, b"|");
            w.out.push(';');
            w.col += 1;
        }
        w.start_tag("bh");
        w.base64_value(&self.body_hash);
        w.out.push(';');
        w.col += 1;
        w.start_tag("b");
    }
}

/// `n` in decimal, written into `buf`.
pub(super) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    core::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// Writes `name=value;` pieces, folding with CRLF + TAB at 78 columns.
pub(super) struct Folder {
    pub(super) out: String,
    pub(super) col: usize,
}

impl Folder {
    pub(super) fn new() -> Self {
        // room for the whole field of the usual signature (Ed25519 or
        // RSA-2048, `b=` included): no reallocation when it is completed
        let mut out = String::with_capacity(1024);
        out.push_str(HEADER_NAME);
        out.push(':');
        Folder {
            col: out.len(),
            out,
        }
    }

    /// Goes on writing after `out`, a field written by a `Folder`.
    pub(super) fn resume(out: String) -> Self {
        // after a fold, the column counts the TAB as one
        let col = out.rfind('\n').map_or(out.len(), |i| out.len() - i - 1);
        Folder { out, col }
    }

    pub(super) fn fold(&mut self) {
        self.out.push_str("\r\n\t");
        self.col = 1;
    }

    /// A short tag written whole, folding before it when it does not fit.
    pub(super) fn tag(&mut self, name: &str, value: &str) {
        let len = name.len() + 1 + value.len() + 1;
        if self.col + 1 + len > FOLD_WIDTH {
            self.fold();
        } else {
            self.out.push(' ');
            self.col += 1;
        }
        self.out.push_str(name);
        self.out.push('=');
        self.out.push_str(value);
        self.out.push(';');
        self.col += len;
    }

    /// Writes ` name=`, folding first unless at least `name=` and a few
    /// characters of the value fit: the value of `b=` then never starts on
    /// a new line, so every way of deleting it gives the same bytes.
    pub(super) fn start_tag(&mut self, name: &str) {
        if self.col + 1 + name.len() + 1 + 8 > FOLD_WIDTH {
            self.fold();
        } else {
            self.out.push(' ');
            self.col += 1;
        }
        self.out.push_str(name);
        self.out.push('=');
        self.col += name.len() + 1;
    }

    /// Writes `items` joined by `sep`, folding after a separator: the same
    /// as [`splittable_value`](Self::splittable_value) on the joined text,
    /// for items without `sep`, without joining them first.
    pub(super) fn list_value(&mut self, items: &[HeaderName], sep: char) {
        for (i, item) in items.iter().enumerate() {
            let last = i + 1 == items.len();
            let len = item.len() + usize::from(!last);
            let room = FOLD_WIDTH.saturating_sub(self.col + 1).max(1);
            if len > room && self.col > 1 && !self.out.ends_with('=') {
                self.fold();
            }
            self.out.push_str(item);
            if !last {
                self.out.push(sep);
            }
            self.col += len;
            if !last && self.col + 1 >= FOLD_WIDTH {
                self.fold();
            }
        }
    }

    /// Writes `data` in base64, folding anywhere (as
    /// [`splittable_value`](Self::splittable_value)); encoded on the stack
    /// when it fits (`bh=`, the `b=` of keys up to 4096 bits).
    pub(super) fn base64_value(&mut self, data: &[u8]) {
        let mut stack = [0u8; 684];
        let mut heap = Vec::new();
        let buf = if base64::encoded_len(data.len()) <= stack.len() {
            &mut stack[..]
        } else {
            heap.resize(base64::encoded_len(data.len()), 0);
            &mut heap[..]
        };
        self.splittable_value(base64::encode_to(data, buf), b"");
    }

    /// Writes a long value, folding between pieces: after any byte of
    /// `seps` when given, else anywhere (base64 allows FWS between any two
    /// characters).
    pub(super) fn splittable_value(&mut self, value: &str, seps: &[u8]) {
        let mut rest = value;
        while !rest.is_empty() {
            let room = FOLD_WIDTH.saturating_sub(self.col + 1).max(1);
            // The next piece: up to and including a separator, or `room`
            // characters of base64.
            let piece_len = if seps.is_empty() {
                room.min(rest.len())
            } else {
                rest.bytes()
                    .position(|b| seps.contains(&b))
                    .map_or(rest.len(), |i| i + 1)
            };
            if piece_len > room && self.col > 1 && !self.out.ends_with('=') {
                self.fold();
                continue;
            }
            let (piece, tail) = rest.split_at(piece_len.min(rest.len()));
            self.out.push_str(piece);
            self.col += piece.len();
            rest = tail;
            if !rest.is_empty() && self.col + 1 >= FOLD_WIDTH {
                self.fold();
            }
        }
    }
}

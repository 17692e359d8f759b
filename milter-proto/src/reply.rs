//! Packets to the MTA: each [`Reply`] encoded.

use crate::Negotiated;

/// A reply to the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `c`: go on.
    Continue,
    /// `a`: accept the message; no more commands for it (at CONNECT or
    /// HELO: for the whole connection).
    Accept,
    /// `r`: reject (5xx).
    Reject,
    /// `t`: fail temporarily (4xx): the client tries again later.
    TempFail,
    /// `d`: accept and throw away.
    Discard,
    /// `s`: no more body chunks for this message (only in reply to one,
    /// with [`flag::SKIP`](crate::flag::SKIP) negotiated).
    Skip,
    /// `p`: still working (restarts the MTA's timeout).
    Progress,
    /// `y`: a full SMTP reply, e.g. `451 4.7.1 try again`.
    ReplyCode(&'a [u8]),
    /// `h`: append a header field (end of message only).
    AddHeader {
        /// Field name.
        name: &'a [u8],
        /// Value: LF between folded lines, never CR; with its leading
        /// space when [`flag::HEADER_LEADING_SPACE`](crate::flag::HEADER_LEADING_SPACE) was negotiated.
        value: &'a [u8],
    },
    /// `i`: insert a header field at `index` (end of message only). In
    /// Postfix, 0 is the very top, above its own (hidden) Received field,
    /// and 1 just below it.
    InsertHeader {
        /// Position.
        index: u32,
        /// Field name.
        name: &'a [u8],
        /// Value, as for [`Reply::AddHeader`].
        value: &'a [u8],
    },
    /// `m`: change the `index`-th field called `name` (1-based); an empty
    /// value deletes it (end of message only).
    ChangeHeader {
        /// Which occurrence of the name, from 1.
        index: u32,
        /// Field name.
        name: &'a [u8],
        /// New value; empty deletes.
        value: &'a [u8],
    },
    /// `O`: the answer to the MTA's offer.
    OptNeg {
        /// The negotiated options.
        options: Negotiated,
        /// Macros wanted per stage (`stage::*`), names separated by
        /// spaces, e.g. `{auth_authen} {auth_type}`.
        macros: &'a [(u32, &'a str)],
    },
}

/// Bytes of a string in a packet: NUL bytes cannot be sent, so they are
/// left out.
fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(s.iter().copied().filter(|&b| b != 0));
    out.push(0);
}

impl Reply<'_> {
    /// Appends the reply as a packet, length prefix included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Reply::Continue => out.push(b'c'),
            Reply::Accept => out.push(b'a'),
            Reply::Reject => out.push(b'r'),
            Reply::TempFail => out.push(b't'),
            Reply::Discard => out.push(b'd'),
            Reply::Skip => out.push(b's'),
            Reply::Progress => out.push(b'p'),
            Reply::ReplyCode(text) => {
                out.push(b'y');
                put_str(out, text);
            }
            Reply::AddHeader { name, value } => {
                out.push(b'h');
                put_str(out, name);
                put_str(out, value);
            }
            Reply::InsertHeader { index, name, value } => {
                out.push(b'i');
                out.extend_from_slice(&index.to_be_bytes());
                put_str(out, name);
                put_str(out, value);
            }
            Reply::ChangeHeader { index, name, value } => {
                out.push(b'm');
                out.extend_from_slice(&index.to_be_bytes());
                put_str(out, name);
                put_str(out, value);
            }
            Reply::OptNeg { options, macros } => {
                out.push(b'O');
                out.extend_from_slice(&options.version.to_be_bytes());
                out.extend_from_slice(&options.actions.to_be_bytes());
                out.extend_from_slice(&options.protocol.to_be_bytes());
                for (stage, names) in macros.iter() {
                    out.extend_from_slice(&stage.to_be_bytes());
                    put_str(out, names.as_bytes());
                }
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

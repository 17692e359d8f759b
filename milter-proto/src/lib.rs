//! # waxseal-milter-proto
//!
//! The Sendmail milter protocol, version 6, as an MTA (Postfix, Sendmail)
//! speaks it to a mail filter, without I/O: [`parse`] turns a packet into a
//! [`Command`], [`Reply::encode`] writes a reply packet, and [`negotiate`]
//! answers the MTA's option offer. The `waxseal milter` server does the
//! reading and writing; this crate is small and dependency-free so that it
//! can be fuzzed on its own.
//!
//! ## The wire format
//!
//! Every packet, both ways, is a 4-byte big-endian length, then one command
//! byte, then data; the length counts the command byte and the data. Strings
//! end in a NUL byte. Header names and values are bytes, never text: a
//! header with 8-bit bytes reaches the filter as it is on the wire.
//!
//! ## Facts about Postfix that shape it
//!
//! - Postfix offers version 6, every action (0x1FF) and every protocol flag
//!   (0x1FFFFF). It accepts a lower version in the reply and any protocol
//!   bits; actions must be a subset of what it offered.
//! - A header packet can be as large as `header_size_limit` (100 KiB by
//!   default): over libmilter's 64 KiB packet limit, so the reader's limit
//!   must be larger ([`DEFAULT_MAX_PACKET`]).
//! - Folded header values arrive with LF (not CRLF) between the lines.
//! - `MACRO`, `ABORT` and `QUIT` never get a reply; nor does any command
//!   whose `NR_*` flag was negotiated. Replying anyway puts the two sides
//!   out of step, so [`Command::expects_reply`] decides.
//! - Postfix sends `ABORT` after every message, also after one it accepted:
//!   it means "forget the message", never "the connection is over".
//! - Header changes are only honoured in reply to end-of-message, before
//!   the final reply.
#![forbid(unsafe_code)]

use std::fmt;

/// The protocol version this crate speaks.
pub const VERSION: u32 = 6;

/// The largest packet [`read_len`] accepts by default: far above Postfix's
/// largest (a 100 KiB header, a 64 KiB body chunk), far below what could
/// exhaust memory.
pub const DEFAULT_MAX_PACKET: usize = 1 << 20;

/// Actions a filter may ask for (`SMFIF_*`).
pub mod action {
    /// Add header fields.
    pub const ADD_HEADERS: u32 = 0x001;
    /// Replace the body.
    pub const CHANGE_BODY: u32 = 0x002;
    /// Add recipients.
    pub const ADD_RECIPIENTS: u32 = 0x004;
    /// Remove recipients.
    pub const DELETE_RECIPIENTS: u32 = 0x008;
    /// Change or delete header fields.
    pub const CHANGE_HEADERS: u32 = 0x010;
    /// Quarantine the message.
    pub const QUARANTINE: u32 = 0x020;
    /// Change the envelope sender.
    pub const CHANGE_FROM: u32 = 0x040;
    /// Add recipients with ESMTP arguments.
    pub const ADD_RECIPIENTS_WITH_ARGS: u32 = 0x080;
    /// Ask for the macros of each stage (the list in the negotiation reply).
    pub const SET_MACRO_LISTS: u32 = 0x100;
}

/// Protocol flags (`SMFIP_*`): what the MTA leaves out, and which commands
/// get no reply.
pub mod flag {
    /// Do not send CONNECT.
    pub const NO_CONNECT: u32 = 0x0000_0001;
    /// Do not send HELO.
    pub const NO_HELO: u32 = 0x0000_0002;
    /// Do not send MAIL.
    pub const NO_MAIL: u32 = 0x0000_0004;
    /// Do not send RCPT.
    pub const NO_RCPT: u32 = 0x0000_0008;
    /// Do not send the body.
    pub const NO_BODY: u32 = 0x0000_0010;
    /// Do not send header fields.
    pub const NO_HEADERS: u32 = 0x0000_0020;
    /// Do not send end-of-headers.
    pub const NO_EOH: u32 = 0x0000_0040;
    /// No reply to header fields.
    pub const NR_HEADER: u32 = 0x0000_0080;
    /// Do not send unknown SMTP commands.
    pub const NO_UNKNOWN: u32 = 0x0000_0100;
    /// Do not send DATA.
    pub const NO_DATA: u32 = 0x0000_0200;
    /// The filter may answer a body chunk with SKIP.
    pub const SKIP: u32 = 0x0000_0400;
    /// Also send rejected recipients.
    pub const RCPT_REJECTED: u32 = 0x0000_0800;
    /// No reply to CONNECT.
    pub const NR_CONNECT: u32 = 0x0000_1000;
    /// No reply to HELO.
    pub const NR_HELO: u32 = 0x0000_2000;
    /// No reply to MAIL.
    pub const NR_MAIL: u32 = 0x0000_4000;
    /// No reply to RCPT.
    pub const NR_RCPT: u32 = 0x0000_8000;
    /// No reply to DATA.
    pub const NR_DATA: u32 = 0x0001_0000;
    /// No reply to unknown commands.
    pub const NR_UNKNOWN: u32 = 0x0002_0000;
    /// No reply to end-of-headers.
    pub const NR_EOH: u32 = 0x0004_0000;
    /// No reply to body chunks.
    pub const NR_BODY: u32 = 0x0008_0000;
    /// Header values keep their leading space, both ways.
    pub const HEADER_LEADING_SPACE: u32 = 0x0010_0000;
}

/// The stages a negotiation reply can name macros for (`SMFIM_*`).
pub mod stage {
    /// CONNECT.
    pub const CONNECT: u32 = 0;
    /// HELO.
    pub const HELO: u32 = 1;
    /// MAIL FROM.
    pub const MAIL: u32 = 2;
    /// RCPT TO.
    pub const RCPT: u32 = 3;
    /// DATA.
    pub const DATA: u32 = 4;
    /// End of message (also sent with each body chunk by Postfix).
    pub const END_OF_MESSAGE: u32 = 5;
    /// End of headers (also sent with each header by Postfix).
    pub const END_OF_HEADERS: u32 = 6;
}

/// How the client reached the MTA (CONNECT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Not known (no address follows).
    Unknown,
    /// A unix socket.
    Unix,
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

/// A command from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `O`: the MTA's offer.
    OptNeg {
        /// Protocol version.
        version: u32,
        /// Actions the MTA allows (`action::*`).
        actions: u32,
        /// Protocol flags it can honour (`flag::*`).
        protocol: u32,
    },
    /// `D`: macros for the command named by `stage` (a command byte).
    Macros {
        /// The command the macros go with, e.g. `b'M'`.
        stage: u8,
        /// Name and value pairs, names as the MTA writes them (`i`,
        /// `{auth_authen}`).
        pairs: Vec<(&'a [u8], &'a [u8])>,
    },
    /// `C`: a client connected.
    Connect {
        /// Its host name (or `[address]`).
        hostname: &'a [u8],
        /// How it connected.
        family: Family,
        /// Its port (0 when not known).
        port: u16,
        /// Its address, as text (empty when not known).
        address: &'a [u8],
    },
    /// `H`: HELO/EHLO.
    Helo(&'a [u8]),
    /// `M`: MAIL FROM, the sender then the ESMTP arguments.
    Mail(Vec<&'a [u8]>),
    /// `R`: RCPT TO, the recipient then the ESMTP arguments.
    Rcpt(Vec<&'a [u8]>),
    /// `T`: DATA.
    Data,
    /// `L`: one header field.
    Header {
        /// The field name.
        name: &'a [u8],
        /// The value: with its leading space when
        /// [`flag::HEADER_LEADING_SPACE`] was negotiated; folded lines
        /// joined by LF.
        value: &'a [u8],
    },
    /// `N`: the end of the header block.
    EndOfHeaders,
    /// `B`: a chunk of the body (CRLF lines, split anywhere).
    Body(&'a [u8]),
    /// `E`: the end of the message; the data is a last body chunk, empty
    /// from Postfix.
    EndOfMessage(&'a [u8]),
    /// `A`: forget the current message (no reply).
    Abort,
    /// `Q`: the MTA closes the connection (no reply).
    Quit,
    /// `K`: forget the connection, a new one follows on the same socket
    /// (no reply).
    QuitNewConnection,
    /// `U`: an SMTP command the MTA did not know.
    Unknown(&'a [u8]),
}

impl Command<'_> {
    /// The command byte.
    pub fn code(&self) -> u8 {
        match self {
            Command::OptNeg { .. } => b'O',
            Command::Macros { .. } => b'D',
            Command::Connect { .. } => b'C',
            Command::Helo(_) => b'H',
            Command::Mail(_) => b'M',
            Command::Rcpt(_) => b'R',
            Command::Data => b'T',
            Command::Header { .. } => b'L',
            Command::EndOfHeaders => b'N',
            Command::Body(_) => b'B',
            Command::EndOfMessage(_) => b'E',
            Command::Abort => b'A',
            Command::Quit => b'Q',
            Command::QuitNewConnection => b'K',
            Command::Unknown(_) => b'U',
        }
    }

    /// Whether the MTA waits for a reply to this command, given the
    /// negotiated protocol flags.
    pub fn expects_reply(&self, protocol: u32) -> bool {
        let no_reply = match self {
            Command::Macros { .. }
            | Command::Abort
            | Command::Quit
            | Command::QuitNewConnection => return false,
            Command::OptNeg { .. } | Command::EndOfMessage(_) => return true,
            Command::Connect { .. } => flag::NR_CONNECT,
            Command::Helo(_) => flag::NR_HELO,
            Command::Mail(_) => flag::NR_MAIL,
            Command::Rcpt(_) => flag::NR_RCPT,
            Command::Data => flag::NR_DATA,
            Command::Header { .. } => flag::NR_HEADER,
            Command::EndOfHeaders => flag::NR_EOH,
            Command::Body(_) => flag::NR_BODY,
            Command::Unknown(_) => flag::NR_UNKNOWN,
        };
        protocol & no_reply == 0
    }
}

/// A packet that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A packet with no command byte (length 0).
    Empty,
    /// The length prefix is over the limit.
    TooLarge {
        /// The announced length.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// A command byte this crate does not know.
    UnknownCommand(u8),
    /// The data is shorter than the command needs, or a string lacks its
    /// final NUL byte.
    Truncated {
        /// The command byte.
        command: u8,
    },
    /// An unknown address family in CONNECT.
    BadFamily(u8),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Empty => f.write_str("empty packet"),
            ProtocolError::TooLarge { len, limit } => {
                write!(f, "packet of {len} bytes (limit {limit})")
            }
            ProtocolError::UnknownCommand(c) => write!(f, "unknown command {}", Printable(*c)),
            ProtocolError::Truncated { command } => {
                write!(f, "truncated {} command", Printable(*command))
            }
            ProtocolError::BadFamily(c) => {
                write!(f, "unknown address family {} in CONNECT", Printable(*c))
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A command byte for messages: the character when printable, else hex.
struct Printable(u8);

impl fmt::Display for Printable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", self.0 as char)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

/// The length of the packet that follows a 4-byte prefix, checked against
/// `limit`.
pub fn read_len(prefix: [u8; 4], limit: usize) -> Result<usize, ProtocolError> {
    let len = u32::from_be_bytes(prefix);
    match usize::try_from(len) {
        Ok(0) => Err(ProtocolError::Empty),
        Ok(n) if n <= limit => Ok(n),
        _ => Err(ProtocolError::TooLarge {
            len: u64::from(len),
            limit,
        }),
    }
}

/// Reads NUL-terminated strings off the front of some data.
struct Strings<'a> {
    rest: &'a [u8],
    command: u8,
}

impl<'a> Strings<'a> {
    fn next(&mut self) -> Result<&'a [u8], ProtocolError> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(ProtocolError::Truncated {
                command: self.command,
            })?;
        let s = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        Ok(s)
    }

    /// Every string up to the end (the data must end in NUL, or be empty).
    fn all(mut self) -> Result<Vec<&'a [u8]>, ProtocolError> {
        let mut out = Vec::new();
        while !self.rest.is_empty() {
            out.push(self.next()?);
        }
        Ok(out)
    }
}

fn u32_at(data: &[u8], at: usize, command: u8) -> Result<u32, ProtocolError> {
    data.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(ProtocolError::Truncated { command })
}

/// Parses a packet (the command byte and its data, without the length
/// prefix). Never panics, on any input.
pub fn parse(packet: &[u8]) -> Result<Command<'_>, ProtocolError> {
    let (&code, data) = packet.split_first().ok_or(ProtocolError::Empty)?;
    let strings = || Strings {
        rest: data,
        command: code,
    };
    Ok(match code {
        b'O' => Command::OptNeg {
            version: u32_at(data, 0, code)?,
            actions: u32_at(data, 4, code)?,
            protocol: u32_at(data, 8, code)?,
        },
        b'D' => {
            let (&stage, rest) = data
                .split_first()
                .ok_or(ProtocolError::Truncated { command: code })?;
            let items = Strings {
                rest,
                command: code,
            }
            .all()?;
            if items.len() % 2 != 0 {
                return Err(ProtocolError::Truncated { command: code });
            }
            Command::Macros {
                stage,
                pairs: items.chunks_exact(2).map(|p| (p[0], p[1])).collect(),
            }
        }
        b'C' => {
            let mut s = strings();
            let hostname = s.next()?;
            let (&fam, rest) = s
                .rest
                .split_first()
                .ok_or(ProtocolError::Truncated { command: code })?;
            let family = match fam {
                b'U' => Family::Unknown,
                b'L' => Family::Unix,
                b'4' => Family::Inet,
                b'6' => Family::Inet6,
                other => return Err(ProtocolError::BadFamily(other)),
            };
            if family == Family::Unknown {
                Command::Connect {
                    hostname,
                    family,
                    port: 0,
                    address: b"",
                }
            } else {
                let port = rest
                    .get(..2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .ok_or(ProtocolError::Truncated { command: code })?;
                let address = Strings {
                    rest: &rest[2..],
                    command: code,
                }
                .next()?;
                Command::Connect {
                    hostname,
                    family,
                    port,
                    address,
                }
            }
        }
        b'H' => Command::Helo(strings().next()?),
        b'M' => Command::Mail(strings().all()?),
        b'R' => Command::Rcpt(strings().all()?),
        b'T' => Command::Data,
        b'L' => {
            let mut s = strings();
            Command::Header {
                name: s.next()?,
                value: s.next()?,
            }
        }
        b'N' => Command::EndOfHeaders,
        b'B' => Command::Body(data),
        b'E' => Command::EndOfMessage(data),
        b'A' => Command::Abort,
        b'Q' => Command::Quit,
        b'K' => Command::QuitNewConnection,
        b'U' => Command::Unknown(strings().next()?),
        other => return Err(ProtocolError::UnknownCommand(other)),
    })
}

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
    /// with [`flag::SKIP`] negotiated).
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
        /// space when [`flag::HEADER_LEADING_SPACE`] was negotiated.
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

/// The options both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Protocol version.
    pub version: u32,
    /// Actions the filter will take (`action::*`).
    pub actions: u32,
    /// Protocol flags in force (`flag::*`).
    pub protocol: u32,
}

/// Why an offer cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The MTA speaks an older protocol than version 6.
    OldVersion(u32),
    /// The MTA does not allow an action the filter needs.
    MissingActions {
        /// The actions needed and not offered.
        missing: u32,
    },
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::OldVersion(v) => write!(
                f,
                "the MTA offers milter protocol version {v}; waxseal needs version {VERSION} (Postfix: milter_protocol = 6)"
            ),
            NegotiationError::MissingActions { missing } => write!(
                f,
                "the MTA does not allow the actions the filter needs (SMFIF 0x{missing:x})"
            ),
        }
    }
}

impl std::error::Error for NegotiationError {}

/// Answers the MTA's offer: version 6, the `needed` actions (refused when
/// not offered) plus those of `optional` that are offered, and the
/// `wanted` protocol flags the MTA can honour.
pub fn negotiate(
    offer_version: u32,
    offer_actions: u32,
    offer_protocol: u32,
    needed: u32,
    optional: u32,
    wanted: u32,
) -> Result<Negotiated, NegotiationError> {
    if offer_version < VERSION {
        return Err(NegotiationError::OldVersion(offer_version));
    }
    let missing = needed & !offer_actions;
    if missing != 0 {
        return Err(NegotiationError::MissingActions { missing });
    }
    Ok(Negotiated {
        version: VERSION,
        actions: needed | (optional & offer_actions),
        protocol: wanted & offer_protocol,
    })
}

#[cfg(test)]
mod tests;

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
//!
//! ## Where Sendmail (8.17) differs
//!
//! - It sends `ABORT` only while it thinks the filter is inside a message:
//!   after a final reply (accept, reject, tempfail) at end-of-headers, or a
//!   transaction that ends before DATA, the next thing may be the next
//!   message's MAIL-stage macros. Each such macro packet starts a message.
//! - The queue id `i` comes with MAIL only (Postfix sends it again with the
//!   header stages).
//! - With `Milter.maxdatasize` set it adds [`flag::MDS_256K`] or
//!   [`flag::MDS_1M`] to its offer and uses the larger packets only when
//!   the filter echoes the flag.
//! - `QUIT_NC` (quit, a new connection follows; libmilter's state table)
//!   is followed by `CONNECT`, with the negotiation kept.
#![forbid(unsafe_code)]

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
    /// Packets of up to 256 KiB (Sendmail offers it when its
    /// `Milter.maxdatasize` is 256K; a filter that does not echo it gets
    /// 64 KiB and a warning in Sendmail's log).
    pub const MDS_256K: u32 = 0x1000_0000;
    /// Packets of up to 1 MiB (`Milter.maxdatasize` 1M).
    pub const MDS_1M: u32 = 0x2000_0000;
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

mod command;
mod negotiate;
mod reply;

pub use command::{Command, ProtocolError, parse, read_len};
pub use negotiate::{Negotiated, NegotiationError, negotiate};
pub use reply::Reply;

#[cfg(test)]
mod tests;

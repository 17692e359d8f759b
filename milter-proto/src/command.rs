//! Packets from the MTA: the length prefix, and each command's data
//! parsed into a [`Command`] (strings end in NUL; numbers are big-endian).

use std::fmt;

use crate::{Family, flag};

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
        /// [`flag::HEADER_LEADING_SPACE`](crate::flag::HEADER_LEADING_SPACE) was negotiated; folded lines
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

//! One MTA connection: the milter conversation, message by message.
//!
//! Postfix opens one connection per SMTP session and sends, per message:
//! the MAIL macros and MAIL, each header field, end-of-headers, the body
//! in chunks, end-of-message, then ABORT (even after a message it
//! delivered); Sendmail sends no ABORT after a message the filter answered
//! at end-of-headers, so each MAIL-stage macro packet starts a new
//! message. The decision (sign, verify, pass) is made at end-of-headers
//! ([`decide`]); a message that is neither signed nor verified is accepted
//! there, so Postfix sends no body. The header block and body stream
//! through an engine session (the sandbox by default), so memory per
//! message is bounded by its header block; key lookups for verification
//! start at end-of-headers and run while the body streams.
//!
//! Failures never lose mail: each class (no key, signing error, DNS error,
//! internal error, overload) gets the configured action (accept, tempfail
//! or reject), and a broken connection makes Postfix apply its
//! `milter_default_action`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tracing::{debug, warn};
use waxseal_core::KeyAnswer;
use waxseal_core::verify::Driver;
use waxseal_milter_proto::{self as proto, Command, Family, Reply, action, flag, stage};

use super::config::Action;
use super::{Shared, State};
use crate::engine::{SignSession, VerifySession};

mod fields;
mod message;
mod packets;

use fields::authserv_id;

/// A connection with no packet for this long is closed.
const IDLE: Duration = Duration::from_secs(3600);

/// While end-of-message waits (for key lookups, up to `dns_timeout`), the
/// MTA is told this often that the filter is still at it (`SMFIR_PROGRESS`):
/// Sendmail waits 10 s for each reply by default (`T=R:`), and a progress
/// reply starts that wait again. Postfix and Sendmail both read it at
/// end-of-message.
const PROGRESS: Duration = Duration::from_secs(4);

/// Forged Authentication-Results fields removed at most; a message with
/// more is rejected at end-of-headers (RFC 8601 5 wants them gone, and no
/// legitimate message carries this many).
///
/// Design note: each removal is a `CHGHEADER` that Postfix's cleanup
/// carries out by reading the header from its start
/// (`cleanup_find_header_start`), so n removals cost O(n²); and each
/// removal's scan counts as a reverse jump, of which `rec_goto` allows
/// 10,000 per queue file: past that cleanup gives up, and the message gets
/// 451 on every retry until its sender bounces it.
pub(crate) const MAX_FORGED_RESULTS: usize = 100;

/// Actions waxseal needs: adding header fields.
const NEEDED: u32 = action::ADD_HEADERS;
/// Actions it uses when offered: deleting forged Authentication-Results,
/// asking for macros.
const OPTIONAL: u32 = action::CHANGE_HEADERS | action::SET_MACRO_LISTS;
/// What it asks the MTA to leave out or not wait for: no HELO, RCPT, DATA
/// or unknown commands; no reply to CONNECT, MAIL, each header or each
/// body chunk (each reply is a round trip, and the MTA waits for it);
/// header values exactly as on the wire (the leading space kept); and,
/// from Sendmail, packets up to 1 MiB (the reader's limit) when it offers
/// them.
///
/// Design note: a message that is neither signed nor verified is accepted
/// at end-of-headers, so the MTA sends neither its body nor its end (more
/// than `SMFIP_SKIP` saves, which still costs a reply per chunk until the
/// skip); a failure while the body streams is answered at end-of-message.
const WANTED: u32 = flag::NO_HELO
    | flag::NO_RCPT
    | flag::NO_DATA
    | flag::NO_UNKNOWN
    | flag::NR_CONNECT
    | flag::NR_MAIL
    | flag::NR_HEADER
    | flag::NR_BODY
    | flag::HEADER_LEADING_SPACE
    | flag::MDS_256K
    | flag::MDS_1M;

/// The macros asked for per stage: `{daemon_name}` with the connection,
/// the SASL login with MAIL (remembered for the message; Postfix sends it
/// only there). Postfix replaces the lists of the stages named here and
/// keeps its defaults for the others, whose default, `i` (the queue id,
/// set from DATA on), is all waxseal needs with the header block; asking
/// for more there would cost a macro packet's worth with every header.
const MACROS: &[(u32, &str)] = &[
    (
        stage::CONNECT,
        "j {daemon_name} {daemon_addr} {client_addr} _",
    ),
    (
        stage::MAIL,
        "i {auth_type} {auth_authen} {auth_author} {mail_addr}",
    ),
];

/// The failure classes of the configuration's `[actions]`.
#[derive(Debug, Clone, Copy)]
enum Class {
    NoKey,
    SigningError,
    DnsError,
    InternalError,
    Overload,
}

impl Class {
    fn action(self, state: &State) -> Action {
        let a = &state.config.actions;
        match self {
            Class::NoKey => a.no_key,
            Class::SigningError => a.signing_error,
            Class::DnsError => a.dns_error,
            Class::InternalError => a.internal_error,
            Class::Overload => a.overload,
        }
    }

    fn reply_text(self, tempfail: bool) -> &'static [u8] {
        match (self, tempfail) {
            (Class::NoKey, true) => b"451 4.7.0 message cannot be signed; try again later",
            (Class::NoKey, false) => b"550 5.7.0 message cannot be signed",
            (Class::SigningError, true) => b"451 4.7.0 DKIM signing failed; try again later",
            (Class::SigningError, false) => b"550 5.7.0 DKIM signing failed",
            (Class::DnsError, true) => b"451 4.4.3 DKIM key lookup failed; try again later",
            (Class::DnsError, false) => b"550 5.7.0 DKIM key lookup failed",
            (Class::InternalError, true) => b"451 4.3.0 DKIM filter error; try again later",
            (Class::InternalError, false) => b"550 5.3.0 DKIM filter error",
            (Class::Overload, true) => b"451 4.3.2 DKIM filter busy; try again later",
            (Class::Overload, false) => b"550 5.3.2 DKIM filter busy",
        }
    }
}

/// What the message is up to.
enum Work {
    /// Header fields are coming.
    Collecting,
    /// Being signed.
    Sign {
        session: SignSession,
        what: String,
        trusted: String,
    },
    /// Being verified; the key lookups run meanwhile.
    Verify {
        session: Driver<VerifySession>,
        names: Vec<String>,
        lookups: Option<tokio::task::JoinHandle<Vec<KeyAnswer>>>,
    },
    /// Failed while the body streamed: answered at end-of-message (body
    /// chunks get no reply).
    Failed(Class, String),
    /// Decided and answered: nothing more to do.
    Done,
    /// Let through, but it carries Authentication-Results fields that
    /// claim our authserv-id: they are removed at end-of-message (header
    /// changes are only allowed there), then it is accepted.
    Strip,
}

/// One message.
struct Msg {
    /// The configuration it is handled with (a reload applies from the
    /// next message on).
    state: Arc<State>,
    /// The header block as on the wire (CRLF), at most a field past the
    /// limit.
    headers: Vec<u8>,
    /// The From field values.
    from: Vec<Vec<u8>>,
    /// Authentication-Results fields seen, and the occurrences that claim
    /// our authserv-id (forged: removed, RFC 8601 5).
    ar_seen: u32,
    ar_forged: Vec<u32>,
    work: Work,
    /// Its share of `limits.max_messages`.
    _permit: Option<OwnedSemaphorePermit>,
}

/// The connection's state.
struct Conn {
    shared: Arc<Shared>,
    protocol: u32,
    actions: u32,
    leading_space: bool,
    negotiated: bool,
    client: Option<IpAddr>,
    conn_macros: HashMap<String, String>,
    msg_macros: HashMap<String, String>,
    msg: Option<Msg>,
    out: Vec<u8>,
}

/// A connection from the MTA.
pub(super) trait MtaStream: AsyncRead + AsyncWrite + Unpin + Send {
    /// After each read from the socket: acknowledge at once (TCP).
    ///
    /// Design note: Postfix sends a macro packet, which gets no reply,
    /// before most commands, as a separate write. With Nagle's algorithm on
    /// its side and delayed ACKs on ours, the command after it then waits
    /// for our delayed ACK: 40 ms per message on Linux, measured by
    /// tests/milter/load.sh. Quick ACKs end that wait.
    fn ack_now(&self) {}
}

impl MtaStream for tokio::net::TcpStream {
    fn ack_now(&self) {
        #[cfg(target_os = "linux")]
        let _ = socket2::SockRef::from(self).set_tcp_quickack(true);
    }
}

impl MtaStream for tokio::net::UnixStream {}

/// Serves one MTA connection until it closes, the server shuts down
/// between messages, or the peer breaks the protocol.
pub(super) async fn serve<S: MtaStream>(mut stream: S, shared: Arc<Shared>, peer: String) {
    let mut shutdown = shared.shutdown.clone();
    let mut c = Conn {
        shared,
        protocol: 0,
        actions: 0,
        leading_space: false,
        negotiated: false,
        client: None,
        conn_macros: HashMap::new(),
        msg_macros: HashMap::new(),
        msg: None,
        out: Vec::new(),
    };
    let mut packets = packets::Packets::new();
    loop {
        if c.msg.is_none() && *shutdown.borrow() {
            debug!("{peer}: closing for shutdown");
            break;
        }
        // the limit of the message's configuration, or of the running one
        let max_packet = match &c.msg {
            Some(m) => m.state.max_packet,
            None => c.shared.current().max_packet,
        };
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE, packets.next(&mut stream, max_packet)) => r,
            _ = shutdown.changed(), if c.msg.is_none() => continue,
        };
        let packet = match read {
            Err(_) => {
                debug!("{peer}: idle for {} s, closing", IDLE.as_secs());
                break;
            }
            Ok(Ok(Some(p))) => p,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                warn!("{peer}: {e:#}; closing the connection");
                break;
            }
        };
        let cmd = match proto::parse(packet) {
            Ok(cmd) => cmd,
            Err(e) => {
                warn!("{peer}: protocol error: {e}; closing the connection");
                break;
            }
        };
        let handled = if matches!(cmd, Command::EndOfMessage(_)) {
            with_progress(c.handle(&cmd), &mut stream).await
        } else {
            c.handle(&cmd).await
        };
        match handled {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                warn!("{peer}: {e:#}; closing the connection");
                break;
            }
        }
        if !c.out.is_empty() {
            let r = stream.write_all(&c.out).await;
            c.out.clear();
            if let Err(e) = r {
                debug!("{peer}: cannot write: {e}");
                break;
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// Runs `work` (the answer to end-of-message), sending the MTA a progress
/// reply every [`PROGRESS`] until it is done. The final replies follow in
/// the connection's buffer, after any progress.
async fn with_progress<S, T>(work: impl Future<Output = T>, stream: &mut S) -> T
where
    S: AsyncWrite + Unpin,
{
    let mut work = std::pin::pin!(work);
    let start = tokio::time::Instant::now() + PROGRESS;
    let mut tick = tokio::time::interval_at(start, PROGRESS);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = tick.tick() => {
                let mut progress = Vec::new();
                Reply::Progress.encode(&mut progress);
                // a broken connection shows when the final replies are
                // written
                let _ = stream.write_all(&progress).await;
            }
        }
    }
}

/// A macro name without its braces: `{auth_authen}` and `auth_authen`
/// are the same macro.
fn macro_name(n: &[u8]) -> String {
    let s = String::from_utf8_lossy(n);
    s.trim_start_matches('{').trim_end_matches('}').to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Conn {
    fn reply(&mut self, r: Reply<'_>) {
        r.encode(&mut self.out);
    }

    fn queue_id(&self) -> String {
        self.msg_macros
            .get("i")
            .cloned()
            .unwrap_or_else(|| "-".into())
    }

    fn macro_value(&self, name: &str) -> Option<&str> {
        self.msg_macros
            .get(name)
            .or_else(|| self.conn_macros.get(name))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Handles one command; false ends the connection.
    async fn handle(&mut self, cmd: &Command<'_>) -> Result<bool> {
        if !self.negotiated && !matches!(cmd, Command::OptNeg { .. }) {
            anyhow::bail!(
                "command {} before option negotiation",
                char::from(cmd.code())
            );
        }
        let expects = cmd.expects_reply(self.protocol);
        match cmd {
            Command::OptNeg {
                version,
                actions,
                protocol,
            } => {
                let n = proto::negotiate(*version, *actions, *protocol, NEEDED, OPTIONAL, WANTED)?;
                self.protocol = n.protocol;
                self.actions = n.actions;
                self.leading_space = n.protocol & flag::HEADER_LEADING_SPACE != 0;
                self.negotiated = true;
                let macros = if n.actions & action::SET_MACRO_LISTS != 0 {
                    MACROS
                } else {
                    &[]
                };
                self.reply(Reply::OptNeg { options: n, macros });
                return Ok(true);
            }
            Command::Macros { stage, pairs } => {
                // A stage's packet replaces what came before it: a new
                // connection's macros, or a new message's, which Sendmail
                // sends without an ABORT after a message it was answered
                // for at end-of-headers.
                match stage {
                    b'C' => self.conn_macros.clear(),
                    b'M' => self.end_message(),
                    _ => {}
                }
                let map = match stage {
                    b'C' | b'H' => &mut self.conn_macros,
                    _ => &mut self.msg_macros,
                };
                for (n, v) in pairs {
                    map.insert(macro_name(n), String::from_utf8_lossy(v).into_owned());
                }
                return Ok(true);
            }
            Command::Connect {
                family, address, ..
            } => {
                self.client = match family {
                    Family::Inet | Family::Inet6 => std::str::from_utf8(address)
                        .ok()
                        .and_then(|a| a.trim_start_matches("IPv6:").parse().ok()),
                    Family::Unix | Family::Unknown => None,
                };
            }
            Command::Mail(_) => {
                self.msg = None;
                self.start_message();
            }
            Command::Header { name, value } => {
                if self.msg.is_none() {
                    self.start_message();
                }
                self.header(name, value);
            }
            Command::EndOfHeaders => {
                if self.msg.is_none() {
                    self.start_message();
                }
                self.end_of_headers().await;
                // Answered for good (accepted without a body, or failed):
                // the MTA sends nothing more of this message, and Sendmail
                // not even an ABORT; its permit and header block go now,
                // not at the next message.
                if self
                    .msg
                    .as_ref()
                    .is_some_and(|m| matches!(m.work, Work::Done))
                {
                    self.msg = None;
                }
                return Ok(true);
            }
            Command::Body(chunk) => {
                self.body(chunk);
                if expects {
                    self.reply(Reply::Continue);
                }
                return Ok(true);
            }
            Command::EndOfMessage(chunk) => {
                if !chunk.is_empty() {
                    self.body(chunk);
                }
                self.end_of_message().await;
                self.end_message();
                return Ok(true);
            }
            Command::Abort => {
                self.end_message();
                return Ok(true);
            }
            Command::Quit => return Ok(false),
            Command::QuitNewConnection => {
                // The next SMTP connection follows on this one: CONNECT
                // comes next, under the same negotiation (libmilter's
                // state table).
                self.end_message();
                self.conn_macros.clear();
                self.client = None;
                return Ok(true);
            }
            Command::Helo(_) | Command::Rcpt(_) | Command::Data | Command::Unknown(_) => {}
        }
        if expects {
            self.reply(Reply::Continue);
        }
        Ok(true)
    }

    fn start_message(&mut self) {
        let state = self.shared.current();
        self.msg = Some(Msg {
            state,
            headers: Vec::new(),
            from: Vec::new(),
            ar_seen: 0,
            ar_forged: Vec::new(),
            work: Work::Collecting,
            _permit: None,
        });
    }

    fn end_message(&mut self) {
        self.msg = None;
        self.msg_macros.clear();
    }

    /// One header field, rebuilt as it was on the wire: `name:value` with
    /// CRLF line ends (Postfix joins folded lines with LF).
    fn header(&mut self, name: &[u8], value: &[u8]) {
        let leading_space = self.leading_space;
        let Some(m) = self.msg.as_mut() else { return };
        if !matches!(m.work, Work::Collecting) {
            return;
        }
        let limit = m.state.config.limits.max_header_bytes;
        if m.headers.len() <= limit {
            m.headers.extend_from_slice(name);
            m.headers.push(b':');
            if !leading_space {
                m.headers.push(b' ');
            }
            for (i, &b) in value.iter().enumerate() {
                if b == b'\n' && (i == 0 || value[i - 1] != b'\r') {
                    m.headers.push(b'\r');
                }
                m.headers.push(b);
            }
            m.headers.extend_from_slice(b"\r\n");
        }
        if name.eq_ignore_ascii_case(b"from") && m.from.len() < 16 {
            m.from.push(value.to_vec());
        }
        if name.eq_ignore_ascii_case(b"authentication-results") {
            m.ar_seen += 1;
            // one past the limit is enough to know the message is refused
            if authserv_id(value).eq_ignore_ascii_case(&m.state.config.authserv_id)
                && m.ar_forged.len() <= MAX_FORGED_RESULTS
            {
                m.ar_forged.push(m.ar_seen);
            }
        }
    }

    /// Deletes the Authentication-Results fields that claim our
    /// authserv-id (from the last, so the indexes hold).
    fn remove_forged(&mut self, forged: &[u32]) {
        if forged.is_empty() {
            return;
        }
        if self.actions & action::CHANGE_HEADERS == 0 {
            warn!(
                "{}: cannot remove forged Authentication-Results: the MTA does not allow header changes",
                self.queue_id()
            );
            return;
        }
        for &i in forged.iter().rev() {
            self.reply(Reply::ChangeHeader {
                index: i,
                name: b"Authentication-Results",
                value: b"",
            });
        }
    }

    /// A header value as the MTA wants it: LF between folded lines, the
    /// leading space only when negotiated.
    fn header_value(&self, value: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = value.iter().copied().filter(|&b| b != b'\r').collect();
        if !self.leading_space && v.first() == Some(&b' ') {
            v.remove(0);
        } else if self.leading_space && v.first() != Some(&b' ') {
            v.insert(0, b' ');
        }
        v
    }
}

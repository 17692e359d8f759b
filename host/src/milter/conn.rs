//! One MTA connection: the milter conversation, message by message.
//!
//! Postfix opens one connection per SMTP session and sends, per message:
//! the MAIL macros and MAIL, each header field, end-of-headers, the body
//! in chunks, end-of-message, then ABORT (even after a message it
//! delivered). The decision (sign, verify, pass) is made at end-of-headers
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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tracing::{debug, info, warn};
use waxseal_core::KeyAnswer;
use waxseal_core::verify::{Driver, Lookups};
use waxseal_milter_proto::{self as proto, Command, Family, Reply, action, flag, stage};

use super::config::{Action, rule_specs};
use super::decision::{Decision, Transaction, decide};
use super::{Shared, State};
use crate::engine::{InputError, Report, SignSession, StepError, VerifySession};

/// What feeding an engine session gives.
type Fed<T> = Result<T, StepError<InputError>>;

/// A connection with no packet for this long is closed.
const IDLE: Duration = Duration::from_secs(3600);

/// Actions waxseal needs: adding header fields.
const NEEDED: u32 = action::ADD_HEADERS;
/// Actions it uses when offered: deleting forged Authentication-Results,
/// asking for macros.
const OPTIONAL: u32 = action::CHANGE_HEADERS | action::SET_MACRO_LISTS;
/// What it asks the MTA to leave out or not wait for: no HELO, RCPT, DATA
/// or unknown commands; no reply to CONNECT, MAIL, each header or each
/// body chunk (each reply is a round trip, and the MTA waits for it);
/// header values exactly as on the wire (the leading space kept).
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
    | flag::HEADER_LEADING_SPACE;

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
    /// After each packet read: acknowledge at once (TCP).
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
    let max_packet = shared.max_packet;
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
    let mut buf = Vec::new();
    loop {
        if c.msg.is_none() && *shutdown.borrow() {
            debug!("{peer}: closing for shutdown");
            break;
        }
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE, read_packet(&mut stream, &mut buf, max_packet)) => r,
            _ = shutdown.changed(), if c.msg.is_none() => continue,
        };
        stream.ack_now();
        let packet = match read {
            Err(_) => {
                debug!("{peer}: idle for {} s, closing", IDLE.as_secs());
                break;
            }
            Ok(Ok(Some(()))) => &buf[..],
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
        match c.handle(&cmd).await {
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

/// Reads one packet into `buf` (command byte and data). `None` at a clean
/// end of the stream.
async fn read_packet<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<Option<()>> {
    let mut len = [0u8; 4];
    match rd.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let n = proto::read_len(len, max)?;
    buf.clear();
    buf.resize(n, 0);
    rd.read_exact(buf).await?;
    Ok(Some(()))
}

/// A macro name without its braces: `{auth_authen}` and `auth_authen`
/// are the same macro.
fn macro_name(n: &[u8]) -> String {
    let s = String::from_utf8_lossy(n);
    s.trim_start_matches('{').trim_end_matches('}').to_string()
}

/// The authserv-id of an Authentication-Results value (RFC 8601 2.2):
/// the first token, after white space and comments.
fn authserv_id(value: &[u8]) -> String {
    let mut depth = 0usize;
    let mut id = Vec::new();
    for &b in value {
        match b {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            b';' => break,
            b' ' | b'\t' | b'\r' | b'\n' if id.is_empty() => {}
            b' ' | b'\t' | b'\r' | b'\n' => break,
            _ => id.push(b),
        }
    }
    String::from_utf8_lossy(&id).into_owned()
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
                self.end_message();
                self.conn_macros.clear();
                self.client = None;
                self.negotiated = false;
                self.protocol = 0;
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
        let state = self
            .shared
            .state
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
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
            if authserv_id(value).eq_ignore_ascii_case(&m.state.config.authserv_id) {
                m.ar_forged.push(m.ar_seen);
            }
        }
    }

    /// The final answer for a failure of `class`.
    fn fail(&mut self, class: Class, why: &str) {
        let qid = self.queue_id();
        let Some(m) = self.msg.as_mut() else { return };
        let action = class.action(&m.state);
        m.work = Work::Done;
        match action {
            Action::Accept => {
                warn!("{qid}: {why}; accepted ({class:?} action)");
                self.reply(Reply::Accept);
            }
            Action::Tempfail => {
                warn!("{qid}: {why}; temporary failure ({class:?} action)");
                self.reply(Reply::ReplyCode(class.reply_text(true)));
            }
            Action::Reject => {
                warn!("{qid}: {why}; rejected ({class:?} action)");
                self.reply(Reply::ReplyCode(class.reply_text(false)));
            }
        }
    }

    /// Feeds the header block (and the empty line after it) to a session.
    fn start_input<T>(feed: &mut dyn FnMut(&[u8]) -> Fed<T>, headers: &[u8]) -> Fed<Vec<T>> {
        Ok(vec![feed(headers)?, feed(b"\r\n")?])
    }

    async fn end_of_headers(&mut self) {
        let qid = self.queue_id();
        let Some(m) = self.msg.as_mut() else {
            self.reply(Reply::Continue);
            return;
        };
        let state = m.state.clone();
        let config = &state.config;
        let from: Vec<Vec<u8>> = m.from.clone();
        let tx = Transaction {
            client: self.client,
            daemon_name: self.macro_value("daemon_name"),
            login: self.macro_value("auth_authen"),
            from: from.iter().map(Vec::as_slice).collect(),
        };
        let decision = decide(config, &tx);
        drop(tx);
        let wants_engine = matches!(decision, Decision::Sign { .. } | Decision::Verify);
        let permit = if wants_engine {
            match self.shared.messages.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    let why = format!(
                        "more than {} messages in progress",
                        config.limits.max_messages
                    );
                    self.fail(Class::Overload, &why);
                    return;
                }
            }
        } else {
            None
        };
        let Some(m) = self.msg.as_mut() else { return };
        m._permit = permit;
        match decision {
            Decision::Pass(reason) => {
                info!("{qid}: {reason}");
                m.work = Work::Done;
                // nothing to do: Postfix sends no body, nor end-of-message
                self.reply(Reply::Accept);
            }
            Decision::NotSigned(reason) => {
                let action = config.actions.no_key;
                if action == Action::Accept {
                    info!("{qid}: {reason}");
                    m.work = Work::Done;
                    self.reply(Reply::Accept);
                } else {
                    self.fail(Class::NoKey, &reason);
                }
            }
            Decision::Sign {
                rule,
                domain,
                trusted,
            } => {
                let specs = rule_specs(rule, &config.keys, now());
                let selectors: Vec<&str> = specs.iter().map(|s| s.spec.selector.as_str()).collect();
                let what = format!("{domain} s={}", selectors.join("+"));
                let session = match state.engine.signer(&specs, config.signing_keys.clone()) {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return self.fail(Class::SigningError, &format!("cannot sign: {e}"));
                    }
                    Err(e) => return self.fail(Class::InternalError, &format!("engine: {e:#}")),
                };
                let mut session = session;
                let headers = std::mem::take(&mut m.headers);
                let step =
                    Self::start_input(&mut |d| StepError::flatten(session.update(d)), &headers);
                m.headers = headers;
                match step {
                    Ok(_) => {
                        m.work = Work::Sign {
                            session,
                            what,
                            trusted,
                        };
                        self.reply(Reply::Continue);
                    }
                    Err(StepError::Input(e)) => {
                        self.fail(Class::SigningError, &format!("cannot sign: {e}"))
                    }
                    Err(StepError::Engine(e)) => {
                        self.fail(Class::InternalError, &format!("engine: {e:#}"))
                    }
                }
            }
            Decision::Verify => {
                let session = match state.engine.verifier(&config.verify.policy, Some(now())) {
                    Ok(s) => s,
                    Err(e) => return self.fail(Class::InternalError, &format!("engine: {e:#}")),
                };
                // the header block ends with the empty line: the driver
                // hands out the key queries then
                let mut session = Driver::new(session, Lookups::Keys);
                let headers = std::mem::take(&mut m.headers);
                let step = Self::start_input(&mut |d| session.feed(d), &headers);
                m.headers = headers;
                let names: Vec<String> = match step {
                    Ok(queries) => queries.into_iter().flatten().map(|q| q.name).collect(),
                    Err(StepError::Input(e)) => return self.verify_input_error(&qid, e),
                    Err(StepError::Engine(e)) => {
                        return self.fail(Class::InternalError, &format!("engine: {e:#}"));
                    }
                };
                let lookups = match (&state.resolver, names.is_empty()) {
                    (Some(r), false) => {
                        let (r, n) = (r.clone(), names.clone());
                        Some(tokio::spawn(async move { r.lookup_all(&n).await }))
                    }
                    _ => None,
                };
                let Some(m) = self.msg.as_mut() else { return };
                m.work = Work::Verify {
                    session,
                    names,
                    lookups,
                };
                self.reply(Reply::Continue);
            }
        }
    }

    /// A message the verifier cannot read (a malformed header block): it
    /// is delivered without a DKIM result.
    fn verify_input_error(&mut self, qid: &str, e: InputError) {
        info!("{qid}: not verified: {e}");
        if let Some(m) = self.msg.as_mut() {
            m.work = Work::Done;
        }
        self.reply(Reply::Accept);
    }

    /// A body chunk. Failures are kept for end-of-message: with
    /// `NR_BODY` the MTA reads no reply here.
    fn body(&mut self, chunk: &[u8]) {
        let qid = self.queue_id();
        let Some(m) = self.msg.as_mut() else { return };
        let step = match &mut m.work {
            Work::Sign { session, .. } => StepError::flatten(session.update(chunk)),
            // the queries were handed out with the header block
            Work::Verify { session, .. } => session.feed(chunk).map(drop),
            Work::Collecting | Work::Failed(..) | Work::Done => Ok(()),
        };
        let signing = matches!(m.work, Work::Sign { .. });
        m.work = match step {
            Ok(()) => return,
            Err(StepError::Input(e)) if signing => {
                Work::Failed(Class::SigningError, format!("cannot sign: {e}"))
            }
            Err(StepError::Input(e)) => {
                info!("{qid}: not verified: {e}");
                Work::Done
            }
            Err(StepError::Engine(e)) => {
                Work::Failed(Class::InternalError, format!("engine: {e:#}"))
            }
        };
    }

    async fn end_of_message(&mut self) {
        let qid = self.queue_id();
        let Some(m) = self.msg.as_mut() else {
            self.reply(Reply::Continue);
            return;
        };
        let work = std::mem::replace(&mut m.work, Work::Done);
        let state = m.state.clone();
        let forged = std::mem::take(&mut m.ar_forged);
        match work {
            Work::Collecting | Work::Done => self.reply(Reply::Continue),
            Work::Failed(class, why) => self.fail(class, &why),
            Work::Sign {
                session,
                what,
                trusted,
            } => match session.finish() {
                Ok(Ok(fields)) => {
                    self.remove_forged(&forged);
                    let fields = split_fields(&fields);
                    for (name, value) in fields.iter().rev() {
                        let value = self.header_value(value);
                        self.reply(Reply::InsertHeader {
                            index: 1,
                            name,
                            value: &value,
                        });
                    }
                    self.reply(Reply::Continue);
                    info!("{qid}: signed {what} ({trusted})");
                }
                Ok(Err(e)) => self.fail(Class::SigningError, &format!("cannot sign: {e}")),
                Err(e) => self.fail(Class::InternalError, &format!("engine: {e:#}")),
            },
            Work::Verify {
                mut session,
                names,
                lookups,
            } => {
                let answers = match lookups {
                    Some(h) => h
                        .await
                        .unwrap_or_else(|_| vec![KeyAnswer::TempFail; names.len()]),
                    None => Vec::new(),
                };
                let mut dns_failed = false;
                for (n, a) in names.iter().zip(answers) {
                    dns_failed |= a == KeyAnswer::TempFail;
                    if let Err(e) = session.answer(n, a) {
                        return self.fail(Class::InternalError, &format!("engine: {e:#}"));
                    }
                }
                let report = match session.into_inner().finish(&state.config.authserv_id) {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => return self.verify_input_error(&qid, e),
                    Err(e) => return self.fail(Class::InternalError, &format!("engine: {e:#}")),
                };
                if dns_failed && state.config.actions.dns_error != Action::Accept {
                    return self.fail(Class::DnsError, "a DKIM key lookup failed");
                }
                self.remove_forged(&forged);
                let field = authentication_results_field(&report);
                let value = self.header_value(&field);
                self.reply(Reply::InsertHeader {
                    index: 1,
                    name: b"Authentication-Results",
                    value: &value,
                });
                self.reply(Reply::Continue);
                info!("{qid}: verified: {}", summary(&report));
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

/// Header fields (`Name: value\r\n`, folded) as name and value (the value
/// with its leading space, without the final CRLF).
fn split_fields(text: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\n' && !matches!(b.get(i + 1), Some(b' ' | b'\t')) {
            let field = &b[start..=i];
            let field = field.strip_suffix(b"\r\n").unwrap_or(field);
            if let Some(colon) = field.iter().position(|&c| c == b':') {
                out.push((field[..colon].to_vec(), field[colon + 1..].to_vec()));
            }
            start = i + 1;
        }
        i += 1;
    }
    out
}

/// The Authentication-Results field's value, with a leading space, folded
/// after each `;` outside quoted strings when it is longer than a line.
fn authentication_results_field(report: &Report) -> Vec<u8> {
    let text = report.authentication_results.as_bytes();
    let mut v = b" ".to_vec();
    if text.len() < 70 {
        v.extend_from_slice(text);
        return v;
    }
    let mut quoted = false;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        match b {
            b'"' => quoted = !quoted,
            b'\\' if quoted => {
                v.push(b);
                i += 1;
                if let Some(&n) = text.get(i) {
                    v.push(n);
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        v.push(b);
        if b == b';' && !quoted {
            v.extend_from_slice(b"\r\n\t");
            while text.get(i + 1) == Some(&b' ') {
                i += 1;
            }
        }
        i += 1;
    }
    v
}

/// One line for the log: each signature's result.
fn summary(report: &Report) -> String {
    if report.verdicts.is_empty() {
        return "dkim=none (no signature)".into();
    }
    report
        .verdicts
        .iter()
        .map(|v| v.summary.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn authserv_ids() {
        assert_eq!(authserv_id(b" mx.example.com; dkim=pass"), "mx.example.com");
        assert_eq!(
            authserv_id(b" (comment) mx.example.com 1; none"),
            "mx.example.com"
        );
        assert_eq!(authserv_id(b"mx.example.com;dkim=pass"), "mx.example.com");
        assert_eq!(authserv_id(b"\n\tmx.example.com;"), "mx.example.com");
    }

    #[test]
    fn fields_split() {
        let f = split_fields(
            "DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=abc\r\nDKIM-Signature: v=1;\r\n b=x\r\n",
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].0, b"DKIM-Signature");
        assert_eq!(f[0].1, b" v=1; a=rsa-sha256;\r\n\tb=abc");
        assert_eq!(f[1].1, b" v=1;\r\n b=x");
    }
}

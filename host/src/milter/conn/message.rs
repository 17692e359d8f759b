//! A message's stages on a connection: the decision at end-of-headers,
//! the body through the engine session, the answer at end-of-message, and
//! the configured action for each class of failure.

use tracing::{info, warn};
use waxseal_core::KeyAnswer;
use waxseal_core::verify::{Driver, Lookups, VerifySteps};
use waxseal_milter_proto::Reply;

use super::fields::{authentication_results_field, split_fields, summary};
use super::{Class, Conn, MAX_FORGED_RESULTS, Work, now};
use crate::engine::{InputError, SignSession, StepError};
use crate::milter::config::{Action, rule_specs};
use crate::milter::decision::{Decision, Transaction, decide};

impl Conn {
    /// The final answer for a failure of `class`.
    fn fail(&mut self, class: Class, why: &str) {
        let qid = self.queue_id();
        let Some(m) = self.msg.as_mut() else { return };
        let action = class.action(&m.state);
        m.work = Work::Done;
        match action {
            Action::Accept => {
                warn!("{qid}: {why}; accepted ({class:?} action)");
                self.let_through();
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

    /// Accepts the message, at once; or, when it carries forged
    /// Authentication-Results fields (claiming our authserv-id, which RFC
    /// 8601 5 asks a border MTA to remove) and is still before
    /// end-of-message, at end-of-message, where they can be removed.
    fn let_through(&mut self) {
        let Some(m) = self.msg.as_mut() else { return };
        if m.ar_forged.is_empty() {
            m.work = Work::Done;
            self.reply(Reply::Accept);
        } else {
            m.work = Work::Strip;
            self.reply(Reply::Continue);
        }
    }

    /// Feeds the header block (and the empty line after it) to a signing
    /// session.
    fn start_input(session: &mut SignSession, headers: &[u8]) -> Result<(), StepError<InputError>> {
        StepError::flatten(session.update(headers))?;
        StepError::flatten(session.update(b"\r\n"))
    }

    pub(super) async fn end_of_headers(&mut self) {
        let qid = self.queue_id();
        let Some(m) = self.msg.as_mut() else {
            self.reply(Reply::Continue);
            return;
        };
        if m.ar_forged.len() > MAX_FORGED_RESULTS {
            m.work = Work::Done;
            m.ar_forged.clear();
            warn!(
                "{qid}: more than {MAX_FORGED_RESULTS} Authentication-Results fields claim {}; rejected",
                m.state.config.authserv_id
            );
            self.reply(Reply::ReplyCode(
                b"550 5.7.1 too many Authentication-Results fields claiming this host",
            ));
            return;
        }
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
            match state.messages.clone().try_acquire_owned() {
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
                // nothing to do: Postfix sends no body, nor end-of-message
                // (unless there are forged results to remove)
                self.let_through();
            }
            Decision::NotSigned(reason) => {
                let action = config.actions.no_key;
                if action == Action::Accept {
                    info!("{qid}: {reason}");
                    self.let_through();
                } else {
                    self.fail(Class::NoKey, &reason);
                }
            }
            Decision::Sign {
                rule,
                domain,
                trusted,
            } => {
                // the fields past the limit were not kept: signing what is
                // left would leave them out of `h=` (and break oversigning)
                let limit = config.limits.max_header_bytes;
                if m.headers.len() > limit {
                    let why =
                        format!("cannot sign: header block over {limit} bytes (max_header_bytes)");
                    return self.fail(Class::SigningError, &why);
                }
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
                let step = Self::start_input(&mut session, &headers);
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
                // one call into the engine for the whole header block
                let step = VerifySteps::update(session.get_mut(), &headers)
                    .and_then(|()| session.feed(b"\r\n"));
                m.headers = headers;
                let names: Vec<String> = match step {
                    Ok(queries) => queries.into_iter().map(|q| q.name).collect(),
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
    /// is delivered without a DKIM result (and without the fields that
    /// claim our authserv-id).
    fn verify_input_error(&mut self, qid: &str, e: InputError) {
        info!("{qid}: not verified: {e}");
        self.let_through();
    }

    /// A body chunk. Failures are kept for end-of-message: with
    /// `NR_BODY` the MTA reads no reply here.
    pub(super) fn body(&mut self, chunk: &[u8]) {
        let qid = self.queue_id();
        let Some(m) = self.msg.as_mut() else { return };
        let step = match &mut m.work {
            Work::Sign { session, .. } => StepError::flatten(session.update(chunk)),
            // the queries were handed out with the header block
            Work::Verify { session, .. } => session.feed(chunk).map(drop),
            Work::Collecting | Work::Failed(..) | Work::Done | Work::Strip => Ok(()),
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

    pub(super) async fn end_of_message(&mut self) {
        let qid = self.queue_id();
        let Some(m) = self.msg.as_mut() else {
            self.reply(Reply::Continue);
            return;
        };
        let work = std::mem::replace(&mut m.work, Work::Done);
        let state = m.state.clone();
        // forged results go first, whatever the answer: a message accepted
        // keeps none of them, and our own field (inserted at index 1)
        // must not shift the occurrence numbers of the deletions
        let forged = std::mem::take(&mut m.ar_forged);
        self.remove_forged(&forged);
        match work {
            Work::Collecting | Work::Done | Work::Strip => self.reply(Reply::Continue),
            Work::Failed(class, why) => self.fail(class, &why),
            Work::Sign {
                session,
                what,
                trusted,
            } => match session.finish() {
                Ok(Ok(fields)) => {
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
}

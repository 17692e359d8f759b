//! `waxseal milter`: the MTA hook. Postfix or Sendmail hands each message
//! to waxseal over the milter protocol (version 6); waxseal signs mail from
//! its own senders and verifies inbound mail.
//!
//! - [`config`]: the TOML configuration and signing table, checked at load.
//! - [`decision`]: sign, verify or pass, as a pure function with a reason.
//! - `conn`: one MTA connection, message by message.
//! - [`server`]: listening, reloading on SIGHUP, stopping on SIGTERM.
//! - [`check`]: `--check`, and the published records (`--check --dns`).
//! - [`opendkim`]: `import-opendkim`, a migration aid.
//!
//! The protocol itself is the `waxseal-milter-proto` crate.

use std::sync::{Arc, RwLock};

use anyhow::Result;
use tokio::sync::{Semaphore, watch};

use crate::component::Limits;
use crate::dns::Resolver;
use crate::engine::Engine;

pub mod check;
pub mod config;
mod conn;
pub mod decision;
pub mod opendkim;
pub mod server;

pub use config::Config;

/// The running configuration with what it needs: swapped as a whole on
/// reload, so a message sees one configuration from start to end.
pub struct State {
    /// The configuration.
    pub config: Config,
    /// Where messages are signed and verified.
    pub engine: Engine,
    /// DNS for verification (when it is on).
    pub resolver: Option<Resolver>,
    /// Messages in progress (`limits.max_messages`): kept across a reload
    /// that does not change the limit, a new one when it does (messages
    /// in flight then finish on the old count).
    pub(crate) messages: Arc<Semaphore>,
    /// The largest packet read: Postfix's largest header (100 KiB by
    /// default) and body chunk (64 KiB) fit, and so does a header block at
    /// the configured limit.
    pub(crate) max_packet: usize,
}

impl State {
    /// The engine and resolver for `config`; the engine of `previous` is
    /// kept when its settings did not change (the sandbox is compiled
    /// once). Must be called inside the tokio runtime.
    pub fn build(config: Config, previous: Option<&State>) -> Result<Self> {
        let limits = Limits {
            deadline: config.limits.deadline,
            max_memory: config.limits.memory,
        };
        let engine = match previous {
            Some(p)
                if p.config.native == config.native
                    && p.config.limits.deadline == config.limits.deadline
                    && p.config.limits.memory == config.limits.memory =>
            {
                p.engine.clone()
            }
            _ if config.native => Engine::Native,
            _ => Engine::wasm(None, limits)?,
        };
        let resolver = if config.verify.enabled {
            Some(Resolver::new(
                config.verify.resolver,
                config.verify.dns_timeout,
            )?)
        } else {
            None
        };
        let messages = match previous {
            Some(p) if p.config.limits.max_messages == config.limits.max_messages => {
                p.messages.clone()
            }
            _ => Arc::new(Semaphore::new(config.limits.max_messages)),
        };
        let max_packet = waxseal_milter_proto::DEFAULT_MAX_PACKET
            .max(config.limits.max_header_bytes + 64 * 1024);
        Ok(State {
            config,
            engine,
            resolver,
            messages,
            max_packet,
        })
    }
}

/// What every connection shares.
pub(crate) struct Shared {
    /// The running configuration.
    pub(crate) state: RwLock<Arc<State>>,
    /// True once the server is stopping: connections end after their
    /// message.
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// The running state (a message keeps the one it started with).
    pub(crate) fn current(&self) -> Arc<State> {
        self.state
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

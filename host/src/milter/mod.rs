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
        Ok(State {
            config,
            engine,
            resolver,
        })
    }
}

/// What every connection shares.
pub(crate) struct Shared {
    /// The running configuration.
    pub(crate) state: RwLock<Arc<State>>,
    /// Messages in progress (`limits.max_messages`).
    pub(crate) messages: Arc<Semaphore>,
    /// True once the server is stopping: connections end after their
    /// message.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The largest packet read.
    pub(crate) max_packet: usize,
}

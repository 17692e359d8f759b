//! The milter server: listens on loopback TCP or a unix socket, serves
//! each MTA connection in its own task, reloads the configuration and keys
//! on SIGHUP (atomically: a configuration that does not load is refused,
//! logged, and the running one keeps serving; no connection is dropped),
//! and on SIGTERM or SIGINT stops accepting, lets every message in flight
//! finish, then exits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use super::config::{Config, Listen};
use super::{Shared, State, conn};

/// How long a stop waits for messages in flight (Postfix's
/// `milter_content_timeout`).
const GRACE: Duration = Duration::from_secs(300);

/// Sets up logging to standard error (journald and syslog collectors take
/// it from there): `WAXSEAL_LOG` = error, warn, info (default) or debug.
pub fn init_logging() {
    let level = match std::env::var("WAXSEAL_LOG").as_deref() {
        Ok("error") => tracing::Level::ERROR,
        Ok("warn") => tracing::Level::WARN,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// Runs the milter with the configuration at `path` until SIGTERM.
pub fn run(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    init_logging();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("waxseal-milter")
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(serve(config, path.to_path_buf(), None))
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// Binds `listen`; a unix socket gets the configured mode and owner, and a
/// stale socket file (no server behind it) is replaced.
async fn bind(config: &Config) -> Result<Listener> {
    match &config.listen {
        Listen::Tcp(addr) => {
            Ok(Listener::Tcp(TcpListener::bind(addr).await.with_context(
                || format!("cannot listen on {}", config.listen),
            )?))
        }
        Listen::Unix(path) => {
            if path.exists() {
                // only a socket nobody listens on is stale: one this user
                // may not connect to may be another instance's, live
                match tokio::net::UnixStream::connect(path).await {
                    Ok(_) => bail!("{}: another server is listening there", path.display()),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                    Err(e) => bail!(
                        "{}: cannot tell whether another server listens there ({e}); remove it if not",
                        path.display()
                    ),
                }
                std::fs::remove_file(path).with_context(|| {
                    format!("cannot remove the stale socket {}", path.display())
                })?;
            }
            let l = UnixListener::bind(path)
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            set_socket_access(path, config.socket_mode, config.socket_owner.as_deref())?;
            Ok(Listener::Unix(l, path.clone()))
        }
    }
}

/// Mode and owner of the unix socket.
fn set_socket_access(path: &Path, mode: Option<u32>, owner: Option<&str>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(m) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    }
    if let Some(owner) = owner {
        let (user, group) = owner
            .split_once(':')
            .map_or((owner, None), |(u, g)| (u, Some(g)));
        let uid = lookup_id("/etc/passwd", user)
            .with_context(|| format!("socket_owner: no user `{user}`"))?;
        let gid = match group {
            Some(g) => Some(
                lookup_id("/etc/group", g)
                    .with_context(|| format!("socket_owner: no group `{g}`"))?,
            ),
            None => None,
        };
        std::os::unix::fs::chown(path, Some(uid), gid)
            .with_context(|| format!("cannot change the owner of {}", path.display()))?;
    }
    Ok(())
}

/// The numeric id of `name` in a passwd or group file (or `name` itself
/// when it is a number).
fn lookup_id(file: &str, name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Serves until SIGTERM or SIGINT (or `stop` when given, for tests).
pub async fn serve(
    config: Config,
    path: PathBuf,
    stop: Option<watch::Receiver<bool>>,
) -> Result<()> {
    // caught from the start: building the sandbox takes a moment, and a
    // SIGHUP then (a reload racing the start) would otherwise end the
    // process; one that arrives now is handled once the loop runs
    let mut hup = signal(SignalKind::hangup()).context("cannot catch SIGHUP")?;
    let mut term = signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot catch SIGINT")?;
    for w in &config.warnings {
        warn!("{w}");
    }
    let listener = bind(&config).await?;
    let state = State::build(config, None)?;
    info!(
        "listening on {} ({} keys, {} signing rules, verification {}, engine {})",
        state.config.listen,
        state.config.keys.len(),
        state.config.rules.len(),
        if state.config.verify.enabled {
            "on"
        } else {
            "off"
        },
        if state.config.native {
            "native"
        } else {
            "sandbox"
        },
    );
    let (tx, rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        state: RwLock::new(Arc::new(state)),
        shutdown: rx,
    });
    // without a stop channel (the command), only signals stop the server
    let (_stop_sender, mut stop) = match stop {
        Some(rx) => (None, rx),
        None => {
            let (tx, rx) = watch::channel(false);
            (Some(tx), rx)
        }
    };
    let mut conns = JoinSet::new();
    let mut n = 0u64;
    let reloading = Arc::new(tokio::sync::Mutex::new(()));
    loop {
        tokio::select! {
            accepted = accept(&listener) => match accepted {
                Ok(conn) => {
                    n += 1;
                    let shared = shared.clone();
                    match conn {
                        Accepted::Tcp(s, peer) => {
                            let _ = s.set_nodelay(true);
                            conns.spawn(conn::serve(s, shared, format!("#{n} {peer}")));
                        }
                        Accepted::Unix(s) => {
                            conns.spawn(conn::serve(s, shared, format!("#{n} unix")));
                        }
                    }
                }
                Err(e) => {
                    // out of file descriptors and the like: wait a moment
                    error!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = hup.recv() => {
                // in a task of its own: accepting goes on while the new
                // configuration loads (building a sandbox takes a moment);
                // reloads run one at a time, each reading the file when its
                // turn comes, so the last one loads the newest file
                let (shared, path, turn) = (shared.clone(), path.clone(), reloading.clone());
                tokio::spawn(async move {
                    let _turn = turn.lock().await;
                    reload(&shared, &path).await;
                });
            }
            _ = term.recv() => { info!("SIGTERM: finishing the messages in flight"); break; }
            _ = int.recv() => { info!("SIGINT: finishing the messages in flight"); break; }
            r = stop.changed() => if r.is_err() || *stop.borrow() { break },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = tx.send(true);
    if let Listener::Unix(_, p) = &listener {
        let _ = std::fs::remove_file(p);
    }
    drop(listener);
    let drained =
        tokio::time::timeout(GRACE, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!(
            "{} connections still open after {} s; stopping",
            conns.len(),
            GRACE.as_secs()
        );
        conns.abort_all();
    }
    info!("stopped");
    Ok(())
}

enum Accepted {
    Tcp(tokio::net::TcpStream, std::net::SocketAddr),
    Unix(tokio::net::UnixStream),
}

async fn accept(l: &Listener) -> std::io::Result<Accepted> {
    match l {
        Listener::Tcp(t) => t.accept().await.map(|(s, a)| Accepted::Tcp(s, a)),
        Listener::Unix(u, _) => u.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

/// SIGHUP: the configuration and keys are read again; the new ones serve
/// the next messages, or, when they do not load, the running ones go on.
/// The loading runs on the blocking pool, off the connections' threads.
async fn reload(shared: &Arc<Shared>, path: &Path) {
    let path = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || Config::load(&path)).await;
    let config = match loaded {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            error!("reload refused, the running configuration stays: {e:#}");
            return;
        }
        Err(e) => {
            error!("reload failed: {e}");
            return;
        }
    };
    let current = shared.current();
    if config.listen != current.config.listen {
        warn!(
            "reload: `listen` changed to {}; it takes effect at the next start",
            config.listen
        );
    }
    for w in &config.warnings {
        warn!("{w}");
    }
    let built = tokio::task::spawn_blocking(move || State::build(config, Some(&current))).await;
    match built.unwrap_or_else(|e| Err(anyhow::anyhow!("{e}"))) {
        Ok(state) => {
            let summary = format!(
                "{} keys, {} signing rules",
                state.config.keys.len(),
                state.config.rules.len()
            );
            match shared.state.write() {
                Ok(mut s) => *s = Arc::new(state),
                Err(p) => *p.into_inner() = Arc::new(state),
            }
            info!("reloaded: {summary}");
        }
        Err(e) => error!("reload refused, the running configuration stays: {e:#}"),
    }
}

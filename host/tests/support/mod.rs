//! What the integration tests share: a real DNS server (dnsmasq) on
//! loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// dnsmasq serving TXT records on 127.0.0.1, authoritative for
/// example.com (unknown names there are NXDOMAIN).
pub(crate) struct Dnsmasq {
    child: Child,
    port: u16,
}

impl Dnsmasq {
    /// Starts dnsmasq on a free port. The port is picked by binding and
    /// letting go, so a test running at the same time may take it first:
    /// then dnsmasq exits, and it is started again on another port.
    pub(crate) fn start(records: &[(&str, Vec<String>)]) -> Self {
        for _ in 0..5 {
            let port = {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.local_addr().unwrap().port()
            };
            if let Some(d) = Self::try_start(records, port) {
                return d;
            }
        }
        panic!("dnsmasq did not start on loopback in five tries");
    }

    fn try_start(records: &[(&str, Vec<String>)], port: u16) -> Option<Self> {
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            "--no-daemon",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
        ])
        .args([
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--local=/example.com/",
            "--pid-file=",
        ])
        .args(["--user=root", "--cache-size=0"])
        .arg(format!("--port={port}"));
        for (name, strings) in records {
            // each comma-separated part is one character-string of the
            // record (<= 255 bytes); on the command line dnsmasq keeps
            // quotes as data, so the values go in unquoted
            assert!(strings.iter().all(|s| !s.contains(',')));
            cmd.arg(format!("--txt-record={name},{}", strings.join(",")));
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (Debian dnsmasq-base, installed by scripts/setup.sh)");
        // wait until it answers; dnsmasq exits when it cannot bind
        for _ in 0..50 {
            if child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                // the listener is ours only if our dnsmasq still runs
                std::thread::sleep(Duration::from_millis(20));
                if child.try_wait().ok().flatten().is_some() {
                    return None;
                }
                return Some(Dnsmasq { child, port });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TXT value of a key in 255-byte strings.
pub(crate) fn split255(v: &str) -> Vec<String> {
    v.as_bytes()
        .chunks(255)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect()
}

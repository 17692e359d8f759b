//! Signing in the sandbox: one call for most mail, a stream for the rest.

use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::ResourceAny;

use super::{Gather, Lease};
use crate::component::{ComponentHost, GuestError, Lending, ONE_CALL, Role, wit};
use crate::crypto::NativeKey;

/// A message being signed in the sandbox with options prepared once
/// ([`ComponentHost::signer`]).
///
/// Design note: the instance is taken from the pool only when the message
/// first needs it: when more than one call's worth has come, or at the
/// end. A message up to 256 KiB (most mail) is then signed in one call,
/// and holds an instance only for that call, not while its body trickles
/// in from the MTA: a milter with hundreds of messages in progress uses
/// about as many instances as it has cores.
pub struct SandboxSigner {
    host: ComponentHost,
    options: Arc<[wit::SignOptions]>,
    keys: Arc<Vec<NativeKey>>,
    /// The instance and its `prepared` resource, once needed.
    active: Option<(Lease, ResourceAny)>,
    gather: Gather,
    /// `begin` was called: the message streams (it did not fit in one
    /// call).
    streaming: bool,
}

impl SandboxSigner {
    pub(in crate::component) fn new(
        host: ComponentHost,
        options: Arc<[wit::SignOptions]>,
        keys: Arc<Vec<NativeKey>>,
    ) -> Self {
        SandboxSigner {
            host,
            options,
            keys,
            active: None,
            gather: Gather::default(),
            streaming: false,
        }
    }

    /// Takes an instance with these options prepared, if not yet done.
    fn ensure(&mut self) -> Result<Result<(&mut Lease, ResourceAny), GuestError>> {
        if self.active.is_none() {
            let lent = Arc::new(Lending::new(self.keys.clone(), self.options.clone()));
            let mut inst = self.host.checkout(lent, Role::Sign)?;
            match self.host.prepare(&mut inst, &self.options)? {
                Ok(p) => {
                    let lease = Lease {
                        host: self.host.clone(),
                        inst: Some(inst),
                    };
                    self.active = Some((lease, p));
                }
                Err(e) => {
                    self.host.checkin(inst);
                    return Ok(Err(e));
                }
            }
        }
        match self.active.as_mut() {
            Some((lease, p)) => Ok(Ok((lease, *p))),
            None => anyhow::bail!("no instance"),
        }
    }

    /// Feeds the next chunk of the message.
    pub fn update(&mut self, chunk: &[u8]) -> Result<Result<(), GuestError>> {
        if !self.streaming {
            if self.gather.held.len() + chunk.len() <= ONE_CALL {
                self.gather.held.extend_from_slice(chunk);
                return Ok(Ok(()));
            }
            let (lease, p) = match self.ensure()? {
                Ok(x) => x,
                Err(e) => return Ok(Err(e)),
            };
            lease.call(|i| {
                let prepared = i.bindings.waxseal_dkim_signing().prepared();
                prepared.call_begin(&mut i.store, p)
            })?;
            self.streaming = true;
        }
        let Some((lease, p)) = self.active.as_mut() else {
            anyhow::bail!("no instance");
        };
        let p = *p;
        self.gather
            .push(chunk, &mut |data| send_sign(lease, p, data))
    }

    /// Ends the message; returns the DKIM-Signature field(s), CRLF.
    pub fn finish(mut self) -> Result<Result<String, GuestError>> {
        if !self.streaming {
            // the whole message in one call
            let held = std::mem::take(&mut self.gather.held);
            return self.sign_held(&held);
        }
        let Some((lease, p)) = self.active.as_mut() else {
            anyhow::bail!("no instance");
        };
        let p = *p;
        if let Err(e) = self.gather.flush(&mut |data| send_sign(lease, p, data))? {
            return Ok(Err(e));
        }
        let r = lease.call(|i| {
            let prepared = i.bindings.waxseal_dkim_signing().prepared();
            prepared.call_finish(&mut i.store, p)
        })?;
        self.checked(r.map_err(GuestError::from))
    }

    /// The component's answer, its fields checked ([`checked_fields`]).
    fn checked(&self, r: Result<String, GuestError>) -> Result<Result<String, GuestError>> {
        Ok(match r {
            Ok(text) => Ok(checked_fields(text, self.options.len())?),
            Err(e) => Err(e),
        })
    }

    /// Signs a whole message in memory (one call when it fits, without a
    /// copy).
    pub fn sign_whole(mut self, message: &[u8]) -> Result<Result<String, GuestError>> {
        if message.len() <= ONE_CALL && !self.streaming && self.gather.held.is_empty() {
            return self.sign_held(message);
        }
        if let Err(e) = self.update(message)? {
            return Ok(Err(e));
        }
        self.finish()
    }

    fn sign_held(&mut self, message: &[u8]) -> Result<Result<String, GuestError>> {
        let (lease, p) = match self.ensure()? {
            Ok(x) => x,
            Err(e) => return Ok(Err(e)),
        };
        let r = lease.call(|i| {
            let prepared = i.bindings.waxseal_dkim_signing().prepared();
            prepared.call_sign(&mut i.store, p, message)
        })?;
        self.checked(r.map_err(GuestError::from))
    }
}

fn send_sign(lease: &mut Lease, p: ResourceAny, data: &[u8]) -> Result<Result<(), GuestError>> {
    let r = lease.call(|i| {
        let prepared = i.bindings.waxseal_dkim_signing().prepared();
        prepared.call_update(&mut i.store, p, data)
    })?;
    Ok(r.map_err(GuestError::from))
}

/// The signature fields the sandbox returned, checked before they go into
/// mail: `n` fields named `DKIM-Signature`, each line ending in CRLF, each
/// continuation line starting with white space, no other control
/// character, at most 16 KiB a field. A parser taken over by a hostile
/// message could otherwise add any header field, or a line break that
/// starts one.
fn checked_fields(text: String, n: usize) -> Result<String> {
    let b = text.as_bytes();
    // one branch-free pass for the control characters (this runs for
    // every message signed), then the few line ends
    let control = b.iter().fold(false, |acc, &c| {
        acc | ((c < 0x20) & (c != b'\t') & (c != b'\r') & (c != b'\n')) | (c == 0x7f)
    });
    if control {
        anyhow::bail!("the sandbox returned a control character in a signature field");
    }
    let mut fields = 0;
    let mut size = 0;
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', b) {
        let line = &b[start..=nl];
        start = nl + 1;
        let Some(content) = line.strip_suffix(b"\r\n") else {
            anyhow::bail!("the sandbox returned a signature field line without CRLF");
        };
        if memchr::memchr(b'\r', content).is_some() {
            anyhow::bail!("the sandbox returned a bare CR in a signature field");
        }
        if content.starts_with(b" ") || content.starts_with(b"\t") {
            if fields == 0 {
                anyhow::bail!("the sandbox returned a continuation line first");
            }
            size += line.len();
        } else if content
            .get(..15)
            .is_some_and(|name| name.eq_ignore_ascii_case(b"DKIM-Signature:"))
        {
            fields += 1;
            size = line.len();
        } else {
            anyhow::bail!("the sandbox returned a field that is not a DKIM-Signature");
        }
        if size > 16 * 1024 {
            anyhow::bail!("the sandbox returned a signature field over 16 KiB");
        }
    }
    if start != b.len() {
        anyhow::bail!("the sandbox returned a signature field line without CRLF");
    }
    if fields != n {
        anyhow::bail!("the sandbox returned {fields} signature fields for {n} signatures");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a parser taken over by a hostile message might return instead
    /// of signature fields never goes into mail.
    #[test]
    fn signature_fields_from_the_sandbox_are_checked() {
        let one = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.com;\r\n\ts=s; b=AAAA\r\n";
        assert!(checked_fields(one.into(), 1).is_ok());
        assert!(checked_fields(format!("{one}{}", one.to_lowercase()), 2).is_ok());
        for (bad, n) in [
            (one, 2),
            ("", 1),
            (
                "DKIM-Signature: v=1\r\nAuthentication-Results: mx; dkim=pass\r\n",
                1,
            ),
            ("DKIM-Signature: v=1\nX-Injected: yes\r\n", 1),
            ("DKIM-Signature: v=1\r\n\r\nbody\r\n", 1),
            ("DKIM-Signature: v=1; b=A\rB\r\n", 1),
            ("DKIM-Signature: v=1", 1),
            (" folded: first\r\n", 1),
        ] {
            assert!(checked_fields(bad.into(), n).is_err(), "{bad:?}");
        }
        let big = format!("DKIM-Signature: b={}\r\n", "A".repeat(17 * 1024));
        assert!(checked_fields(big, 1).is_err());
    }
}

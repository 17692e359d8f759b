//! A message signed or verified in the sandbox, in chunks of any size.
//!
//! A session holds one instance until its end (a signer from when it first
//! needs one) and returns it to the pool when dropped (finished or not);
//! an instance that trapped is thrown away instead. A message of up to 256
//! KiB is signed in one call however it is fed; a longer one, and every
//! message verified, goes over as it comes: chunks under half a
//! `STREAM_CALL` (64 KiB) gathered into calls of up to that, larger ones
//! (an MTA's body packets) passed on as they are, in pieces of at most
//! `ONE_CALL`; so an instance never holds more of the body than one call:
//! its memory is bounded by the header block.
//!
//! Each method returns `Result<Result<T, GuestError>>`: the outer error is
//! the engine's (a trap: the deadline, the memory cap), the inner one what
//! the component says about the message or the options.
//!
//! Rooms: the signer (`sign.rs`) and the verifier (`verify.rs`); here,
//! what both use: the chunks gathered into calls and the instance's lease.

use anyhow::Result;

use super::{ComponentHost, GuestError, Instance, ONE_CALL, STREAM_CALL};

mod sign;
mod verify;

pub use sign::SandboxSigner;
pub use verify::SandboxVerifier;

/// The outcome of one call that feeds data: the engine's error outside,
/// the component's inside.
type Step = Result<Result<(), GuestError>>;

/// Sends a piece of the message into the sandbox.
type Sender<'a> = &'a mut dyn FnMut(&[u8]) -> Step;

/// The chunks held back until there are [`STREAM_CALL`] bytes to send.
#[derive(Default)]
struct Gather {
    held: Vec<u8>,
}

impl Gather {
    /// Calls `send` with what is due now that `chunk` came: held bytes
    /// once they would overflow a [`STREAM_CALL`], and a chunk of half
    /// that or more at once, without copying it (a chunk over
    /// [`ONE_CALL`] in pieces of that size); the rest is held.
    ///
    /// Design note: so a call is never larger than what the caller had at
    /// hand. An MTA's body packets (64 KiB) go over as they come and an
    /// instance held while they arrive grows by that much; a message
    /// already in memory (the command, the benchmark) goes 256 KiB a call,
    /// which on a 10 MB message is faster by several per cent.
    fn push(&mut self, chunk: &[u8], send: Sender<'_>) -> Step {
        let direct = chunk.len() >= STREAM_CALL / 2;
        // what is held goes first
        if (direct || self.held.len() + chunk.len() > STREAM_CALL)
            && let Err(e) = self.flush(send)?
        {
            return Ok(Err(e));
        }
        if direct {
            for piece in chunk.chunks(ONE_CALL) {
                if let Err(e) = send(piece)? {
                    return Ok(Err(e));
                }
            }
        } else {
            self.held.extend_from_slice(chunk);
        }
        Ok(Ok(()))
    }

    /// Sends what is held, in call-sized pieces. A buffer grown past one
    /// call (a signer's whole message, until it turned out to stream) is
    /// given up.
    fn flush(&mut self, send: Sender<'_>) -> Step {
        let mut r = Ok(Ok(()));
        for piece in self.held.chunks(STREAM_CALL) {
            r = send(piece);
            if !matches!(r, Ok(Ok(()))) {
                break;
            }
        }
        self.held.clear();
        if self.held.capacity() > STREAM_CALL {
            self.held = Vec::new();
        }
        r
    }
}

/// The instance of a session: given back to the pool on drop unless a
/// call trapped.
struct Lease {
    host: ComponentHost,
    inst: Option<Box<Instance>>,
}

impl Lease {
    /// Runs `f` on the instance with a fresh deadline; a trap (any engine
    /// error) retires the instance.
    fn call<T>(&mut self, f: impl FnOnce(&mut Instance) -> wasmtime::Result<T>) -> Result<T> {
        let Some(inst) = self.inst.as_mut() else {
            anyhow::bail!("the sandbox stopped earlier in this message");
        };
        self.host.arm(&mut inst.store);
        match f(inst) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.inst = None;
                Err(e.into())
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            self.host.checkin(inst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sandbox gets the bytes in order, whatever the chunk sizes: a
    /// signer's whole held message and chunks up to 64 KiB (an MTA's body
    /// packets, small pieces) in calls of at most [`STREAM_CALL`], a
    /// larger chunk in calls of at most [`ONE_CALL`]; a buffer grown for a
    /// whole message is given up once it is sent.
    #[test]
    fn gathered_calls_are_in_order_and_no_larger_than_what_came() {
        let mta = [
            ONE_CALL - 7,
            1,
            100,
            STREAM_CALL / 2,
            100,
            STREAM_CALL / 2 - 1,
            STREAM_CALL / 2,
            65_535,
            65_535,
            STREAM_CALL,
            3,
            10,
        ];
        let whole = [STREAM_CALL + 1, 3, 3 * ONE_CALL + 5, 10];
        for (sizes, largest) in [(&mta[..], STREAM_CALL), (&whole[..], ONE_CALL)] {
            let mut input = Vec::new();
            let mut gather = Gather::default();
            let mut calls: Vec<Vec<u8>> = Vec::new();
            for (i, &n) in sizes.iter().enumerate() {
                let chunk: Vec<u8> = (0..n).map(|j| (i * 7 + j) as u8).collect();
                input.extend_from_slice(&chunk);
                if n == ONE_CALL - 7 {
                    // a signer holds its first ONE_CALL bytes itself
                    gather.held = chunk;
                    continue;
                }
                gather
                    .push(&chunk, &mut |d| {
                        calls.push(d.to_vec());
                        Ok(Ok(()))
                    })
                    .unwrap()
                    .unwrap();
                assert!(gather.held.capacity() <= 2 * STREAM_CALL, "after chunk {i}");
            }
            gather
                .flush(&mut |d| {
                    calls.push(d.to_vec());
                    Ok(Ok(()))
                })
                .unwrap()
                .unwrap();
            assert!(calls.iter().all(|c| !c.is_empty() && c.len() <= largest));
            assert_eq!(calls.concat(), input);
            assert!(gather.held.is_empty());
        }
    }

    /// A call the component refuses ends the flush: nothing after it is
    /// sent.
    #[test]
    fn a_refused_call_stops_the_flush() {
        let mut gather = Gather {
            held: vec![1; 3 * STREAM_CALL],
        };
        let mut calls = 0;
        let r = gather
            .flush(&mut |_| {
                calls += 1;
                Ok(Err(GuestError {
                    code: crate::component::wit::ErrorCode::State,
                    message: "refused".into(),
                }))
            })
            .unwrap();
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}

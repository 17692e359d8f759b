//! Reading milter packets from the MTA, many per system call.
//!
//! Postfix writes the events that get no reply (each header, the macros
//! before it, body chunks) into one buffer and sends them together. Read
//! packet by packet, each would cost two `recv` calls (length, then data)
//! and a wake-up; buffered, a whole header block usually arrives in one.

use anyhow::{Result, bail};
use tokio::io::AsyncReadExt;
use waxseal_milter_proto as proto;

use super::MtaStream;

/// What one `read` asks for at least: room for a header block of many
/// small packets.
const READ_SIZE: usize = 16 * 1024;

/// Packets read ahead of the one being handled. The buffer grows to the
/// largest packet in flight (a body chunk, 64 KiB) and is given up when
/// it has been read to the end, so that the hundreds of connections Postfix
/// keeps open between messages hold a few KiB each.
pub(super) struct Packets {
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl Packets {
    pub(super) fn new() -> Self {
        Packets {
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// The next packet (command byte and data), reading from `stream` only
    /// when less than a whole packet is buffered; `None` when the MTA
    /// closed the connection between packets. A length over `max` is an
    /// error before anything of the packet is read, as is a connection
    /// closed inside a packet. Cancel-safe: bytes read stay buffered.
    pub(super) async fn next<S: MtaStream>(
        &mut self,
        stream: &mut S,
        max: usize,
    ) -> Result<Option<&[u8]>> {
        if self.start == self.end && self.buf.len() > 2 * READ_SIZE {
            // a body chunk was here; an idle connection keeps little
            self.buf = Vec::new();
        }
        loop {
            let have = self.end - self.start;
            let mut need = 4;
            if have >= 4 {
                let mut len = [0u8; 4];
                len.copy_from_slice(&self.buf[self.start..self.start + 4]);
                need = 4 + proto::read_len(len, max)?;
                if have >= need {
                    let packet = self.start + 4..self.start + need;
                    self.start += need;
                    if self.start == self.end {
                        (self.start, self.end) = (0, 0);
                    }
                    return Ok(Some(&self.buf[packet]));
                }
            }
            self.make_room(need);
            let n = stream.read(&mut self.buf[self.end..]).await?;
            stream.ack_now();
            if n == 0 {
                if have == 0 {
                    return Ok(None);
                }
                bail!("connection closed inside a packet ({have} of {need} bytes)");
            }
            self.end += n;
        }
    }

    /// Moves the unread bytes to the front and makes room after them for
    /// the rest of a packet of `need` bytes and for a read of `READ_SIZE`.
    /// The buffer stays under the largest packet plus `READ_SIZE`.
    fn make_room(&mut self, need: usize) {
        let have = self.end - self.start;
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, have);
        }
        let want = need.max(have + READ_SIZE);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    impl MtaStream for tokio::io::DuplexStream {}

    fn packet(cmd: u8, data: &[u8]) -> Vec<u8> {
        let mut p = u32::try_from(data.len() + 1)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        p.push(cmd);
        p.extend_from_slice(data);
        p
    }

    /// Packets of every size, written in pieces that split lengths and
    /// data anywhere, come out whole and in order.
    #[tokio::test]
    async fn packets_survive_any_split() {
        let sizes = [0usize, 1, 3, 100, 5000, 16 * 1024, 65_535, 2, 70_000, 7];
        let sent: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| packet(b'B', &vec![i as u8; n]))
            .collect();
        let wire: Vec<u8> = sent.concat();
        for piece in [1usize, 3, 4, 5, 4099, 65_536, wire.len()] {
            let (mut a, mut b) = tokio::io::duplex(256 * 1024);
            let w = wire.clone();
            let writer = tokio::spawn(async move {
                for c in w.chunks(piece) {
                    a.write_all(c).await.unwrap();
                }
            });
            let mut packets = Packets::new();
            for p in &sent {
                let got = packets.next(&mut b, 1 << 20).await.unwrap().unwrap();
                assert_eq!(got, &p[4..], "piece {piece}");
            }
            writer.await.unwrap();
            assert!(packets.next(&mut b, 1 << 20).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn too_large_and_truncated_packets_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&packet(b'B', &[0; 100])).await.unwrap();
        let e = Packets::new().next(&mut b, 50).await.unwrap_err();
        assert!(e.to_string().contains("50"), "{e}");

        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&packet(b'B', &[0; 100])[..60]).await.unwrap();
        drop(a);
        let e = Packets::new().next(&mut b, 1000).await.unwrap_err();
        assert!(e.to_string().contains("inside a packet"), "{e}");

        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&[0, 0]).await.unwrap();
        drop(a);
        assert!(Packets::new().next(&mut b, 1000).await.is_err());
    }
}

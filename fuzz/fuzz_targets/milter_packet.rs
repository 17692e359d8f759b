//! The milter protocol as the server reads it: a stream of length-prefixed
//! packets, each parsed to a command. Never panics; a length over the
//! limit is refused before any allocation; header names and values come
//! out as slices of the packet, byte for byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waxseal_milter_proto::{Command, Reply, parse, read_len};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while rest.len() >= 4 {
        let prefix = [rest[0], rest[1], rest[2], rest[3]];
        let Ok(n) = read_len(prefix, 1 << 16) else {
            break;
        };
        let Some(packet) = rest.get(4..4 + n) else {
            break;
        };
        rest = &rest[4 + n..];
        match parse(packet) {
            Ok(cmd) => {
                let _ = cmd.expects_reply(u32::from(packet[0]) << 12);
                assert_eq!(cmd.code(), packet[0]);
                if let Command::Header { name, value } = cmd {
                    // a field echoed back as a reply keeps its bytes (NULs
                    // cannot travel and are left out)
                    let mut out = Vec::new();
                    Reply::AddHeader { name, value }.encode(&mut out);
                    assert_eq!(out.len(), 4 + 1 + name.len() + 1 + value.len() + 1);
                }
            }
            Err(_) => {}
        }
    }
});

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn packet(code: u8, data: &[u8]) -> Vec<u8> {
    let mut p = vec![code];
    p.extend_from_slice(data);
    p
}

#[test]
fn optneg_offer_from_postfix() {
    let mut data = Vec::new();
    for w in [6u32, 0x1ff, 0x1f_ffff] {
        data.extend_from_slice(&w.to_be_bytes());
    }
    assert_eq!(
        parse(&packet(b'O', &data)).unwrap(),
        Command::OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff
        }
    );
    assert_eq!(
        parse(&packet(b'O', &data[..11])),
        Err(ProtocolError::Truncated { command: b'O' })
    );
}

#[test]
fn macros_are_bytes_in_pairs() {
    let p = packet(
        b'D',
        b"Mi\0ABC123\0{auth_authen}\0j\xc3\xb6rg@example.com\0",
    );
    assert_eq!(
        parse(&p).unwrap(),
        Command::Macros {
            stage: b'M',
            pairs: vec![
                (&b"i"[..], &b"ABC123"[..]),
                (&b"{auth_authen}"[..], "jörg@example.com".as_bytes())
            ]
        }
    );
    // Postfix sends a bare stage byte when no macro has a value
    assert_eq!(
        parse(b"DN").unwrap(),
        Command::Macros {
            stage: b'N',
            pairs: vec![]
        }
    );
    // a name without a value
    assert!(parse(&packet(b'D', b"Mi\0")).is_err());
    assert!(parse(b"D").is_err());
}

#[test]
fn connect_families() {
    let mut d = b"mail.example.org\x004".to_vec();
    d.extend_from_slice(&2525u16.to_be_bytes());
    d.extend_from_slice(b"192.0.2.1\0");
    assert_eq!(
        parse(&packet(b'C', &d)).unwrap(),
        Command::Connect {
            hostname: b"mail.example.org",
            family: Family::Inet,
            port: 2525,
            address: b"192.0.2.1"
        }
    );
    assert_eq!(
        parse(&packet(b'C', b"localhost\0U")).unwrap(),
        Command::Connect {
            hostname: b"localhost",
            family: Family::Unknown,
            port: 0,
            address: b""
        }
    );
    assert_eq!(
        parse(&packet(b'C', b"h\0X")),
        Err(ProtocolError::BadFamily(b'X'))
    );
    assert!(parse(&packet(b'C', b"h\x004\x00")).is_err());
    assert!(parse(&packet(b'C', b"h\x006\x00\x19::1")).is_err());
}

#[test]
fn header_values_stay_bytes() {
    // 8-bit, a leading space (HDR_LEADSPC) and an LF between folded lines
    let p = packet(b'L', b"Subject\0 Gr\xfc\xdfe\n\taus K\xf6ln\0");
    assert_eq!(
        parse(&p).unwrap(),
        Command::Header {
            name: b"Subject",
            value: b" Gr\xfc\xdfe\n\taus K\xf6ln"
        }
    );
    assert!(parse(&packet(b'L', b"Subject\0no end")).is_err());
}

#[test]
fn body_and_end() {
    assert_eq!(parse(b"Bline\r\n").unwrap(), Command::Body(b"line\r\n"));
    assert_eq!(parse(b"E").unwrap(), Command::EndOfMessage(b""));
    assert_eq!(parse(b"A").unwrap(), Command::Abort);
    assert_eq!(parse(b"Q").unwrap(), Command::Quit);
    assert_eq!(parse(b"N").unwrap(), Command::EndOfHeaders);
    assert_eq!(
        parse(b"M<a@example.com>\0BODY=8BITMIME\0").unwrap(),
        Command::Mail(vec![b"<a@example.com>", b"BODY=8BITMIME"])
    );
    assert_eq!(parse(b"Z"), Err(ProtocolError::UnknownCommand(b'Z')));
    assert_eq!(parse(b""), Err(ProtocolError::Empty));
}

#[test]
fn no_reply_commands_never_get_one() {
    for c in [
        Command::Abort,
        Command::Quit,
        Command::QuitNewConnection,
        Command::Macros {
            stage: b'C',
            pairs: vec![],
        },
    ] {
        assert!(!c.expects_reply(0));
    }
    assert!(Command::EndOfMessage(b"").expects_reply(u32::MAX));
    assert!(
        Command::Header {
            name: b"a",
            value: b"b"
        }
        .expects_reply(0)
    );
    assert!(
        !Command::Header {
            name: b"a",
            value: b"b"
        }
        .expects_reply(flag::NR_HEADER)
    );
    assert!(!Command::Body(b"").expects_reply(flag::NR_BODY));
    assert!(Command::EndOfHeaders.expects_reply(flag::NR_HEADER));
}

#[test]
fn replies_encode_with_their_length() {
    let mut out = Vec::new();
    Reply::Continue.encode(&mut out);
    assert_eq!(out, b"\0\0\0\x01c");
    out.clear();
    Reply::InsertHeader {
        index: 1,
        name: b"DKIM-Signature",
        value: b" v=1;\n\tb=x",
    }
    .encode(&mut out);
    let mut want = b"i\0\0\0\x01DKIM-Signature\0 v=1;\n\tb=x\0".to_vec();
    let mut framed = (want.len() as u32).to_be_bytes().to_vec();
    framed.append(&mut want);
    assert_eq!(out, framed);
    out.clear();
    // a NUL inside a value cannot travel; it is left out
    Reply::ChangeHeader {
        index: 2,
        name: b"X",
        value: b"a\0b",
    }
    .encode(&mut out);
    assert_eq!(&out[4..], b"m\0\0\0\x02X\0ab\0");
}

#[test]
fn negotiation_reply_carries_macro_lists() {
    let options = negotiate(6, 0x1ff, 0x1f_ffff, action::ADD_HEADERS, 0, flag::SKIP).unwrap();
    let mut out = Vec::new();
    Reply::OptNeg {
        options,
        macros: &[(stage::MAIL, "{auth_authen}")],
    }
    .encode(&mut out);
    let mut want = b"O".to_vec();
    for w in [6u32, 1, flag::SKIP, stage::MAIL] {
        want.extend_from_slice(&w.to_be_bytes());
    }
    want.extend_from_slice(b"{auth_authen}\0");
    assert_eq!(&out[4..], &want[..]);
    assert_eq!(
        u32::from_be_bytes(out[..4].try_into().unwrap()) as usize,
        want.len()
    );
}

#[test]
fn negotiation() {
    // older MTAs are refused with a clear reason
    let e = negotiate(2, 0x1ff, 0x7f, action::ADD_HEADERS, 0, 0).unwrap_err();
    assert_eq!(e, NegotiationError::OldVersion(2));
    assert!(e.to_string().contains("milter_protocol = 6"));
    // only offered flags are used; a newer MTA gets version 6
    let n = negotiate(
        7,
        action::ADD_HEADERS,
        flag::SKIP,
        action::ADD_HEADERS,
        action::CHANGE_HEADERS,
        flag::SKIP | flag::HEADER_LEADING_SPACE,
    )
    .unwrap();
    assert_eq!(
        n,
        Negotiated {
            version: 6,
            actions: action::ADD_HEADERS,
            protocol: flag::SKIP
        }
    );
    assert_eq!(
        negotiate(6, 0, 0, action::ADD_HEADERS, 0, 0),
        Err(NegotiationError::MissingActions {
            missing: action::ADD_HEADERS
        })
    );
}

#[test]
fn lengths() {
    assert_eq!(read_len([0, 0, 0, 1], 10), Ok(1));
    assert_eq!(read_len([0, 0, 0, 0], 10), Err(ProtocolError::Empty));
    assert_eq!(
        read_len([0xff, 0xff, 0xff, 0xff], 1 << 20),
        Err(ProtocolError::TooLarge {
            len: 0xffff_ffff,
            limit: 1 << 20
        })
    );
}

#[test]
fn parse_never_panics_on_short_or_odd_input() {
    // every prefix of every well-formed packet, and every command byte
    let samples: Vec<Vec<u8>> = vec![
        b"O\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff".to_vec(),
        b"Dmi\0Q1\0".to_vec(),
        b"Chost\x004\x09\x29192.0.2.1\0".to_vec(),
        b"Chost\x006\x09\x29::1\0".to_vec(),
        b"Lname\0value\0".to_vec(),
        b"M<a>\0".to_vec(),
    ];
    for s in &samples {
        for n in 0..=s.len() {
            let _ = parse(&s[..n]);
        }
    }
    for c in 0..=255u8 {
        let _ = parse(&[c]);
        let _ = parse(&[c, 0]);
    }
}

//! The seed workflow with waxseal-core alone: create keys for example.com,
//! print the DNS records to publish, sign a sample message with RSA and
//! Ed25519 in one pass, print the signed message, and verify it against the
//! records (served from memory here, as a receiver's DNS would).
//!
//! `cargo run --release -p waxseal-core --example demo [-- MESSAGE_FILE]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use waxseal_core::{
    Domain, KeyAnswer, KeyRecord, PrivateKey, Selector, SignOptions, Signer, VerifyPolicy,
    keys::RSA_DEFAULT_BITS, prepend_signatures, verify,
};

const SAMPLE: &[u8] = b"From: Joe SixPack <joe@example.com>\r\n\
To: Suzie Q <suzie@example.net>\r\n\
Subject: Is dinner ready?\r\n\
Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n\
Message-ID: <20030712040037.46341.5F8J@example.com>\r\n\
\r\n\
Hi.\r\n\
\r\n\
We lost the game.  Are you hungry yet?\r\n\
\r\n\
Joe.\r\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let message = match std::env::args_os().nth(1) {
        Some(path) => std::fs::read(path)?,
        None => SAMPLE.to_vec(),
    };
    let domain = Domain::new("example.com")?;
    let mut rng = rand::rng();

    eprintln!("generating an RSA-{RSA_DEFAULT_BITS} key and an Ed25519 key for {domain} ...");
    let rsa = PrivateKey::generate_rsa(&mut rng, RSA_DEFAULT_BITS)?;
    let ed = PrivateKey::generate_ed25519(&mut rng)?;
    let keys = [
        (Selector::new("rsa2026")?, &rsa),
        (Selector::new("ed2026")?, &ed),
    ];

    println!("==== DNS records to publish (test mode, t=y) ====");
    let mut dns = Vec::new();
    for (selector, key) in &keys {
        let record = KeyRecord::new(&key.public_key()).with_testing(true);
        println!("{}", record.zone_line(selector, &domain));
        dns.push((selector.record_name(&domain), record.txt_strings()));
    }
    println!();
    println!("==== dns_readme.txt for the Ed25519 key ====");
    print!(
        "{}",
        KeyRecord::new(&ed.public_key())
            .with_testing(true)
            .readme(&keys[1].0, &domain)
    );
    println!();

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut signer = Signer::new();
    for (selector, key) in keys {
        let mut opts = SignOptions::new(domain.clone(), selector);
        opts.timestamp = Some(now);
        signer.add(opts, key)?;
    }
    signer.update(&message)?;
    let signatures = signer.finish()?;
    let signed = prepend_signatures(&message, &signatures);
    println!("==== the signed message (RSA + Ed25519, relaxed/relaxed) ====");
    print!("{}", String::from_utf8_lossy(&signed));
    println!();

    // A receiver: the key records come from "DNS" (here: the records above,
    // split into 255-byte strings as a resolver returns them).
    let report = verify(
        &signed,
        &VerifyPolicy::default(),
        Some(now),
        &mut |name: &str| match dns.iter().find(|(n, _)| n.as_str() == name) {
            Some((_, strings)) => KeyAnswer::Records(vec![
                strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ]),
            None => KeyAnswer::NxDomain,
        },
    )?;
    println!("==== verification ====");
    for r in &report.results {
        println!("{r}");
    }
    print!("{}", report.authentication_results_field("mx.example.net"));
    if !report
        .results
        .iter()
        .all(|r| r.result == waxseal_core::DkimResult::Pass)
    {
        return Err("a signature did not verify".into());
    }
    Ok(())
}

//! DKIM-Signature values: never panic; a parsed signature written by
//! waxseal's folding writer parses back to the same signature.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waxseal_core::DkimSignature;
use waxseal_core::signature::{HEADER_NAME, SignatureLabels};

fuzz_target!(|data: &[u8]| {
    let _ = SignatureLabels::salvage(data);
    if let Ok(sig) = DkimSignature::parse(data) {
        let header = sig.to_header();
        let value = &header.as_bytes()[HEADER_NAME.len() + 1..];
        let again = DkimSignature::parse(value).expect("written signature parses");
        assert_eq!(again, sig);
    }
});

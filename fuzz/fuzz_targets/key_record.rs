//! DNS key records (RFC 6376 3.6.1): never panic; a parsed record written
//! back out parses to the same record; decoding its key never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waxseal_core::KeyRecord;
use waxseal_core::policy::{DmarcRecord, LegacyPolicy};

fuzz_target!(|data: &[u8]| {
    let _ = LegacyPolicy::parse(data);
    let _ = DmarcRecord::parse(data);
    if let Ok(rec) = KeyRecord::parse(data) {
        let _ = rec.decode_public_key();
        let clean = rec.notes.as_ref().is_none_or(|n| !n.contains(';'))
            && rec
                .service_types
                .as_ref()
                .is_none_or(|s| s.iter().all(|t| !t.contains([';', ':'])));
        if clean {
            let again = KeyRecord::parse(rec.to_txt().as_bytes()).expect("written record parses");
            assert_eq!(again.key_type, rec.key_type);
            assert_eq!(again.public_key, rec.public_key);
            assert_eq!(again.testing, rec.testing);
        }
    }
});

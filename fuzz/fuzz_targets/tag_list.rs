//! Tag lists (RFC 6376 3.2): never panic; what parses, written back out,
//! parses to the same tags.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waxseal_core::tag_list::{TagList, write_tag_list};

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = TagList::parse(data) {
        let pairs: Vec<(&str, String)> = list
            .iter()
            .map(|t| (t.name, String::from_utf8_lossy(t.value).into_owned()))
            .collect();
        if pairs.iter().all(|(_, v)| !v.contains(';')) {
            let text = write_tag_list(pairs.iter().map(|(n, v)| (*n, v.as_str())));
            let again = TagList::parse(text.as_bytes()).expect("written tag list parses");
            assert_eq!(again.len(), list.len());
        }
    }
});

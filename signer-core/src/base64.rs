//! Base64 as DKIM uses it (RFC 6376 2.4: RFC 2045 base64, in tags with
//! folding white space allowed anywhere).

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::Error;

/// Standard alphabet; padding written, and optional when reading (some
/// publishers drop it).
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes with padding, no line breaks.
pub fn encode(data: &[u8]) -> String {
    ENGINE.encode(data)
}

/// Decodes, ignoring folding white space (SP, HTAB, CR, LF) anywhere.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Error> {
    if text.iter().any(|b| crate::tag_list::is_fws(*b)) {
        let clean: Vec<u8> = text
            .iter()
            .copied()
            .filter(|b| !crate::tag_list::is_fws(*b))
            .collect();
        ENGINE.decode(clean).map_err(|_| Error::InvalidBase64)
    } else {
        ENGINE.decode(text).map_err(|_| Error::InvalidBase64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use crate::test_prelude::*;

    #[test]
    fn fws_and_padding() {
        assert_eq!(decode(b"aGVs\r\n\tbG8=").unwrap(), b"hello");
        assert_eq!(decode(b"aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode(b"aGVsbG8*"), Err(Error::InvalidBase64));
        assert_eq!(encode(b"hello"), "aGVsbG8=");
    }
}

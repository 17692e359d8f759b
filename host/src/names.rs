//! Domain names as people type them: internationalized ones (U-labels,
//! `bücher.example`) are taken and signed with their A-labels
//! (`xn--bcher-kva.example`), as RFC 8616 3 asks of DKIM: `d=` and the key
//! record's name are A-labels on the wire (RFC 5890).

use anyhow::{Result, anyhow};
use waxseal_core::Domain;

/// `name` as a DKIM domain: ASCII as it is, a U-label domain converted to
/// its A-labels. The error says what was wrong, for the option `what`.
pub fn domain(what: &str, name: &str) -> Result<Domain> {
    let ascii = if name.is_ascii() {
        name.to_string()
    } else {
        idna::domain_to_ascii(name).map_err(|_| {
            anyhow!("{what} {name}: not a valid internationalized domain name (RFC 5890)")
        })?
    };
    Domain::new(&ascii).map_err(|e| {
        if ascii == name {
            anyhow!("{what} {name}: {e}")
        } else {
            anyhow!("{what} {name} ({ascii}): {e}")
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn u_labels_become_a_labels() {
        assert_eq!(
            domain("--domain", "bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            domain("--domain", "Example.COM").unwrap().as_str(),
            "Example.COM"
        );
        let e = domain("--domain", "bad_domain!").unwrap_err().to_string();
        assert!(e.starts_with("--domain bad_domain!: "), "{e}");
    }
}

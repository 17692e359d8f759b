//! Domain names as people type them: internationalized ones (U-labels,
//! `bücher.example`) are taken and signed with their A-labels
//! (`xn--bcher-kva.example`), as RFC 8616 3 asks of DKIM: `d=` and the key
//! record's name are A-labels on the wire (RFC 5890).

use anyhow::{Result, anyhow};
use waxseal_core::{Domain, Selector};

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

/// `name` as the selector of a key of `domain`: valid (RFC 6376 3.1), and
/// its record name `<selector>._domainkey.<domain>` short enough to exist
/// in DNS (253 characters), or no verifier could ever find the key.
pub fn selector(what: &str, name: &str, domain: &Domain) -> Result<Selector> {
    let s = Selector::new(name).map_err(|e| anyhow!("{what} {name}: {e}"))?;
    if !s.record_name_fits(domain) {
        let len = s.record_name(domain).len();
        return Err(anyhow!(
            "{what} {name}: the key record's name {name}._domainkey.{domain} would be {len} characters; DNS names have at most 253"
        ));
    }
    Ok(s)
}

/// An identity (`i=`, `[local-part]@domain`) as people type it: the part
/// after the last `@` through [`domain`], so `joe@bücher.example` is signed
/// as `joe@xn--bcher-kva.example` like `--domain bücher.example` (RFC 8616
/// 3); the local part is left as it is.
pub fn identity(what: &str, value: &str) -> Result<String> {
    let Some((local, dom)) = value.rsplit_once('@') else {
        return Ok(value.to_string()); // the core says what is wrong
    };
    if dom.is_ascii() {
        return Ok(value.to_string());
    }
    Ok(format!("{local}@{}", domain(what, dom)?))
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
        assert_eq!(
            identity("-i", "joe@bücher.example").unwrap(),
            "joe@xn--bcher-kva.example"
        );
        assert_eq!(identity("-i", "@Example.com").unwrap(), "@Example.com");
    }

    #[test]
    fn a_selector_whose_record_name_cannot_exist_is_refused() {
        let d = domain(
            "-d",
            &[
                "a".repeat(63),
                "b".repeat(63),
                "c".repeat(63),
                "example".into(),
            ]
            .join("."),
        )
        .unwrap();
        assert!(selector("-s", &"s".repeat(42), &d).is_ok());
        let e = selector("-s", &"s".repeat(43), &d).unwrap_err().to_string();
        assert!(e.contains("would be 254 characters"), "{e}");
        assert!(selector("-s", "a;b", &d).is_err());
    }
}

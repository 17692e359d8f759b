//! Header and body canonicalization, "simple" and "relaxed" (RFC 6376 3.4).
//!
//! Body canonicalization is one streaming state machine
//! ([`BodyCanonicalizer`]): it reads each input byte once, keeps O(1) state
//! between chunks (a count of held-back line endings, a pending CR, a
//! pending white-space flag), and its output does not depend on how the body
//! is split into chunks. The one-shot [`canonicalize_body`] wraps it.
//!
//! Line endings follow the [`message`](crate::message) rules: CRLF and bare
//! LF end a line (both canonicalize to CRLF), a bare CR is data.

use core::fmt;

use crate::error::Error;

mod body;
mod header;
mod scan;

pub use body::*;
pub use header::*;

/// One canonicalization algorithm (RFC 6376 3.4.1 to 3.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CanonicalizationAlgorithm {
    /// "simple": tolerates almost no modification.
    Simple,
    /// "relaxed": tolerates white-space changes and header re-folding.
    Relaxed,
}

impl CanonicalizationAlgorithm {
    /// The name used in `c=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Relaxed => "relaxed",
        }
    }

    fn parse(s: &[u8]) -> Result<Self, Error> {
        match s {
            b"simple" => Ok(Self::Simple),
            b"relaxed" => Ok(Self::Relaxed),
            _ => Err(Error::UnsupportedCanonicalization),
        }
    }
}

/// Header and body canonicalization, the `c=` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Canonicalization {
    /// How header fields are canonicalized.
    pub header: CanonicalizationAlgorithm,
    /// How the body is canonicalized.
    pub body: CanonicalizationAlgorithm,
}

impl Canonicalization {
    /// `simple/simple`, the RFC default when `c=` is absent.
    pub const SIMPLE_SIMPLE: Self = Self::new(
        CanonicalizationAlgorithm::Simple,
        CanonicalizationAlgorithm::Simple,
    );
    /// `relaxed/relaxed`, waxseal's default for signing: it survives the
    /// re-folding and white-space changes that mail systems make.
    pub const RELAXED_RELAXED: Self = Self::new(
        CanonicalizationAlgorithm::Relaxed,
        CanonicalizationAlgorithm::Relaxed,
    );
    /// `relaxed/simple`.
    pub const RELAXED_SIMPLE: Self = Self::new(
        CanonicalizationAlgorithm::Relaxed,
        CanonicalizationAlgorithm::Simple,
    );
    /// `simple/relaxed`.
    pub const SIMPLE_RELAXED: Self = Self::new(
        CanonicalizationAlgorithm::Simple,
        CanonicalizationAlgorithm::Relaxed,
    );

    /// The `c=` value, both halves: `relaxed/simple`, ...
    pub fn as_str(&self) -> &'static str {
        use CanonicalizationAlgorithm::{Relaxed, Simple};
        match (self.header, self.body) {
            (Simple, Simple) => "simple/simple",
            (Simple, Relaxed) => "simple/relaxed",
            (Relaxed, Simple) => "relaxed/simple",
            (Relaxed, Relaxed) => "relaxed/relaxed",
        }
    }

    /// Builds a canonicalization from its two halves.
    pub const fn new(header: CanonicalizationAlgorithm, body: CanonicalizationAlgorithm) -> Self {
        Self { header, body }
    }

    /// Parses a `c=` value. RFC 6376 3.5: "If only one algorithm is named,
    /// that algorithm is used for the header and 'simple' is used for the
    /// body."
    pub fn parse(value: &[u8]) -> Result<Self, Error> {
        match value.iter().position(|b| *b == b'/') {
            Some(i) => Ok(Self::new(
                CanonicalizationAlgorithm::parse(&value[..i])?,
                CanonicalizationAlgorithm::parse(&value[i + 1..])?,
            )),
            None => Ok(Self::new(
                CanonicalizationAlgorithm::parse(value)?,
                CanonicalizationAlgorithm::Simple,
            )),
        }
    }
}

impl fmt::Display for Canonicalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;

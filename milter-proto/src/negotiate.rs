//! The option negotiation (`OPTNEG`): version, actions and protocol
//! flags both sides agree on.

use std::fmt;

use crate::VERSION;

/// The options both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Protocol version.
    pub version: u32,
    /// Actions the filter will take (`action::*`).
    pub actions: u32,
    /// Protocol flags in force (`flag::*`).
    pub protocol: u32,
}

/// Why an offer cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The MTA speaks an older protocol than version 6.
    OldVersion(u32),
    /// The MTA does not allow an action the filter needs.
    MissingActions {
        /// The actions needed and not offered.
        missing: u32,
    },
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::OldVersion(v) => write!(
                f,
                "the MTA offers milter protocol version {v}; waxseal needs version {VERSION} (Postfix: milter_protocol = 6)"
            ),
            NegotiationError::MissingActions { missing } => write!(
                f,
                "the MTA does not allow the actions the filter needs (SMFIF 0x{missing:x})"
            ),
        }
    }
}

impl std::error::Error for NegotiationError {}

/// Answers the MTA's offer: version 6, the `needed` actions (refused when
/// not offered) plus those of `optional` that are offered, and the
/// `wanted` protocol flags the MTA can honour.
pub fn negotiate(
    offer_version: u32,
    offer_actions: u32,
    offer_protocol: u32,
    needed: u32,
    optional: u32,
    wanted: u32,
) -> Result<Negotiated, NegotiationError> {
    if offer_version < VERSION {
        return Err(NegotiationError::OldVersion(offer_version));
    }
    let missing = needed & !offer_actions;
    if missing != 0 {
        return Err(NegotiationError::MissingActions { missing });
    }
    Ok(Negotiated {
        version: VERSION,
        actions: needed | (optional & offer_actions),
        protocol: wanted & offer_protocol,
    })
}

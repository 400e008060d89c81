//! Error types of the engine.
//!
//! Each error says who is at fault (DESIGN.md, rule 5): a [`TokenError`] is a local resource
//! condition or a lost race on the shared token table, never a peer's fault; the caller decides
//! what goes on the wire (typically: fall back to plain TCP, or drop the request). A
//! [`ProtocolViolation`] is the peer's fault; [`Exhausted`], a local resource that ran out (the
//! caller's mistakes are [`ApiMisuse`](crate::endpoint::ApiMisuse)). There is no catch-all
//! `Other(String)` variant.

use core::fmt;

use crate::crypto::Token;

/// Why an operation on the [`TokenTable`](crate::token::TokenTable) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// No unique, non-zero token was found within the table's retry budget. The kernel MIB counter
    /// `MPFallbackTokenInit` has been incremented; RFC 8684 §3.1 says the connection then falls
    /// back to regular TCP (no MP_CAPABLE in the SYN or SYN-ACK).
    RetriesExhausted {
        /// How many keys were generated and rejected.
        attempts: u32,
    },
    /// The token is not in the table: it was never allocated, was removed, or was swept by
    /// [`TokenTable::expire_pending`](crate::token::TokenTable::expire_pending).
    NotFound {
        /// The token that was looked for.
        token: Token,
    },
    /// The entry is already established: a duplicate promotion (e.g. a racing third ACK) lost.
    NotPending {
        /// The token of the entry.
        token: Token,
    },
    /// The token now belongs to another request or connection (the caller's entry is gone and the
    /// token was allocated again).
    WrongRequest {
        /// The token of the entry.
        token: Token,
    },
    /// The pending entry's expiry had passed when it was promoted; it has been removed.
    Expired {
        /// The token of the removed entry.
        token: Token,
    },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::RetriesExhausted { attempts } => {
                write!(f, "no unique token after {attempts} attempts")
            }
            TokenError::NotFound { token } => write!(f, "token {token} not found"),
            TokenError::NotPending { token } => write!(f, "token {token} is not pending"),
            TokenError::WrongRequest { token } => {
                write!(f, "token {token} belongs to another request")
            }
            TokenError::Expired { token } => write!(f, "pending token {token} expired"),
        }
    }
}

impl std::error::Error for TokenError {}

/// How the peer broke the protocol (DESIGN.md rule 5: the peer is at fault). The subflow it
/// happened on is reset with MP_TCPRST "MPTCP-specific error" (RFC 8684 §3.6); when no subflow
/// is left, the connection ends with [`ConnectionError::ProtocolViolation`](crate::connection::ConnectionError).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolViolation {
    /// A DSS mapping contradicts one already received for the same bytes (RFC 8684 §3.3.1: a
    /// mapping, once declared, cannot change).
    ContradictingMapping,
    /// After the connection fell back to TCP, a segment mapped its payload elsewhere in the data
    /// stream: the peer had not fallen back, and its bytes cannot be placed.
    MappingAfterFallback,
    /// An MP_JOIN SYN-ACK or third ACK whose HMAC is wrong or missing (RFC 8684 §3.2).
    JoinHmacMismatch,
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolViolation::ContradictingMapping => "a DSS mapping contradicts an earlier one",
            ProtocolViolation::MappingAfterFallback => "a DSS mapping after the fallback to TCP",
            ProtocolViolation::JoinHmacMismatch => "an MP_JOIN HMAC is wrong or missing",
        })
    }
}

impl std::error::Error for ProtocolViolation {}

/// A local resource ran out: neither the caller's mistake nor the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exhausted {
    /// No ephemeral port is free for this destination.
    EphemeralPorts,
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exhausted::EphemeralPorts => f.write_str("no free ephemeral port"),
        }
    }
}

impl std::error::Error for Exhausted {}

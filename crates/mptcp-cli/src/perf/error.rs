//! What can go wrong in a test, and whose fault it is.

use std::fmt;
use std::time::Duration;

use super::protocol::State;

/// One end of a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The end that connects.
    Client,
    /// The end that accepts.
    Server,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

/// How the peer broke the protocol.
#[derive(Debug)]
pub enum Violation {
    /// A state byte that does not belong here.
    UnexpectedState(State),
    /// A JSON message longer than we accept.
    MessageTooLong(u32),
    /// A JSON message that does not parse.
    BadJson(serde_json::Error),
    /// A JSON message that is not an object.
    NotAnObject,
    /// A field iperf3 always sends is missing (or has the wrong type).
    MissingField(&'static str),
    /// Results name a stream the test does not have.
    UnknownStream(u32),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::UnexpectedState(s) => write!(f, "unexpected state {s:?}"),
            Violation::MessageTooLong(n) => write!(f, "a JSON message of {n} bytes is too long"),
            Violation::BadJson(e) => write!(f, "malformed JSON: {e}"),
            Violation::NotAnObject => f.write_str("a JSON message is not an object"),
            Violation::MissingField(k) => write!(f, "field {k:?} is missing or not a number"),
            Violation::UnknownStream(id) => write!(f, "results for unknown stream {id}"),
        }
    }
}

/// A test this implementation does not run (the server refuses it with
/// iperf3's "not implemented" error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// UDP tests (`-u`).
    Udp,
    /// SCTP tests (`--sctp`).
    Sctp,
    /// Both directions at once (`--bidir`).
    Bidirectional,
    /// Omitting the first seconds (`-O`).
    Omit,
    /// Rate-limited sending by this end (`-b` with `-R`).
    Bandwidth,
    /// More parallel streams than iperf3 allows, or none.
    Streams(usize),
    /// A block larger than iperf3 allows.
    BlockLen(usize),
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::Udp => f.write_str("UDP"),
            Unsupported::Sctp => f.write_str("SCTP"),
            Unsupported::Bidirectional => f.write_str("a bidirectional test"),
            Unsupported::Omit => f.write_str("omitting the first seconds (-O)"),
            Unsupported::Bandwidth => f.write_str("a rate limit on the server's sending"),
            Unsupported::Streams(n) => write!(f, "{n} parallel streams"),
            Unsupported::BlockLen(n) => write!(f, "blocks of {n} bytes"),
        }
    }
}

/// Why a test failed.
#[derive(Debug)]
pub enum PerfError {
    /// A socket operation failed (connect, accept, read, write).
    Io {
        /// What we were doing.
        op: &'static str,
        /// The error from the transport.
        source: std::io::Error,
    },
    /// Writing the report failed.
    Output(std::io::Error),
    /// The options make no test (caller's mistake).
    InvalidOptions(&'static str),
    /// The peer broke the protocol in state `state`.
    Protocol {
        /// Who broke it.
        peer: Side,
        /// The state the test was in.
        state: State,
        /// What was wrong.
        violation: Violation,
    },
    /// The server refused the test (`ACCESS_DENIED`): it is running
    /// another one.
    AccessDenied,
    /// The server reported an error (`SERVER_ERROR`).
    ServerError {
        /// iperf3's error number (`i_errno`), e.g. 13: not implemented.
        code: i32,
        /// The server's `errno`.
        errno: i32,
    },
    /// The client asked for a test this server does not run.
    Unsupported(Unsupported),
    /// The peer ended the test early (`SERVER_TERMINATE`,
    /// `CLIENT_TERMINATE`).
    Terminated {
        /// Who ended it.
        by: Side,
    },
    /// The peer closed the control connection in state `state`.
    ControlClosed {
        /// Who closed it.
        peer: Side,
        /// The state the test was in.
        state: State,
    },
    /// The peer did not answer within `after` in state `state`.
    Timeout {
        /// Who did not answer.
        peer: Side,
        /// The state the test was in.
        state: State,
        /// How long we waited.
        after: Duration,
    },
}

impl fmt::Display for PerfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PerfError::Io { op, source } => write!(f, "cannot {op}: {source}"),
            PerfError::Output(e) => write!(f, "cannot write the report: {e}"),
            PerfError::InvalidOptions(what) => write!(f, "invalid options: {what}"),
            PerfError::Protocol {
                peer,
                state,
                violation,
            } => write!(f, "protocol error from the {peer} in {state}: {violation}"),
            PerfError::AccessDenied => {
                f.write_str("the server is busy running a test (ACCESS_DENIED); try again later")
            }
            PerfError::ServerError { code, errno } => {
                write!(f, "the server reported iperf3 error {code}")?;
                if let Some(text) = iperf_error_text(*code) {
                    write!(f, " ({text})")?;
                }
                if *errno != 0 {
                    write!(f, ", errno {errno}")?;
                }
                Ok(())
            }
            PerfError::Unsupported(what) => {
                write!(
                    f,
                    "the client asked for {what}, which this server does not support"
                )
            }
            PerfError::Terminated { by } => write!(f, "the {by} ended the test early"),
            PerfError::ControlClosed { peer, state } => {
                write!(f, "the {peer} closed the control connection in {state}")
            }
            PerfError::Timeout { peer, state, after } => {
                write!(f, "the {peer} did not answer within {after:?} in {state}")
            }
        }
    }
}

impl std::error::Error for PerfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PerfError::Io { source, .. } | PerfError::Output(source) => Some(source),
            PerfError::Protocol {
                violation: Violation::BadJson(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}

/// The meaning of a few of iperf3's error numbers a server sends.
fn iperf_error_text(code: i32) -> Option<&'static str> {
    Some(match code {
        13 => "not implemented",
        102 => "unable to start listener for connections",
        104 => "unable to accept connection from client",
        113 => "unable to send parameters to server",
        114 => "unable to receive parameters from client",
        _ => return None,
    })
}

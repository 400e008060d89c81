//! Path-manager events, named and shaped as the Linux kernel's MPTCP
//! netlink events (`MPTCP_EVENT_*`, as `ip mptcp monitor` prints them).

use crate::crypto::Token;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The errno values the kernel reports in a `sub_closed` event's `error`.
pub mod errno {
    /// The peer reset the subflow.
    pub const ECONNRESET: u32 = 104;
    /// We aborted it.
    pub const ECONNABORTED: u32 = 103;
    /// It timed out.
    pub const ETIMEDOUT: u32 = 110;
    /// The peer refused it.
    pub const ECONNREFUSED: u32 = 111;
}

/// The addresses and ids of one subflow, as the kernel's `sub_*` events
/// carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubflowAttrs {
    /// The connection's (our) token.
    pub token: Token,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Our address id.
    pub local_id: u8,
    /// The peer's address id.
    pub remote_id: u8,
    /// Whether the subflow is a backup (ours or the peer's flag).
    pub backup: bool,
}

/// One path-manager event. A connection reports nothing before its
/// `created` (one whose MP_CAPABLE handshake never completed, nothing at
/// all), as the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmEvent {
    /// `created`: an MPTCP connection exists (its first subflow completed
    /// the MP_CAPABLE handshake).
    Created {
        /// Our token.
        token: Token,
        /// Our address and port.
        local: SocketAddr,
        /// The peer's.
        remote: SocketAddr,
        /// Whether we accepted it.
        server_side: bool,
    },
    /// `established`: fully established (both keys known on both sides);
    /// subflows may be added from now on.
    Established {
        /// Our token.
        token: Token,
        /// Our address and port.
        local: SocketAddr,
        /// The peer's.
        remote: SocketAddr,
        /// Whether we accepted it.
        server_side: bool,
    },
    /// `closed`: the connection ended.
    Closed {
        /// Our token.
        token: Token,
    },
    /// `announced`: the peer announced an address (ADD_ADDR).
    Announced {
        /// Our token.
        token: Token,
        /// Its address id.
        remote_id: u8,
        /// Its address and port (the connection's when none was given).
        remote: SocketAddr,
    },
    /// `removed`: the peer withdrew an address (REMOVE_ADDR).
    Removed {
        /// Our token.
        token: Token,
        /// Its address id.
        remote_id: u8,
    },
    /// `sub_established`: a subflow joined the connection.
    SubEstablished(SubflowAttrs),
    /// `sub_closed`: a subflow ended, or a join of ours failed (refused,
    /// timed out); `error` is the errno-style reason (see [`errno`]), none
    /// when it closed in order. A join of the peer's that never completed
    /// reports nothing.
    SubClosed {
        /// The subflow.
        sub: SubflowAttrs,
        /// Why, as an errno value.
        error: Option<u32>,
    },
    /// `sub_priority`: a subflow's backup flag changed (MP_PRIO).
    SubPriority(SubflowAttrs),
    /// `listener_created`: the endpoint accepts connections on a port.
    ListenerCreated {
        /// The port.
        port: u16,
    },
    /// `listener_closed`: it no longer does.
    ListenerClosed {
        /// The port.
        port: u16,
    },
}

impl PmEvent {
    /// The kernel's name of the event (`MPTCP_EVENT_*` in lower case).
    pub fn name(&self) -> &'static str {
        match self {
            PmEvent::Created { .. } => "created",
            PmEvent::Established { .. } => "established",
            PmEvent::Closed { .. } => "closed",
            PmEvent::Announced { .. } => "announced",
            PmEvent::Removed { .. } => "removed",
            PmEvent::SubEstablished(_) => "sub_established",
            PmEvent::SubClosed { .. } => "sub_closed",
            PmEvent::SubPriority(_) => "sub_priority",
            PmEvent::ListenerCreated { .. } => "listener_created",
            PmEvent::ListenerClosed { .. } => "listener_closed",
        }
    }

    /// One JSON object on one line, with the kernel's attribute names
    /// (`type`, `token`, `saddr4`/`saddr6`, `daddr4`/`daddr6`, `sport`,
    /// `dport`, `loc_id`, `rem_id`, `backup`, `error`, `server_side`).
    pub fn to_json(&self) -> String {
        let mut j = Json(format!("{{\"type\":\"{}\"", self.name()));
        match *self {
            PmEvent::Created {
                token,
                local,
                remote,
                server_side,
            }
            | PmEvent::Established {
                token,
                local,
                remote,
                server_side,
            } => {
                j.num("token", token.0);
                j.addrs(local, remote);
                j.num("server_side", u32::from(server_side));
            }
            PmEvent::Closed { token } => j.num("token", token.0),
            PmEvent::Announced {
                token,
                remote_id,
                remote,
            } => {
                j.num("token", token.0);
                j.num("rem_id", remote_id);
                j.addr("daddr", remote.ip());
                j.num("dport", remote.port());
            }
            PmEvent::Removed { token, remote_id } => {
                j.num("token", token.0);
                j.num("rem_id", remote_id);
            }
            PmEvent::SubEstablished(s) | PmEvent::SubPriority(s) => j.sub(&s),
            PmEvent::SubClosed { sub, error } => {
                j.sub(&sub);
                if let Some(e) = error {
                    j.num("error", e);
                }
            }
            PmEvent::ListenerCreated { port } | PmEvent::ListenerClosed { port } => {
                j.num("sport", port);
            }
        }
        j.0.push('}');
        j.0
    }
}

struct Json(String);

impl Json {
    fn num(&mut self, key: &str, v: impl fmt::Display) {
        self.0.push_str(&format!(",\"{key}\":{v}"));
    }

    fn addr(&mut self, prefix: &str, a: IpAddr) {
        let family = if a.is_ipv4() { 4 } else { 6 };
        self.0.push_str(&format!(",\"{prefix}{family}\":\"{a}\""));
    }

    fn addrs(&mut self, local: SocketAddr, remote: SocketAddr) {
        self.addr("saddr", local.ip());
        self.addr("daddr", remote.ip());
        self.num("sport", local.port());
        self.num("dport", remote.port());
    }

    fn sub(&mut self, s: &SubflowAttrs) {
        self.num("token", s.token.0);
        self.addrs(s.local, s.remote);
        self.num("loc_id", s.local_id);
        self.num("rem_id", s.remote_id);
        self.num("backup", u32::from(s.backup));
    }
}

//! The endpoint model of Linux's `ip mptcp endpoint` and `ip mptcp limits`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Flags of a local endpoint, with the kernel's values
/// (`MPTCP_PM_ADDR_FLAG_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EndpointFlags(pub u8);

impl EndpointFlags {
    /// No flag: the address is known but neither announced nor used for
    /// subflows of its own.
    pub const NONE: EndpointFlags = EndpointFlags(0);
    /// Announced to the peer with ADD_ADDR once the connection is fully
    /// established.
    pub const SIGNAL: EndpointFlags = EndpointFlags(1);
    /// Used as the source of a subflow to the peer's initial address once
    /// the connection is fully established.
    pub const SUBFLOW: EndpointFlags = EndpointFlags(2);
    /// Subflows from it are backups (flag B of MP_JOIN, RFC 8684 §3.2).
    pub const BACKUP: EndpointFlags = EndpointFlags(4);
    /// With `subflow`: a subflow to every address of the peer (its initial
    /// one and each it announces), not only the initial one.
    pub const FULLMESH: EndpointFlags = EndpointFlags(8);
    /// The source of one subflow to an address the peer announces, each
    /// such endpoint used once (instead of the address routing picks).
    pub const LAMINAR: EndpointFlags = EndpointFlags(32);

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: EndpointFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets.
    pub const fn union(self, other: EndpointFlags) -> EndpointFlags {
        EndpointFlags(self.0 | other.0)
    }

    const NAMES: [(&'static str, EndpointFlags); 5] = [
        ("signal", EndpointFlags::SIGNAL),
        ("subflow", EndpointFlags::SUBFLOW),
        ("backup", EndpointFlags::BACKUP),
        ("fullmesh", EndpointFlags::FULLMESH),
        ("laminar", EndpointFlags::LAMINAR),
    ];
}

impl fmt::Display for EndpointFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, flag) in EndpointFlags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl FromStr for EndpointFlags {
    type Err = PmParseError;

    /// One flag name (`signal`, `subflow`, `backup`, `fullmesh`, `laminar`).
    fn from_str(s: &str) -> Result<EndpointFlags, PmParseError> {
        EndpointFlags::NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, f)| *f)
            .ok_or_else(|| PmParseError(format!("unknown endpoint flag {s:?}")))
    }
}

/// A malformed endpoint, flag or limits text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PmParseError(pub String);

impl fmt::Display for PmParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PmParseError {}

/// A local address the path manager may use or announce (one
/// `ip mptcp endpoint add`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PmEndpoint {
    /// The address.
    pub addr: IpAddr,
    /// A port of its own: announced with it, and joins to it accepted.
    pub port: Option<u16>,
    /// The address the peer reaches this one at, when a NAT or a load
    /// balancer on the way translates it: ADD_ADDR carries it instead of
    /// `addr`, and joins arriving at `addr` (and `port`) are answered under
    /// the announced id. A farm of backends behind one shared address
    /// announces that address, each backend with its own `port`
    /// (`docs/scaling.md`).
    pub announce_as: Option<IpAddr>,
    /// Its address id (RFC 8684 §3.4.1); `None`: the endpoint picks one.
    pub id: Option<u8>,
    /// What it is used for.
    pub flags: EndpointFlags,
}

impl PmEndpoint {
    /// An endpoint with these flags, no port and an id picked later.
    pub fn new(addr: IpAddr, flags: EndpointFlags) -> PmEndpoint {
        PmEndpoint {
            addr,
            port: None,
            announce_as: None,
            id: None,
            flags,
        }
    }

    /// Whether it has every flag of `flags`.
    pub fn has(&self, flags: EndpointFlags) -> bool {
        self.flags.contains(flags)
    }

    /// The address ADD_ADDR carries for it: `announce_as`, else its own.
    pub fn announced_addr(&self) -> IpAddr {
        self.announce_as.unwrap_or(self.addr)
    }

    /// Apply one option of the command-line form: a flag name, `port=N`,
    /// `id=N` or `announce=ADDR`.
    pub fn apply_option(&mut self, opt: &str) -> Result<(), PmParseError> {
        let number = |v: &str| {
            v.parse::<u16>()
                .map_err(|_| PmParseError(format!("bad number in {opt:?}")))
        };
        if let Some(v) = opt.strip_prefix("port=") {
            self.port = Some(number(v)?).filter(|p| *p != 0);
        } else if let Some(v) = opt.strip_prefix("announce=") {
            let addr: IpAddr = v
                .parse()
                .map_err(|_| PmParseError(format!("bad address in {opt:?}")))?;
            if addr.is_ipv4() != self.addr.is_ipv4() {
                return Err(PmParseError(format!(
                    "{opt:?} is not of the family of {}",
                    self.addr
                )));
            }
            self.announce_as = Some(addr);
        } else if let Some(v) = opt.strip_prefix("id=") {
            let id = u8::try_from(number(v)?)
                .ok()
                .filter(|id| *id != 0)
                .ok_or_else(|| PmParseError(format!("id must be 1..=255 in {opt:?}")))?;
            self.id = Some(id);
        } else {
            self.flags = self.flags.union(opt.parse()?);
        }
        Ok(())
    }
}

/// The limits of `ip mptcp limits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmLimits {
    /// Subflows beyond the first, opened or accepted.
    pub subflows: u8,
    /// Addresses announced by the peer that are used for subflows.
    pub add_addr_accepted: u8,
}

impl Default for PmLimits {
    fn default() -> PmLimits {
        PmLimits::KERNEL_DEFAULT
    }
}

impl PmLimits {
    /// The kernel's largest value of either limit.
    pub const MAX: u8 = 8;

    /// The kernel's defaults (`subflows 2 add_addr_accepted 0`).
    pub const KERNEL_DEFAULT: PmLimits = PmLimits {
        subflows: 2,
        add_addr_accepted: 0,
    };
}

impl FromStr for PmLimits {
    type Err = PmParseError;

    /// `subflows=N,add_addr_accepted=M` (either may be left out: the
    /// kernel's default), each at most [`PmLimits::MAX`].
    fn from_str(s: &str) -> Result<PmLimits, PmParseError> {
        let mut limits = PmLimits::KERNEL_DEFAULT;
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| PmParseError(format!("expected KEY=N in {part:?}")))?;
            let n = value
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= PmLimits::MAX)
                .ok_or_else(|| PmParseError(format!("{key} must be 0..=8, not {value:?}")))?;
            match key {
                "subflows" => limits.subflows = n,
                "add_addr_accepted" => limits.add_addr_accepted = n,
                _ => return Err(PmParseError(format!("unknown limit {key:?}"))),
            }
        }
        Ok(limits)
    }
}

/// Which path manager a connection runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PmKind {
    /// The in-kernel policy over the local endpoints.
    #[default]
    Kernel,
    /// Only the application decides.
    Userspace,
}

impl FromStr for PmKind {
    type Err = PmParseError;

    fn from_str(s: &str) -> Result<PmKind, PmParseError> {
        match s {
            "kernel" | "in-kernel" => Ok(PmKind::Kernel),
            "userspace" => Ok(PmKind::Userspace),
            _ => Err(PmParseError(format!(
                "unknown path manager {s:?} (kernel or userspace)"
            ))),
        }
    }
}

/// Path-manager settings of an endpoint's connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PmConfig {
    /// Which policy decides.
    pub kind: PmKind,
    /// The limits; `None`: derived from `MptcpConfig::max_subflows` (every
    /// subflow beyond the first, and as many announced addresses).
    pub limits: Option<PmLimits>,
    /// Report [`super::PmEvent`]s through the endpoint's events (as the
    /// kernel sends netlink events only when someone listens).
    pub events: bool,
}

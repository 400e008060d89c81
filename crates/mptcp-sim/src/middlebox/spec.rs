//! Middleboxes as scenarios and the command line name them:
//! `KIND[@up|@down]`, placed on a path with `PATH:KIND[@DIR]`.
//!
//! | KIND | what |
//! |---|---|
//! | `strip-mptcp[:syn\|nonsyn\|data\|all]` | MPTCP options removed ([`Middlebox::StripMptcp`]; default `all`) |
//! | `strip-ts`, `strip-sack`, `strip-wscale` | timestamps, SACK-permitted, window scale removed from SYNs and SYN-ACKs ([`Middlebox::StripSynOption`]) |
//! | `rewrite[=N]` | one payload byte changed in every N-th data segment of at least 257 bytes ([`Middlebox::Rewrite`]; default every one) |
//! | `split` | data segments cut in two ([`Middlebox::Split`]) |
//! | `coalesce[=gro\|lro]` | consecutive segments merged ([`Middlebox::Coalesce`]; default `gro`) |
//! | `nat` | the client's address and port translated ([`Nat`](super::Nat)) |
//!
//! Without a direction a middlebox works on both directions of the path
//! (one instance each, with its own state); `@up` puts it on the client →
//! server direction only, `@down` on the server → client direction. A NAT
//! always covers both directions and takes no direction.

use core::fmt;
use core::str::FromStr;

use super::{CoalesceMode, Middlebox, StripWhich, SynOption};

/// Which middlebox, as the command line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MiddleboxKind {
    /// `strip-mptcp[:WHICH]`.
    StripMptcp(StripWhich),
    /// `strip-ts`, `strip-sack` or `strip-wscale`.
    StripSyn(SynOption),
    /// `rewrite[=N]`: one data segment in `every`.
    Rewrite {
        /// At least 1.
        every: u32,
    },
    /// `split`.
    Split,
    /// `coalesce[=MODE]`.
    Coalesce(CoalesceMode),
    /// `nat`.
    Nat,
}

/// One direction of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathDirection {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

impl PathDirection {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            PathDirection::Up => "up",
            PathDirection::Down => "down",
        }
    }
}

/// A middlebox on a path, as the command line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MiddleboxSpec {
    /// What it does.
    pub kind: MiddleboxKind,
    /// The one direction it works on; `None` for both.
    pub direction: Option<PathDirection>,
}

/// A middlebox name that did not parse; `Display` is a complete message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecParseError {
    /// Not one of the kinds.
    UnknownKind(String),
    /// The kind's parameter (after `=` or `:`) is invalid.
    BadParameter {
        /// The kind.
        kind: String,
        /// The parameter given.
        value: String,
    },
    /// A direction other than `up` or `down`.
    BadDirection(String),
    /// A NAT covers both directions; it takes none.
    NatDirection,
    /// `PATH:KIND` without a path number.
    BadPath(String),
}

impl fmt::Display for SpecParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecParseError::UnknownKind(k) => write!(
                f,
                "unknown middlebox {k:?} (expected strip-mptcp[:syn|nonsyn|data|all], strip-ts, \
                 strip-sack, strip-wscale, rewrite[=N], split, coalesce[=gro|lro], nat)"
            ),
            SpecParseError::BadParameter { kind, value } => {
                write!(f, "invalid parameter {value:?} for middlebox {kind}")
            }
            SpecParseError::BadDirection(d) => {
                write!(f, "invalid middlebox direction {d:?} (expected up or down)")
            }
            SpecParseError::NatDirection => {
                write!(
                    f,
                    "a nat covers both directions of its path: no @up or @down"
                )
            }
            SpecParseError::BadPath(s) => write!(f, "invalid middlebox {s:?}: expected PATH:KIND"),
        }
    }
}

impl std::error::Error for SpecParseError {}

impl MiddleboxKind {
    /// The link middlebox, or `None` for a NAT (which the simulator keeps).
    pub fn link_middlebox(self) -> Option<Middlebox> {
        Some(match self {
            MiddleboxKind::StripMptcp(which) => Middlebox::StripMptcp { which },
            MiddleboxKind::StripSyn(option) => Middlebox::StripSynOption { option },
            MiddleboxKind::Rewrite { every } => Middlebox::Rewrite { every },
            MiddleboxKind::Split => Middlebox::Split,
            MiddleboxKind::Coalesce(mode) => Middlebox::coalesce(mode),
            MiddleboxKind::Nat => return None,
        })
    }
}

impl MiddleboxSpec {
    /// A middlebox on both directions.
    pub fn both(kind: MiddleboxKind) -> MiddleboxSpec {
        MiddleboxSpec {
            kind,
            direction: None,
        }
    }

    /// Whether it works on the direction `dir`.
    pub fn covers(&self, dir: PathDirection) -> bool {
        self.direction.is_none_or(|d| d == dir)
    }

    /// Parse `PATH:KIND[@DIR]`.
    pub fn parse_on_path(s: &str) -> Result<(usize, MiddleboxSpec), SpecParseError> {
        let (path, kind) = s
            .split_once(':')
            .ok_or_else(|| SpecParseError::BadPath(s.to_owned()))?;
        let path = path
            .parse()
            .map_err(|_| SpecParseError::BadPath(s.to_owned()))?;
        Ok((path, kind.parse()?))
    }
}

impl fmt::Display for MiddleboxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MiddleboxKind::StripMptcp(StripWhich::All) => f.write_str("strip-mptcp"),
            MiddleboxKind::StripMptcp(w) => write!(f, "strip-mptcp:{}", w.name()),
            MiddleboxKind::StripSyn(SynOption::Timestamps) => f.write_str("strip-ts"),
            MiddleboxKind::StripSyn(SynOption::SackPermitted) => f.write_str("strip-sack"),
            MiddleboxKind::StripSyn(SynOption::WindowScale) => f.write_str("strip-wscale"),
            MiddleboxKind::Rewrite { every: 1 } => f.write_str("rewrite"),
            MiddleboxKind::Rewrite { every } => write!(f, "rewrite={every}"),
            MiddleboxKind::Split => f.write_str("split"),
            MiddleboxKind::Coalesce(CoalesceMode::Gro) => f.write_str("coalesce"),
            MiddleboxKind::Coalesce(CoalesceMode::Lro) => f.write_str("coalesce=lro"),
            MiddleboxKind::Nat => f.write_str("nat"),
        }
    }
}

impl fmt::Display for MiddleboxSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(d) = self.direction {
            write!(f, "@{}", d.name())?;
        }
        Ok(())
    }
}

impl FromStr for MiddleboxKind {
    type Err = SpecParseError;

    fn from_str(s: &str) -> Result<MiddleboxKind, SpecParseError> {
        let (name, param) = match s.split_once(['=', ':']) {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        let bad = |kind: &str, value: &str| SpecParseError::BadParameter {
            kind: kind.to_owned(),
            value: value.to_owned(),
        };
        let kind = match (name, param) {
            ("strip-mptcp", None) => MiddleboxKind::StripMptcp(StripWhich::All),
            ("strip-mptcp", Some(w)) => MiddleboxKind::StripMptcp(
                StripWhich::from_name(w).ok_or_else(|| bad("strip-mptcp", w))?,
            ),
            ("strip-ts", None) => MiddleboxKind::StripSyn(SynOption::Timestamps),
            ("strip-sack", None) => MiddleboxKind::StripSyn(SynOption::SackPermitted),
            ("strip-wscale", None) => MiddleboxKind::StripSyn(SynOption::WindowScale),
            ("rewrite", None) => MiddleboxKind::Rewrite { every: 1 },
            ("rewrite", Some(n)) => MiddleboxKind::Rewrite {
                every: n
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| bad("rewrite", n))?,
            },
            ("split", None) => MiddleboxKind::Split,
            ("coalesce", None | Some("gro")) => MiddleboxKind::Coalesce(CoalesceMode::Gro),
            ("coalesce", Some("lro")) => MiddleboxKind::Coalesce(CoalesceMode::Lro),
            ("nat", None) => MiddleboxKind::Nat,
            ("coalesce", Some(p)) => return Err(bad("coalesce", p)),
            (k @ ("strip-ts" | "strip-sack" | "strip-wscale" | "split" | "nat"), Some(p)) => {
                return Err(bad(k, p));
            }
            _ => return Err(SpecParseError::UnknownKind(s.to_owned())),
        };
        Ok(kind)
    }
}

impl FromStr for MiddleboxSpec {
    type Err = SpecParseError;

    /// Parse `KIND[@up|@down]`.
    fn from_str(s: &str) -> Result<MiddleboxSpec, SpecParseError> {
        let (kind, direction) = match s.rsplit_once('@') {
            Some((k, "up")) => (k, Some(PathDirection::Up)),
            Some((k, "down")) => (k, Some(PathDirection::Down)),
            Some((_, d)) => return Err(SpecParseError::BadDirection(d.to_owned())),
            None => (s, None),
        };
        let kind: MiddleboxKind = kind.parse()?;
        if kind == MiddleboxKind::Nat && direction.is_some() {
            return Err(SpecParseError::NatDirection);
        }
        Ok(MiddleboxSpec { kind, direction })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<MiddleboxKind> {
        let mut kinds: Vec<MiddleboxKind> = [
            StripWhich::Syn,
            StripWhich::NonSyn,
            StripWhich::Data,
            StripWhich::All,
        ]
        .into_iter()
        .map(MiddleboxKind::StripMptcp)
        .collect();
        kinds.extend(
            [
                SynOption::Timestamps,
                SynOption::SackPermitted,
                SynOption::WindowScale,
            ]
            .map(MiddleboxKind::StripSyn),
        );
        kinds.extend([
            MiddleboxKind::Rewrite { every: 1 },
            MiddleboxKind::Rewrite { every: 17 },
            MiddleboxKind::Split,
            MiddleboxKind::Coalesce(CoalesceMode::Gro),
            MiddleboxKind::Coalesce(CoalesceMode::Lro),
            MiddleboxKind::Nat,
        ]);
        kinds
    }

    #[test]
    fn display_and_parse_round_trip() {
        for kind in every_kind() {
            let dirs: &[Option<PathDirection>] = if kind == MiddleboxKind::Nat {
                &[None]
            } else {
                &[None, Some(PathDirection::Up), Some(PathDirection::Down)]
            };
            for &direction in dirs {
                let spec = MiddleboxSpec { kind, direction };
                let text = spec.to_string();
                assert_eq!(text.parse::<MiddleboxSpec>(), Ok(spec), "{text}");
                let on_path = MiddleboxSpec::parse_on_path(&format!("3:{text}"));
                assert_eq!(on_path, Ok((3, spec)));
            }
        }
    }

    #[test]
    fn documented_names_parse() {
        let parse = |s: &str| s.parse::<MiddleboxSpec>().map(|m| m.kind);
        assert_eq!(
            parse("strip-mptcp:syn"),
            Ok(MiddleboxKind::StripMptcp(StripWhich::Syn))
        );
        assert_eq!(parse("rewrite=5"), Ok(MiddleboxKind::Rewrite { every: 5 }));
        assert_eq!(
            parse("coalesce=gro"),
            Ok(MiddleboxKind::Coalesce(CoalesceMode::Gro))
        );
        assert_eq!(
            "strip-ts@down"
                .parse::<MiddleboxSpec>()
                .map(|m| m.direction),
            Ok(Some(PathDirection::Down))
        );
    }

    #[test]
    fn bad_names_are_typed_errors() {
        let err = |s: &str| s.parse::<MiddleboxSpec>().unwrap_err();
        assert!(matches!(err("firewall"), SpecParseError::UnknownKind(_)));
        assert!(matches!(
            err("rewrite=0"),
            SpecParseError::BadParameter { .. }
        ));
        assert!(matches!(
            err("rewrite=x"),
            SpecParseError::BadParameter { .. }
        ));
        assert!(matches!(
            err("strip-mptcp:some"),
            SpecParseError::BadParameter { .. }
        ));
        assert!(matches!(
            err("split=2"),
            SpecParseError::BadParameter { .. }
        ));
        assert!(matches!(
            err("coalesce=tso"),
            SpecParseError::BadParameter { .. }
        ));
        assert!(matches!(err("split@left"), SpecParseError::BadDirection(_)));
        assert_eq!(err("nat@up"), SpecParseError::NatDirection);
        assert!(matches!(
            MiddleboxSpec::parse_on_path("split"),
            Err(SpecParseError::BadPath(_))
        ));
        assert!(matches!(
            MiddleboxSpec::parse_on_path("x:split"),
            Err(SpecParseError::BadPath(_))
        ));
        assert!(!err("firewall").to_string().is_empty());
    }
}

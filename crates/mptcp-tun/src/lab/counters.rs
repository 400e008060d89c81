//! The kernel's MPTCP counters (`MPTcpExt` in `/proc/net/netstat`) and
//! per-device traffic counters (`/proc/net/dev`), as seen from one namespace.
//!
//! `/proc/net` is `/proc/self/net`, the namespace of the process's *main*
//! thread; a thread that entered another namespace must read
//! `/proc/thread-self/net/...`, which is what the readers here do. Use them
//! through [`Netns::counters`](super::Netns::counters) and
//! [`Netns::link_stats`](super::Netns::link_stats), or from inside
//! [`Netns::run`](super::Netns::run).

use std::collections::BTreeMap;
use std::fmt;
use std::io;

/// Counters of one `/proc/net/netstat` section, by the kernel's names.
pub type Section = BTreeMap<String, u64>;

/// Parses `/proc/net/netstat` (or `/proc/net/snmp`): pairs of lines
/// `Name: k1 k2 ...` / `Name: v1 v2 ...`. Returns the sections by name;
/// values that are not unsigned integers are left out.
pub fn parse_netstat(text: &str) -> BTreeMap<String, Section> {
    let mut sections = BTreeMap::new();
    let mut lines = text.lines();
    while let (Some(keys), Some(values)) = (lines.next(), lines.next()) {
        let (Some((name, keys)), Some((vname, values))) =
            (keys.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if name != vname {
            continue;
        }
        let section: Section = keys
            .split_whitespace()
            .zip(values.split_whitespace())
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect();
        sections.insert(name.trim().to_owned(), section);
    }
    sections
}

/// The `MPTcpExt` counters of one network namespace at one moment, named
/// exactly as the kernel prints them (`MPCapableSYNRX`, `MPJoinSynRx`,
/// `MPJoinAckHMacFailure`, `AddAddr`, `EchoAdd`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MptcpCounters {
    values: Section,
}

impl MptcpCounters {
    /// The `MPTcpExt` section of a `/proc/net/netstat` text (empty if the
    /// kernel has no MPTCP).
    pub fn parse(netstat: &str) -> MptcpCounters {
        let values = parse_netstat(netstat)
            .remove("MPTcpExt")
            .unwrap_or_default();
        MptcpCounters { values }
    }

    /// The counter `name`; 0 if the kernel does not have it.
    pub fn get(&self, name: &str) -> u64 {
        self.values.get(name).copied().unwrap_or(0)
    }

    /// Whether the kernel printed a counter called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// What changed since `earlier`: each counter minus its earlier value
    /// (saturating; counters missing earlier count from 0).
    pub fn delta(&self, earlier: &MptcpCounters) -> MptcpCounters {
        let values = self
            .values
            .iter()
            .map(|(k, &v)| (k.clone(), v.saturating_sub(earlier.get(k))))
            .collect();
        MptcpCounters { values }
    }

    /// All counters, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.values.iter().map(|(k, &v)| (k.as_str(), v))
    }

    /// The counters that are not zero, in name order.
    pub fn nonzero(&self) -> impl Iterator<Item = (&str, u64)> {
        self.iter().filter(|&(_, v)| v != 0)
    }

    /// How many counters the kernel printed.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no counters at all (no MPTCP in the kernel).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Display for MptcpCounters {
    /// The non-zero counters as `Name=value`, space separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in self.nonzero() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

/// Reads the `MPTcpExt` counters of the calling *thread's* namespace.
pub fn read_current() -> io::Result<MptcpCounters> {
    let text = std::fs::read_to_string("/proc/thread-self/net/netstat")?;
    Ok(MptcpCounters::parse(&text))
}

/// Traffic counters of one network device (`/proc/net/dev`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets dropped on transmit (e.g. a TUN with no reader).
    pub tx_dropped: u64,
}

/// Parses the line for `dev` out of a `/proc/net/dev` text.
pub fn parse_link_stats(text: &str, dev: &str) -> Option<LinkStats> {
    let fields: Vec<u64> = text.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        (name.trim() == dev).then(|| {
            rest.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
    })?;
    (fields.len() >= 16).then(|| LinkStats {
        rx_bytes: fields[0],
        rx_packets: fields[1],
        rx_dropped: fields[3],
        tx_bytes: fields[8],
        tx_packets: fields[9],
        tx_dropped: fields[11],
    })
}

/// Reads the counters of device `dev` in the calling thread's namespace.
pub fn read_link_stats(dev: &str) -> io::Result<LinkStats> {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev")?;
    parse_link_stats(&text, dev)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no device {dev}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/net/netstat` of a namespace on Linux 6.18 after one MPTCP
    /// iperf3 run over loopback.
    const SAMPLE: &str = include_str!("netstat_sample.txt");

    #[test]
    fn parses_the_mptcp_section_of_a_real_netstat() {
        let c = MptcpCounters::parse(SAMPLE);
        assert_eq!(c.len(), 76);
        assert_eq!(c.get("MPCapableSYNRX"), 2);
        assert_eq!(c.get("MPCapableSYNTX"), 2);
        assert_eq!(c.get("MPCapableACKRX"), 2);
        assert_eq!(c.get("MPJoinSynRx"), 0);
        assert!(c.contains("MPJoinAckHMacFailure") && c.contains("EchoAdd"));
        assert_eq!(c.get("NoSuchCounter"), 0);
        assert!(!c.contains("NoSuchCounter"));
    }

    #[test]
    fn parses_every_section() {
        let all = parse_netstat(SAMPLE);
        assert_eq!(
            all.keys().collect::<Vec<_>>(),
            ["IpExt", "MPTcpExt", "TcpExt"]
        );
        assert!(all["TcpExt"].contains_key("TCPOrigDataSent"));
    }

    #[test]
    fn delta_subtracts_and_display_shows_nonzero() {
        let before = MptcpCounters::parse("MPTcpExt: A B C\nMPTcpExt: 1 5 7\n");
        let after = MptcpCounters::parse("MPTcpExt: A B C D\nMPTcpExt: 4 5 6 2\n");
        let d = after.delta(&before);
        assert_eq!(
            (d.get("A"), d.get("B"), d.get("C"), d.get("D")),
            (3, 0, 0, 2)
        );
        assert_eq!(d.to_string(), "A=3 D=2");
    }

    #[test]
    fn no_mptcp_section_is_empty() {
        let c = MptcpCounters::parse("TcpExt: X\nTcpExt: 1\n");
        assert!(c.is_empty());
        assert_eq!(c.get("MPCapableSYNRX"), 0);
    }

    #[test]
    fn parses_proc_net_dev() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n    \
            lo:  3193  29 0 0 0 0 0 0  3193  29 0 0 0 0 0 0\n  mpt0: 10 1 0 2 0 0 0 0 20 3 0 4 0 0 0 0\n";
        let s = parse_link_stats(text, "mpt0").unwrap();
        assert_eq!((s.rx_bytes, s.rx_packets, s.rx_dropped), (10, 1, 2));
        assert_eq!((s.tx_bytes, s.tx_packets, s.tx_dropped), (20, 3, 4));
        assert_eq!(parse_link_stats(text, "lo").unwrap().tx_bytes, 3193);
        assert!(parse_link_stats(text, "mpt").is_none());
    }
}

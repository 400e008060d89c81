//! `mptcp proxy client`: plain TCP in, one MPTCP connection per client
//! across every uplink out.
//!
//! Uplink N gets a TUN device (`PREFIX` N) with our stack's address
//! 10.250.N.2 behind it. The host forwards what our stack sends from that
//! address out of the uplink (a policy rule and a table with the uplink's
//! default route), masquerading it as the uplink's own address (nftables),
//! and the answers come back by connection tracking. All of it is removed
//! on exit, also on Ctrl-C and after a failure half-way.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use mptcp_tun::PathConfig;
use tokio::net::TcpListener;

use super::plumbing::{Plumbing, Step};
use super::{Active, Counts, bridge, reset};
use crate::Failure;
use crate::cmd::net::{self, StackArgs};

/// First routing table and rule priority of the uplinks' policy routing.
const TABLE_BASE: u32 = 2500;

/// Arguments of `mptcp proxy client`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Where applications connect (plain TCP).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:1080")]
    listen: String,
    /// The proxy server (an address: names are not resolved).
    #[arg(long, value_name = "ADDR:PORT")]
    server: String,
    /// An uplink: the interface, optionally its gateway (default: the
    /// gateway of the interface's default route in the main table, or
    /// none for a point-to-point link), and flags: `backup` (used only
    /// when no other uplink works). The first uplink carries the initial
    /// subflow. Repeatable.
    #[arg(
        long = "uplink",
        value_name = "IFACE[=GATEWAY][,backup]",
        required = true
    )]
    uplinks: Vec<String>,
    /// Prefix of the TUN devices' names (uplink N gets PREFIX N).
    #[arg(long, default_value = "mpx")]
    dev: String,
    /// The first two octets of our stack's addresses: A.B gives uplink N
    /// the address A.B.N.2. Pick a range the host does not use.
    #[arg(long, value_name = "A.B", default_value = "10.250")]
    inner: String,
    #[command(flatten)]
    stack: StackArgs,
    /// Print the host setup it would run, and exit.
    #[arg(long)]
    dry_run: bool,
    /// Print one line per finished connection to stderr.
    #[arg(long)]
    stats: bool,
}

/// One `--uplink`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Uplink {
    iface: String,
    gateway: Option<IpAddr>,
    backup: bool,
}

impl Uplink {
    fn parse(text: &str) -> Result<Uplink, String> {
        let mut parts = text.split(',');
        let head = parts.next().unwrap_or_default();
        let (iface, gateway) = match head.split_once('=') {
            Some((i, g)) => (
                i,
                Some(
                    g.parse::<IpAddr>()
                        .map_err(|_| format!("gateway {g:?} is not an address"))?,
                ),
            ),
            None => (head, None),
        };
        let ok = |c: char| c.is_ascii_alphanumeric() || "-_.@".contains(c);
        if iface.is_empty() || iface.len() > 15 || !iface.chars().all(ok) {
            return Err(format!("{iface:?} is not an interface name"));
        }
        if gateway.is_some_and(|g| g.is_ipv6()) {
            return Err("IPv6 uplinks are not supported yet".into());
        }
        let mut backup = false;
        for flag in parts {
            match flag {
                "backup" => backup = true,
                other => return Err(format!("unknown flag {other:?} (backup)")),
            }
        }
        Ok(Uplink {
            iface: iface.into(),
            gateway,
            backup,
        })
    }
}

/// `A.B` of `--inner`.
fn parse_inner(text: &str) -> Result<(u8, u8), Failure> {
    let bad = || {
        Failure::usage(format!(
            "--inner {text:?}: expected two octets, like 10.250"
        ))
    };
    let (a, b) = text.split_once('.').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

/// The word after the first `key` in what `ip ARGS` prints.
fn ip_word_after(args: &[&str], key: &str) -> Option<String> {
    let out = std::process::Command::new("ip").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words.find(|w| *w == key)?;
    words.next().map(str::to_owned)
}

/// The gateway of `iface`'s default route in the main table, if any.
fn default_gateway(iface: &str) -> Option<IpAddr> {
    ip_word_after(&["-4", "route", "show", "default", "dev", iface], "via")?
        .parse()
        .ok()
}

fn iface_mtu(iface: &str) -> Option<u16> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The host setup of uplink `n` (our address `ours` behind device `dev`).
/// `ip` arguments of uplink `n`'s route in its table (`verb`: add, replace).
fn uplink_route(n: usize, up: &Uplink, verb: &str) -> Vec<String> {
    let mut route: Vec<String> = ["-4", "route", verb, "default"].map(String::from).to_vec();
    if let Some(g) = up.gateway {
        route.extend(["via".into(), g.to_string()]);
    }
    let table = (TABLE_BASE + n as u32).to_string();
    route.extend(["dev".into(), up.iface.clone(), "table".into(), table]);
    route
}

fn uplink_steps(n: usize, up: &Uplink, ours: Ipv4Addr, dev: &str, nft_table: &str) -> Vec<Step> {
    let table = (TABLE_BASE + n as u32).to_string();
    let host = format!("{ours}/32");
    let route = uplink_route(n, up, "add");
    let route: Vec<&str> = route.iter().map(String::as_str).collect();
    vec![
        Step::sysctl(&format!("net.ipv4.conf.{dev}.rp_filter"), "0"),
        // While the uplink is down (the kernel drops its routes) what our
        // stack sends on it is dropped here, not leaked out of another
        // uplink by the main table; flushing the table removes both routes.
        Step::ip(
            &[
                "-4",
                "route",
                "add",
                "blackhole",
                "default",
                "metric",
                "4294967295",
                "table",
                &table,
            ],
            &["-4", "route", "flush", "table", &table],
        ),
        Step {
            undo: None,
            ..Step::ip(&route, &[])
        },
        Step::ip(
            &[
                "-4", "rule", "add", "from", &host, "table", &table, "pref", &table,
            ],
            &[
                "-4", "rule", "del", "from", &host, "table", &table, "pref", &table,
            ],
        ),
        Step::nft(
            format!(
                "add chain inet {nft_table} up{n}\n{}add rule inet {nft_table} postrouting ip saddr {ours} oifname \"{}\" goto up{n}\n",
                snat_script(nft_table, n, uplink_addr(&up.iface)),
                up.iface
            ),
            None,
        ),
    ]
}

/// The uplink's first IPv4 address (asked twice a second by the watcher:
/// `getifaddrs`, not a process).
fn uplink_addr(iface: &str) -> Option<Ipv4Addr> {
    mptcp_tun::interface_addresses(iface)
        .ok()?
        .into_iter()
        .find_map(|a| match a {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
}

/// The contents of uplink `n`'s NAT chain: source NAT to the uplink's
/// address. Not `masquerade`: the kernel forgets masqueraded connections
/// when their interface goes down, and the subflows on an uplink that
/// comes back would meet RSTs; with a fixed address they resume. Without
/// an address yet, `masquerade` until the watcher sees one.
fn snat_script(nft_table: &str, n: usize, addr: Option<Ipv4Addr>) -> String {
    let action = match addr {
        Some(a) => format!("snat ip to {a}"),
        None => "masquerade".to_owned(),
    };
    format!("flush chain inet {nft_table} up{n}\nadd rule inet {nft_table} up{n} {action}\n")
}

/// Whether an interface is up with a carrier (`/sys/class/net/IFACE`).
fn link_up(iface: &str) -> bool {
    let read = |f: &str| std::fs::read_to_string(format!("/sys/class/net/{iface}/{f}"));
    let oper = read("operstate").unwrap_or_default();
    let carrier = read("carrier").unwrap_or_default();
    oper.trim() != "down" && carrier.trim() == "1"
}

/// Watches the uplinks: when one comes back, its route (which the kernel
/// removed when it went down) is put back into its table, so our stack's
/// subflows on it work again.
async fn watch_uplinks(uplinks: Vec<Uplink>, nft_table: String) {
    let mut was: Vec<bool> = uplinks.iter().map(|u| link_up(&u.iface)).collect();
    let mut addrs: Vec<Option<Ipv4Addr>> = uplinks.iter().map(|u| uplink_addr(&u.iface)).collect();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        for (n, up) in uplinks.iter().enumerate() {
            let addr = uplink_addr(&up.iface);
            if addr.is_some() && addr != addrs[n] {
                addrs[n] = addr;
                let step = Step::nft(snat_script(&nft_table, n, addr), None);
                match Plumbing::apply(&[step]) {
                    Ok(_) => eprintln!(
                        "mptcp proxy client: uplink {} has address {}",
                        up.iface,
                        addr.map(|a| a.to_string()).unwrap_or_default()
                    ),
                    Err(e) => eprintln!("mptcp proxy client: uplink {}: {e}", up.iface),
                }
            }
            let now = link_up(&up.iface);
            if now == was[n] {
                continue;
            }
            was[n] = now;
            if !now {
                eprintln!("mptcp proxy client: uplink {} is down", up.iface);
                continue;
            }
            let args = uplink_route(n, up, "replace");
            let done = std::process::Command::new("ip").args(&args).status();
            match done {
                Ok(st) if st.success() => {
                    eprintln!("mptcp proxy client: uplink {} is up again", up.iface)
                }
                other => eprintln!(
                    "mptcp proxy client: uplink {} is up, but ip {} failed: {other:?}",
                    up.iface,
                    args.join(" ")
                ),
            }
        }
    }
}

/// Everything the host needs, in order: forwarding, the NAT table, then
/// each uplink.
/// The client's nftables table.
fn nft_table() -> String {
    format!("mptcp_proxy_client_{}", std::process::id())
}

fn host_steps(uplinks: &[Uplink], inner: (u8, u8), prefix: &str) -> Vec<Step> {
    let nft_table = nft_table();
    let mut steps = vec![
        Step::sysctl("net.ipv4.ip_forward", "1"),
        Step::nft(
            format!(
                "table inet {nft_table} {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n  }}\n}}\n"
            ),
            Some(&["delete", "table", "inet", &nft_table]),
        ),
    ];
    for (n, up) in uplinks.iter().enumerate() {
        let ours = Ipv4Addr::new(inner.0, inner.1, n as u8, 2);
        steps.extend(uplink_steps(
            n,
            up,
            ours,
            &format!("{prefix}{n}"),
            &nft_table,
        ));
    }
    steps
}

/// Relays until SIGINT or SIGTERM.
pub fn run(args: Args) -> Result<(), Failure> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|_| Failure::usage(format!("--listen {:?}: expected ADDR:PORT", args.listen)))?;
    let server = net::parse_target(&args.server)?;
    if !args.stack.tun.is_empty() {
        return Err(Failure::usage(
            "the proxy client makes its own TUN devices: give --uplink, not --tun",
        ));
    }
    let inner = parse_inner(&args.inner)?;
    let mut uplinks = args
        .uplinks
        .iter()
        .map(|u| Uplink::parse(u).map_err(|e| Failure::usage(format!("--uplink {u}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if uplinks.len() > 200 {
        return Err(Failure::usage("at most 200 uplinks"));
    }
    for up in &mut uplinks {
        if up.gateway.is_none() {
            up.gateway = default_gateway(&up.iface);
        }
    }
    let steps = host_steps(&uplinks, inner, &args.dev);
    if args.dry_run {
        for s in &steps {
            outln!("{}", s.shell_line());
        }
        return Ok(());
    }
    let mut stack_args = args.stack.clone();
    let mut backups = Vec::new();
    for (n, up) in uplinks.iter().enumerate() {
        if !std::path::Path::new(&format!("/sys/class/net/{}", up.iface)).exists() {
            return Err(Failure::usage(format!(
                "--uplink {}: no such interface",
                up.iface
            )));
        }
        let ours = IpAddr::V4(Ipv4Addr::new(inner.0, inner.1, n as u8, 2));
        let mut path: PathConfig = format!("{}{n}={ours}", args.dev)
            .parse()
            .map_err(|e| Failure::usage(format!("uplink {n}: {e}")))?;
        path.mtu = iface_mtu(&up.iface);
        stack_args.tun.push(path.into());
        if up.backup {
            backups.push(ours);
        }
    }
    let builder = stack_args.builder()?;
    let rt = crate::cmd::runtime()?;
    let result = rt.block_on(async {
        let stack = stack_args.start(builder)?;
        let _plumbing = Plumbing::apply(&steps)
            .map_err(|e| Failure::failed(format!("setting up the host: {e}")))?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::failed(format!("listen on {listen}: {e}")))?;
        eprintln!(
            "mptcp proxy client: {listen} to {server} over {}",
            uplinks
                .iter()
                .map(|u| u.iface.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let counts = Arc::new(Counts::default());
        let stack = Arc::new(stack);
        let backups = Arc::new(backups);
        let accept = async {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: say so, go on.
                        eprintln!("mptcp proxy client: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (stack, counts, backups) = (
                    Arc::clone(&stack),
                    Arc::clone(&counts),
                    Arc::clone(&backups),
                );
                let stats = args.stats;
                tokio::spawn(async move {
                    let active = Active::new(&counts);
                    let _ = tcp.set_nodelay(true);
                    let done = match stack.connect(server).await {
                        Ok(m) => {
                            for b in backups.iter() {
                                let _ = m.set_backup(*b, true);
                            }
                            bridge(tcp, m, &counts).await.map_err(|e| e.to_string())
                        }
                        Err(e) => {
                            reset(tcp);
                            Err(format!("connect to {server}: {e}"))
                        }
                    };
                    if done.is_err() {
                        active.failed();
                    }
                    if stats {
                        match done {
                            Ok((sent, received)) => {
                                eprintln!("{peer}: {sent} bytes sent, {received} received")
                            }
                            Err(e) => eprintln!("{peer}: {e}"),
                        }
                    }
                });
            }
        };
        tokio::spawn(watch_uplinks(uplinks.clone(), nft_table()));
        tokio::select! {
            _ = accept => Ok(()),
            r = super::wait_for_exit(&counts, &stack) => {
                r.map_err(|e| Failure::failed(format!("signals: {e}")))
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uplinks() {
        assert_eq!(
            Uplink::parse("eth0").unwrap(),
            Uplink {
                iface: "eth0".into(),
                gateway: None,
                backup: false
            }
        );
        let u = Uplink::parse("wwan0=192.168.8.1,backup").unwrap();
        assert_eq!(u.gateway, Some("192.168.8.1".parse().unwrap()));
        assert!(u.backup);
        for bad in [
            "",
            "eth0=gw",
            "eth0,fast",
            "a-very-long-interface",
            "eth0=fe80::1",
        ] {
            assert!(Uplink::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_inner("10.250").unwrap(), (10, 250));
        assert!(parse_inner("10").is_err() && parse_inner("10.300").is_err());
    }

    #[test]
    fn host_setup() {
        let ups = [
            Uplink::parse("up0=192.168.1.1").unwrap(),
            Uplink::parse("ppp0").unwrap(),
        ];
        let steps = host_steps(&ups, (10, 250), "mpx");
        let lines: Vec<String> = steps.iter().map(Step::shell_line).collect();
        let pid = std::process::id();
        assert_eq!(lines[0], "sysctl -w net.ipv4.ip_forward=1");
        assert!(lines[1].contains(&format!("table inet mptcp_proxy_client_{pid}")));
        for want in [
            "ip -4 route add default via 192.168.1.1 dev up0 table 2500",
            "ip -4 rule add from 10.250.0.2/32 table 2500 pref 2500",
            "ip -4 route add default dev ppp0 table 2501",
            "ip -4 route add blackhole default metric 4294967295 table 2500",
            "sysctl -w net.ipv4.conf.mpx1.rp_filter=0",
        ] {
            assert!(lines.iter().any(|l| l == want), "no {want:?} in {lines:#?}");
        }
        let jump = format!(
            "add rule inet mptcp_proxy_client_{pid} postrouting ip saddr 10.250.1.2 oifname \"ppp0\" goto up1"
        );
        assert!(lines.iter().any(|l| l.contains(&jump)), "{lines:#?}");
        assert_eq!(
            snat_script("t", 1, Some(Ipv4Addr::new(192, 0, 2, 7))),
            "flush chain inet t up1\nadd rule inet t up1 snat ip to 192.0.2.7\n"
        );
        assert!(snat_script("t", 0, None).ends_with("up0 masquerade\n"));
        // Only the table's deletion undoes the NAT rules.
        let undos: Vec<_> = steps.iter().filter_map(|s| s.undo.as_ref()).collect();
        assert_eq!(
            undos
                .iter()
                .filter(|u| u.first().is_some_and(|p| p == "nft"))
                .count(),
            1
        );
    }
}

//! `mptcp proxy server`: MPTCP in over our stack, kernel TCP out.
//!
//! Clients reach the server at the host's own address; the proxy makes the
//! host pass connections to `--listen`'s port on to our stack's address
//! (a DNAT rule in an nftables table of its own, forwarding on; the stack
//! routes its own address into its TUN device) and removes that on exit.
//! `--no-setup` leaves the host to the user.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clap::Args as ClapArgs;
use mptcp_tun::MptcpStream;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::plumbing::{Plumbing, Step};
use super::socks::{self, Auth, Reply, Target};
use super::{Active, Counts, bridge};
use crate::Failure;
use crate::cmd::net::{self, StackArgs};

/// Longest a client may take over the SOCKS handshake.
const HANDSHAKE: Duration = Duration::from_secs(30);
/// Longest an onward connection may take to be established.
const CONNECT: Duration = Duration::from_secs(15);

/// Arguments of `mptcp proxy server`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The port clients connect to (on the host's addresses, or on
    /// ADDR only).
    #[arg(long, value_name = "[ADDR:]PORT")]
    listen: String,
    #[command(flatten)]
    stack: StackArgs,
    /// Serve SOCKS5 (RFC 1928): CONNECT to IPv4, IPv6 and names the
    /// system resolves.
    #[arg(long, conflicts_with = "forward", required_unless_present = "forward")]
    socks: bool,
    /// Require this username and password (RFC 1929) from SOCKS clients.
    #[arg(long, value_name = "USER:PASSWORD", requires = "socks")]
    auth: Option<String>,
    /// Connect every client to this upstream instead.
    #[arg(long, value_name = "ADDR:PORT")]
    forward: Option<String>,
    /// Do not touch the host (no DNAT, route or forwarding): clients must
    /// reach our stack's address themselves.
    #[arg(long)]
    no_setup: bool,
    /// Set flag C (RFC 8684 §3.1): clients must not join the address and
    /// port they connected to, and such joins are refused; they join the
    /// addresses announced (`--tun DEV=ADDR,signal[,port=N]`). For
    /// servers behind a load balancer (docs/scaling.md).
    #[arg(long)]
    no_join_initial: bool,
    /// Print what the host setup would run, and exit.
    #[arg(long)]
    dry_run: bool,
    /// Print one line per finished connection to stderr.
    #[arg(long)]
    stats: bool,
}

/// What to do with a client.
#[derive(Clone, Debug)]
enum Mode {
    Socks(Auth),
    Forward(SocketAddr),
}

/// `[ADDR:]PORT`.
fn parse_listen(text: &str) -> Result<(Option<IpAddr>, u16), Failure> {
    let bad = || Failure::usage(format!("--listen {text:?}: expected PORT or ADDR:PORT"));
    if let Ok(port) = text.parse::<u16>() {
        return Ok((None, port));
    }
    let sa: SocketAddr = text.parse().map_err(|_| bad())?;
    Ok((Some(sa.ip()), sa.port()))
}

/// The host setup: DNAT of the port to our address, forwarding on (the
/// stack itself routes its address into its device).
fn host_steps(listen: (Option<IpAddr>, u16), ours: IpAddr) -> Vec<Step> {
    let table = format!("mptcp_proxy_server_{}", std::process::id());
    let (family, fwd) = match ours {
        IpAddr::V4(_) => ("ip", "net.ipv4.ip_forward"),
        IpAddr::V6(_) => ("ip6", "net.ipv6.conf.all.forwarding"),
    };
    let to = match ours {
        IpAddr::V4(a) => format!("{a}"),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let port = listen.1;
    let only = match listen.0 {
        Some(a) => format!("{family} daddr {a} "),
        None => String::new(),
    };
    vec![
        Step::sysctl(fwd, "1"),
        Step::nft(
            format!(
                "table inet {table} {{\n  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    {only}tcp dport {port} fib daddr type local dnat {family} to {to}:{port}\n  }}\n}}\n"
            ),
            Some(&["delete", "table", "inet", &table]),
        ),
    ]
}

/// Serves until SIGINT or SIGTERM.
pub fn run(args: Args) -> Result<(), Failure> {
    let listen = parse_listen(&args.listen)?;
    let mode = match (&args.forward, args.socks) {
        (Some(f), _) => Mode::Forward(net::parse_target(f)?),
        (None, _) => Mode::Socks(match &args.auth {
            Some(a) => Auth::parse(a).map_err(|e| Failure::usage(format!("--auth: {e}")))?,
            None => Auth::None,
        }),
    };
    let builder = args.stack.builder()?.no_join_initial(args.no_join_initial);
    let first = &args.stack.tun[0];
    let steps = if args.no_setup {
        Vec::new()
    } else {
        host_steps(listen, first.addr)
    };
    if args.dry_run {
        for s in &steps {
            outln!("{}", s.shell_line());
        }
        return Ok(());
    }
    let rt = crate::cmd::runtime()?;
    let result = rt.block_on(async {
        let stack = args.stack.start(builder)?;
        let listener = stack
            .listen(listen.1)
            .map_err(|e| Failure::failed(format!("listen on {}: {e}", listen.1)))?;
        let _plumbing = Plumbing::apply(&steps)
            .map_err(|e| Failure::failed(format!("setting up the host: {e}")))?;
        let counts = Arc::new(Counts::default());
        eprintln!(
            "mptcp proxy server: port {} to our stack at {} ({})",
            listen.1,
            first.addr,
            match &mode {
                Mode::Socks(Auth::None) => "SOCKS5".to_owned(),
                Mode::Socks(_) => "SOCKS5 with username/password".to_owned(),
                Mode::Forward(a) => format!("forwarding to {a}"),
            }
        );
        let accept = async {
            loop {
                let (m, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => return Failure::failed(format!("accept: {e}")),
                };
                let (mode, counts, stats) = (mode.clone(), Arc::clone(&counts), args.stats);
                tokio::spawn(async move {
                    let active = Active::new(&counts);
                    let done = serve(m, &mode, &counts).await;
                    if done.is_err() {
                        active.failed();
                    }
                    if stats {
                        match done {
                            Ok((target, to_client, from_client)) => eprintln!(
                                "{peer} -> {target}: {from_client} bytes from the client, {to_client} to it"
                            ),
                            Err(e) => eprintln!("{peer}: {e}"),
                        }
                    }
                });
            }
        };
        tokio::select! {
            e = accept => Err(e),
            r = super::wait_for_exit(&counts, &stack) => {
                r.map_err(|e| Failure::failed(format!("signals: {e}")))
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// One client: the SOCKS handshake (or none), the onward connection, the
/// relay. Returns the target and the bytes (to the client, from it).
async fn serve(
    mut m: MptcpStream,
    mode: &Mode,
    counts: &Counts,
) -> Result<(String, u64, u64), String> {
    let (tcp, target) = match mode {
        Mode::Forward(to) => match tokio::time::timeout(CONNECT, TcpStream::connect(to)).await {
            Ok(Ok(t)) => (t, to.to_string()),
            Ok(Err(e)) => {
                m.abort();
                return Err(format!("{to}: {e}"));
            }
            Err(_) => {
                m.abort();
                return Err(format!("{to}: no answer within {CONNECT:?}"));
            }
        },
        Mode::Socks(auth) => {
            let target = match tokio::time::timeout(HANDSHAKE, socks::accept(&mut m, auth)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    let _ = m.shutdown().await;
                    return Err(format!("SOCKS: {e}"));
                }
                Err(_) => {
                    m.abort();
                    return Err(format!("SOCKS: no request within {HANDSHAKE:?}"));
                }
            };
            match connect(&target).await {
                Ok(t) => {
                    let bound = t.local_addr().ok();
                    if let Err(e) = socks::reply(&mut m, Reply::Succeeded, bound).await {
                        return Err(format!("{target}: {e}"));
                    }
                    (t, target.to_string())
                }
                Err(e) => {
                    let _ = socks::reply(&mut m, Reply::for_error(&e), None).await;
                    let _ = m.shutdown().await;
                    return Err(format!("{target}: {e}"));
                }
            }
        }
    };
    let _ = tcp.set_nodelay(true);
    let (to_client, from_client) = bridge(tcp, m, counts)
        .await
        .map_err(|e| format!("{target}: {e}"))?;
    Ok((target, to_client, from_client))
}

/// Connects to a SOCKS target: names through the system's resolver, each
/// address in turn.
async fn connect(target: &Target) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match target {
        Target::Addr(a) => vec![*a],
        Target::Domain(name, port) => {
            match tokio::time::timeout(CONNECT, tokio::net::lookup_host((name.as_str(), *port)))
                .await
            {
                Ok(Ok(a)) => a.collect(),
                Ok(Err(e)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::HostUnreachable,
                        format!("cannot resolve {name}: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("resolving {name} took too long"),
                    ));
                }
            }
        }
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::HostUnreachable, "no address");
    for a in addrs {
        match tokio::time::timeout(CONNECT, TcpStream::connect(a)).await {
            Ok(Ok(t)) => return Ok(t),
            Ok(Err(e)) => last = e,
            Err(_) => last = std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{a}")),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_and_host_steps() {
        assert_eq!(parse_listen("1080").unwrap(), (None, 1080));
        let (a, p) = parse_listen("192.0.2.1:443").unwrap();
        assert_eq!((a, p), (Some("192.0.2.1".parse().unwrap()), 443));
        assert!(parse_listen("host:80").is_err());
        let steps = host_steps((None, 1080), "10.251.0.2".parse().unwrap());
        let lines: Vec<String> = steps.iter().map(Step::shell_line).collect();
        assert_eq!(lines[0], "sysctl -w net.ipv4.ip_forward=1");
        assert!(
            lines[1].contains("tcp dport 1080 fib daddr type local dnat ip to 10.251.0.2:1080"),
            "{}",
            lines[1]
        );
        let v6 = host_steps(
            (Some("2001:db8::1".parse().unwrap()), 80),
            "fd00:251::2".parse().unwrap(),
        );
        let nft = v6[1].shell_line();
        assert!(nft.contains("ip6 daddr 2001:db8::1 tcp dport 80"), "{nft}");
        assert!(nft.contains("dnat ip6 to [fd00:251::2]:80"), "{nft}");
    }
}

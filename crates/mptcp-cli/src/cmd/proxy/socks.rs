//! The server side of SOCKS version 5 (RFC 1928) with username/password
//! authentication (RFC 1929): the CONNECT command to an IPv4 or IPv6
//! address or a domain name. BIND and UDP ASSOCIATE are refused with
//! "command not supported".
//!
//! [`accept`] reads the method negotiation, the optional authentication
//! and the request from any byte stream, and answers each failure the way
//! the RFCs say; [`reply`] sends the final answer once the caller knows
//! how its outgoing connection went.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Protocol version (RFC 1928 §3).
const VERSION: u8 = 5;
/// RFC 1929 §2: the version of the username/password sub-negotiation.
const AUTH_VERSION: u8 = 1;
/// Method: no authentication required.
const NO_AUTH: u8 = 0x00;
/// Method: username/password (RFC 1929).
const USER_PASS: u8 = 0x02;
/// Method: no acceptable methods.
const NO_ACCEPTABLE: u8 = 0xff;
const CMD_CONNECT: u8 = 0x01;
const ATYP_V4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

/// The reply field of RFC 1928 §6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// X'00' succeeded.
    Succeeded = 0x00,
    /// X'01' general SOCKS server failure.
    GeneralFailure = 0x01,
    /// X'02' connection not allowed by ruleset.
    NotAllowed = 0x02,
    /// X'03' network unreachable.
    NetworkUnreachable = 0x03,
    /// X'04' host unreachable.
    HostUnreachable = 0x04,
    /// X'05' connection refused.
    ConnectionRefused = 0x05,
    /// X'06' TTL expired (used for a connection attempt that timed out).
    TtlExpired = 0x06,
    /// X'07' command not supported.
    CommandNotSupported = 0x07,
    /// X'08' address type not supported.
    AddressTypeNotSupported = 0x08,
}

impl Reply {
    /// The reply for a failed outgoing connection.
    pub fn for_error(e: &io::Error) -> Reply {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => Reply::ConnectionRefused,
            io::ErrorKind::HostUnreachable => Reply::HostUnreachable,
            io::ErrorKind::NetworkUnreachable => Reply::NetworkUnreachable,
            io::ErrorKind::TimedOut => Reply::TtlExpired,
            io::ErrorKind::PermissionDenied => Reply::NotAllowed,
            _ => Reply::GeneralFailure,
        }
    }
}

/// Where the client wants to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An IPv4 or IPv6 address and port.
    Addr(SocketAddr),
    /// A domain name (resolved by the server) and port.
    Domain(String, u16),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Domain(d, p) => write!(f, "{d}:{p}"),
        }
    }
}

/// Who may use the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// Anyone (method X'00').
    #[default]
    None,
    /// Only with this username and password (method X'02', RFC 1929).
    UserPass {
        /// The username, 1 to 255 bytes.
        user: Vec<u8>,
        /// The password, 1 to 255 bytes.
        password: Vec<u8>,
    },
}

impl Auth {
    /// Parses `USER:PASSWORD` (each 1 to 255 bytes; the password may hold `:`).
    pub fn parse(text: &str) -> Result<Auth, String> {
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| "expected USER:PASSWORD".to_owned())?;
        for (what, v) in [("username", user), ("password", password)] {
            if v.is_empty() || v.len() > 255 {
                return Err(format!("the {what} must be 1 to 255 bytes"));
            }
        }
        Ok(Auth::UserPass {
            user: user.as_bytes().to_vec(),
            password: password.as_bytes().to_vec(),
        })
    }
}

/// Why a handshake ended without a request.
#[derive(Debug)]
pub enum SocksError {
    /// The stream failed or ended early.
    Io(io::Error),
    /// Not SOCKS 5 (the first byte), or a malformed message; the
    /// connection is closed without an answer.
    Protocol(&'static str),
    /// None of the client's methods is acceptable (answered X'FF').
    NoAcceptableMethod,
    /// Wrong username or password (answered with a failure status).
    AuthFailed,
    /// A request the server does not serve (answered with this reply).
    Refused(Reply),
}

impl fmt::Display for SocksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocksError::Io(e) => write!(f, "{e}"),
            SocksError::Protocol(what) => write!(f, "not SOCKS 5: {what}"),
            SocksError::NoAcceptableMethod => write!(f, "no acceptable authentication method"),
            SocksError::AuthFailed => write!(f, "wrong username or password"),
            SocksError::Refused(r) => write!(f, "request refused ({r:?})"),
        }
    }
}

impl From<io::Error> for SocksError {
    fn from(e: io::Error) -> SocksError {
        SocksError::Io(e)
    }
}

async fn read_u8<S: AsyncRead + Unpin>(s: &mut S) -> Result<u8, SocksError> {
    Ok(s.read_u8().await?)
}

async fn read_vec<S: AsyncRead + Unpin>(s: &mut S, len: usize) -> Result<Vec<u8>, SocksError> {
    let mut v = vec![0; len];
    s.read_exact(&mut v).await?;
    Ok(v)
}

/// Runs the server's side of the handshake up to the request (RFC 1928
/// §3-§5, RFC 1929 §2) and returns the request's target. Every refusal
/// the RFCs answer is answered before the error returns; the caller then
/// closes the connection.
pub async fn accept<S>(s: &mut S, auth: &Auth) -> Result<Target, SocksError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if read_u8(s).await? != VERSION {
        return Err(SocksError::Protocol("version"));
    }
    let n = read_u8(s).await?;
    if n == 0 {
        return Err(SocksError::Protocol("no methods offered"));
    }
    let methods = read_vec(s, n.into()).await?;
    let wanted = match auth {
        Auth::None => NO_AUTH,
        Auth::UserPass { .. } => USER_PASS,
    };
    if !methods.contains(&wanted) {
        s.write_all(&[VERSION, NO_ACCEPTABLE]).await?;
        s.flush().await?;
        return Err(SocksError::NoAcceptableMethod);
    }
    s.write_all(&[VERSION, wanted]).await?;
    s.flush().await?;
    if let Auth::UserPass { user, password } = auth {
        // RFC 1929 §2: VER ULEN UNAME PLEN PASSWD; answered VER STATUS,
        // and on failure the server MUST close the connection.
        if read_u8(s).await? != AUTH_VERSION {
            return Err(SocksError::Protocol("authentication version"));
        }
        let ulen = read_u8(s).await?;
        let u = read_vec(s, ulen.into()).await?;
        let plen = read_u8(s).await?;
        let p = read_vec(s, plen.into()).await?;
        let ok = u == *user && p == *password;
        s.write_all(&[AUTH_VERSION, if ok { 0 } else { 1 }]).await?;
        s.flush().await?;
        if !ok {
            return Err(SocksError::AuthFailed);
        }
    }
    // The request: VER CMD RSV ATYP DST.ADDR DST.PORT (§4).
    let head = read_vec(s, 4).await?;
    if head[0] != VERSION {
        return Err(SocksError::Protocol("request version"));
    }
    let target = match head[3] {
        ATYP_V4 => {
            let a = read_vec(s, 4).await?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Target::Addr(SocketAddr::new(ip.into(), s.read_u16().await?))
        }
        ATYP_V6 => {
            let mut a = [0u8; 16];
            s.read_exact(&mut a).await?;
            let ip = Ipv6Addr::from(a);
            Target::Addr(SocketAddr::new(ip.into(), s.read_u16().await?))
        }
        ATYP_DOMAIN => {
            let len = read_u8(s).await?;
            let name = read_vec(s, len.into()).await?;
            let port = s.read_u16().await?;
            match String::from_utf8(name) {
                Ok(name) if !name.is_empty() => Target::Domain(name, port),
                _ => return refuse(s, Reply::HostUnreachable).await,
            }
        }
        _ => return refuse(s, Reply::AddressTypeNotSupported).await,
    };
    if head[1] != CMD_CONNECT {
        return refuse(s, Reply::CommandNotSupported).await;
    }
    Ok(target)
}

async fn refuse<S, T>(s: &mut S, r: Reply) -> Result<T, SocksError>
where
    S: AsyncWrite + Unpin,
{
    reply(s, r, None).await?;
    Err(SocksError::Refused(r))
}

/// Sends the reply to a request (§6): `bound` is the outgoing
/// connection's local address on success (zeros otherwise).
pub async fn reply<S>(s: &mut S, r: Reply, bound: Option<SocketAddr>) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let bound = bound.unwrap_or_else(|| SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0));
    let mut msg = vec![VERSION, r as u8, 0];
    match bound.ip() {
        IpAddr::V4(a) => {
            msg.push(ATYP_V4);
            msg.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            msg.push(ATYP_V6);
            msg.extend_from_slice(&a.octets());
        }
    }
    msg.extend_from_slice(&bound.port().to_be_bytes());
    s.write_all(&msg).await?;
    s.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// Runs `accept` against `input` written by a client; returns the
    /// result and everything the server answered.
    fn exchange(input: &[u8], auth: &Auth) -> (Result<Target, String>, Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut client, mut server) = duplex(4096);
            client.write_all(input).await.unwrap();
            client.shutdown().await.unwrap();
            let r = accept(&mut server, auth).await.map_err(|e| e.to_string());
            drop(server);
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.unwrap();
            (r, answer)
        })
    }

    #[test]
    fn connect_to_each_address_type() {
        let v4 = [5, 1, 0, 5, 1, 0, 1, 10, 0, 0, 7, 0x1f, 0x90];
        let (r, answer) = exchange(&v4, &Auth::None);
        assert_eq!(r.unwrap(), Target::Addr("10.0.0.7:8080".parse().unwrap()));
        assert_eq!(answer, [5, 0]);
        let mut v6 = vec![5, 2, 2, 0, 5, 1, 0, 4];
        v6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&[0, 80]);
        let (r, _) = exchange(&v6, &Auth::None);
        assert_eq!(
            r.unwrap(),
            Target::Addr("[2001:db8::1]:80".parse().unwrap())
        );
        let mut name = vec![5, 1, 0, 5, 1, 0, 3, 3];
        name.extend_from_slice(b"web");
        name.extend_from_slice(&[0, 80]);
        let (r, _) = exchange(&name, &Auth::None);
        assert_eq!(r.unwrap(), Target::Domain("web".into(), 80));
    }

    #[test]
    fn username_and_password() {
        let auth = Auth::parse("alice:s:cret").unwrap();
        let mut good = vec![5, 2, 0, 2, 1, 5];
        good.extend_from_slice(b"alice");
        good.push(6);
        good.extend_from_slice(b"s:cret");
        good.extend_from_slice(&[5, 1, 0, 1, 127, 0, 0, 1, 0, 22]);
        let (r, answer) = exchange(&good, &auth);
        assert_eq!(r.unwrap(), Target::Addr("127.0.0.1:22".parse().unwrap()));
        assert_eq!(answer, [5, 2, 1, 0]);
        let mut bad = vec![5, 1, 2, 1, 5];
        bad.extend_from_slice(b"alice");
        bad.push(5);
        bad.extend_from_slice(b"wrong");
        let (r, answer) = exchange(&bad, &auth);
        assert!(r.unwrap_err().contains("wrong username"));
        assert_eq!(answer, [5, 2, 1, 1]);
        // A client offering only "no authentication" to a server that
        // requires a password gets X'FF'.
        let (r, answer) = exchange(&[5, 1, 0], &auth);
        assert!(r.is_err());
        assert_eq!(answer, [5, 0xff]);
        for bad in ["nocolon", ":pw", "user:"] {
            assert!(Auth::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals_are_answered() {
        // BIND: command not supported (X'07').
        let (r, answer) = exchange(&[5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 1], &Auth::None);
        assert!(r.is_err());
        assert_eq!(&answer[..4], [5, 0, 5, 7]);
        // Address type 9: X'08'.
        let (r, answer) = exchange(&[5, 1, 0, 5, 1, 0, 9], &Auth::None);
        assert!(r.is_err());
        assert_eq!(&answer[..4], [5, 0, 5, 8]);
        // Not SOCKS 5 at all (an HTTP request): closed without a word.
        let (r, answer) = exchange(b"GET / HTTP/1.1\r\n\r\n", &Auth::None);
        assert!(r.unwrap_err().contains("not SOCKS 5"));
        assert!(answer.is_empty());
        // Cut short anywhere: an error, no request.
        let full = [5, 1, 0, 5, 1, 0, 1, 10, 0, 0, 7, 0x1f, 0x90];
        for cut in 0..full.len() {
            assert!(exchange(&full[..cut], &Auth::None).0.is_err(), "{cut}");
        }
    }

    #[test]
    fn errors_map_to_replies() {
        let e = |k| io::Error::from(k);
        assert_eq!(
            Reply::for_error(&e(io::ErrorKind::ConnectionRefused)),
            Reply::ConnectionRefused
        );
        assert_eq!(
            Reply::for_error(&e(io::ErrorKind::TimedOut)),
            Reply::TtlExpired
        );
        assert_eq!(
            Reply::for_error(&e(io::ErrorKind::Other)),
            Reply::GeneralFailure
        );
    }

    proptest::proptest! {
        /// Any bytes: a target or an error, never a panic.
        #[test]
        fn any_input(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
                     with_auth in proptest::prelude::any::<bool>()) {
            let auth = if with_auth { Auth::parse("u:p").unwrap() } else { Auth::None };
            let _ = exchange(&input, &auth);
        }
    }
}

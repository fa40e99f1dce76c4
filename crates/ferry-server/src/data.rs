//! Data connections: passive listeners and active connects.
//!
//! - A passive listener is bound per PASV/EPSV on the control connection's local address,
//!   on a port from the configured range (or an OS-chosen one), and is dropped when the
//!   transfer that uses it ends or another PASV/PORT replaces it, so ports never leak.
//! - Only a connection from the control peer's IP is accepted on it (PASV theft
//!   protection): others are closed and the listener keeps waiting until the deadline.
//!   Behind a trusted proxy (which also relays the passive ports), the data connection
//!   comes from the proxy: it must then start with a PROXY header naming the control
//!   peer's IP, or it is refused like a foreign one.
//! - Active connects go only to the address the session state machine already checked
//!   (control peer IP, port ≥ 1024), from the control connection's local address.
//! - After a complete passive transfer the session keeps its listener as a
//!   [`SparePassive`] for [`SPARE_PASSIVE_KEEP`], so the next PASV/EPSV of a batch of
//!   transfers (mget, mput) gets the same port without a new socket, bind and listen.
//!   It is dropped sooner on logout (REIN, a new USER). A spare with a connection already
//!   waiting in its queue (someone connected between transfers) is never reused: it is
//!   closed and a fresh listener is opened, so the theft window stays the one of a new
//!   listener (from the 227/229 reply to the client's connect).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use ferry_proto::server::canonical_ip;
use ipnet::IpNet;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::{timeout_at, Instant};
use tracing::{debug, warn};

use crate::gate::PassiveTicket;
use crate::proxy;

/// Connections from a wrong address tolerated on one passive listener before giving up.
const MAX_FOREIGN_CONNECTIONS: u32 = 32;
/// How long a trusted proxy may take to send the PROXY header of a data connection.
pub const PROXY_HEADER_WAIT: Duration = Duration::from_secs(10);

/// How long a session keeps the listener of its last passive transfer for the next
/// PASV/EPSV.
pub const SPARE_PASSIVE_KEEP: Duration = Duration::from_secs(2);

/// The listener of a session's last complete passive transfer, kept for its next
/// PASV/EPSV (see the module documentation).
pub(crate) struct SparePassive {
    listener: TcpListener,
    port: u16,
    /// The listener's slot in the server's count of passive listeners.
    ticket: Option<PassiveTicket>,
}

impl SparePassive {
    /// Keeps `listener` (bound on `port`) with its slot.
    pub(crate) fn new(
        listener: TcpListener,
        port: u16,
        ticket: Option<PassiveTicket>,
    ) -> SparePassive {
        SparePassive {
            listener,
            port,
            ticket,
        }
    }

    /// The listener, its port and its slot, ready for the next transfer; `None` (the
    /// listener closed) when a connection is already waiting on it, or the check fails.
    pub(crate) fn reuse(self) -> Option<(TcpListener, u16, Option<PassiveTicket>)> {
        match rustix::net::accept(&self.listener) {
            Err(rustix::io::Errno::AGAIN) => Some((self.listener, self.port, self.ticket)),
            Ok(early) => {
                debug!(
                    port = self.port,
                    "connection waiting on a kept passive listener: not reused"
                );
                drop(early);
                None
            }
            Err(_) => None,
        }
    }
}

/// Binds a listener on `ip`, on a free port from `range` (or any port when `None`).
pub fn open_passive(ip: IpAddr, range: Option<&RangeInclusive<u16>>) -> io::Result<TcpListener> {
    let Some(range) = range else {
        return bind_listener(SocketAddr::new(ip, 0));
    };
    let (lo, hi) = (*range.start(), *range.end());
    let span = u32::from(hi - lo) + 1;
    let start = rand::random::<u32>() % span;
    let mut last_err = None;
    for i in 0..span {
        let port = lo as u32 + (start + i) % span;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        match bind_listener(SocketAddr::new(ip, port)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free passive port")))
}

fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    // Non-blocking and close-on-exec from the start (no fcntl calls per listener).
    let ty = Type::STREAM.nonblocking().cloexec();
    let socket = Socket::new(Domain::for_address(addr), ty, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(8)?;
    TcpListener::from_std(socket.into())
}

/// Accepts the data connection from `peer`'s IP on `listener`, waiting up to `wait`.
///
/// A connection from one of the `trusted` proxies counts as coming from the address its
/// PROXY header names (read within [`PROXY_HEADER_WAIT`] and the deadline); one without
/// a valid header is refused. Connections from other addresses are taken as they are.
pub async fn accept_from(
    listener: &TcpListener,
    peer: IpAddr,
    trusted: &[IpNet],
    wait: Duration,
) -> io::Result<TcpStream> {
    let deadline = Instant::now() + wait;
    let peer = canonical_ip(peer);
    let mut foreign = 0u32;
    loop {
        let (mut stream, from) = timeout_at(deadline, listener.accept())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no data connection in time"))??;
        let client = if proxy::is_trusted(from.ip(), trusted) {
            let header_deadline = deadline.min(Instant::now() + PROXY_HEADER_WAIT);
            let read = proxy::read_header(&mut stream);
            match timeout_at(header_deadline, read).await {
                Ok(Ok((header, _))) => Some(header.client_or(from)),
                Ok(Err(e)) => {
                    warn!(proxy = %from, error = %e, "data connection from a trusted proxy without a valid PROXY header refused");
                    None
                }
                Err(_) => {
                    warn!(proxy = %from, "data connection from a trusted proxy sent no PROXY header in time");
                    None
                }
            }
        } else {
            Some(from)
        };
        match client {
            Some(client) if canonical_ip(client.ip()) == peer => {
                if client != from {
                    debug!(proxy = %from, %client, "data connection through a trusted proxy");
                }
                return Ok(stream);
            }
            Some(client) => {
                warn!(%from, %client, expected = %peer, "data connection from a foreign address refused");
            }
            None => {}
        }
        drop(stream);
        foreign += 1;
        if foreign >= MAX_FOREIGN_CONNECTIONS {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "too many data connections from foreign addresses",
            ));
        }
    }
}

/// Connects to an active-mode target from `local_ip`, waiting up to `wait`.
pub async fn connect_active(
    target: SocketAddr,
    local_ip: IpAddr,
    wait: Duration,
) -> io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    let local_ip = match (local_ip, target) {
        (IpAddr::V4(v4), SocketAddr::V6(_)) => IpAddr::V6(v4.to_ipv6_mapped()),
        (ip, _) => ip,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(local_ip, 0))?;
    tokio::time::timeout(wait, socket.connect(target))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "active connect timed out"))?
}

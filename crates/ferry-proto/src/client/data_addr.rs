//! Where to connect for a passive data connection.
//!
//! A 227 PASV reply names an IPv4 address and a port; a 229 EPSV reply only a port, to be
//! used with the control connection's peer address (RFC 2428 §3). Servers behind NAT (or
//! misconfigured ones) often announce an address the client cannot reach: a private
//! `10.x`/`192.168.x` address, `0.0.0.0`, or their own loopback. And a hostile server may
//! announce a third party's address to make the client connect there (the "FTP bounce"
//! in reverse). Common clients therefore ignore the PASV address: curl by default since
//! 7.74 (`--ftp-skip-pasv-ip`), lftp with `ftp:ignore-pasv-address`, and lftp's
//! `ftp:fix-pasv-address` replaces only unroutable addresses. [`PasvPolicy`] names these
//! choices and [`pasv_target`] applies them; the default is the safe one,
//! [`PasvPolicy::UseControlPeer`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::addr::{parse_epsv_reply, parse_pasv_reply, AddrError};
use crate::reply::ReplyCode;
use crate::Reply;

/// What to do with the address in a PASV reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PasvPolicy {
    /// Always connect to the control connection's peer address, with the announced port
    /// (curl's default, `--ftp-skip-pasv-ip`). Safe and works behind NAT; fails only for
    /// setups that really put data on another host (rare, FXP).
    #[default]
    UseControlPeer,
    /// Use the announced address unless it is unusable: unspecified (`0.0.0.0`), or
    /// not globally routable ([`is_unroutable_v4`]) while it differs from the control peer. Then use the control peer
    /// (like lftp's `ftp:fix-pasv-address`).
    ReplaceUnroutable,
    /// Use the announced address as it is (classic behaviour; lets the server direct the
    /// client to any host).
    Trust,
}

/// Why no data address could be derived from a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataAddrError {
    /// The reply is not the expected 227 (PASV) or 229 (EPSV).
    #[error("expected reply {expected}, got {code} {text}")]
    WrongReply {
        /// 227 or 229.
        expected: u16,
        /// The code received.
        code: ReplyCode,
        /// Its text.
        text: String,
    },
    /// The reply text has no address.
    #[error(transparent)]
    Addr(#[from] AddrError),
}

/// The control peer's address with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) turned into IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// True for IPv4 addresses a client behind the Internet cannot reach: unspecified, `0/8`,
/// private (`10/8`, `172.16/12`, `192.168/16`), loopback, link-local, shared (`100.64/10`),
/// reserved (`240/4`) and broadcast. (The RFC 5737 documentation ranges count as routable,
/// so examples read naturally.)
pub fn is_unroutable_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || (a == 100 && (64..128).contains(&b))
        || a == 0
        || a >= 240
}

/// The address to connect to for a 227 reply, given the control connection's peer address
/// and the policy.
pub fn pasv_target(
    reply: &Reply,
    control_peer: IpAddr,
    policy: PasvPolicy,
) -> Result<SocketAddr, DataAddrError> {
    if reply.code.get() != 227 {
        return Err(DataAddrError::WrongReply {
            expected: 227,
            code: reply.code,
            text: reply.text(),
        });
    }
    let announced = parse_pasv_reply(&reply.text())?;
    let peer = canonical(control_peer);
    let ip = match policy {
        PasvPolicy::UseControlPeer => peer,
        PasvPolicy::Trust => IpAddr::V4(*announced.ip()),
        PasvPolicy::ReplaceUnroutable => {
            let a = *announced.ip();
            if a.is_unspecified() || (is_unroutable_v4(a) && IpAddr::V4(a) != peer) {
                peer
            } else {
                IpAddr::V4(a)
            }
        }
    };
    Ok(SocketAddr::new(ip, announced.port()))
}

/// The address to connect to for a 229 reply: the control peer with the announced port.
pub fn epsv_target(reply: &Reply, control_peer: IpAddr) -> Result<SocketAddr, DataAddrError> {
    if reply.code.get() != 229 {
        return Err(DataAddrError::WrongReply {
            expected: 229,
            code: reply.code,
            text: reply.text(),
        });
    }
    let port = parse_epsv_reply(&reply.text())?;
    Ok(SocketAddr::new(canonical(control_peer), port))
}

//! The per-container network path, native: a network namespace, the network's Linux bridge,
//! and a veth pair from that bridge into the namespace with its address and default route.
//!
//! Why native: this is on every `run` of a bridge network. netavark, measured here, spent
//! 47-74 ms to set a container up and 170-290 ms to tear it down; these steps are a handful of
//! rtnetlink requests, tens of microseconds each, and teardown is free (the container's end
//! lives in its namespace; when the namespace goes, the kernel deletes the pair). NAT and
//! publishing stay with iptables, per network and per published port (runtime/network).
//!
//! Messages (`message.rs`) are built by hand as the kernel's headers lay them out: `nlmsghdr`,
//! a family header, padded attributes. A veth pair is one `RTM_NEWLINK`: the host end named,
//! up and enslaved to the bridge (`IFLA_MASTER`), the peer's own `ifinfomsg` and attributes
//! nested in `IFLA_LINKINFO`/`IFLA_INFO_DATA`/`VETH_INFO_PEER`, with `IFLA_NET_NS_FD` so it is
//! born in the container's namespace with its final name, MAC and MTU; it never exists in
//! ours under a name that could clash. It is set up from inside (the kernel refuses to open
//! a veth end while the pair is still being made).
//!
//! Acks: every request asks for one (`NLM_F_ACK`) and the socket (`socket.rs`) waits for the
//! `NLMSG_ERROR` carrying the request's sequence number; a non-zero error is the errno.
//! Creation uses `NLM_F_CREATE | NLM_F_EXCL`, so EEXIST tells "someone made it" apart; for a
//! bridge or its address that is success (concurrent `run`s race to make them), for a veth
//! name it is a clear error and nothing of ours is removed.
//!
//! Inside the container's namespace: a socket opened while the calling thread is in that
//! namespace stays bound to it, so the thread enters (`setns`), opens the socket and comes
//! back at once (`namespace.rs`); it never runs other code away from home. Any failure after
//! the pair exists deletes the host end, which takes the peer with it.

mod message;
mod namespace;
mod socket;

#[cfg(test)]
mod tests;

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

pub use namespace::new_network_namespace;

use crate::error::{Error, Result};
use message::Peer;
use socket::RouteSocket;

/// `IFNAMSIZ` - 1: the longest interface name.
const MAX_NAME: usize = 15;

/// An interface name the kernel accepts (`dev_valid_name`): 1 to 15 bytes, not `.` or
/// `..`, without `/`, `:`, whitespace or NUL.
pub fn check_link_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() || name.len() > MAX_NAME {
        Some("must be 1 to 15 bytes")
    } else if name == "." || name == ".." {
        Some("is not a name")
    } else if name
        .bytes()
        .any(|byte| byte == b'/' || byte == b':' || byte == 0 || byte.is_ascii_whitespace())
    {
        Some("contains '/', ':', whitespace or NUL")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(invalid("interface name", name, reason)),
        None => Ok(()),
    }
}

/// An IPv4 address in dotted form.
pub fn parse_ipv4(what: &'static str, text: &str) -> Result<Ipv4Addr> {
    text.parse()
        .map_err(|_| invalid(what, text, "is not an IPv4 address"))
}

/// A prefix length of an IPv4 network (0 to 32).
pub fn check_prefix(prefix: u8) -> Result<()> {
    if prefix > 32 {
        return Err(invalid("prefix length", &prefix.to_string(), "is above 32"));
    }
    Ok(())
}

/// A unicast MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = parts
            .next()
            .filter(|part| part.len() == 2)
            .and_then(|part| u8::from_str_radix(part, 16).ok())
            .ok_or_else(|| invalid("MAC address", text, "is not six hex pairs"))?;
    }
    if parts.next().is_some() {
        return Err(invalid("MAC address", text, "is not six hex pairs"));
    }
    if mac[0] & 1 == 1 || mac == [0; 6] {
        return Err(invalid("MAC address", text, "is not a unicast address"));
    }
    Ok(mac)
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> Error {
    Error::InvalidNetworkValue {
        what,
        value: value.to_owned(),
        reason,
    }
}

/// A network's bridge: its name, the gateway address on it, and its MTU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bridge {
    pub name: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub mtu: u32,
}

impl Bridge {
    pub fn new(name: &str, address: &str, prefix: u8, mtu: u32) -> Result<Self> {
        check_link_name(name)?;
        check_prefix(prefix)?;
        Ok(Self {
            name: name.to_owned(),
            address: parse_ipv4("address", address)?,
            prefix,
            mtu,
        })
    }
}

/// One container's attachment to a bridge: the veth pair's two names, the container end's
/// MAC, address and default route, in the namespace given to [`attach_veth`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Veth {
    pub bridge: String,
    pub host_name: String,
    pub interface: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
    pub mtu: u32,
}

fn creating_bridge(name: &str) -> String {
    format!("creating bridge {name}")
}

/// Creates the bridge if it is missing (true when this call made it), gives it its address
/// unless it has it, and sets it up. Safe to race: another caller's bridge or address counts.
pub fn ensure_bridge(bridge: &Bridge) -> Result<bool> {
    let name = &bridge.name;
    let mut socket = RouteSocket::open()
        .map_err(|source| Error::network(format!("{}: netlink", creating_bridge(name)), source))?;
    let made = match socket.execute(message::new_bridge(name, bridge.mtu)) {
        Ok(()) => true,
        Err(error) if error.raw_os_error() == Some(libc::EEXIST) => false,
        Err(source) => return Err(Error::network(creating_bridge(name), source)),
    };
    let link = socket
        .link(name)
        .and_then(|link| link.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV)))
        .map_err(|source| Error::network(format!("looking up bridge {name}"), source))?;
    if link.kind.as_deref() != Some("bridge") {
        return Err(Error::LinkConflict {
            operation: creating_bridge(name),
            reason: format!("{name} exists and is not a bridge"),
        });
    }
    match socket.execute(message::new_address(
        link.index,
        bridge.address,
        bridge.prefix,
    )) {
        Err(error) if error.raw_os_error() != Some(libc::EEXIST) => {
            return Err(Error::network(
                format!(
                    "adding {}/{} to bridge {name}",
                    bridge.address, bridge.prefix
                ),
                error,
            ));
        }
        _ => {}
    }
    socket
        .execute(message::set_link_up(name))
        .map_err(|source| Error::network(format!("setting bridge {name} up"), source))?;
    Ok(made)
}

/// Creates the veth pair of `veth`: the host end up on the bridge, the container end born in
/// `namespace` with its name, MAC, MTU, address and default route. On any failure after the
/// pair exists its host end is deleted (the peer goes with it) before the error returns.
pub fn attach_veth(namespace: BorrowedFd<'_>, veth: &Veth) -> Result<()> {
    for name in [&veth.bridge, &veth.host_name, &veth.interface] {
        check_link_name(name)?;
    }
    check_prefix(veth.prefix)?;
    let host_name = &veth.host_name;
    let creating = format!("creating veth pair {host_name}");
    let mut host = RouteSocket::open()
        .map_err(|source| Error::network(format!("{creating}: netlink"), source))?;
    let bridge = host
        .link(&veth.bridge)
        .and_then(|link| link.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV)))
        .map_err(|source| {
            Error::network(
                format!("attaching {host_name} to bridge {}", veth.bridge),
                source,
            )
        })?;
    let peer = Peer {
        name: &veth.interface,
        mac: veth.mac,
        mtu: veth.mtu,
        namespace: namespace.as_raw_fd(),
    };
    let created = host.execute(message::new_veth(host_name, veth.mtu, bridge.index, &peer));
    match created {
        Ok(()) => {}
        Err(error) if error.raw_os_error() == Some(libc::EEXIST) => {
            let taken = match host.link(host_name) {
                Ok(Some(_)) => format!("an interface named {host_name} already exists"),
                _ => format!(
                    "an interface named {} already exists in the container's namespace",
                    veth.interface
                ),
            };
            return Err(Error::LinkConflict {
                operation: creating,
                reason: taken,
            });
        }
        Err(source) => return Err(Error::network(creating, source)),
    }
    set_hairpin(&mut host, host_name)
        .and_then(|()| configure_peer(namespace, veth))
        .inspect_err(|_| {
            let _ = host.execute(message::delete_link(host_name));
        })
}

/// Hairpin mode on the host end's bridge port (see `message::set_hairpin`).
fn set_hairpin(host: &mut RouteSocket, host_name: &str) -> Result<()> {
    let operation = || format!("setting hairpin mode on {host_name}");
    let link = host
        .link(host_name)
        .and_then(|link| link.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV)))
        .map_err(|source| Error::network(operation(), source))?;
    host.execute(message::set_hairpin(link.index))
        .map_err(|source| Error::network(operation(), source))
}

/// The container end up, its address and default route, through a socket in its namespace.
fn configure_peer(namespace: BorrowedFd<'_>, veth: &Veth) -> Result<()> {
    let interface = &veth.interface;
    let mut socket = namespace::route_socket_in(namespace)?;
    let link = socket
        .link(interface)
        .and_then(|link| link.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV)))
        .map_err(|source| Error::network(format!("looking up {interface}"), source))?;
    socket
        .execute(message::set_link_up(interface))
        .map_err(|source| Error::network(format!("setting {interface} up"), source))?;
    socket
        .execute(message::new_address(link.index, veth.address, veth.prefix))
        .map_err(|source| {
            Error::network(
                format!("adding {}/{} to {interface}", veth.address, veth.prefix),
                source,
            )
        })?;
    if let Some(gateway) = veth.gateway {
        socket
            .execute(message::new_default_route(link.index, gateway))
            .map_err(|source| {
                Error::network(
                    format!("adding the default route via {gateway} on {interface}"),
                    source,
                )
            })?;
    }
    Ok(())
}

/// Deletes the link `name` of our namespace; false when there is none.
pub fn delete_link(name: &str) -> Result<bool> {
    check_link_name(name)?;
    let deleting = || format!("deleting {name}");
    let mut socket = RouteSocket::open().map_err(|source| Error::network(deleting(), source))?;
    match socket.execute(message::delete_link(name)) {
        Ok(()) => Ok(true),
        Err(error) if error.raw_os_error() == Some(libc::ENODEV) => Ok(false),
        Err(source) => Err(Error::network(deleting(), source)),
    }
}

/// Whether our namespace has a link named `name`.
pub fn link_exists(name: &str) -> Result<bool> {
    check_link_name(name)?;
    let looking = || format!("looking up {name}");
    let mut socket = RouteSocket::open().map_err(|source| Error::network(looking(), source))?;
    socket
        .link(name)
        .map(|link| link.is_some())
        .map_err(|source| Error::network(looking(), source))
}

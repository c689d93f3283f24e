//! rtnetlink messages as bytes: the requests hybridock sends (built here, pure, so their
//! layout is unit-tested against what the kernel's headers say) and the few replies it reads.
//!
//! A message is a 16-byte `nlmsghdr` (length, type, flags, sequence, port id), a family
//! header (`ifinfomsg` 16 bytes, `ifaddrmsg` 8, `rtmsg` 12), then attributes: a 4-byte
//! `rtattr` (length, type) and the payload, each padded to 4 bytes; a nested attribute is an
//! attribute whose payload is attributes. Numbers are in host byte order, addresses in
//! network order. The constants are the kernel's (`linux/netlink.h`, `if_link.h`,
//! `if_addr.h`, `rtnetlink.h`, `veth.h`), named as there.

use std::net::Ipv4Addr;
use std::os::fd::RawFd;

pub const NLMSG_ERROR: u16 = 2;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_SETLINK: u16 = 19;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_PROTINFO: u16 = 12;
const IFLA_BRPORT_MODE: u16 = 4;
const NLA_F_NESTED: u16 = 0x8000;
const AF_BRIDGE: u8 = 7;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;

const IFF_UP: u32 = 0x1;
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;

pub const HEADER_SIZE: usize = 16;
const IFINFOMSG_SIZE: usize = 16;

/// One request being built; [`Message::finish`] stamps its length and sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    bytes: Vec<u8>,
}

fn align(length: usize) -> usize {
    (length + 3) & !3
}

impl Message {
    fn new(kind: u16, flags: u16, family_header: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&[0; 4]); // length, stamped by finish
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        bytes.extend_from_slice(&[0; 8]); // sequence (stamped), port id 0: the kernel
        let mut message = Self { bytes };
        message.append_padded(family_header);
        message
    }

    fn append_padded(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        self.bytes.resize(align(self.bytes.len()), 0);
    }

    fn attribute(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let length = u16::try_from(4 + payload.len()).expect("attributes are small");
        self.bytes.extend_from_slice(&length.to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.append_padded(payload);
        self
    }

    fn string(&mut self, kind: u16, value: &str) -> &mut Self {
        let mut payload = value.as_bytes().to_vec();
        payload.push(0);
        self.attribute(kind, &payload)
    }

    fn u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.attribute(kind, &value.to_ne_bytes())
    }

    /// A nested attribute holding what `fill` appends.
    fn nested(&mut self, kind: u16, fill: impl FnOnce(&mut Self)) -> &mut Self {
        let start = self.bytes.len();
        self.attribute(kind, &[]);
        fill(self);
        let length = u16::try_from(self.bytes.len() - start).expect("attributes are small");
        self.bytes[start..start + 2].copy_from_slice(&length.to_ne_bytes());
        self
    }

    /// The bytes to send, with the total length and `sequence` stamped in the header.
    #[must_use]
    pub fn finish(mut self, sequence: u32) -> Vec<u8> {
        let length = u32::try_from(self.bytes.len()).expect("messages are small");
        self.bytes[0..4].copy_from_slice(&length.to_ne_bytes());
        self.bytes[8..12].copy_from_slice(&sequence.to_ne_bytes());
        self.bytes
    }
}

/// `struct ifinfomsg`: family, pad, type, index, flags, change.
fn ifinfomsg(index: i32, up: bool) -> [u8; IFINFOMSG_SIZE] {
    let mut header = [0; IFINFOMSG_SIZE];
    header[0] = AF_UNSPEC;
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    if up {
        header[8..12].copy_from_slice(&IFF_UP.to_ne_bytes());
        header[12..16].copy_from_slice(&IFF_UP.to_ne_bytes());
    }
    header
}

/// `RTM_NEWLINK` creating the bridge `name` (refused with EEXIST when the name is taken).
#[must_use]
pub fn new_bridge(name: &str, mtu: u32) -> Message {
    let mut message = Message::new(
        RTM_NEWLINK,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        &ifinfomsg(0, false),
    );
    message
        .string(IFLA_IFNAME, name)
        .u32(IFLA_MTU, mtu)
        .nested(IFLA_LINKINFO, |info| {
            info.string(IFLA_INFO_KIND, "bridge");
        });
    message
}

/// The container's end of a veth pair: made directly in the namespace `namespace` (an open
/// netns fd) with its final name, MAC and MTU. Not up: a veth end cannot open before the pair
/// is linked (ENOTCONN), which happens after the peer is configured; it is set up afterwards.
#[derive(Clone, Copy, Debug)]
pub struct Peer<'a> {
    pub name: &'a str,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub namespace: RawFd,
}

/// `RTM_NEWLINK` creating a veth pair: `host` up and enslaved to the bridge with index
/// `master`, its peer described by `peer` (the peer's own `ifinfomsg` and attributes go in
/// `IFLA_INFO_DATA` / `VETH_INFO_PEER`, as `ip link add ... type veth peer ...` sends them).
#[must_use]
pub fn new_veth(host: &str, mtu: u32, master: i32, peer: &Peer<'_>) -> Message {
    let mut message = Message::new(
        RTM_NEWLINK,
        NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        &ifinfomsg(0, true),
    );
    message
        .string(IFLA_IFNAME, host)
        .u32(IFLA_MTU, mtu)
        .u32(IFLA_MASTER, u32::from_ne_bytes(master.to_ne_bytes()))
        .nested(IFLA_LINKINFO, |info| {
            info.string(IFLA_INFO_KIND, "veth")
                .nested(IFLA_INFO_DATA, |data| {
                    data.nested(VETH_INFO_PEER, |peer_info| {
                        peer_info.append_padded(&ifinfomsg(0, false));
                        peer_info
                            .string(IFLA_IFNAME, peer.name)
                            .attribute(IFLA_ADDRESS, &peer.mac)
                            .u32(IFLA_MTU, peer.mtu)
                            .u32(
                                IFLA_NET_NS_FD,
                                u32::from_ne_bytes(peer.namespace.to_ne_bytes()),
                            );
                    });
                });
        });
    message
}

/// `RTM_NEWLINK` setting `IFF_UP` on the existing link `name`.
#[must_use]
pub fn set_link_up(name: &str) -> Message {
    let mut message = Message::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(0, true));
    message.string(IFLA_IFNAME, name);
    message
}

/// `RTM_GETLINK` of one link by name (answered by an `RTM_NEWLINK`, or ENODEV).
#[must_use]
pub fn get_link(name: &str) -> Message {
    let mut message = Message::new(RTM_GETLINK, 0, &ifinfomsg(0, false));
    message.string(IFLA_IFNAME, name);
    message
}

/// `RTM_SETLINK` (family `AF_BRIDGE`) turning on hairpin mode of the bridge port `index`:
/// the bridge may send a frame back out of the port it came in by, which a container reaching
/// its own published port needs where bridged frames pass the host's iptables (`br_netfilter`
/// DNATs them back to the sender), as docker sets it without its userland proxy.
#[must_use]
pub fn set_hairpin(index: i32) -> Message {
    let mut header = ifinfomsg(index, false);
    header[0] = AF_BRIDGE;
    let mut message = Message::new(RTM_SETLINK, NLM_F_ACK, &header);
    message.nested(IFLA_PROTINFO | NLA_F_NESTED, |protinfo| {
        protinfo.attribute(IFLA_BRPORT_MODE, &[1]);
    });
    message
}

/// `RTM_DELLINK` of the link `name` (a veth takes its peer with it).
#[must_use]
pub fn delete_link(name: &str) -> Message {
    let mut message = Message::new(RTM_DELLINK, NLM_F_ACK, &ifinfomsg(0, false));
    message.string(IFLA_IFNAME, name);
    message
}

/// `RTM_NEWADDR` of `address/prefix` on the link `index` (EEXIST when it is already there).
#[must_use]
pub fn new_address(index: i32, address: Ipv4Addr, prefix: u8) -> Message {
    // struct ifaddrmsg: family, prefixlen, flags, scope, index.
    let mut header = [AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, 0, 0, 0, 0];
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut message = Message::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &header);
    message
        .attribute(IFA_LOCAL, &address.octets())
        .attribute(IFA_ADDRESS, &address.octets());
    message
}

/// `RTM_NEWROUTE` of the IPv4 default route via `gateway` out of the link `index`.
#[must_use]
pub fn new_default_route(index: i32, gateway: Ipv4Addr) -> Message {
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    let header = [
        AF_INET,
        0,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
        0,
        0,
        0,
    ];
    let mut message = Message::new(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &header);
    message
        .attribute(RTA_GATEWAY, &gateway.octets())
        .u32(RTA_OIF, u32::from_ne_bytes(index.to_ne_bytes()));
    message
}

/// A link as `RTM_GETLINK` describes it: what hybridock needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    /// `IFLA_INFO_KIND` ("bridge", "veth"); `None` for a device without one (`lo`, a NIC).
    pub kind: Option<String>,
}

/// One message of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// An `NLMSG_ERROR` with error 0.
    Ack,
    /// An `NLMSG_ERROR` with this (positive) errno.
    Error(i32),
    Link(Link),
    /// A message of another type (`NLMSG_DONE`, ...).
    Other,
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The messages in one datagram from the kernel, as (sequence, reply); parsing stops at the
/// first malformed header.
#[must_use]
pub fn replies(datagram: &[u8]) -> Vec<(u32, Reply)> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let (Some(length), Some(kind), Some(sequence)) = (
        read_u32(datagram, offset),
        read_u16(datagram, offset + 4),
        read_u32(datagram, offset + 8),
    ) {
        let length = length as usize;
        if length < HEADER_SIZE || offset + length > datagram.len() {
            break;
        }
        let body = &datagram[offset + HEADER_SIZE..offset + length];
        let reply = match kind {
            NLMSG_ERROR => match read_u32(body, 0).map(|raw| i32::from_ne_bytes(raw.to_ne_bytes()))
            {
                Some(0) => Reply::Ack,
                Some(negative) => Reply::Error(-negative),
                None => Reply::Error(libc::EPROTO),
            },
            RTM_NEWLINK => parse_link(body).map_or(Reply::Error(libc::EPROTO), Reply::Link),
            _ => Reply::Other,
        };
        found.push((sequence, reply));
        offset += align(length);
    }
    found
}

/// The attributes of `bytes` as (type without the nested/byte-order flags, payload).
fn attributes(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        let length = usize::from(read_u16(bytes, offset)?);
        let kind = read_u16(bytes, offset + 2)? & 0x3fff;
        if length < 4 || offset + length > bytes.len() {
            return None;
        }
        let payload = &bytes[offset + 4..offset + length];
        offset += align(length);
        Some((kind, payload))
    })
}

fn parse_link(body: &[u8]) -> Option<Link> {
    let index = i32::from_ne_bytes(body.get(4..8)?.try_into().ok()?);
    let kind = attributes(body.get(IFINFOMSG_SIZE..)?)
        .find(|&(kind, _)| kind == IFLA_LINKINFO)
        .and_then(|(_, info)| attributes(info).find(|&(kind, _)| kind == IFLA_INFO_KIND))
        .map(|(_, name)| {
            let name = name.strip_suffix(&[0]).unwrap_or(name);
            String::from_utf8_lossy(name).into_owned()
        });
    Some(Link { index, kind })
}

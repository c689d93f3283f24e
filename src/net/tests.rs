//! Byte layout of the requests (against the kernel headers' structs, spelled out field by
//! field for a little-endian host), reply parsing, and value checks. The kernel side is
//! tested for real in `tests/integration/test_native_net.py`.

use std::net::Ipv4Addr;

use super::message::{self, Link, Peer, Reply};
use super::{check_link_name, check_prefix, parse_ipv4, parse_mac};

/// `nlmsghdr` with sequence 1 and port id 0.
fn header(length: u32, kind: u16, flags: u16) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&length.to_le_bytes());
    bytes.extend_from_slice(&kind.to_le_bytes());
    bytes.extend_from_slice(&flags.to_le_bytes());
    bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

const REQUEST_ACK_CREATE_EXCL: u16 = 0x1 | 0x4 | 0x400 | 0x200;
const REQUEST_ACK: u16 = 0x1 | 0x4;

/// `ifinfomsg` with index 0, flags and change `IFF_UP` or nothing.
fn ifinfomsg(up: bool) -> [u8; 16] {
    let flag = u8::from(up);
    [0, 0, 0, 0, 0, 0, 0, 0, flag, 0, 0, 0, flag, 0, 0, 0]
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[cfg(target_endian = "little")]
#[test]
fn bridge_is_one_newlink_with_its_kind() {
    let expected = concat(&[
        &header(72, 16, REQUEST_ACK_CREATE_EXCL),
        &ifinfomsg(false),
        // IFLA_IFNAME "hybridock0\0" (15 bytes, padded to 16)
        &[15, 0, 3, 0],
        b"hybridock0\0\0",
        // IFLA_MTU 1500
        &[8, 0, 4, 0, 0xdc, 0x05, 0, 0],
        // IFLA_LINKINFO { IFLA_INFO_KIND "bridge\0" (11, padded to 12) }
        &[16, 0, 18, 0],
        &[11, 0, 1, 0],
        b"bridge\0\0",
    ]);
    assert_eq!(message::new_bridge("hybridock0", 1500).finish(1), expected);
}

#[cfg(target_endian = "little")]
#[test]
fn veth_with_peer_in_a_namespace() {
    let peer = Peer {
        name: "eth0",
        mac: [0x02, 0x42, 0xac, 0x11, 0x00, 0x02],
        mtu: 1400,
        namespace: 9,
    };
    let expected = concat(&[
        &header(140, 16, REQUEST_ACK_CREATE_EXCL),
        &ifinfomsg(true),
        // IFLA_IFNAME "veth1\0" (10, padded to 12)
        &[10, 0, 3, 0],
        b"veth1\0\0\0",
        // IFLA_MTU 1400, IFLA_MASTER 7
        &[8, 0, 4, 0, 0x78, 0x05, 0, 0],
        &[8, 0, 10, 0, 7, 0, 0, 0],
        // IFLA_LINKINFO (80) { IFLA_INFO_KIND "veth\0" (9, padded), IFLA_INFO_DATA (64) {
        &[80, 0, 18, 0],
        &[9, 0, 1, 0],
        b"veth\0\0\0\0",
        &[64, 0, 2, 0],
        // VETH_INFO_PEER (60) { ifinfomsg (not up: a veth end cannot open before its pair is),
        &[60, 0, 1, 0],
        &ifinfomsg(false),
        // IFLA_IFNAME "eth0\0" (9, padded), IFLA_ADDRESS (10, padded), IFLA_MTU,
        &[9, 0, 3, 0],
        b"eth0\0\0\0\0",
        &[10, 0, 1, 0, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0, 0],
        &[8, 0, 4, 0, 0x78, 0x05, 0, 0],
        // IFLA_NET_NS_FD 9 } } }
        &[8, 0, 28, 0, 9, 0, 0, 0],
    ]);
    assert_eq!(
        message::new_veth("veth1", 1400, 7, &peer).finish(1),
        expected
    );
}

#[cfg(target_endian = "little")]
#[test]
fn address_carries_local_and_address() {
    let expected = concat(&[
        &header(40, 20, REQUEST_ACK_CREATE_EXCL),
        // ifaddrmsg: AF_INET, prefix 16, flags 0, scope universe, index 3
        &[2, 16, 0, 0, 3, 0, 0, 0],
        // IFA_LOCAL, IFA_ADDRESS 172.17.0.2
        &[8, 0, 2, 0, 172, 17, 0, 2],
        &[8, 0, 1, 0, 172, 17, 0, 2],
    ]);
    let built = message::new_address(3, Ipv4Addr::new(172, 17, 0, 2), 16);
    assert_eq!(built.finish(1), expected);
}

#[cfg(target_endian = "little")]
#[test]
fn default_route_via_the_gateway() {
    let expected = concat(&[
        &header(44, 24, REQUEST_ACK_CREATE_EXCL),
        // rtmsg: AF_INET, dst_len 0, src_len 0, tos 0, main table, boot protocol,
        // universe scope, unicast, flags 0
        &[2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0],
        // RTA_GATEWAY 172.17.0.1, RTA_OIF 3
        &[8, 0, 5, 0, 172, 17, 0, 1],
        &[8, 0, 4, 0, 3, 0, 0, 0],
    ]);
    let built = message::new_default_route(3, Ipv4Addr::new(172, 17, 0, 1));
    assert_eq!(built.finish(1), expected);
}

#[cfg(target_endian = "little")]
#[test]
fn link_by_name_requests() {
    let name = concat(&[&[7, 0, 3, 0], b"lo\0\0"]);
    let cases: [(&str, message::Message, Vec<u8>); 3] = [
        (
            "up",
            message::set_link_up("lo"),
            concat(&[&header(40, 16, REQUEST_ACK), &ifinfomsg(true), &name]),
        ),
        (
            "get (answered by the link, no ack)",
            message::get_link("lo"),
            concat(&[&header(40, 18, 0x1), &ifinfomsg(false), &name]),
        ),
        (
            "delete",
            message::delete_link("lo"),
            concat(&[&header(40, 17, REQUEST_ACK), &ifinfomsg(false), &name]),
        ),
    ];
    for (case, built, expected) in cases {
        assert_eq!(built.finish(1), expected, "{case}");
    }
}

#[cfg(target_endian = "little")]
#[test]
fn replies_are_acks_errors_and_links() {
    let ack = concat(&[&header(20, 2, 0x100), &0i32.to_le_bytes()]);
    let mut exists = concat(&[&header(20, 2, 0x100), &(-libc::EEXIST).to_le_bytes()]);
    exists[8] = 2; // sequence 2
    let link = concat(&[
        &header(56, 16, 0),
        // ifinfomsg with index 5
        &[0, 0, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        // IFLA_IFNAME "br0\0", IFLA_LINKINFO { IFLA_INFO_KIND "bridge\0" } flagged nested
        &[8, 0, 3, 0],
        b"br0\0",
        &[16, 0, 18, 0x80],
        &[11, 0, 1, 0],
        b"bridge\0\0",
    ]);
    let lo = concat(&[&header(32, 16, 0), &[0, 0, 0, 0, 1, 0, 0, 0], &[0; 8]]);
    let datagram = concat(&[&ack, &exists, &link, &lo]);
    assert_eq!(
        message::replies(&datagram),
        vec![
            (1, Reply::Ack),
            (2, Reply::Error(libc::EEXIST)),
            (
                1,
                Reply::Link(Link {
                    index: 5,
                    kind: Some("bridge".into())
                })
            ),
            (
                1,
                Reply::Link(Link {
                    index: 1,
                    kind: None
                })
            ),
        ]
    );
    // A header that claims more than the datagram holds ends the parse.
    assert_eq!(message::replies(&ack[..19]), vec![]);
}

#[test]
fn link_names_follow_the_kernels_rule() {
    for good in ["eth0", "hybridock0", "veth0123456789a", "br-1_x"] {
        assert!(check_link_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        ".",
        "..",
        "veth0123456789ab",
        "a/b",
        "a:b",
        "a b",
        "a\0",
        "tab\t",
    ] {
        assert!(check_link_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn values_are_parsed_once() {
    assert_eq!(
        parse_mac("02:42:ac:11:00:02").unwrap(),
        [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]
    );
    for bad in [
        "",
        "02:42:ac:11:00",
        "02:42:ac:11:00:02:03",
        "2:42:ac:11:00:02",
        "zz:42:ac:11:00:02",
        "01:00:5e:00:00:01", // multicast
        "00:00:00:00:00:00",
    ] {
        assert!(parse_mac(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        parse_ipv4("address", "10.0.0.1").unwrap(),
        Ipv4Addr::new(10, 0, 0, 1)
    );
    assert!(parse_ipv4("address", "10.0.0").is_err());
    assert!(check_prefix(32).is_ok());
    assert!(check_prefix(33).is_err());
    assert_eq!(
        check_link_name("a:b").unwrap_err().to_string(),
        "invalid interface name \"a:b\": contains '/', ':', whitespace or NUL"
    );
}

#[cfg(target_endian = "little")]
#[test]
fn hairpin_is_a_bridge_setlink_with_nested_port_mode() {
    let expected = concat(&[
        &header(44, 19, REQUEST_ACK),
        // ifinfomsg: family AF_BRIDGE, index 7
        &[7, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        // IFLA_PROTINFO | NLA_F_NESTED { IFLA_BRPORT_MODE u8 1 (padded) }
        &[12, 0, 12, 0x80],
        &[5, 0, 4, 0, 1, 0, 0, 0],
    ]);
    assert_eq!(message::set_hairpin(7).finish(1), expected);
}

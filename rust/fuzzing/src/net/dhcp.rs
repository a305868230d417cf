//! DHCP server replies as metalimage's client reads them
//! (`metalos_net::dhcp`: dhcproto decoding, xid/chaddr matching, the
//! OFFER → REQUEST → ACK/NAK exchange and the lease built from it).

use dhcproto::Encodable;
use metalos_net::cmdline::parse_netmask;
use metalos_net::dhcp::{self, Lease};
use metalos_net::MacAddr;

/// The client's MAC (chaddr) in the `dhcp` target and its seeds.
pub const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
/// The transaction id of every exchange in the `dhcp` target and its seeds.
pub const XID: u32 = 0x6d74_6c73;

/// Splits a `dhcp` input into datagrams: each is a big-endian u16 length
/// followed by that many bytes (the last one may be cut short).
pub fn frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let (datagram, tail) = body.split_at(len.min(body.len()));
        out.push(datagram);
        rest = tail;
    }
    out
}

/// The inverse of [`frames`].
pub fn frame(datagrams: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for d in datagrams {
        let len = u16::try_from(d.len()).expect("a datagram fits in 64 KiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(d);
    }
    out
}

/// Target `dhcp`: the input is the sequence of datagrams the client
/// receives ([`frames`]) while it negotiates as NIC [`MAC`] with
/// transaction id [`XID`]. A lease must be self-consistent.
pub fn dhcp(data: &[u8]) {
    let datagrams = frames(data);
    match dhcp::negotiate_replayed(&datagrams, MAC, XID) {
        Ok(lease) => check_lease(&lease),
        Err(e) => drop(e.to_string()),
    }
}

fn check_lease(lease: &Lease) {
    assert!(!lease.address.is_unspecified(), "{lease:?}");
    assert!(!lease.server_id.is_unspecified(), "{lease:?}");
    assert!(lease.prefix_len <= 32, "{lease:?}");
    let netmask = lease.netmask();
    assert_eq!(
        parse_netmask(&netmask.to_string()),
        Some(lease.prefix_len),
        "{lease:?}"
    );
    let config = lease.to_static_config();
    assert_eq!(config.address, lease.address);
    assert_eq!(config.netmask(), netmask);
    assert_eq!(config.gateway, lease.routers.first().copied());
    assert_eq!(config.dns_servers, lease.dns_servers);
    drop(format!("{lease:?}"));
}

/// Target `dhcp_roundtrip`: one datagram; when dhcproto decodes it, the
/// client must read the same reply (matching the datagram's own xid and
/// chaddr) from every re-encoding, and every decoded message must encode.
/// Byte-identical re-encoding is not required: dhcproto normalises a
/// malformed option area over more than one round (it drops options whose
/// list is empty, e.g. a zero-length option 3, and reads options after a
/// zeroed magic cookie; fuzzing finding `dhcp_roundtrip/option-area-normalised-twice`).
/// MetalOS never re-encodes a received message; what it encodes (its
/// own DISCOVER and REQUEST) is tested in `metalos_net::dhcp`.
pub fn dhcp_roundtrip(data: &[u8]) {
    let Some(msg) = dhcp::decode(data) else {
        return;
    };
    // The raw chaddr field (bytes 28..34), not `Message::chaddr()`.
    let Some(chaddr) = data.get(28..34) else {
        return;
    };
    let mac = MacAddr(chaddr.try_into().expect("six bytes"));
    let reply = dhcp::parse_reply(data, msg.xid(), mac);
    let mut current = msg;
    for round in 1..=3 {
        let encoded = current
            .to_vec()
            .unwrap_or_else(|e| panic!("round {round}: a decoded message does not encode: {e}"));
        assert_eq!(
            dhcp::parse_reply(&encoded, current.xid(), mac),
            reply,
            "round {round}: the client reads the re-encoded reply differently"
        );
        current = dhcp::decode(&encoded)
            .unwrap_or_else(|| panic!("round {round}: a re-encoded message does not decode"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_and_tolerates_truncation() {
        let a: &[u8] = b"first";
        let b: &[u8] = b"second";
        let framed = frame(&[a, b]);
        assert_eq!(frames(&framed), vec![a, b]);
        assert_eq!(
            frames(&framed[..framed.len() - 2]),
            vec![a, b"seco".as_slice()]
        );
        assert!(frames(&[7]).is_empty());
    }
}

//! Building DHCPv4 requests and reading replies (with `dhcproto`).

use std::net::Ipv4Addr;
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};

use crate::mac::MacAddr;

/// The options asked for in every request.
const WANTED: [OptionCode; 6] = [
    OptionCode::SubnetMask,
    OptionCode::Router,
    OptionCode::DomainNameServer,
    OptionCode::DomainName,
    OptionCode::Hostname,
    OptionCode::AddressLeaseTime,
];

/// The kind of a server reply that matters to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// DHCPOFFER.
    Offer,
    /// DHCPACK.
    Ack,
    /// DHCPNAK.
    Nak,
}

/// A server reply addressed to us (xid and chaddr matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The message type (option 53).
    pub kind: ReplyKind,
    /// The address offered or acknowledged.
    pub yiaddr: Ipv4Addr,
    /// Option 54, or for an offer without it the `siaddr` field.
    pub server_id: Option<Ipv4Addr>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain: Option<String>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 51.
    pub lease_time: Option<Duration>,
    /// Option 56, the server's explanation (in NAKs).
    pub message: Option<String>,
}

/// An empty BOOTREQUEST decoded from its wire form. dhcproto's
/// constructors start from `Message::default()`, which draws a random xid
/// through `rand` — a blocking getrandom(2) that never returns in a guest
/// whose kernel RNG is not initialised yet (seen under QEMU TCG without
/// RDRAND). Decoding builds the message without touching any RNG.
fn bootrequest(xid: u32, chaddr: &[u8; 6]) -> Message {
    let mut wire = [0u8; 241];
    wire[0] = 1; // op: BOOTREQUEST
    wire[1] = 1; // htype: Ethernet
    wire[2] = 6; // hlen
    wire[4..8].copy_from_slice(&xid.to_be_bytes());
    wire[28..34].copy_from_slice(chaddr);
    wire[236..240].copy_from_slice(&[99, 130, 83, 99]); // magic cookie
    wire[240] = 255; // end of options
    Message::from_bytes(&wire).unwrap_or_else(|_| unreachable!("a fixed, valid BOOTREQUEST"))
}

fn base(xid: u32, mac: MacAddr, secs: u16, kind: MessageType) -> Message {
    let octets = mac.octets();
    let mut msg = bootrequest(xid, &octets);
    // Broadcast: we cannot receive unicast to an address not configured yet.
    msg.set_flags(Flags::default().set_broadcast());
    msg.set_secs(secs);
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    let mut client_id = vec![1u8]; // hardware type Ethernet, then the MAC
    client_id.extend_from_slice(&octets);
    opts.insert(DhcpOption::ClientIdentifier(client_id));
    opts.insert(DhcpOption::ParameterRequestList(WANTED.to_vec()));
    opts.insert(DhcpOption::MaxMessageSize(1500));
    msg
}

/// A DHCPDISCOVER.
pub fn discover(xid: u32, mac: MacAddr, secs: u16) -> Message {
    base(xid, mac, secs, MessageType::Discover)
}

/// A DHCPREQUEST (SELECTING state) for `address` offered by `server_id`.
pub fn request(
    xid: u32,
    mac: MacAddr,
    secs: u16,
    address: Ipv4Addr,
    server_id: Ipv4Addr,
) -> Message {
    let mut msg = base(xid, mac, secs, MessageType::Request);
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::RequestedIpAddress(address));
    opts.insert(DhcpOption::ServerIdentifier(server_id));
    msg
}

/// Encodes a message for the wire.
pub fn encode(msg: &Message) -> Result<Vec<u8>, String> {
    msg.to_vec().map_err(|e| e.to_string())
}

/// Offset of the magic cookie (after the fixed BOOTP header).
const COOKIE_AT: usize = 236;
/// RFC 2131's magic cookie, which starts the options of every DHCP message.
const COOKIE: [u8; 4] = [99, 130, 83, 99];

/// The length dhcproto's decoder assumes (and asserts) for options of
/// these codes; none of them belongs in a reply to this client.
fn length_dhcproto_assumes(code: u8) -> Option<fn(usize) -> bool> {
    match code {
        80 => Some(|len| len == 0),        // Rapid Commit
        81 => Some(|len| len >= 3),        // Client FQDN
        94 => Some(|len| len == 3),        // Client Network Interface
        152..=155 => Some(|len| len == 4), // Bulk Leasequery times
        _ => None,
    }
}

/// `bytes` with the options dhcproto would mis-decode overwritten by Pad (a
/// length it does not expect for their code: it asserts on them in debug builds),
/// or `None` when the datagram is not a DHCP message (no magic cookie, or
/// a hardware address longer than the 16-byte chaddr field).
fn without_misfit_options(bytes: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    if bytes.get(COOKIE_AT..COOKIE_AT + 4)? != COOKIE {
        return None;
    }
    // hlen: dhcproto's `chaddr()` slices the 16-byte field by it.
    if bytes[2] > 16 {
        return None;
    }
    // (code, span) of each option; a code is misfit when a run of its
    // adjacent instances, which dhcproto concatenates (RFC 3396) before
    // decoding, has a length it does not expect.
    let mut options: Vec<(u8, std::ops::Range<usize>)> = vec![];
    let mut misfits = [false; 256];
    let mut run: Option<(u8, usize)> = None;
    let mut at = COOKIE_AT + 4;
    loop {
        let code = bytes.get(at).copied();
        let end = match code {
            None => at,
            Some(0 | 255) => at + 1,
            Some(_) => at + 2 + usize::from(*bytes.get(at + 1).unwrap_or(&0)),
        }
        .min(bytes.len());
        let len = end.saturating_sub(at + 2);
        // Pad, End and the end of the datagram close the current run.
        run = match (run, code) {
            (Some((c, n)), Some(code)) if c == code && !matches!(code, 0 | 255) => {
                Some((c, n + len))
            }
            (previous, _) => {
                if let Some((c, n)) = previous {
                    misfits[usize::from(c)] |=
                        length_dhcproto_assumes(c).is_some_and(|fits| !fits(n));
                }
                code.filter(|c| !matches!(c, 0 | 255)).map(|c| (c, len))
            }
        };
        match code {
            None | Some(255) => break,
            Some(code) => options.push((code, at..end)),
        }
        at = end;
    }
    let misfit = |code: u8| misfits[usize::from(code)];
    if !options.iter().any(|(code, _)| misfit(*code)) {
        return Some(bytes.into());
    }
    // Overwritten with Pad, not cut out: removing an option would make
    // its neighbours adjacent, forming a new run dhcproto concatenates.
    let mut kept = bytes.to_vec();
    for (code, span) in options {
        if misfit(code) {
            kept[span].fill(0);
        }
    }
    Some(kept.into())
}

/// Decodes a DHCP message (with dhcproto, after blanking the options it
/// would mis-decode); `None` when it is not one.
pub fn decode(bytes: &[u8]) -> Option<Message> {
    Message::from_bytes(&without_misfit_options(bytes)?).ok()
}

/// Decodes a datagram; `None` unless it is an OFFER, ACK or NAK for
/// transaction `xid` and hardware address `mac`.
pub fn parse_reply(bytes: &[u8], xid: u32, mac: MacAddr) -> Option<Reply> {
    let msg = decode(bytes)?;
    if msg.opcode() != Opcode::BootReply
        || msg.xid() != xid
        || msg.chaddr().get(..6)? != mac.octets()
    {
        return None;
    }
    let opts = msg.opts();
    let kind = match opts.msg_type()? {
        MessageType::Offer => ReplyKind::Offer,
        MessageType::Ack => ReplyKind::Ack,
        MessageType::Nak => ReplyKind::Nak,
        _ => return None,
    };
    let mut reply = Reply {
        kind,
        yiaddr: msg.yiaddr(),
        server_id: None,
        subnet_mask: None,
        routers: Vec::new(),
        dns_servers: Vec::new(),
        domain: None,
        hostname: None,
        lease_time: None,
        message: None,
    };
    for (_, opt) in opts.iter() {
        match opt {
            DhcpOption::ServerIdentifier(ip) => reply.server_id = Some(*ip),
            DhcpOption::SubnetMask(mask) => reply.subnet_mask = Some(*mask),
            DhcpOption::Router(list) => reply.routers = list.clone(),
            DhcpOption::DomainNameServer(list) => reply.dns_servers = list.clone(),
            // An empty name is no name (and dhcproto drops it on re-encoding).
            DhcpOption::DomainName(name) => {
                reply.domain = Some(name.clone()).filter(|n| !n.is_empty())
            }
            DhcpOption::Hostname(name) => {
                reply.hostname = Some(name.clone()).filter(|n| !n.is_empty())
            }
            DhcpOption::AddressLeaseTime(secs) => {
                reply.lease_time = Some(Duration::from_secs(u64::from(*secs)))
            }
            DhcpOption::Message(text) => {
                reply.message = Some(text.clone()).filter(|t| !t.is_empty())
            }
            _ => {}
        }
    }
    if reply.server_id.is_none() && kind == ReplyKind::Offer && !msg.siaddr().is_unspecified() {
        reply.server_id = Some(msg.siaddr());
    }
    Some(reply)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    pub(crate) const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);

    /// What a server would answer to `request` (echoing xid and chaddr).
    pub(crate) fn server_reply(request: &Message, kind: MessageType, yiaddr: Ipv4Addr) -> Message {
        let mut msg = Message::new_with_id(
            request.xid(),
            Ipv4Addr::UNSPECIFIED,
            yiaddr,
            SERVER,
            Ipv4Addr::UNSPECIFIED,
            request.chaddr(),
        );
        msg.set_opcode(Opcode::BootReply);
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::ServerIdentifier(SERVER));
        if kind != MessageType::Nak {
            opts.insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
            opts.insert(DhcpOption::Router(vec![SERVER]));
            opts.insert(DhcpOption::DomainNameServer(vec![
                SERVER,
                Ipv4Addr::new(10, 77, 1, 2),
            ]));
            opts.insert(DhcpOption::DomainName("metalos.test".into()));
            opts.insert(DhcpOption::AddressLeaseTime(3600));
        } else {
            opts.insert(DhcpOption::Message("address not available".into()));
        }
        msg
    }

    #[test]
    fn discover_has_broadcast_flag_client_id_and_parameter_list() {
        let bytes = encode(&discover(0x1234_5678, MAC, 3)).unwrap();
        let msg = Message::from_bytes(&bytes).unwrap();
        assert_eq!(msg.opcode(), Opcode::BootRequest);
        assert_eq!(msg.xid(), 0x1234_5678);
        assert!(msg.flags().broadcast());
        assert_eq!(msg.secs(), 3);
        assert_eq!(&msg.chaddr()[..6], &MAC.octets());
        assert_eq!(msg.opts().msg_type(), Some(MessageType::Discover));
        let Some(DhcpOption::ClientIdentifier(id)) = msg.opts().get(OptionCode::ClientIdentifier)
        else {
            panic!("no client identifier")
        };
        assert_eq!(id.as_slice(), &[1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let Some(DhcpOption::ParameterRequestList(list)) =
            msg.opts().get(OptionCode::ParameterRequestList)
        else {
            panic!("no parameter request list")
        };
        assert_eq!(list.as_slice(), &WANTED);
    }

    #[test]
    fn request_names_address_and_server() {
        let addr = Ipv4Addr::new(10, 77, 1, 100);
        let msg = Message::from_bytes(&encode(&request(7, MAC, 0, addr, SERVER)).unwrap()).unwrap();
        assert_eq!(msg.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(
            msg.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(addr))
        );
        assert_eq!(
            msg.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(SERVER))
        );
    }

    /// An OFFER whose options start with `extra` (raw option bytes).
    fn offer_with(extra: &[u8]) -> Vec<u8> {
        let req = discover(42, MAC, 0);
        let bytes = encode(&server_reply(
            &req,
            MessageType::Offer,
            Ipv4Addr::new(10, 77, 1, 100),
        ))
        .unwrap();
        let mut out = bytes[..COOKIE_AT + 4].to_vec();
        out.extend_from_slice(extra);
        out.extend_from_slice(&bytes[COOKIE_AT + 4..]);
        out
    }

    #[test]
    fn options_dhcproto_would_assert_on_are_dropped() {
        // Fuzzing finding (`dhcp`): a Bulk Leasequery base time (152) of
        // one byte panicked dhcproto's decoder in debug builds.
        // Nor may repeated instances, which dhcproto concatenates.
        for extra in [
            &[152u8, 1, 0][..],
            &[80, 1, 7],
            &[81, 0],
            &[94, 2, 1, 2],
            &[155, 4, 0, 0, 0, 1, 155, 4, 0, 0, 0, 2],
            &[81, 0, 0, 81, 3, 0, 0, 0],
            // Cutting the 152 out would join the two 155 runs into 4 + 0.
            &[155, 4, 0, 0, 0, 1, 152, 1, 0, 155, 0],
        ] {
            let reply = parse_reply(&offer_with(extra), 42, MAC).unwrap();
            assert_eq!(reply.kind, ReplyKind::Offer, "{extra:?}");
            assert_eq!(reply.server_id, Some(SERVER), "{extra:?}");
        }
        let fine = offer_with(&[152, 4, 0, 0, 0, 1]);
        assert_eq!(without_misfit_options(&fine).unwrap().as_ref(), &fine[..]);
    }

    #[test]
    fn a_datagram_without_the_magic_cookie_is_not_a_reply() {
        let mut bytes = offer_with(&[]);
        bytes[COOKIE_AT] = 0;
        assert_eq!(parse_reply(&bytes, 42, MAC), None);
        assert_eq!(parse_reply(&bytes[..100], 42, MAC), None);
    }

    #[test]
    fn a_hardware_address_longer_than_chaddr_is_not_a_reply() {
        // Fuzzing finding (`dhcp`): hlen 17 panicked dhcproto's `chaddr()`.
        let mut bytes = offer_with(&[]);
        bytes[2] = 17;
        assert_eq!(parse_reply(&bytes, 42, MAC), None);
        bytes[2] = 16;
        assert!(parse_reply(&bytes, 42, MAC).is_some());
    }

    #[test]
    fn parses_offer_and_rejects_foreign_replies() {
        let req = discover(42, MAC, 0);
        let yiaddr = Ipv4Addr::new(10, 77, 1, 100);
        let bytes = encode(&server_reply(&req, MessageType::Offer, yiaddr)).unwrap();
        let reply = parse_reply(&bytes, 42, MAC).unwrap();
        assert_eq!(reply.kind, ReplyKind::Offer);
        assert_eq!(reply.yiaddr, yiaddr);
        assert_eq!(reply.server_id, Some(SERVER));
        assert_eq!(reply.routers, vec![SERVER]);
        assert_eq!(reply.dns_servers.len(), 2);
        assert_eq!(reply.domain.as_deref(), Some("metalos.test"));
        assert_eq!(reply.lease_time, Some(Duration::from_secs(3600)));
        assert_eq!(parse_reply(&bytes, 43, MAC), None, "other xid");
        let other = MacAddr([0x52, 0x54, 0, 0, 0, 1]);
        assert_eq!(parse_reply(&bytes, 42, other), None, "other client");
        assert_eq!(
            parse_reply(&encode(&req).unwrap(), 42, MAC),
            None,
            "a request, not a reply"
        );
        assert_eq!(parse_reply(b"garbage", 42, MAC), None);
    }
}

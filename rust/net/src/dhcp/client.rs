//! The DHCPv4 exchange: DISCOVER → OFFER → REQUEST → ACK, with
//! retransmission and restart on NAK, over any [`Transport`].

use std::io;
use std::net::Ipv4Addr;
use std::time::Instant;

use super::packet::{self, Reply, ReplyKind};
use super::{DhcpConfig, DhcpError, Lease};
use crate::cmdline::parse_netmask;
use crate::mac::MacAddr;

/// Sends to the servers and receives their replies.
pub(crate) trait Transport {
    /// Broadcasts one datagram to the servers.
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;
    /// Waits until `deadline` for one datagram; `None` when none came.
    fn recv(&mut self, deadline: Instant) -> io::Result<Option<Vec<u8>>>;
}

struct Exchange<'a, T: Transport> {
    transport: &'a mut T,
    ifname: &'a str,
    mac: MacAddr,
    config: &'a DhcpConfig,
    start: Instant,
    deadline: Instant,
}

/// What one phase waits for.
enum Waiting {
    Offer,
    Ack { server_id: Ipv4Addr },
}

/// Runs the exchange until a lease is acknowledged or `config.timeout`
/// passes. `next_xid` gives each transaction (each restart) its id.
pub(crate) fn negotiate<T: Transport>(
    transport: &mut T,
    ifname: &str,
    mac: MacAddr,
    config: &DhcpConfig,
    mut next_xid: impl FnMut() -> u32,
) -> Result<Lease, DhcpError> {
    let start = Instant::now();
    let mut ex = Exchange {
        transport,
        ifname,
        mac,
        config,
        start,
        deadline: crate::deadline_after(start, config.timeout),
    };
    let mut naks = Vec::new();
    loop {
        let xid = next_xid();
        let discover = packet::discover(xid, mac, ex.secs());
        let offer = ex
            .run(&discover, xid, Waiting::Offer)
            .map_err(|e| e.with_naks(&naks))?;
        let server_id = offer.server_id.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let request = packet::request(xid, mac, ex.secs(), offer.yiaddr, server_id);
        let reply = ex
            .run(&request, xid, Waiting::Ack { server_id })
            .map_err(|e| e.with_naks(&naks))?;
        if reply.kind == ReplyKind::Ack {
            return Ok(lease_from(&reply, &offer, server_id));
        }
        // NAK: the offer is no longer valid; start over with a new xid,
        // after a pause so that a misconfigured server is not flooded.
        let nak = format!(
            "{server_id} refused {}{}",
            offer.yiaddr,
            reply.message.map(|m| format!(" ({m})")).unwrap_or_default()
        );
        if !naks.contains(&nak) {
            naks.push(nak);
        }
        std::thread::sleep(
            config
                .first_retransmit
                .min(ex.deadline.saturating_duration_since(Instant::now())),
        );
    }
}

impl<T: Transport> Exchange<'_, T> {
    fn secs(&self) -> u16 {
        u16::try_from(self.start.elapsed().as_secs()).unwrap_or(u16::MAX)
    }

    /// Sends `msg` with exponential backoff until a wanted reply comes.
    fn run(
        &mut self,
        msg: &dhcproto::v4::Message,
        xid: u32,
        waiting: Waiting,
    ) -> Result<Reply, DhcpError> {
        let what = match waiting {
            Waiting::Offer => "DHCPDISCOVER",
            Waiting::Ack { .. } => "DHCPREQUEST",
        };
        let bytes = packet::encode(msg).map_err(|reason| DhcpError::Encode {
            ifname: self.ifname.to_string(),
            reason,
        })?;
        let mut wait = self.config.first_retransmit;
        let mut sent = 0u32;
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(DhcpError::Timeout {
                    ifname: self.ifname.to_string(),
                    mac: self.mac,
                    waited: now.duration_since(self.start),
                    phase: match waiting {
                        Waiting::Offer => "no DHCPOFFER",
                        Waiting::Ack { .. } => "no DHCPACK",
                    },
                    sent,
                    what,
                    naks: String::new(),
                });
            }
            self.transport
                .send(&bytes)
                .map_err(|source| DhcpError::Io {
                    ifname: self.ifname.to_string(),
                    op: format!("sending {what}"),
                    source,
                })?;
            sent += 1;
            let attempt_deadline = crate::deadline_after(now, wait).min(self.deadline);
            while let Some(datagram) =
                self.transport
                    .recv(attempt_deadline)
                    .map_err(|source| DhcpError::Io {
                        ifname: self.ifname.to_string(),
                        op: "receiving DHCP replies".to_string(),
                        source,
                    })?
            {
                let Some(reply) = packet::parse_reply(&datagram, xid, self.mac) else {
                    continue; // another client's, another transaction's, or garbage
                };
                if wanted(&reply, &waiting) {
                    return Ok(reply);
                }
            }
            wait = wait.saturating_mul(2).min(self.config.max_retransmit);
        }
    }
}

fn wanted(reply: &Reply, waiting: &Waiting) -> bool {
    match waiting {
        Waiting::Offer => {
            // The REQUEST names the server; 0.0.0.0 or broadcast names none.
            reply.kind == ReplyKind::Offer
                && !reply.yiaddr.is_unspecified()
                && reply
                    .server_id
                    .is_some_and(|id| !id.is_unspecified() && !id.is_broadcast())
        }
        Waiting::Ack { server_id } => {
            let from_our_server = reply.server_id.is_none_or(|id| id == *server_id);
            from_our_server
                && match reply.kind {
                    ReplyKind::Ack => !reply.yiaddr.is_unspecified(),
                    ReplyKind::Nak => true,
                    ReplyKind::Offer => false,
                }
        }
    }
}

fn lease_from(ack: &Reply, offer: &Reply, server_id: Ipv4Addr) -> Lease {
    // Options missing from the ACK fall back to the OFFER's.
    let pick =
        |a: &Vec<Ipv4Addr>, o: &Vec<Ipv4Addr>| if a.is_empty() { o.clone() } else { a.clone() };
    let prefix_len = ack
        .subnet_mask
        .or(offer.subnet_mask)
        .and_then(|m| parse_netmask(&m.to_string()))
        .unwrap_or_else(|| classful_prefix(ack.yiaddr));
    Lease {
        address: ack.yiaddr,
        prefix_len,
        routers: pick(&ack.routers, &offer.routers),
        dns_servers: pick(&ack.dns_servers, &offer.dns_servers),
        domain: ack.domain.clone().or_else(|| offer.domain.clone()),
        hostname: ack.hostname.clone().or_else(|| offer.hostname.clone()),
        lease_time: ack.lease_time.or(offer.lease_time),
        server_id,
    }
}

/// The prefix of the address's class, for servers that send no netmask.
fn classful_prefix(address: Ipv4Addr) -> u8 {
    match address.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

impl DhcpError {
    fn with_naks(self, naks: &[String]) -> Self {
        match self {
            DhcpError::Timeout {
                ifname,
                mac,
                waited,
                phase,
                sent,
                what,
                ..
            } if !naks.is_empty() => DhcpError::Timeout {
                ifname,
                mac,
                waited,
                phase,
                sent,
                what,
                naks: format!("; NAKs: {}", naks.join(", ")),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use dhcproto::v4::{Message, MessageType};
    use dhcproto::{Decodable, Encodable};

    use std::time::Duration;

    use super::*;
    use crate::dhcp::packet::tests::{server_reply, MAC, SERVER};

    type Responder = Box<dyn FnMut(&Message) -> Vec<Message>>;

    /// A server in a closure: every sent message may queue replies.
    struct Fake {
        sent: Vec<Message>,
        queue: VecDeque<Vec<u8>>,
        respond: Responder,
    }

    impl Fake {
        fn new(respond: impl FnMut(&Message) -> Vec<Message> + 'static) -> Self {
            Fake {
                sent: Vec::new(),
                queue: VecDeque::new(),
                respond: Box::new(respond),
            }
        }
    }

    impl Transport for Fake {
        fn send(&mut self, packet: &[u8]) -> io::Result<()> {
            let msg = Message::from_bytes(packet).map_err(io::Error::other)?;
            for reply in (self.respond)(&msg) {
                self.queue
                    .push_back(reply.to_vec().map_err(io::Error::other)?);
            }
            self.sent.push(msg);
            Ok(())
        }

        fn recv(&mut self, deadline: Instant) -> io::Result<Option<Vec<u8>>> {
            let next = self.queue.pop_front();
            if next.is_none() {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            }
            Ok(next)
        }
    }

    fn fast() -> DhcpConfig {
        DhcpConfig {
            timeout: Duration::from_millis(400),
            first_retransmit: Duration::from_millis(20),
            max_retransmit: Duration::from_millis(80),
        }
    }

    const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 100);

    fn kind(m: &Message) -> MessageType {
        m.opts().msg_type().unwrap()
    }

    fn counter() -> impl FnMut() -> u32 {
        let mut n = 100;
        move || {
            n += 1;
            n
        }
    }

    #[test]
    fn full_exchange_yields_lease() {
        let mut fake = Fake::new(|m| {
            let k = if kind(m) == MessageType::Discover {
                MessageType::Offer
            } else {
                MessageType::Ack
            };
            vec![server_reply(m, k, OFFERED)]
        });
        let lease = negotiate(&mut fake, "eth0", MAC, &fast(), counter()).unwrap();
        assert_eq!(lease.address, OFFERED);
        assert_eq!(lease.prefix_len, 24);
        assert_eq!(lease.routers, vec![SERVER]);
        assert_eq!(lease.server_id, SERVER);
        assert_eq!(lease.domain.as_deref(), Some("metalos.test"));
        let kinds: Vec<_> = fake.sent.iter().map(kind).collect();
        assert_eq!(kinds, vec![MessageType::Discover, MessageType::Request]);
        assert_eq!(fake.sent[0].xid(), fake.sent[1].xid());
    }

    #[test]
    fn replies_for_other_xids_or_clients_are_ignored() {
        let mut fake = Fake::new(|m| {
            let k = if kind(m) == MessageType::Discover {
                MessageType::Offer
            } else {
                MessageType::Ack
            };
            let mut wrong_xid = server_reply(m, k, Ipv4Addr::new(10, 77, 1, 66));
            wrong_xid.set_xid(m.xid() ^ 1);
            let mut other_client = server_reply(m, k, Ipv4Addr::new(10, 77, 1, 77));
            other_client.set_chaddr(&[2, 0, 0, 0, 0, 9]);
            vec![wrong_xid, other_client, server_reply(m, k, OFFERED)]
        });
        let lease = negotiate(&mut fake, "eth0", MAC, &fast(), counter()).unwrap();
        assert_eq!(lease.address, OFFERED);
        assert_eq!(fake.sent.len(), 2);
    }

    #[test]
    fn retransmits_after_silence() {
        let mut discovers = 0;
        let mut fake = Fake::new(move |m| {
            if kind(m) == MessageType::Discover {
                discovers += 1;
                if discovers < 3 {
                    return vec![];
                }
                return vec![server_reply(m, MessageType::Offer, OFFERED)];
            }
            vec![server_reply(m, MessageType::Ack, OFFERED)]
        });
        negotiate(&mut fake, "eth0", MAC, &fast(), counter()).unwrap();
        let kinds: Vec<_> = fake.sent.iter().map(kind).collect();
        assert_eq!(
            kinds,
            vec![
                MessageType::Discover,
                MessageType::Discover,
                MessageType::Discover,
                MessageType::Request
            ]
        );
    }

    #[test]
    fn nak_restarts_with_a_new_transaction() {
        let mut requests = 0;
        let mut fake = Fake::new(move |m| match kind(m) {
            MessageType::Discover => vec![server_reply(m, MessageType::Offer, OFFERED)],
            _ => {
                requests += 1;
                let k = if requests == 1 {
                    MessageType::Nak
                } else {
                    MessageType::Ack
                };
                vec![server_reply(
                    m,
                    k,
                    if requests == 1 {
                        Ipv4Addr::UNSPECIFIED
                    } else {
                        OFFERED
                    },
                )]
            }
        });
        let lease = negotiate(&mut fake, "eth0", MAC, &fast(), counter()).unwrap();
        assert_eq!(lease.address, OFFERED);
        let kinds: Vec<_> = fake.sent.iter().map(kind).collect();
        assert_eq!(
            kinds,
            vec![
                MessageType::Discover,
                MessageType::Request,
                MessageType::Discover,
                MessageType::Request
            ]
        );
        assert_ne!(fake.sent[0].xid(), fake.sent[2].xid());
    }

    #[test]
    fn silence_times_out_naming_interface_and_mac() {
        let mut fake = Fake::new(|_| vec![]);
        let started = Instant::now();
        let e = negotiate(&mut fake, "eth7", MAC, &fast(), counter()).unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("eth7")
                && msg.contains("52:54:00:12:34:56")
                && msg.contains("no DHCPOFFER"),
            "{msg}"
        );
        // Waits of 20, 40, 80, 80, 80... ms: 6 sends in 400 ms when idle;
        // backoff must not stop retransmission.
        assert!(fake.sent.len() >= 4, "{} sends", fake.sent.len());
    }

    #[test]
    fn repeated_naks_are_reported_on_timeout() {
        let mut fake = Fake::new(|m| match kind(m) {
            MessageType::Discover => vec![server_reply(m, MessageType::Offer, OFFERED)],
            _ => vec![server_reply(m, MessageType::Nak, Ipv4Addr::UNSPECIFIED)],
        });
        let mut config = fast();
        config.timeout = Duration::from_millis(50);
        let msg = negotiate(&mut fake, "eth0", MAC, &config, counter())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("NAKs: 10.77.1.1 refused 10.77.1.100 (address not available)"),
            "{msg}"
        );
    }

    #[test]
    fn classful_fallback() {
        assert_eq!(classful_prefix(Ipv4Addr::new(10, 0, 0, 1)), 8);
        assert_eq!(classful_prefix(Ipv4Addr::new(172, 16, 0, 1)), 16);
        assert_eq!(classful_prefix(Ipv4Addr::new(192, 168, 0, 1)), 24);
    }
}

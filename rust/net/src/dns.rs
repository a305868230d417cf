//! A minimal stub resolver: A records over UDP from given servers.
//!
//! No search domains, no `/etc/resolv.conf`, no NSS (the initrd has none of
//! them): names are queried as given, as absolute names. IP literals are
//! returned without a query. CNAME chains are followed within one answer.

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

static DEFAULT_SERVERS: Mutex<Vec<Ipv4Addr>> = Mutex::new(Vec::new());

/// The most CNAMEs followed before giving up (a loop, or a silly chain).
const MAX_CNAMES: usize = 8;

/// Replaces the process-wide default DNS servers (set by
/// [`crate::dhcp::apply_lease`] and by [`crate::setup`]).
pub fn set_default_servers(servers: &[Ipv4Addr]) {
    let mut guard = DEFAULT_SERVERS.lock().unwrap_or_else(|e| e.into_inner());
    *guard = servers.to_vec();
}

/// The process-wide default DNS servers.
pub fn default_servers() -> Vec<Ipv4Addr> {
    DEFAULT_SERVERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Why a name did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// No servers to ask.
    #[error("resolving {host:?}: no DNS servers configured (none from DHCP, ip= or metalos.dns=)")]
    NoServers {
        /// The name.
        host: String,
    },
    /// The name is not a valid DNS name.
    #[error("resolving {host:?}: not a valid host name: {reason}")]
    BadName {
        /// The name.
        host: String,
        /// Why.
        reason: String,
    },
    /// A server said the name does not exist or has no A record.
    #[error("resolving {host:?}: {reason} (from DNS server {server})")]
    NotFound {
        /// The name.
        host: String,
        /// The server that answered.
        server: SocketAddr,
        /// `NXDOMAIN`, `no A record`, ...
        reason: String,
    },
    /// An IPv6 literal was given where an IPv4 address is needed.
    #[error("resolving {host:?}: IPv6 is not supported")]
    Ipv6 {
        /// The literal.
        host: String,
    },
    /// No server answered usefully.
    #[error("resolving {host:?}: no answer from DNS servers: {tried}")]
    NoAnswer {
        /// The name.
        host: String,
        /// Each server tried with its failure, `; `-separated.
        tried: String,
    },
}

/// A stub resolver asking `servers` in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    /// Servers to ask, in order.
    pub servers: Vec<SocketAddr>,
    /// How long to wait for one server's answer (default 2 s).
    pub timeout: Duration,
    /// How many rounds over all servers (default 3).
    pub attempts: u32,
}

impl Resolver {
    /// A resolver for `servers` on port 53.
    pub fn new(servers: &[Ipv4Addr]) -> Self {
        Resolver {
            servers: servers
                .iter()
                .map(|ip| SocketAddr::V4(SocketAddrV4::new(*ip, 53)))
                .collect(),
            timeout: Duration::from_secs(2),
            attempts: 3,
        }
    }

    /// A resolver for the process-wide default servers (see
    /// [`set_default_servers`]).
    pub fn from_defaults() -> Self {
        Resolver::new(&default_servers())
    }

    /// The IPv4 addresses of `host` (an IPv4 literal is returned as is).
    pub fn resolve_ipv4(&self, host: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => return Ok(vec![ip]),
            Ok(IpAddr::V6(_)) => return Err(DnsError::Ipv6 { host: host.into() }),
            Err(_) => {}
        }
        if self.servers.is_empty() {
            return Err(DnsError::NoServers { host: host.into() });
        }
        let name = Name::from_ascii(host)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|e| DnsError::BadName {
                host: host.into(),
                reason: e.to_string(),
            })?;
        let mut tried = String::new();
        for _ in 0..self.attempts.max(1) {
            for server in &self.servers {
                match query(*server, &name, self.timeout) {
                    Ok(Answer::Addresses(ips)) => return Ok(ips),
                    Ok(Answer::NotFound(reason)) => {
                        return Err(DnsError::NotFound {
                            host: host.into(),
                            server: *server,
                            reason,
                        })
                    }
                    Err(reason) => {
                        if !tried.is_empty() {
                            tried.push_str("; ");
                        }
                        let _ = write!(tried, "{server}: {reason}");
                    }
                }
            }
        }
        Err(DnsError::NoAnswer {
            host: host.into(),
            tried,
        })
    }
}

/// A server's definite answer.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Addresses(Vec<Ipv4Addr>),
    NotFound(String),
}

/// Asks one server once; `Err` is a reason to try another server.
fn query(server: SocketAddr, name: &Name, timeout: Duration) -> Result<Answer, String> {
    let id = query_id();
    let packet = build_query(id, name).map_err(|e| format!("encoding query: {e}"))?;
    let io_err = |e: io::Error| e.to_string();
    let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).map_err(io_err)?;
    // connect(): the kernel then drops datagrams from other sources and
    // reports ICMP port-unreachable as ECONNREFUSED.
    socket.connect(server).map_err(io_err)?;
    socket.send(&packet).map_err(io_err)?;
    let deadline = crate::deadline_after(Instant::now(), timeout);
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no reply within {timeout:?}"));
        }
        socket.set_read_timeout(Some(left)).map_err(io_err)?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no reply within {timeout:?}"))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        if let Some(answer) = parse_response(&buf[..n], id, name)? {
            return Ok(answer);
        }
    }
}

fn build_query(id: u16, name: &Name) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name.clone(), RecordType::A));
    msg.to_vec().map_err(|e| e.to_string())
}

/// `Ok(None)` for a datagram that is not the reply to our query (ignored),
/// `Err` for a server failure worth trying elsewhere.
fn parse_response(bytes: &[u8], id: u16, name: &Name) -> Result<Option<Answer>, String> {
    let Ok(msg) = Message::from_vec(bytes) else {
        return Ok(None);
    };
    let asked = msg.queries.first().map(|q| q.name());
    if msg.metadata.id != id
        || msg.metadata.message_type != MessageType::Response
        || asked.is_none_or(|q| q != name)
    {
        return Ok(None);
    }
    match msg.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => {
            return Ok(Some(Answer::NotFound("NXDOMAIN (no such name)".into())))
        }
        other => return Err(format!("server replied {other}")),
    }
    let mut current = name.clone();
    for _ in 0..=MAX_CNAMES {
        let here = msg.answers.iter().filter(|r| r.name == current);
        let ips: Vec<Ipv4Addr> = here
            .clone()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        if !ips.is_empty() {
            return Ok(Some(Answer::Addresses(ips)));
        }
        let cname = here.filter_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.clone()),
            _ => None,
        });
        match cname.into_iter().next() {
            Some(target) => current = target,
            None if msg.metadata.truncation => return Err("reply truncated (TC)".into()),
            None if current != *name => {
                return Ok(Some(Answer::NotFound(format!(
                    "CNAME {current} has no A record in the answer"
                ))))
            }
            None => return Ok(Some(Answer::NotFound("no A record".into()))),
        }
    }
    Ok(Some(Answer::NotFound(format!(
        "more than {MAX_CNAMES} CNAMEs"
    ))))
}

/// What [`Resolver::resolve_ipv4`] makes of one datagram received for its
/// A query `id` for `host` (for fuzzing, see rust/fuzzing): `Ok(None)` when
/// it is not the reply (ignored), `Ok(Some(Ok(addresses)))`,
/// `Ok(Some(Err(reason)))` for a definite "not found", `Err(reason)` for a
/// failure worth asking another server. `Err` too when `host` is no name.
#[doc(hidden)]
#[allow(clippy::type_complexity)]
pub fn read_reply(
    bytes: &[u8],
    id: u16,
    host: &str,
) -> Result<Option<Result<Vec<Ipv4Addr>, String>>, String> {
    let mut name = Name::from_ascii(host).map_err(|e| e.to_string())?;
    name.set_fqdn(true);
    Ok(
        parse_response(bytes, id, &name)?.map(|answer| match answer {
            Answer::Addresses(ips) => Ok(ips),
            Answer::NotFound(reason) => Err(reason),
        }),
    )
}

fn query_id() -> u16 {
    let mut bytes = [0u8; 2];
    // SAFETY: the buffer is valid for 2 bytes.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), 2, libc::GRND_NONBLOCK) };
    if n == 2 {
        u16::from_ne_bytes(bytes)
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u16)
            .unwrap_or(0x5a5a)
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::rdata::{A, CNAME};
    use hickory_proto::rr::Record;

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn response(id: u16, qname: &Name, code: ResponseCode, answers: Vec<Record>) -> Vec<u8> {
        let mut msg = Message::new(id, MessageType::Response, OpCode::Query);
        msg.metadata.response_code = code;
        msg.add_query(Query::query(qname.clone(), RecordType::A));
        msg.add_answers(answers);
        msg.to_vec().unwrap()
    }

    fn a(owner: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(name(owner), 60, RData::A(A(Ipv4Addr::from(ip))))
    }

    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 60, RData::CNAME(CNAME(name(target))))
    }

    #[test]
    fn literals_need_no_server() {
        let r = Resolver::new(&[]);
        assert_eq!(
            r.resolve_ipv4("10.1.2.3").unwrap(),
            vec![Ipv4Addr::new(10, 1, 2, 3)]
        );
        assert!(r
            .resolve_ipv4("[::1]")
            .unwrap_err()
            .to_string()
            .contains("IPv6"));
        let e = r
            .resolve_ipv4("images.metalos.test")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"images.metalos.test\"") && e.contains("no DNS servers"),
            "{e}"
        );
    }

    #[test]
    fn query_is_recursive_a_query() {
        let q = name("images.metalos.test.");
        let msg = Message::from_vec(&build_query(7, &q).unwrap()).unwrap();
        assert_eq!(msg.metadata.id, 7);
        assert!(msg.metadata.recursion_desired);
        assert_eq!(msg.queries[0].query_type(), RecordType::A);
        assert_eq!(msg.queries[0].name(), &q);
    }

    #[test]
    fn follows_cnames_within_the_answer() {
        let q = name("images.metalos.test.");
        let bytes = response(
            9,
            &q,
            ResponseCode::NoError,
            vec![
                cname("images.metalos.test.", "cdn.metalos.test."),
                a("other.test.", [1, 1, 1, 1]),
                a("cdn.metalos.test.", [10, 77, 1, 1]),
                a("cdn.metalos.test.", [10, 77, 1, 2]),
            ],
        );
        assert_eq!(
            parse_response(&bytes, 9, &q).unwrap(),
            Some(Answer::Addresses(vec![
                Ipv4Addr::new(10, 77, 1, 1),
                Ipv4Addr::new(10, 77, 1, 2)
            ]))
        );
        let looped = response(
            9,
            &q,
            ResponseCode::NoError,
            vec![
                cname("images.metalos.test.", "x.test."),
                cname("x.test.", "images.metalos.test."),
            ],
        );
        assert!(
            matches!(parse_response(&looped, 9, &q).unwrap(), Some(Answer::NotFound(r)) if r.contains("CNAMEs"))
        );
    }

    #[test]
    fn ignores_foreign_replies_and_classifies_failures() {
        let q = name("images.metalos.test.");
        let ok = response(
            9,
            &q,
            ResponseCode::NoError,
            vec![a("images.metalos.test.", [10, 0, 0, 1])],
        );
        assert_eq!(parse_response(&ok, 10, &q).unwrap(), None, "other id");
        assert_eq!(
            parse_response(&ok, 9, &name("other.test.")).unwrap(),
            None,
            "other question"
        );
        assert_eq!(parse_response(b"xx", 9, &q).unwrap(), None);
        let nx = response(9, &q, ResponseCode::NXDomain, vec![]);
        assert!(
            matches!(parse_response(&nx, 9, &q).unwrap(), Some(Answer::NotFound(r)) if r.contains("NXDOMAIN"))
        );
        let empty = response(9, &q, ResponseCode::NoError, vec![]);
        assert_eq!(
            parse_response(&empty, 9, &q).unwrap(),
            Some(Answer::NotFound("no A record".into()))
        );
        let servfail = response(9, &q, ResponseCode::ServFail, vec![]);
        assert!(parse_response(&servfail, 9, &q)
            .unwrap_err()
            .contains("Server Failure"));
    }

    #[test]
    fn unanswered_queries_name_host_and_servers() {
        // A bound but silent local socket: the query times out.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut r = Resolver::new(&[]);
        r.servers = vec![silent.local_addr().unwrap()];
        r.timeout = Duration::from_millis(50);
        r.attempts = 2;
        let e = r
            .resolve_ipv4("images.metalos.test")
            .unwrap_err()
            .to_string();
        let server = silent.local_addr().unwrap().to_string();
        assert!(
            e.contains("\"images.metalos.test\"") && e.matches(&server).count() == 2,
            "{e}"
        );
        assert!(e.contains("no reply within 50ms"), "{e}");
    }
}

//! DNS replies as the stub resolver of `metalos_net::dns` reads them
//! (hickory-proto decoding, id/question matching, CNAME chasing).

use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use metalos_net::dns::read_reply;

use super::capture::capture;
use crate::seeds::Seed;

/// The query id the `dns` target's replies answer.
pub const ID: u16 = 0x6d74;
/// The name the `dns` target asked for.
pub const HOST: &str = "images.metalos.test";

const CAPTURED: &[(&str, &[u8])] = &[
    capture!("dnsmasq-dns-a"),
    capture!("dnsmasq-dns-cname"),
    capture!("dnsmasq-dns-cname-dangling"),
    capture!("dnsmasq-dns-multi"),
    capture!("dnsmasq-dns-nxdomain"),
    capture!("dnsmasq-dns-refused"),
];

/// Target `dns`: the datagram as the reply to our A query [`ID`] for
/// [`HOST`], and as the reply to the query it names itself (its own id
/// and first question), so that replies for any name reach the answer
/// parsing. An answer must name at least one address.
pub fn dns(data: &[u8]) {
    check(data, ID, HOST);
    if let Ok(msg) = Message::from_vec(data) {
        if let Some(q) = msg.queries.first() {
            check(data, msg.metadata.id, &q.name().to_ascii());
        }
    }
}

fn check(data: &[u8], id: u16, host: &str) {
    match read_reply(data, id, host) {
        Ok(Some(Ok(ips))) => assert!(!ips.is_empty(), "an empty answer for {host}"),
        Ok(Some(Err(reason))) | Err(reason) => assert!(!reason.is_empty()),
        Ok(None) => {}
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("a valid name")
}

fn a(owner: &str, ip: [u8; 4]) -> Record {
    Record::from_rdata(name(owner), 60, RData::A(A(Ipv4Addr::from(ip))))
}

fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::CNAME(CNAME(name(target))))
}

/// A reply to [`ID`]/[`HOST`] built with hickory.
fn reply(code: ResponseCode, truncated: bool, answers: Vec<Record>) -> Vec<u8> {
    let mut msg = Message::new(ID, MessageType::Response, OpCode::Query);
    msg.metadata.response_code = code;
    msg.metadata.recursion_desired = true;
    msg.metadata.recursion_available = true;
    msg.metadata.truncation = truncated;
    msg.add_query(Query::query(name("images.metalos.test."), RecordType::A));
    msg.add_answers(answers);
    msg.to_vec().expect("encodes")
}

/// Seeds: dnsmasq's replies (captured with the netns tests' options plus
/// `--local=/metalos.test/`, `--cname` and a two-address `--host-record`)
/// and hickory-built
/// variations.
pub fn seeds() -> Vec<Seed> {
    let host = "images.metalos.test.";
    let aaaa = Record::from_rdata(
        name(host),
        60,
        RData::AAAA(AAAA("fd77:1::1".parse().expect("an IPv6 address"))),
    );
    let built = [
        (
            "a-two",
            reply(
                ResponseCode::NoError,
                false,
                vec![a(host, [10, 77, 1, 1]), a(host, [10, 77, 1, 2])],
            ),
        ),
        (
            "cname-chain",
            reply(
                ResponseCode::NoError,
                false,
                vec![
                    cname(host, "cdn.metalos.test."),
                    cname("cdn.metalos.test.", "edge.metalos.test."),
                    a("other.test.", [1, 1, 1, 1]),
                    a("edge.metalos.test.", [10, 77, 1, 9]),
                ],
            ),
        ),
        (
            "cname-loop",
            reply(
                ResponseCode::NoError,
                false,
                vec![cname(host, "x.test."), cname("x.test.", host)],
            ),
        ),
        (
            "cname-dangling",
            reply(ResponseCode::NoError, false, vec![cname(host, "x.test.")]),
        ),
        ("aaaa-only", reply(ResponseCode::NoError, false, vec![aaaa])),
        ("truncated", reply(ResponseCode::NoError, true, vec![])),
        ("nxdomain", reply(ResponseCode::NXDomain, false, vec![])),
        ("servfail", reply(ResponseCode::ServFail, false, vec![])),
    ];
    CAPTURED
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_vec()))
        .chain(built.into_iter().map(|(n, d)| (format!("built-{n}"), d)))
        .map(|(name, data)| Seed {
            target: "dns",
            name,
            data,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsmasq_replies_resolve() {
        let get = |n: &str| CAPTURED.iter().find(|(x, _)| *x == n).unwrap().1;
        assert_eq!(
            read_reply(get("dnsmasq-dns-a"), ID, HOST).unwrap(),
            Some(Ok(vec![Ipv4Addr::new(10, 77, 1, 1)]))
        );
        assert_eq!(
            read_reply(get("dnsmasq-dns-cname"), ID, "cdn.metalos.test")
                .unwrap()
                .unwrap()
                .unwrap()
                .len(),
            2
        );
        // dnsmasq answers a --cname to a non-local name with the CNAME alone.
        assert_eq!(
            read_reply(get("dnsmasq-dns-cname-dangling"), ID, "www.metalos.test").unwrap(),
            Some(Err(
                "CNAME images.metalos.test. has no A record in the answer".into()
            ))
        );
        assert_eq!(
            read_reply(get("dnsmasq-dns-multi"), ID, "multi.metalos.test")
                .unwrap()
                .unwrap()
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(
            read_reply(get("dnsmasq-dns-nxdomain"), ID, "nothere.metalos.test"),
            Ok(Some(Err(_)))
        ));
        assert!(read_reply(get("dnsmasq-dns-refused"), ID, "example.org").is_err());
        // Another question: ignored.
        assert_eq!(
            read_reply(get("dnsmasq-dns-a"), ID, "x.test").unwrap(),
            None
        );
    }

    #[test]
    fn target_runs_over_seeds_and_broken_inputs() {
        for seed in seeds() {
            dns(&seed.data);
            dns(&seed.data[..seed.data.len() - 3]);
            let mut flipped = seed.data.clone();
            flipped[12] ^= 0x3f;
            dns(&flipped);
        }
        dns(b"");
        dns(&[0xff; 64]);
    }
}

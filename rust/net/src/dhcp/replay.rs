//! The client's exchange against canned server datagrams, without a
//! socket or a clock that matters: what the client makes of untrusted
//! replies (for fuzzing, see rust/fuzzing).

use std::io;
use std::time::{Duration, Instant};

use super::client::{self, Transport};
use super::{DhcpConfig, DhcpError, Lease};
use crate::mac::MacAddr;

/// Serves the datagrams in order, then fails (ending the exchange).
struct Replay<'a> {
    replies: std::slice::Iter<'a, &'a [u8]>,
}

impl Transport for Replay<'_> {
    fn send(&mut self, _packet: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn recv(&mut self, _deadline: Instant) -> io::Result<Option<Vec<u8>>> {
        match self.replies.next() {
            Some(datagram) => Ok(Some(datagram.to_vec())),
            None => Err(io::Error::other("no more replies")),
        }
    }
}

/// Runs [`super::obtain_lease`]'s exchange for the NIC `mac`, every
/// transaction with id `xid`, receiving `replies` in order: the lease, or
/// [`DhcpError::Io`] once the replies run out. Never sleeps (no
/// retransmission waits, NAK pauses of zero).
#[doc(hidden)]
pub fn negotiate_replayed(replies: &[&[u8]], mac: MacAddr, xid: u32) -> Result<Lease, DhcpError> {
    let config = DhcpConfig {
        timeout: Duration::from_secs(86400),
        first_retransmit: Duration::ZERO,
        max_retransmit: Duration::ZERO,
    };
    let mut transport = Replay {
        replies: replies.iter(),
    };
    client::negotiate(&mut transport, "fuzz0", mac, &config, || xid)
}

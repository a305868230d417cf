//! The guest command agent: a busybox `sh` loop on the guest's second
//! serial port (`/dev/ttyS1`, QEMU's second `-serial`).
//!
//! # Protocol
//!
//! 1. The guest script ([`AGENT_SCRIPT`], installed at [`AGENT_PATH`] and
//!    started by `/init`, see [`start_snippet`]) puts the port in raw mode
//!    without echo and prints [`READY`] on a line of its own.
//! 2. For command number `n` the harness writes one line:
//!    `<n> <base64 of the command text>\n`. Base64 keeps newlines, quotes
//!    and anything else in the command intact.
//! 3. The guest decodes it into `/tmp/.metalos-agent-cmd`, runs it with
//!    `sh` (stdin `/dev/null`, stdout and stderr both to the port), then
//!    prints `\n@@METALOS-AGENT-<n>-<status>@@\n`.
//! 4. The harness takes everything between its request and
//!    `\n@@METALOS-AGENT-<n>-` as the output (so the extra newline the
//!    guest printed is not part of it) and `<status>` as the exit status.
//!
//! Because the command runs in its own `sh`, `exit 3` ends only that
//! command. Commands run one at a time; a command that never ends blocks
//! the agent (the harness times out with the console tail).

use base64_lite::encode;

/// Where the agent script lives in the guest.
pub const AGENT_PATH: &str = "/etc/metalos-vmtest/agent.sh";

/// Printed by the agent once it reads commands.
pub const READY: &str = "@@METALOS-AGENT-READY@@";

/// The guest side of the agent (a busybox `sh` script). The same file is
/// shipped in the default image's `/usr` (started only when the kernel
/// command line has `metalos.test_agent=1`).
pub const AGENT_SCRIPT: &str = include_str!("../../../images/rootfs/test-agent.sh");

/// The `/init` line that starts the agent in the background.
pub fn start_snippet() -> String {
    format!("setsid sh {AGENT_PATH} >/dev/null 2>&1 </dev/null &\n")
}

/// The request line for command number `n`.
pub fn request(n: u64, cmd: &str) -> String {
    format!("{n} {}\n", encode(cmd.as_bytes()))
}

/// A regex matching the end marker of command `n`; group 1 is the status.
pub fn end_marker(n: u64) -> String {
    format!(r"\n@@METALOS-AGENT-{n}-(\d+)@@\n")
}

/// Minimal standard base64 encoder (RFC 4648, with padding).
mod base64_lite {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(i.as_bytes()), o);
        }
    }

    #[test]
    fn request_and_marker() {
        assert_eq!(request(7, "echo hi"), "7 ZWNobyBoaQ==\n");
        let re = regex::Regex::new(&end_marker(7)).unwrap();
        let caps = re.captures("hi\n\n@@METALOS-AGENT-7-3@@\n").unwrap();
        assert_eq!(&caps[1], "3");
        assert!(!re.is_match("\n@@METALOS-AGENT-17-3@@\n"));
    }
}

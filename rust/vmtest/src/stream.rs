//! A byte stream from the guest (console or agent serial port) that a
//! thread reads into a log file, an in-memory buffer and optionally the
//! terminal; waiters search the buffer with a regex.

use regex::bytes::Regex;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// Buffer state shared with the reader thread.
#[derive(Debug, Default)]
struct State {
    buf: Vec<u8>,
    /// The current reader hit end of file (QEMU closed the port or exited).
    eof: bool,
    /// When the last bytes arrived.
    last_data: Option<Instant>,
}

/// How long an unfinished last line must stay unchanged before it may match
/// (so `\d+` does not match half of a number still being printed).
pub(crate) const QUIET: std::time::Duration = std::time::Duration::from_millis(250);

/// The accumulated output of one guest port, across boots.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    shared: Arc<(Mutex<State>, Condvar)>,
    log: PathBuf,
}

/// Outcome of [`Stream::wait_for`].
pub(crate) enum Wait {
    /// Matched: capture groups as strings (`None` for groups that did not
    /// participate) and the byte offset just after the match.
    Found(Vec<Option<String>>, usize),
    /// The port closed before a match.
    Eof,
    /// The deadline passed.
    TimedOut,
}

impl Stream {
    /// A stream logging to `log` (appended to).
    pub fn new(log: &Path) -> Stream {
        Stream {
            shared: Arc::default(),
            log: log.to_path_buf(),
        }
    }

    /// Log file path.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Starts a thread copying `reader` into the buffer and the log until
    /// end of file. `header` is written to the log first (not to the buffer).
    /// With `echo`, the bytes are also written to stderr.
    pub fn attach(
        &self,
        mut reader: impl Read + Send + 'static,
        header: &str,
        echo: bool,
    ) -> std::io::Result<JoinHandle<()>> {
        let mut log = File::options().create(true).append(true).open(&self.log)?;
        log.write_all(header.as_bytes())?;
        self.shared.0.lock().unwrap().eof = false;
        let shared = self.shared.clone();
        Ok(std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                let n = match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                if n == 0 {
                    let (lock, cvar) = &*shared;
                    lock.lock().unwrap().eof = true;
                    cvar.notify_all();
                    return;
                }
                let _ = log.write_all(&chunk[..n]);
                if echo {
                    let _ = std::io::stderr().write_all(&chunk[..n]);
                }
                let (lock, cvar) = &*shared;
                let mut st = lock.lock().unwrap();
                st.buf.extend_from_slice(&chunk[..n]);
                st.last_data = Some(Instant::now());
                cvar.notify_all();
            }
        }))
    }

    /// Marks the stream as closed (e.g. QEMU was killed before connecting).
    pub fn close(&self) {
        let (lock, cvar) = &*self.shared;
        lock.lock().unwrap().eof = true;
        cvar.notify_all();
    }

    /// Waits until `re` matches output at or after byte `from`, the stream
    /// ends, or `deadline` passes.
    ///
    /// Matches are searched in complete lines only, plus the unfinished
    /// last line once no byte arrived for [`QUIET`] (a prompt such as
    /// `login: `) or the stream ended, so a pattern never matches a prefix
    /// of text that is still arriving.
    pub fn wait_for(&self, re: &Regex, from: usize, deadline: Instant) -> Wait {
        let (lock, cvar) = &*self.shared;
        let mut st = lock.lock().unwrap();
        loop {
            let start = from.min(st.buf.len());
            let quiet = st.eof || st.last_data.is_none_or(|t| t.elapsed() >= QUIET);
            let end = if quiet {
                st.buf.len()
            } else {
                st.buf[start..]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(start, |i| start + i + 1)
            };
            if let Some(caps) = re.captures(&st.buf[start..end]) {
                let end = start + caps.get(0).expect("group 0").end();
                let groups = caps
                    .iter()
                    .map(|m| m.map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned()))
                    .collect();
                return Wait::Found(groups, end);
            }
            if st.eof {
                return Wait::Eof;
            }
            let now = Instant::now();
            if now >= deadline {
                return Wait::TimedOut;
            }
            // Wake up to re-check the unfinished line once it became quiet.
            let wait = if quiet {
                deadline - now
            } else {
                (deadline - now).min(QUIET)
            };
            st = cvar.wait_timeout(st, wait).unwrap().0;
        }
    }

    /// Current length of the buffer (a cursor "from now on").
    pub fn len(&self) -> usize {
        self.shared.0.lock().unwrap().buf.len()
    }

    /// Everything received so far, decoded lossily.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.shared.0.lock().unwrap().buf).into_owned()
    }

    /// Bytes from `from` to the end.
    pub fn bytes_from(&self, from: usize) -> Vec<u8> {
        let st = self.shared.0.lock().unwrap();
        st.buf[from.min(st.buf.len())..].to_vec()
    }

    /// The last `n` lines, with `\r`, terminal escape sequences (OVMF
    /// draws with them) and trailing empty lines removed.
    pub fn tail(&self, n: usize) -> Vec<String> {
        static ANSI: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let ansi = ANSI.get_or_init(|| {
            regex::Regex::new(r"\x1b(\[[0-9;=?]*[A-Za-z]|[()][A-Z0-9])").expect("valid")
        });
        let text = ansi.replace_all(&self.text(), "").into_owned();
        let mut lines: Vec<String> = text.split('\n').map(|l| l.replace('\r', "")).collect();
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let skip = lines.len().saturating_sub(n);
        lines.split_off(skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wait_sees_only_output_after_cursor_and_reports_eof() {
        let dir = tempfile::tempdir().unwrap();
        let s = Stream::new(&dir.path().join("log"));
        let data: &[u8] = b"boot 1: READY\r\nboot 2: \x1b[1m\x1b[37mREADY value=42\r\n";
        let t = s.attach(data, "--- header ---\n", false).unwrap();
        t.join().unwrap();
        let re = Regex::new(r"READY(?: value=(\d+))?").unwrap();
        let deadline = Instant::now() + Duration::from_secs(1);
        let Wait::Found(g, end) = s.wait_for(&re, 0, deadline) else {
            panic!("no match")
        };
        assert_eq!(g, vec![Some("READY".to_string()), None]);
        let Wait::Found(g, end2) = s.wait_for(&re, end, deadline) else {
            panic!("no second match")
        };
        assert_eq!(g[1].as_deref(), Some("42"));
        assert!(matches!(s.wait_for(&re, end2, deadline), Wait::Eof));
        assert_eq!(s.tail(1), vec!["boot 2: READY value=42".to_string()]);
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(log.starts_with("--- header ---\nboot 1"));
    }

    #[test]
    fn unfinished_line_matches_only_when_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let s = Stream::new(&dir.path().join("log"));
        let (mut w, r) = std::os::unix::net::UnixStream::pair().unwrap();
        let t = s.attach(r, "", false).unwrap();
        w.write_all(b"value=4").unwrap();
        let re = Regex::new(r"value=(\d+)").unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            w.write_all(b"2\nlogin: ").unwrap();
            w
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let Wait::Found(g, end) = s.wait_for(&re, 0, deadline) else {
            panic!("no match")
        };
        assert_eq!(g[1].as_deref(), Some("42"));
        // A prompt without newline matches once the console is quiet.
        let t0 = Instant::now();
        let Wait::Found(g, _) = s.wait_for(&Regex::new("login: ").unwrap(), end, deadline) else {
            panic!("no prompt match")
        };
        assert_eq!(g[0].as_deref(), Some("login: "));
        assert!(t0.elapsed() < Duration::from_secs(2));
        drop(writer.join().unwrap());
        t.join().unwrap();
    }

    #[test]
    fn wait_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let s = Stream::new(&dir.path().join("log"));
        let re = Regex::new("x").unwrap();
        let t0 = Instant::now();
        let r = s.wait_for(&re, 0, t0 + Duration::from_millis(200));
        assert!(matches!(r, Wait::TimedOut));
        assert!(t0.elapsed() >= Duration::from_millis(200));
    }
}

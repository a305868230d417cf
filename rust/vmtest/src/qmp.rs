//! A minimal QMP (QEMU Machine Protocol) client: line-delimited JSON over
//! the machine's control socket. Used for `quit` and `system_powerdown`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A negotiated QMP connection.
#[derive(Debug)]
pub(crate) struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Reads the greeting and enters command mode.
    pub fn negotiate(stream: UnixStream) -> Result<Qmp, String> {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            return Err(format!("unexpected QMP greeting {greeting}"));
        }
        qmp.execute("qmp_capabilities")?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<serde_json::Value, String> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| format!("reading QMP: {e}"))?;
        if n == 0 {
            return Err("QMP connection closed".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("bad QMP message {line:?}: {e}"))
    }

    /// Runs a command without arguments and returns its `return` value.
    pub fn execute(&mut self, command: &str) -> Result<serde_json::Value, String> {
        let msg = serde_json::json!({ "execute": command });
        self.writer
            .write_all(format!("{msg}\n").as_bytes())
            .map_err(|e| format!("writing QMP: {e}"))?;
        loop {
            let reply = self.read_message()?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(format!("QMP {command} failed: {e}"));
            }
            // Asynchronous events ({"event": …}) are skipped.
        }
    }
}

//! Talking to the guest: waiting for console output, typing on the
//! console, and running commands through the guest agent (see
//! [`crate::agent`]). Each stream has a cursor: a wait searches only what
//! came after the previous match.

use super::state::Machine;
use crate::agent;
use crate::error::{Result, VmError};
use crate::stream::Wait;
use regex::bytes::Regex;
use std::io::Write;
use std::time::{Duration, Instant};

/// Capture groups of a console match as strings: index 0 is the whole
/// match, groups that did not participate are empty strings.
pub type Captures = Vec<String>;

impl Machine {
    /// Waits until the console prints a match of `pattern` (a
    /// [`regex`](https://docs.rs/regex) on the raw bytes; use `(?m)` for
    /// `^`/`$` per line) and returns its capture groups.
    ///
    /// Only output **after the previous match** (of any earlier
    /// `wait_for_console` on this machine, across restarts) is searched, so
    /// a sequence of waits follows the console in order and never matches
    /// the same text twice. Output printed before the wait began but after
    /// the previous match does count. A match must lie in complete lines,
    /// or in the unfinished last line once the console was quiet for
    /// 250 ms (prompts), so `(\d+)` never captures half of a number still
    /// being printed. Fails with the console tail if the timeout passes or
    /// QEMU exits first.
    pub fn wait_for_console(&mut self, pattern: &str, timeout: Duration) -> Result<Captures> {
        let re = Regex::new(pattern)
            .map_err(|e| VmError::Config(format!("bad console pattern {pattern:?}: {e}")))?;
        let what = format!("console /{pattern}/");
        let (groups, end) =
            self.wait_stream(false, &re, &what, Instant::now() + timeout, timeout)?;
        self.console_cursor = end;
        Ok(groups.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Types `text` on the serial console (add `\n` to submit a line).
    pub fn send_console(&mut self, text: &str) -> Result<()> {
        let r = self.running()?;
        let res = r.console_in.write_all(text.as_bytes());
        res.map_err(|e| self.qemu_error(format!("writing to the console: {e}")))
    }

    /// Waits until the guest agent announced itself on this boot.
    pub fn wait_for_agent(&mut self, timeout: Duration) -> Result<()> {
        self.wait_for_agent_until(Instant::now() + timeout, timeout)
    }

    /// Runs `cmd` in the guest through the agent (see [`crate::agent`]) with
    /// the builder's command timeout; returns its exit status and its
    /// combined stdout and stderr.
    pub fn run(&mut self, cmd: &str) -> Result<(i32, String)> {
        self.run_timeout(cmd, self.cfg.command_timeout)
    }

    /// [`Machine::run`] with an explicit timeout (including the wait for
    /// the agent to come up).
    pub fn run_timeout(&mut self, cmd: &str, timeout: Duration) -> Result<(i32, String)> {
        let deadline = Instant::now() + timeout;
        self.wait_for_agent_until(deadline, timeout)?;
        self.agent_seq += 1;
        let n = self.agent_seq;
        let request = agent::request(n, cmd);
        let r = self.running()?;
        let w = r.agent_in.as_mut().expect("agent enabled");
        if let Err(e) = w.write_all(request.as_bytes()) {
            return Err(self.qemu_error(format!("writing to the agent: {e}")));
        }
        let re = Regex::new(&agent::end_marker(n)).expect("valid");
        let what = format!("agent command {cmd:?}");
        let from = self.agent_cursor;
        let (groups, end) = self.wait_stream(true, &re, &what, deadline, timeout)?;
        let whole = groups[0].as_deref().unwrap_or_default().len();
        let bytes = self.agent.bytes_from(from);
        let output = String::from_utf8_lossy(&bytes[..end - whole - from]).into_owned();
        self.agent_cursor = end;
        let status = groups[1].as_deref().unwrap_or("-1").parse().unwrap_or(-1);
        Ok((status, output))
    }

    /// Like [`Machine::run`] but fails unless the command exits 0; returns its output.
    pub fn succeed(&mut self, cmd: &str) -> Result<String> {
        let (status, output) = self.run(cmd)?;
        if status != 0 {
            return Err(self.qemu_error(format!(
                "guest command {cmd:?} exited {status}; output:\n{output}"
            )));
        }
        Ok(output)
    }

    /// [`Machine::wait_for_agent`] with a deadline shared with a command.
    fn wait_for_agent_until(&mut self, deadline: Instant, timeout: Duration) -> Result<()> {
        if !self.cfg.agent {
            return Err(VmError::Config(format!(
                "machine {}: the agent is not enabled (MachineBuilder::agent)",
                self.cfg.name
            )));
        }
        if self.agent_ready {
            return Ok(());
        }
        let re = Regex::new(&format!(r"{}\r?\n", regex::escape(agent::READY))).expect("valid");
        let (_, end) = self.wait_stream(true, &re, "the guest agent", deadline, timeout)?;
        self.agent_cursor = end;
        self.agent_ready = true;
        Ok(())
    }

    /// Waits for `re` on the console (or with `agent` the agent stream)
    /// after its cursor; returns the groups and the match's end. `what`
    /// and `timeout` name the wait in errors.
    fn wait_stream(
        &mut self,
        agent: bool,
        re: &Regex,
        what: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Vec<Option<String>>, usize)> {
        if self.boots == 0 {
            return Err(VmError::NotRunning {
                machine: self.cfg.name.clone(),
            });
        }
        let (stream, from) = if agent {
            (&self.agent, self.agent_cursor)
        } else {
            (&self.console, self.console_cursor)
        };
        match stream.wait_for(re, from, deadline) {
            Wait::Found(groups, end) => Ok((groups, end)),
            Wait::Eof => {
                let status = self.exit_status_after_eof();
                Err(VmError::UnexpectedExit {
                    machine: self.cfg.name.clone(),
                    what: what.to_string(),
                    status,
                    context: Box::new(self.context()),
                })
            }
            Wait::TimedOut => Err(VmError::Timeout {
                machine: self.cfg.name.clone(),
                what: what.to_string(),
                timeout,
                context: Box::new(self.context()),
            }),
        }
    }
}

//! Low-level newc encoding: headers, padding, streamed host files.

use super::CpioError;
use std::io::{Read, Write};
use std::path::Path;

pub(super) fn write_host(
    w: &mut Counter,
    mut h: Header,
    path: &str,
    host: &Path,
) -> Result<(), CpioError> {
    let io = |source| CpioError::Io {
        path: host.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(host).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(CpioError::HostFile {
            path: host.into(),
            reason: "is not a regular file".into(),
        });
    }
    h.size = fit(path, meta.len())?;
    h.write(w, path)?;
    let copied = std::io::copy(&mut file.take(meta.len()), w).map_err(io)?;
    if copied != meta.len() {
        return Err(CpioError::HostFile {
            path: host.into(),
            reason: "changed size while being archived".into(),
        });
    }
    w.pad()
}

pub(super) fn fit(what: &str, value: u64) -> Result<u32, CpioError> {
    u32::try_from(value).map_err(|_| CpioError::TooLarge {
        what: what.to_string(),
        value,
    })
}

#[derive(Default, Clone, Copy)]
pub(super) struct Header {
    pub(super) ino: u32,
    pub(super) mode: u32,
    pub(super) nlink: u32,
    pub(super) mtime: u32,
    pub(super) size: u32,
    pub(super) rdev_major: u32,
    pub(super) rdev_minor: u32,
}

impl Header {
    pub(super) fn write(&self, w: &mut Counter, name: &str) -> Result<(), CpioError> {
        let f = [
            self.ino,
            self.mode,
            0,
            0,
            self.nlink,
            self.mtime,
            self.size,
            0,
            0,
            self.rdev_major,
            self.rdev_minor,
            name.len() as u32 + 1,
            0,
        ];
        let mut s = String::with_capacity(110 + name.len() + 4);
        s.push_str("070701");
        for v in f {
            s.push_str(&format!("{v:08X}"));
        }
        s.push_str(name);
        s.push('\0');
        w.data(s.as_bytes())
    }
}

/// Counts bytes written so padding can be computed.
pub(super) struct Counter<'a> {
    pub(super) out: &'a mut dyn Write,
    pub(super) n: u64,
}

impl Write for Counter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.out.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Counter<'_> {
    /// Writes `b` and pads to a multiple of 4.
    pub(super) fn data(&mut self, b: &[u8]) -> Result<(), CpioError> {
        self.write_all(b).map_err(CpioError::Write)?;
        self.pad()
    }

    pub(super) fn pad(&mut self) -> Result<(), CpioError> {
        let pad = (4 - (self.n % 4) as usize) % 4;
        self.write_all(&[0u8; 3][..pad]).map_err(CpioError::Write)
    }
}

//! A read-only ISO 9660 reader for config drives: the volume label and one
//! file by path, with Joliet names (UCS-2), Rock Ridge names (`NM`) or
//! plain ISO names (`USER_DAT.;1`, compared without case and version).
//! Every length read from the image is bounded; directories are followed
//! only along the path asked for, so a crafted image cannot loop.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Where the volume descriptors start (sector 16 of 2048 bytes).
const DESCRIPTORS: u64 = 16 * 2048;
/// Volume descriptors read at most before giving up on a terminator.
const MAX_DESCRIPTORS: u64 = 32;
/// Largest directory read (config drives have a handful of entries).
const MAX_DIR: u64 = 1 << 20;

/// The trees of an ISO 9660 volume worth looking in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    /// The primary volume id (the label), trailing spaces removed.
    pub label: String,
    /// The Joliet volume id, if there is a Joliet tree.
    pub joliet_label: Option<String>,
    block: u64,
    primary_root: Extent,
    joliet_root: Option<Extent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Extent {
    start: u64,
    len: u64,
}

/// Reads the volume descriptors; `None` when `file` holds no ISO 9660
/// volume.
pub(crate) fn volume(file: &File) -> Option<Volume> {
    let mut primary = None;
    let mut joliet = None;
    for n in 0..MAX_DESCRIPTORS {
        let mut d = [0u8; 2048];
        file.read_exact_at(&mut d, DESCRIPTORS + n * 2048).ok()?;
        if &d[1..6] != b"CD001" {
            return None;
        }
        match d[0] {
            1 if primary.is_none() => primary = Some(d),
            2 if is_joliet(&d) => joliet = Some(d),
            255 => break,
            _ => {}
        }
    }
    let p = primary?;
    let block = u64::from(u16::from_le_bytes([p[128], p[129]]));
    if !matches!(block, 512 | 1024 | 2048) {
        return None;
    }
    let root = |d: &[u8; 2048]| extent(&d[156..190], block);
    Some(Volume {
        label: ascii_label(&p[40..72]),
        joliet_label: joliet
            .as_ref()
            .map(|j| ucs2(&j[40..72]).trim_end().to_string()),
        block,
        primary_root: root(&p)?,
        joliet_root: joliet.as_ref().and_then(root),
    })
}

/// A supplementary descriptor with a Joliet escape sequence (`%/@`,
/// `%/C`, `%/E`: UCS-2 level 1–3).
fn is_joliet(d: &[u8; 2048]) -> bool {
    d[88] == b'%' && d[89] == b'/' && matches!(d[90], b'@' | b'C' | b'E')
}

fn ascii_label(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

/// Big-endian UCS-2 to a string (unpaired surrogates become U+FFFD).
fn ucs2(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// The extent of a directory record (location and data length, both-endian
/// fields; the little-endian half is read).
fn extent(record: &[u8], block: u64) -> Option<Extent> {
    if record.len() < 33 {
        return None;
    }
    let lba = u32::from_le_bytes(record[2..6].try_into().ok()?);
    let len = u32::from_le_bytes(record[10..14].try_into().ok()?);
    Some(Extent {
        start: u64::from(lba) * block,
        len: u64::from(len),
    })
}

impl Volume {
    /// Reads the file at `path` (`/`-separated, from the root) of at most
    /// `limit` bytes: `Ok(None)` when no tree has it.
    pub(crate) fn read(
        &self,
        file: &File,
        path: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, String> {
        let trees = self
            .joliet_root
            .map(|r| (r, true))
            .into_iter()
            .chain([(self.primary_root, false)]);
        for (root, joliet) in trees {
            if let Some(found) = self.lookup(file, root, path, joliet)? {
                if found.len > limit {
                    return Err(format!(
                        "{path}: {} bytes, more than the limit of {limit}",
                        found.len
                    ));
                }
                let mut data = vec![0; found.len as usize];
                file.read_exact_at(&mut data, found.start).map_err(|e| {
                    format!(
                        "{path}: reading {} bytes at {}: {e}",
                        found.len, found.start
                    )
                })?;
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Follows `path` from `root`; the file's extent when found.
    fn lookup(
        &self,
        file: &File,
        root: Extent,
        path: &str,
        joliet: bool,
    ) -> Result<Option<Extent>, String> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut dir = root;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let Some((found, is_dir)) = self.find_in(file, dir, part, joliet)? else {
                return Ok(None);
            };
            if last {
                return Ok((!is_dir).then_some(found));
            }
            if !is_dir {
                return Ok(None);
            }
            dir = found;
        }
        Ok(None)
    }

    /// The entry called `name` in directory `dir` and whether it is a
    /// directory.
    fn find_in(
        &self,
        file: &File,
        dir: Extent,
        name: &str,
        joliet: bool,
    ) -> Result<Option<(Extent, bool)>, String> {
        if dir.len > MAX_DIR {
            return Err(format!(
                "a directory of {} bytes (more than {MAX_DIR})",
                dir.len
            ));
        }
        let mut data = vec![0; dir.len as usize];
        file.read_exact_at(&mut data, dir.start)
            .map_err(|e| format!("reading a directory at {}: {e}", dir.start))?;
        let mut at = 0usize;
        while at < data.len() {
            let len = usize::from(data[at]);
            if len == 0 {
                // Records do not cross sectors: go on at the next one.
                at = (at / 2048 + 1) * 2048;
                continue;
            }
            let Some(record) = data.get(at..at + len).filter(|r| r.len() >= 34) else {
                return Err(format!(
                    "a directory record at {} runs past its directory",
                    dir.start + at as u64
                ));
            };
            if record_name(record, joliet).is_some_and(|n| names_match(&n, name, joliet)) {
                let found = extent(record, self.block).ok_or("a short directory record")?;
                return Ok(Some((found, record[25] & 2 != 0)));
            }
            at += len;
        }
        Ok(None)
    }
}

/// The name of a directory record: Joliet UCS-2, else the Rock Ridge `NM`
/// name, else the ISO name; `None` for `.` and `..`.
fn record_name(record: &[u8], joliet: bool) -> Option<String> {
    let name_len = usize::from(record[32]);
    let raw = record.get(33..33 + name_len)?;
    if raw == [0] || raw == [1] {
        return None;
    }
    if joliet {
        return Some(ucs2(raw));
    }
    let su_start = 33 + name_len + usize::from(name_len % 2 == 0);
    if let Some(nm) = record.get(su_start..).and_then(rock_ridge_name) {
        return Some(nm);
    }
    Some(String::from_utf8_lossy(raw).into_owned())
}

/// The `NM` entries of a System Use area, joined (`None` without any).
fn rock_ridge_name(mut su: &[u8]) -> Option<String> {
    let mut name: Option<String> = None;
    while su.len() >= 4 {
        let len = usize::from(su[2]);
        if len < 4 || len > su.len() {
            break;
        }
        if &su[..2] == b"NM" && len >= 5 {
            let part = String::from_utf8_lossy(&su[5..len]);
            name.get_or_insert_with(String::new).push_str(&part);
        }
        su = &su[len..];
    }
    name
}

/// Whether a record's name is `want`: exact for Joliet and Rock Ridge
/// names; for ISO names without case, `;version` and a trailing `.`.
fn names_match(name: &str, want: &str, joliet: bool) -> bool {
    if name == want {
        return true;
    }
    if joliet {
        return false;
    }
    let bare = name.split(';').next().unwrap_or(name).trim_end_matches('.');
    // Strict ISO names have `_` for `-`.
    bare.eq_ignore_ascii_case(want) || bare.eq_ignore_ascii_case(&want.replace('-', "_"))
}

//! What the metadata agent writes: the attributes file (afterburn's
//! `AFTERBURN_<KEY>=<value>` lines, sorted by key here), the host name
//! file, and the SSH key fragment `~USER/.ssh/authorized_keys.d/coreos-metadata`
//! merged into `authorized_keys` as `metalos ssh-keys` does.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use metalos_sshkeys::{AuthorizedKeys, KeySet, User};

use crate::PlatformError;

/// The key set (fragment) name the agent writes: the seed's, Flatcar's
/// historical `coreos-metadata` (today's afterburn writes `afterburn`).
pub const FRAGMENT: &str = "coreos-metadata";

/// The attributes file contents: one `AFTERBURN_<KEY>=<value>` line per
/// attribute, in key order.
pub fn attributes_text(attributes: &BTreeMap<String, String>) -> String {
    attributes
        .iter()
        .map(|(k, v)| format!("AFTERBURN_{k}={v}\n"))
        .collect()
}

/// Writes [`attributes_text`] to `path` atomically (parent directories
/// created; temp file, fsync, rename; mode 0644).
pub fn write_attributes(
    path: &Path,
    attributes: &BTreeMap<String, String>,
) -> Result<(), PlatformError> {
    write_atomically(path, attributes_text(attributes).as_bytes())
}

/// Writes `hostname` and a newline to `path` atomically, after
/// [`truncate_hostname`] (as afterburn's `--hostname`).
pub fn write_hostname(path: &Path, hostname: &str) -> Result<(), PlatformError> {
    let name = truncate_hostname(hostname);
    write_atomically(path, format!("{name}\n").as_bytes())
}

/// afterburn's rule for a host name longer than the kernel's 64 bytes:
/// cut to 64 bytes (on a character boundary), then at the first `.`.
pub fn truncate_hostname(hostname: &str) -> String {
    const HOST_NAME_MAX: usize = 64;
    if hostname.len() <= HOST_NAME_MAX {
        return hostname.to_string();
    }
    let mut end = HOST_NAME_MAX;
    while !hostname.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &hostname[..end];
    cut.split('.').next().unwrap_or(cut).to_string()
}

fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), PlatformError> {
    let err = |source| PlatformError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(err)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".metalos-metadata-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(contents).map_err(err)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)
}

/// What [`apply_ssh_keys`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshKeysOutcome {
    /// The fragment now holds this many keys.
    Wrote {
        /// The fragment.
        fragment: PathBuf,
        /// How many keys.
        keys: usize,
    },
    /// The platform has no keys: the fragment was deleted.
    Removed {
        /// The fragment.
        fragment: PathBuf,
    },
    /// The platform has no keys and there was no fragment.
    Nothing,
}

/// Replaces `user`'s [`FRAGMENT`] set with `keys` (even a set disabled
/// with `metalos ssh-keys -D`: the platform's keys are re-applied every
/// boot, as on Flatcar), or deletes it when `keys` is empty, then
/// regenerates `authorized_keys`; files are written as the user (temp file,
/// fsync, rename). With no set left, `authorized_keys` keeps only its
/// header, so a key removed from the metadata stops working.
pub fn apply_ssh_keys(user: &User, keys: &[String]) -> Result<SshKeysOutcome, PlatformError> {
    let fail = |source| PlatformError::SshKeys {
        user: user.name.clone(),
        source,
    };
    let mut store = AuthorizedKeys::open(user, None).map_err(fail)?;
    let fragment = store.fragment_dir().join(FRAGMENT);
    let outcome = if keys.is_empty() {
        match store.remove(FRAGMENT).map_err(fail)? {
            Some(_) => SshKeysOutcome::Removed { fragment },
            None => SshKeysOutcome::Nothing,
        }
    } else {
        let set = KeySet::parse(&keys.join("\n"));
        store.add(FRAGMENT, set, true, true).map_err(fail)?;
        SshKeysOutcome::Wrote {
            fragment,
            keys: keys.len(),
        }
    };
    store.commit_allowing_no_keys().map_err(fail)?;
    Ok(outcome)
}

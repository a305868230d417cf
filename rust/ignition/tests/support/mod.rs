//! Shared helpers for the differential tests: a fresh root directory both
//! implementations can provision, a runner for Debian's Ignition 2.14 (the
//! reference), a normalised snapshot of a root and a human-readable diff of
//! two snapshots.
//!
//! # Normalisations (applied by [`snapshot`] to *both* sides)
//!
//! * [`EXCLUDED`] paths are dropped: Ignition's result file (boot ID and
//!   provisioning date) and shadow-utils' lock and backup files, which
//!   `useradd`/`groupadd`/`usermod` leave behind and MetalOS has no reason
//!   to write.
//! * `etc/shadow`: a non-empty "last change" field (days since the epoch
//!   of the run) becomes `LASTCHG`.
//! * [`PRESET_FILE`]: trailing whitespace of each line is trimmed (2.14
//!   writes `enable foo@.service ` with a trailing space for an instantiable
//!   unit without instances) and the lines are sorted (2.14 writes them in
//!   Go map order, MetalOS sorted). With [`Normalise::drop_preset_disable`]
//!   `disable …` lines are dropped too.
//! * Timestamps are not recorded.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's Ignition 2.14 (package `ignition`).
pub const IGNITION_BIN: &str = "/usr/lib/dracut/modules.d/30ignition/ignition";

/// Where Ignition writes its unit presets (relative to the root).
pub const PRESET_FILE: &str = "etc/systemd/system-preset/20-ignition.preset";

/// Paths (relative to the root) left out of every snapshot, with why.
pub const EXCLUDED: &[(&str, &str)] = &[
    (
        "etc/.ignition-result.json",
        "Ignition bookkeeping: provisioningBootID, provisioningDate, userConfigProvided (mode 0600)",
    ),
    ("etc/.pwd.lock", "shadow-utils lock file (empty, mode 0600)"),
    ("etc/passwd-", "shadow-utils backup of the previous etc/passwd"),
    ("etc/group-", "shadow-utils backup of the previous etc/group"),
    ("etc/shadow-", "shadow-utils backup of the previous etc/shadow"),
    ("etc/gshadow-", "shadow-utils backup of the previous etc/gshadow"),
];

/// gid of the `shadow` group in [`base_root`] (owner group of
/// `etc/shadow` and `etc/gshadow`, as on Debian).
pub const SHADOW_GID: u32 = 42;

const BASE_PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";

const BASE_SHADOW: &str = "\
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
bin:*:19000:0:99999:7:::
sys:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
";

const BASE_GROUP: &str = "\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
wheel:x:10:
sudo:x:27:
shadow:x:42:
users:x:100:
nogroup:x:65534:
";

/// Written to `etc/skel/.profile` (copied into created home directories).
pub const SKEL_PROFILE: &str = "# ~/.profile from the test skeleton\nPATH=/usr/bin:/bin\n";

/// Populates `dir` (created if missing) as a fresh root with what both
/// implementations need and returns it:
///
/// * `etc/passwd`, `etc/group` (0644) and `etc/shadow`, `etc/gshadow`
///   (0640 root:shadow) with root and a few Debian system accounts and
///   groups (`sudo` 27, `shadow` 42, `wheel` 10, `users` 100, …);
/// * `etc/login.defs`: a copy of the host's (`useradd --root` reads it
///   from the root; a short fallback is written if the host has none);
/// * `etc/default/useradd` (`SHELL=/bin/sh`), `etc/skel/.profile`;
/// * `etc/selinux/config` (`SELINUX=disabled`, `SELINUXTYPE=targeted`):
///   Ignition 2.14 always relabels and fails without a `SELINUXTYPE`.
///   It is written for both roots so that they start identical; MetalOS
///   ignores it.
pub fn base_root(dir: &Path) -> PathBuf {
    for d in ["etc/default", "etc/skel", "etc/selinux"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    let write = |rel: &str, data: &[u8], mode: u32, gid: u32| {
        let p = dir.join(rel);
        fs::write(&p, data).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&p, Some(0), Some(gid)).ok();
    };
    let gshadow: String = BASE_GROUP
        .lines()
        .map(|l| format!("{}:*::\n", l.split(':').next().unwrap()))
        .collect();
    write("etc/passwd", BASE_PASSWD.as_bytes(), 0o644, 0);
    write("etc/group", BASE_GROUP.as_bytes(), 0o644, 0);
    write("etc/shadow", BASE_SHADOW.as_bytes(), 0o640, SHADOW_GID);
    write("etc/gshadow", gshadow.as_bytes(), 0o640, SHADOW_GID);
    let login_defs = fs::read("/etc/login.defs").unwrap_or_else(|_| {
        b"UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\n\
          GID_MIN 1000\nGID_MAX 60000\nSYS_GID_MIN 100\nSYS_GID_MAX 999\n\
          USERGROUPS_ENAB yes\nENCRYPT_METHOD SHA512\n"
            .to_vec()
    });
    write("etc/login.defs", &login_defs, 0o644, 0);
    write("etc/default/useradd", b"SHELL=/bin/sh\n", 0o644, 0);
    write("etc/skel/.profile", SKEL_PROFILE.as_bytes(), 0o644, 0);
    write(
        "etc/selinux/config",
        b"SELINUX=disabled\nSELINUXTYPE=targeted\n",
        0o644,
        0,
    );
    dir.to_path_buf()
}

/// What [`run_debian_ignition`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Both stages ran; the combined log.
    Applied(String),
    /// Debian Ignition can't run here (binary or `useradd` missing, not
    /// root); the reason. Callers print it and return.
    Skipped(String),
}

/// Why Debian Ignition can't run on this machine, if it can't.
pub fn ignition_unavailable() -> Option<String> {
    if !Path::new(IGNITION_BIN).exists() {
        return Some(format!(
            "{IGNITION_BIN} missing (Debian package `ignition`)"
        ));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (Ignition chowns and runs useradd --root)".into());
    }
    if find_in_path("useradd").is_none() {
        return Some("useradd missing (package `passwd`)".into());
    }
    None
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The error the files stage of 2.14 ends with when a unit named
/// `x@….service` has `enabled` set and systemd is not PID 1: after writing
/// the preset file it asks systemd over D-Bus for its version (to warn
/// about systemd < 240). Everything but the result file and the (no-op)
/// relabel has been written by then, so [`run_debian_ignition`] accepts it.
pub const NO_SYSTEMD_ERROR: &str = "failed to create units: dial unix /run/systemd/private";

/// Runs Debian Ignition 2.14 on `config` into `root`: stage `fetch-offline`
/// (platform `file`, config in `IGNITION_CONFIG_FILE`) then stage `files`
/// with `-root root`, both with a private config cache, state file and
/// neednet flag in a temp dir, and with a temp dir holding a no-op
/// `setfiles` (and `systemctl`, if the host has none) first in `PATH`.
///
/// Returns the log on failure. A failure that is only
/// [`NO_SYSTEMD_ERROR`] counts as success (the log says so).
pub fn run_debian_ignition(config: &[u8], root: &Path) -> Result<Outcome, String> {
    if let Some(why) = ignition_unavailable() {
        return Ok(Outcome::Skipped(why));
    }
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let bin = tmp.path().join("bin");
    fs::create_dir(&bin).map_err(|e| e.to_string())?;
    let mut stubs = vec!["setfiles"];
    if find_in_path("systemctl").is_none() {
        stubs.push("systemctl");
    }
    for stub in stubs {
        let p = bin.join(stub);
        fs::write(&p, "#!/bin/sh\nexit 0\n").map_err(|e| e.to_string())?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    }
    let config_path = tmp.path().join("config.ign");
    fs::write(&config_path, config).map_err(|e| e.to_string())?;
    let path_env = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
    );
    let private = |flag: &str, name: &str| {
        [
            flag.to_string(),
            tmp.path().join(name).display().to_string(),
        ]
    };
    let mut log = String::new();
    for stage in ["fetch-offline", "files"] {
        let mut cmd = Command::new(IGNITION_BIN);
        cmd.args(["-platform", "file", "-stage", stage, "-log-to-stdout"])
            .args(private("-config-cache", "cache.json"))
            .args(private("-state-file", "state"))
            .args(private("-neednet", "neednet"))
            .env("PATH", &path_env)
            .env("IGNITION_CONFIG_FILE", &config_path);
        if stage == "files" {
            cmd.arg("-root").arg(root);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("running {IGNITION_BIN}: {e}"))?;
        log.push_str(&format!("==== stage {stage}: {}\n", out.status));
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            let tolerated = stage == "files"
                && log
                    .lines()
                    .any(|l| l.starts_with("CRITICAL") && l.contains(NO_SYSTEMD_ERROR));
            if tolerated {
                log.push_str("==== tolerated: no systemd to ask for its version\n");
            } else {
                return Err(log);
            }
        }
        if stage == "fetch-offline" && tmp.path().join("neednet").exists() {
            return Err(format!("{log}config needs the network (neednet written)\n"));
        }
    }
    Ok(Outcome::Applied(log))
}

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Regular file with its (normalised) contents.
    File(Vec<u8>),
    /// Directory.
    Dir,
    /// Symbolic link with its target, verbatim.
    Symlink(String),
    /// Anything else (fifo, socket, device).
    Other,
    /// A parsed account-database entry (synthetic key
    /// `[passwd] name`, `[group] name`, …): its fields after the name.
    Entry(Vec<String>),
}

/// One path of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Type and contents.
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// For a regular file with other hard links inside the root: the
    /// smallest path (in byte order) sharing its inode; `None` otherwise.
    pub hardlink: Option<String>,
}

/// How [`snapshot_with`] normalises.
#[derive(Debug, Clone, Copy, Default)]
pub struct Normalise {
    /// Drop `disable …` lines from the preset file.
    pub drop_preset_disable: bool,
}

/// [`snapshot_with`] with the default normalisations.
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    snapshot_with(root, Normalise::default())
}

/// Every path under `root` (keys relative, `"."` for the root itself) with
/// its type, mode, owner, contents or link target and hard-link identity,
/// plus one synthetic `[db] name` entry per line of `etc/passwd`,
/// `etc/group`, `etc/shadow`, `etc/gshadow`; normalised as described in the
/// module docs.
pub fn snapshot_with(root: &Path, norm: Normalise) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<(u64, u64), Vec<String>> = HashMap::new();
    walk(root, root, &mut out, &mut inodes);
    for paths in inodes.values().filter(|p| p.len() > 1) {
        let first = paths.iter().min().unwrap().clone();
        for p in paths {
            out.get_mut(p).unwrap().hardlink = Some(first.clone());
        }
    }
    for (rel, _) in EXCLUDED {
        out.remove(*rel);
    }
    if let Some(Node {
        kind: Kind::File(data),
        ..
    }) = out.get_mut("etc/shadow")
    {
        *data = normalise_shadow(data);
    }
    if let Some(Node {
        kind: Kind::File(data),
        ..
    }) = out.get_mut(PRESET_FILE)
    {
        *data = normalise_preset(data, norm);
    }
    for db in ["passwd", "group", "shadow", "gshadow"] {
        let Some(Node {
            kind: Kind::File(data),
            ..
        }) = out.get(&format!("etc/{db}"))
        else {
            continue;
        };
        let entries: Vec<(String, Node)> = String::from_utf8_lossy(data)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut fields = l.split(':').map(str::to_string);
                let name = fields.next().unwrap_or_default();
                let node = Node {
                    kind: Kind::Entry(fields.collect()),
                    mode: 0,
                    uid: 0,
                    gid: 0,
                    hardlink: None,
                };
                (format!("[{db}] {name}"), node)
            })
            .collect();
        out.extend(entries);
    }
    out
}

fn walk(
    root: &Path,
    path: &Path,
    out: &mut BTreeMap<String, Node>,
    inodes: &mut HashMap<(u64, u64), Vec<String>>,
) {
    let rel = match path.strip_prefix(root).unwrap().to_str().unwrap() {
        "" => ".".to_string(),
        r => r.to_string(),
    };
    let md = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink(fs::read_link(path).unwrap().to_string_lossy().into_owned())
    } else if ft.is_file() {
        if md.nlink() > 1 {
            inodes
                .entry((md.dev(), md.ino()))
                .or_default()
                .push(rel.clone());
        }
        Kind::File(fs::read(path).unwrap())
    } else {
        Kind::Other
    };
    out.insert(
        rel,
        Node {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            hardlink: None,
        },
    );
    if ft.is_dir() {
        let mut children: Vec<_> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        for c in children {
            walk(root, &c, out, inodes);
        }
    }
}

/// Replaces every non-empty "last change" field (the third) with `LASTCHG`.
pub fn normalise_shadow(data: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let mut out = String::new();
    for line in text.lines() {
        let mut fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 2 && !fields[2].is_empty() {
            fields[2] = "LASTCHG";
        }
        out.push_str(&fields.join(":"));
        out.push('\n');
    }
    out.into_bytes()
}

/// Trims each line's trailing whitespace, drops empty lines (and `disable`
/// lines if asked) and sorts.
pub fn normalise_preset(data: &[u8], norm: Normalise) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .filter(|l| !(norm.drop_preset_disable && l.starts_with("disable ")))
        .collect();
    lines.sort_unstable();
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

struct Shown<'a>(&'a Kind);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Kind::File(data) => match std::str::from_utf8(data) {
                Ok(s) if s.len() <= 400 => write!(f, "file {s:?}"),
                _ => write!(f, "file of {} bytes", data.len()),
            },
            Kind::Dir => write!(f, "dir"),
            Kind::Symlink(t) => write!(f, "symlink -> {t:?}"),
            Kind::Other => write!(f, "special file"),
            Kind::Entry(fields) => write!(f, "{:?}", fields.join(":")),
        }
    }
}

/// `kind mode uid:gid` of a node (kind alone for account entries).
fn attrs(n: &Node) -> String {
    match n.kind {
        Kind::Entry(_) => Shown(&n.kind).to_string(),
        _ => format!(
            "{} {:04o} {}:{}{}",
            Shown(&n.kind),
            n.mode,
            n.uid,
            n.gid,
            n.hardlink
                .as_ref()
                .map(|h| format!(" hard-linked with {h}"))
                .unwrap_or_default()
        ),
    }
}

/// Human-readable differences from snapshot `a` to snapshot `b`, one line
/// per path and attribute (`etc/foo: mode 0644 != 0600`).
pub fn diff(a: &BTreeMap<String, Node>, b: &BTreeMap<String, Node>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, na) in a {
        let Some(nb) = b.get(path) else {
            out.push(format!("{path}: only in A ({})", attrs(na)));
            continue;
        };
        if na.kind != nb.kind {
            out.push(format!(
                "{path}: {} != {}",
                Shown(&na.kind),
                Shown(&nb.kind)
            ));
        }
        if na.mode != nb.mode {
            out.push(format!("{path}: mode {:04o} != {:04o}", na.mode, nb.mode));
        }
        if (na.uid, na.gid) != (nb.uid, nb.gid) {
            out.push(format!(
                "{path}: owner {}:{} != {}:{}",
                na.uid, na.gid, nb.uid, nb.gid
            ));
        }
        if na.hardlink != nb.hardlink {
            out.push(format!(
                "{path}: hard link group {:?} != {:?}",
                na.hardlink, nb.hardlink
            ));
        }
    }
    for (path, nb) in b {
        if !a.contains_key(path) {
            out.push(format!("{path}: only in B ({})", attrs(nb)));
        }
    }
    out
}

/// The text of a regular file in a snapshot (panics if it is not one).
pub fn text<'a>(snap: &'a BTreeMap<String, Node>, path: &str) -> &'a str {
    match snap.get(path).map(|n| &n.kind) {
        Some(Kind::File(data)) => std::str::from_utf8(data).unwrap(),
        other => panic!("{path}: not a regular file: {other:?}"),
    }
}

/// The fields (after the name) of an account entry, e.g.
/// `entry(&snap, "passwd", "alice")`, joined with `:`.
pub fn entry(snap: &BTreeMap<String, Node>, db: &str, name: &str) -> Option<String> {
    match snap.get(&format!("[{db}] {name}")).map(|n| &n.kind) {
        Some(Kind::Entry(fields)) => Some(fields.join(":")),
        _ => None,
    }
}

/// Percent-encodes `data` as a `data:,…` URL.
pub fn data_url(data: &[u8]) -> String {
    let mut s = String::from("data:,");
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// `data:;base64,…` URL of `data`.
pub fn data_url_base64(data: &[u8]) -> String {
    use base64::Engine;
    format!(
        "data:;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}

/// gzip of `data` (default level).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// `sha512-<hex>` of `data`, as in `verification.hash`.
pub fn sha512_hash(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha512-{}", hex::encode(sha2::Sha512::digest(data)))
}

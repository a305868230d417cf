//! Semantic checks, Ignition's and MetalOS's own. Each finding names the
//! JSON path of the offending field.

use crate::config::{Config, Directory, File, Link, NodeOwner, Resource, Unit};
use crate::error::Report;
use crate::resource;
use std::collections::{BTreeMap, BTreeSet};

/// Unit name suffixes systemd knows (Ignition's list).
const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".path",
    ".timer",
    ".snapshot",
    ".slice",
    ".scope",
];

/// Directory Ignition writes units to.
pub const UNIT_DIR: &str = "/etc/systemd/system";

/// Validates `config` (written for spec 3.`minor`.0), masking special
/// mode bits (setuid/setgid/sticky), which specs before 3.6.0 ignore.
pub fn validate(config: &mut Config, minor: u32, report: &mut Report) {
    ignition(config, minor, report);
    unimplemented_sections(config, report);
    nodes(config, minor, report);
    units(config, report);
    passwd(config, report);
}

fn check_resource(r: &Resource, path: &str, minor: u32, required: bool, report: &mut Report) {
    match &r.source {
        None => {
            if required {
                report.error(format!("{path}.source"), "source is required");
            } else if r.verification.hash.is_some() {
                report.error(
                    format!("{path}.verification.hash"),
                    "source must be specified if verification is specified",
                );
            }
            if !r.http_headers.is_empty() && !required {
                report.error(
                    format!("{path}.httpHeaders"),
                    "cannot use HTTP headers without a source",
                );
            }
        }
        Some(url) => {
            if let Err(m) = resource::check_source(url) {
                report.error(format!("{path}.source"), m);
            }
            let http = url.starts_with("http://") || url.starts_with("https://");
            if !r.http_headers.is_empty() && !http {
                report.error(
                    format!("{path}.httpHeaders"),
                    "cannot use HTTP headers with this source scheme",
                );
            }
        }
    }
    if let Err(m) = resource::check_compression(r.compression.as_deref()) {
        report.error(format!("{path}.compression"), m);
    }
    if let Some(h) = &r.verification.hash {
        if let Err(m) = resource::check_hash(h, minor) {
            report.error(format!("{path}.verification.hash"), m);
        }
    }
    let mut names = BTreeSet::new();
    for (i, h) in r.http_headers.iter().enumerate() {
        let hp = format!("{path}.httpHeaders[{i}]");
        if h.name.is_empty() {
            report.error(format!("{hp}.name"), "HTTP header name can't be empty");
        } else if !names.insert(h.name.to_ascii_lowercase()) {
            report.error(format!("{hp}.name"), "duplicate entry defined");
        }
        if h.value.as_deref() == Some("") {
            report.error(format!("{hp}.value"), "HTTP header value can't be empty");
        }
    }
}

fn ignition(c: &Config, minor: u32, report: &mut Report) {
    let cfg = &c.ignition.config;
    for (i, r) in cfg.merge.iter().enumerate() {
        check_resource(
            r,
            &format!("ignition.config.merge[{i}]"),
            minor,
            true,
            report,
        );
    }
    check_resource(
        &cfg.replace,
        "ignition.config.replace",
        minor,
        false,
        report,
    );
    let mut seen = BTreeSet::new();
    for (i, r) in c
        .ignition
        .security
        .tls
        .certificate_authorities
        .iter()
        .enumerate()
    {
        let p = format!("ignition.security.tls.certificateAuthorities[{i}]");
        check_resource(r, &p, minor, true, report);
        if let Some(s) = &r.source {
            if !seen.insert(s.clone()) {
                report.error(format!("{p}.source"), "duplicate entry defined");
            }
        }
    }
    if let Some(p) = &c.ignition.proxy.https_proxy {
        if p.starts_with("http://") {
            report.warn(
                "ignition.proxy.httpsProxy",
                "insecure protocol used for proxy",
            );
        }
    }
}

fn unimplemented_sections(c: &Config, report: &mut Report) {
    let s = &c.storage;
    for (name, list) in [
        ("disks", &s.disks),
        ("raid", &s.raid),
        ("filesystems", &s.filesystems),
        ("luks", &s.luks),
    ] {
        if !list.is_empty() {
            report.error(
                format!("storage.{name}"),
                "not supported by MetalOS (the root disk layout is fixed by the image; see docs/provisioning.md)",
            );
        }
    }
    if let Some(k) = &c.kernel_arguments {
        let nonempty = |key: &str| {
            k.get(key)
                .and_then(|v| v.as_array())
                .is_some_and(|a| !a.is_empty())
        };
        if nonempty("shouldExist") || nonempty("shouldNotExist") {
            report.error(
                "kernelArguments",
                "not supported by MetalOS (set kernel arguments in the HostConfig)",
            );
        }
    }
}

/// Checks an Ignition node path: absolute, fully simplified.
pub fn check_path(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("path not specified");
    }
    if !p.starts_with('/') {
        return Err("path not absolute");
    }
    if p != "/"
        && (p.ends_with('/')
            || p.split('/')
                .skip(1)
                .any(|c| c.is_empty() || c == "." || c == ".."))
    {
        return Err("path is not fully simplified");
    }
    Ok(())
}

fn check_mode(mode: &mut Option<u32>, path: &str, report: &mut Report) {
    if let Some(m) = mode {
        if *m > 0o7777 {
            report.error(path, "illegal file mode");
        } else if *m & 0o7000 != 0 {
            report.warn(
                path,
                "setuid/setgid/sticky bits are only supported from spec 3.6.0 and are ignored",
            );
            *m &= 0o777;
        }
    }
}

fn check_owner(o: &NodeOwner, path: &str, report: &mut Report) {
    if o.id.is_some() && o.name.is_some() {
        report.error(path, "cannot set both id and name");
    }
}

fn is_under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// A storage node to check for path conflicts: its path, its JSON path
/// and its kind (`file`, `directory`, `link`, for messages).
type NodeEntry = (String, String, &'static str);

fn nodes(c: &mut Config, minor: u32, report: &mut Report) {
    let s = &mut c.storage;
    let mut all = check_files(&mut s.files, minor, report);
    all.extend(check_directories(&mut s.directories, report));
    let dirs: BTreeSet<&str> = s.directories.iter().map(|d| d.path.as_str()).collect();
    all.extend(check_links(&s.links, &dirs, report));
    let links: Vec<&str> = s
        .links
        .iter()
        .filter(|l| l.hard != Some(true))
        .map(|l| l.path.as_str())
        .collect();
    check_node_paths(&all, &links, &unit_paths(&c.systemd.units), report);
}

/// Mode, owners, contents and `append` of every `storage.files[]` entry.
fn check_files(files: &mut [File], minor: u32, report: &mut Report) -> Vec<NodeEntry> {
    let mut all = Vec::new();
    for (i, f) in files.iter_mut().enumerate() {
        let jp = format!("storage.files[{i}]");
        check_mode(&mut f.mode, &format!("{jp}.mode"), report);
        check_owner(&f.user, &format!("{jp}.user"), report);
        check_owner(&f.group, &format!("{jp}.group"), report);
        check_resource(&f.contents, &format!("{jp}.contents"), minor, false, report);
        for (k, a) in f.append.iter().enumerate() {
            check_resource(a, &format!("{jp}.append[{k}]"), minor, true, report);
        }
        if f.overwrite == Some(true) && f.contents.source.is_none() {
            report.error(
                format!("{jp}.overwrite"),
                "overwrite must be false if source is unspecified",
            );
        }
        all.push((f.path.clone(), jp, "file"));
    }
    all
}

/// Mode and owners of every `storage.directories[]` entry.
fn check_directories(directories: &mut [Directory], report: &mut Report) -> Vec<NodeEntry> {
    let mut all = Vec::new();
    for (i, d) in directories.iter_mut().enumerate() {
        let jp = format!("storage.directories[{i}]");
        check_mode(&mut d.mode, &format!("{jp}.mode"), report);
        check_owner(&d.user, &format!("{jp}.user"), report);
        check_owner(&d.group, &format!("{jp}.group"), report);
        all.push((d.path.clone(), jp, "directory"));
    }
    all
}

/// Owners and targets of every `storage.links[]` entry (`dirs`: the
/// configured directories, which a hard link may not target).
fn check_links(links: &[Link], dirs: &BTreeSet<&str>, report: &mut Report) -> Vec<NodeEntry> {
    let mut all = Vec::new();
    for (i, l) in links.iter().enumerate() {
        let jp = format!("storage.links[{i}]");
        check_owner(&l.user, &format!("{jp}.user"), report);
        check_owner(&l.group, &format!("{jp}.group"), report);
        match l.target.as_deref() {
            None | Some("") => report.error(format!("{jp}.target"), "link target is required"),
            Some(t) if l.hard == Some(true) => {
                if dirs.contains(t) {
                    report.error(format!("{jp}.target"), "hard link target is a directory");
                }
                if l.user != NodeOwner::default() || l.group != NodeOwner::default() {
                    report.warn(jp.clone(), "user and group are ignored on hard links");
                }
            }
            Some(_) => {}
        }
        all.push((l.path.clone(), jp, "link"));
    }
    all
}

/// Every node's path: well-formed, not a duplicate (files, directories and
/// links share one key space), not under a symlink of the config (`links`),
/// not a unit file or drop-in (`unit_paths`), not under `/usr`.
fn check_node_paths(
    all: &[NodeEntry],
    links: &[&str],
    unit_paths: &BTreeSet<String>,
    report: &mut Report,
) {
    // JSON path of every node, by node path.
    let mut by_path: BTreeMap<&str, &str> = BTreeMap::new();
    for (path, jp, kind) in all {
        if let Err(m) = check_path(path) {
            report.error(format!("{jp}.path"), m);
            continue;
        }
        if let Some(first) = by_path.get(path.as_str()) {
            report.error(
                format!("{jp}.path"),
                format!("duplicate entry defined (also {first})"),
            );
            continue;
        }
        by_path.insert(path, jp);
        if links.iter().any(|l| is_under(path, l)) {
            report.error(
                format!("{jp}.path"),
                format!("{kind} path includes link in config"),
            );
        }
        if unit_paths.contains(path.as_str()) {
            report.error(
                format!("{jp}.path"),
                "path conflicts with systemd unit or dropin",
            );
        }
        if path == "/usr" || is_under(path, "/usr") {
            report.error(
                format!("{jp}.path"),
                "/usr is read-only on MetalOS (it is the A/B image slot)",
            );
        }
    }
}

fn unit_paths(units: &[Unit]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for u in units {
        if u.contents.is_some() || u.mask.is_some() {
            out.insert(format!("{UNIT_DIR}/{}", u.name));
        }
        for d in &u.dropins {
            if d.contents.is_some() {
                out.insert(format!("{UNIT_DIR}/{}.d/{}", u.name, d.name));
            }
        }
    }
    out
}

/// Checks unit file syntax the way Ignition does (sections must close).
pub fn check_unit_contents(contents: &str) -> Result<(), String> {
    for line in contents.lines() {
        let t = line.trim();
        if t.starts_with('[') && !t.contains(']') {
            return Err("invalid unit content: unable to find end of section".into());
        }
    }
    Ok(())
}

fn has_install_section(contents: &str) -> bool {
    contents.lines().any(|l| l.trim() == "[Install]")
}

fn units(c: &Config, report: &mut Report) {
    let mut names = BTreeSet::new();
    for (i, u) in c.systemd.units.iter().enumerate() {
        let jp = format!("systemd.units[{i}]");
        if !UNIT_SUFFIXES
            .iter()
            .any(|s| u.name.ends_with(s) && u.name.len() > s.len())
            || u.name.contains('/')
        {
            report.error(format!("{jp}.name"), "invalid systemd unit extension");
        }
        if !names.insert(u.name.as_str()) {
            report.error(format!("{jp}.name"), "duplicate entry defined");
        }
        if let Some(contents) = &u.contents {
            if let Err(m) = check_unit_contents(contents) {
                report.error(format!("{jp}.contents"), m);
            } else if u.enabled.is_some() && !has_install_section(contents) {
                report.warn(
                    format!("{jp}.contents"),
                    "unit is enabled but has no [Install] section: enabling it has no effect",
                );
            }
        }
        let mut dropins = BTreeSet::new();
        for (k, d) in u.dropins.iter().enumerate() {
            let dp = format!("{jp}.dropins[{k}]");
            if !d.name.ends_with(".conf") || d.name.contains('/') {
                report.error(format!("{dp}.name"), "invalid systemd drop-in extension");
            }
            if !dropins.insert(d.name.as_str()) {
                report.error(format!("{dp}.name"), "duplicate entry defined");
            }
            if let Some(contents) = &d.contents {
                if let Err(m) = check_unit_contents(contents) {
                    report.error(format!("{dp}.contents"), m);
                }
            }
        }
    }
}

fn passwd(c: &Config, report: &mut Report) {
    let mut names = BTreeSet::new();
    for (i, u) in c.passwd.users.iter().enumerate() {
        let jp = format!("passwd.users[{i}]");
        if u.name.is_empty() {
            report.error(format!("{jp}.name"), "name is required");
        } else if !names.insert(u.name.as_str()) {
            report.error(format!("{jp}.name"), "duplicate entry defined");
        }
        dup_strings(
            &u.ssh_authorized_keys,
            &format!("{jp}.sshAuthorizedKeys"),
            report,
        );
        dup_strings(&u.groups, &format!("{jp}.groups"), report);
        if let Some(h) = &u.home_dir {
            if let Err(m) = check_path(h) {
                report.error(format!("{jp}.homeDir"), m);
            }
        }
    }
    let mut names = BTreeSet::new();
    for (i, g) in c.passwd.groups.iter().enumerate() {
        let jp = format!("passwd.groups[{i}]");
        if g.name.is_empty() {
            report.error(format!("{jp}.name"), "name is required");
        } else if !names.insert(g.name.as_str()) {
            report.error(format!("{jp}.name"), "duplicate entry defined");
        }
    }
}

fn dup_strings(list: &[String], path: &str, report: &mut Report) {
    let mut seen = BTreeSet::new();
    for (i, s) in list.iter().enumerate() {
        if !seen.insert(s) {
            report.error(format!("{path}[{i}]"), "duplicate entry defined");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(check_path("/a/b"), Ok(()));
        assert_eq!(check_path("/"), Ok(()));
        assert_eq!(check_path("a"), Err("path not absolute"));
        assert_eq!(check_path(""), Err("path not specified"));
        for p in ["/a/../b", "/a/", "//a", "/a/./b", "/a//b"] {
            assert_eq!(check_path(p), Err("path is not fully simplified"), "{p}");
        }
    }

    #[test]
    fn unit_syntax() {
        assert!(check_unit_contents("[Unit]\nA=b\n").is_ok());
        assert!(check_unit_contents("[Foo").is_err());
    }
}

//! Differential tests: Debian's Ignition 2.14 (the reference, see
//! [`support::run_debian_ignition`]) and [`apply_configs`] provision two
//! identical fresh roots ([`support::base_root`]) from the same config; the
//! normalised snapshots ([`support::snapshot_with`]) must not differ beyond
//! each case's documented tolerances.
//!
//! Run: `cargo test -p metalos-ignition --test differential` (as root; the
//! tests print "skipped" and pass when the Debian binary, `useradd` or root
//! are missing).
//!
//! # What Debian Ignition 2.14 produced (measured with this harness)
//!
//! Config (3.3.0): group `grp1` (gid 2000, passwordHash `$6$x$y`), system
//! group `sysg`, user `alice` (uid 1500, groups `[sudo]`, gecos `Alice A`,
//! passwordHash `$6$abc$def`, two sshAuthorizedKeys), system user `sysu`.
//! Commands it ran (from its log):
//!
//! ```text
//! groupadd --root ROOT --gid 2000 --password $6$x$y grp1
//! groupadd --root ROOT --password * --system sysg
//! useradd --root ROOT --create-home --password $6$abc$def --uid 1500 --comment "Alice A" --groups sudo alice
//! usermod --root ROOT --password $6$abc$def alice
//! useradd --root ROOT --create-home --system --password * sysu
//! ```
//!
//! Appended lines (login.defs from Debian; `LASTCHG` = days since the epoch
//! at run time, e.g. 20786):
//!
//! ```text
//! etc/passwd:  alice:x:1500:1500:Alice A:/home/alice:/bin/sh
//!              sysu:x:999:998::/home/sysu:/bin/sh
//! etc/shadow:  alice:$6$abc$def:LASTCHG:0:99999:7:::
//!              sysu:*:LASTCHG::::::
//! etc/group:   grp1:x:2000:
//!              sysg:x:999:
//!              alice:x:1500:
//!              sysu:x:998:
//!              sudo:x:27:alice          (existing line, member appended)
//! etc/gshadow: grp1:$6$x$y::
//!              sysg:*::
//!              alice:!::
//!              sysu:!::
//!              sudo:*::alice            (existing line, member appended)
//! ```
//!
//! Notes: a user's own group is created by useradd (USERGROUPS_ENAB), with
//! gid = uid when free; system users/groups count down from 999; the
//! shell is `SHELL` of `etc/default/useradd` (`/bin/sh`); `etc/shadow` and
//! `etc/gshadow` keep their mode and group (0640 root:shadow) and the
//! other two stay 0644. Home directories: `home/alice` 0755 1500:1500 with
//! a copy of `etc/skel/.profile` (0644 1500:1500); `home` itself 0755
//! root. Likewise for the system user (`home/sysu` 0755 999:998).
//!
//! SSH keys: `home/alice/.ssh` 0700, `home/alice/.ssh/authorized_keys.d`
//! 0700, `home/alice/.ssh/authorized_keys.d/ignition` 0600, all 1500:1500;
//! contents: each key followed by `\n`
//! (`ssh-ed25519 AAAA alice@x\nssh-rsa BBBB k2\n`). No
//! `.ssh/authorized_keys` is written.
//!
//! Allocation (the `users` and `groups` cases, config order `plain`,
//! `withuid` (2001), `grouped`, …): useradd/groupadd take the highest id in
//! use within `UID_MIN..=UID_MAX` (1000–60000) plus one, or `UID_MIN` if
//! none: `plain` 1000, then 2001, `grouped` 2002, `described` 2003, …; the
//! user's own group gets gid = uid. System users/groups count down from
//! 999 (`SYS_*_MAX`), independently for uids and gids (`sysu` 999:998 after
//! system group `sysg` took gid 999). `noCreateHome` still writes
//! `/home/NAME` into passwd; `homeDir` `/var/home/homed` is created (its
//! parent existed); `groups` appends the user to existing lines
//! (`sudo:x:27:grouped`, `users:x:100:grouped`, same in gshadow). A group
//! without `passwordHash` gets `*` in gshadow. Every new user gets a copy
//! of `etc/skel` in a new home (0755 uid:gid).
//!
//! Files: parents created 0755 root; default mode 0644; owner defaults
//! to 0:0 per field (`user` only → uid:0); `append` to an existing file
//! without `mode` keeps its mode (0640 stays 0640); setuid/setgid/sticky
//! are masked out for specs < 3.4.0 (0o4755 → 0755, dir 0o1777 → 0777).
//! Hard links share the inode; symlinks are lchowned.
//!
//! Units: unit files `etc/systemd/system/NAME` 0644 root; `mask: true` is a
//! symlink `etc/systemd/system/NAME -> /dev/null`; dropins in
//! `etc/systemd/system/NAME.d/DROPIN` (0644, dir 0755). Preset file
//! `etc/systemd/system-preset/20-ignition.preset` (0644 root), one line per
//! unit with `enabled` set, in Go map (random) order, e.g.
//!
//! ```text
//! disable b.service
//! enable a.service
//! enable foo@.service
//! ```
//!
//! (`foo@.service` enabled yields `enable foo@.service ` with a trailing
//! space; `bar@one.service` enabled yields `enable bar@.service one`;
//! `enabled: false` runs `systemctl --root ROOT disable NAME` and writes
//! `disable NAME`.) Bookkeeping: `etc/.ignition-result.json` (0600 root,
//! `{"provisioningBootID": …, "provisioningDate": …,
//! "userConfigProvided": true}`) and shadow-utils' `etc/.pwd.lock` and
//! `etc/{passwd,group,shadow,gshadow}-` backups — all excluded (see
//! [`support::EXCLUDED`]).

mod support;

use metalos_ignition::apply::{apply_configs, ApplyOptions, Input};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::{
    base_root, data_url, data_url_base64, diff, entry, gzip, run_debian_ignition, sha512_hash,
    snapshot, snapshot_with, text, Kind, Normalise, Outcome,
};

/// Normalisations of the A/B comparison beyond the always-on ones (preset
/// line order, bookkeeping files, shadow day): none. `disable` preset lines
/// are compared too — MetalOS writes one per `enabled: false` unit, as 2.14
/// does (`drop_preset_disable: true` would drop them from both sides).
const DIFF_NORMALISE: Normalise = Normalise {
    drop_preset_disable: false,
};

/// One differential case.
struct Case {
    /// Test-output name.
    name: &'static str,
    /// The config (spec 3.0.0–3.3.0: what 2.14 accepts).
    config: fn() -> Value,
    /// Extra preparation of both roots after [`base_root`].
    setup: fn(&Path),
    /// Diff lines containing any of these are expected differences.
    tolerate: &'static [&'static str],
    /// Why the tolerated differences are expected (or what the case covers).
    notes: &'static str,
}

fn no_setup(_: &Path) {}

/// Writes `rel` under `root` with `data` and `mode`.
fn put(root: &Path, rel: &str, data: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

const UNIT_A: &str =
    "[Unit]\nDescription=a\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n";
const UNIT_TEMPLATE: &str = "[Unit]\nDescription=template %i\n[Service]\nExecStart=/bin/echo %i\n[Install]\nWantedBy=multi-user.target\n";

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "files_basic",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"files": [
                        {"path": "/etc/hello.txt", "contents": {"source": "data:,hello%20world%0A"}, "mode": 420},
                        {"path": "/etc/secret", "contents": {"source": data_url_base64(b"s3cr3t\x00\xff\n")}, "mode": 384},
                        {"path": "/opt/app/deep/nested/file.conf", "contents": {"source": data_url(b"key = value\n")}},
                        {"path": "/opt/bin/tool", "contents": {"source": "data:,%23!/bin/sh%0A"}, "mode": 493},
                        {"path": "/etc/empty"}
                    ]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "plain and base64 data URLs, modes 0644/0600/0755, default mode, parents created 0755 root, no contents = empty file",
        },
        Case {
            name: "files_gzip_sha512",
            config: || {
                let plain = b"compressed payload\n".repeat(50);
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"files": [{
                        "path": "/etc/gz.txt",
                        "contents": {
                            "source": data_url_base64(&gzip(&plain)),
                            "compression": "gzip",
                            "verification": {"hash": sha512_hash(&plain)}
                        },
                        "mode": 420
                    }]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "2.14 verifies the hash over the decompressed contents",
        },
        Case {
            name: "files_special_mode",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"files": [
                        {"path": "/opt/bin/suid", "contents": {"source": "data:,x"}, "mode": 0o4755},
                        {"path": "/opt/bin/sgid", "contents": {"source": "data:,x"}, "mode": 0o2755}
                    ], "directories": [
                        {"path": "/var/tmp/sticky", "mode": 0o1777}
                    ]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "specs < 3.4.0 mask setuid/setgid/sticky out (2.14 translates to 3.4.0-experimental with `mode & !0o7000`): 0755, 0755, 0777",
        },
        Case {
            name: "files_overwrite_append",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"files": [
                        {"path": "/etc/replaced", "contents": {"source": "data:,new%0A"}, "overwrite": true, "mode": 384},
                        {"path": "/etc/appended", "append": [{"source": "data:,line2%0A"}, {"source": data_url_base64(b"line3\n")}]},
                        {"path": "/etc/created-appended", "contents": {"source": "data:,first%0A"}, "append": [{"source": "data:,second%0A"}]},
                        {"path": "/etc/kept"}
                    ]}
                })
            },
            setup: |root| {
                put(root, "etc/replaced", "old\n", 0o644);
                put(root, "etc/appended", "line1\n", 0o640);
                put(root, "etc/kept", "kept\n", 0o600);
            },
            tolerate: &[],
            notes: "overwrite replaces; append to an existing file (mode of the file when no mode given) and to a new one; no contents + overwrite false keeps the existing file",
        },
        Case {
            name: "files_append_keeps_owner",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"files": [
                        {"path": "/foo/bar", "append": [{"source": "data:,hello%20world%0A"}]},
                        {"path": "/foo/kept"},
                        {"path": "/foo/user-only", "user": {"id": 7}, "append": [{"source": "data:,x"}]},
                        {"path": "/foo/replaced", "overwrite": true, "contents": {"source": "data:,new"}}
                    ]}
                })
            },
            setup: |root| {
                for (rel, mode) in [("foo/bar", 0o640), ("foo/kept", 0o600), ("foo/user-only", 0o644), ("foo/replaced", 0o644)] {
                    put(root, rel, "old\n", mode);
                    std::os::unix::fs::chown(root.join(rel), Some(500), Some(501)).unwrap();
                }
            },
            tolerate: &[],
            notes: "a kept file (append, or no contents) keeps each owner field not given (500:501; user only → 7:501) and its mode; an overwritten one defaults to 0:0 (acceptance finding 2)",
        },
        Case {
            name: "files_empty_source",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"files": [
                        {"path": "/etc/file", "mode": 420, "overwrite": true, "contents": {"source": ""}},
                        {"path": "/etc/new-empty", "contents": {"source": ""}}
                    ]}
                })
            },
            setup: |root| {
                put(root, "usr/rofile", "read-only\n", 0o644);
                std::os::unix::fs::symlink("/usr/rofile", root.join("etc/file")).unwrap();
            },
            tolerate: &[],
            notes: "an empty source is empty contents: the symlink becomes an empty 0644 file, its target untouched (acceptance finding 3)",
        },
        Case {
            name: "units_disable",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "systemd": {"units": [
                        {"name": "foo.service", "enabled": false},
                        {"name": "enoent.service", "enabled": false},
                        {"name": "lib.service", "enabled": false}
                    ]}
                })
            },
            setup: |root| {
                let sys = root.join("etc/systemd/system");
                put(root, "etc/systemd/system/foo.service", &format!("{UNIT_A}Alias=bar.service\nRequiredBy=x.target\n"), 0o644);
                put(root, "usr/lib/systemd/system/lib.service", UNIT_A, 0o644);
                put(root, "etc/systemd/system/kept.service", UNIT_A, 0o644);
                for d in ["multi-user.target.wants", "other.target.wants", "x.target.requires"] {
                    fs::create_dir_all(sys.join(d)).unwrap();
                }
                let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, sys.join(at)).unwrap();
                link("/etc/systemd/system/foo.service", "multi-user.target.wants/foo.service");
                link("/etc/systemd/system/foo.service", "other.target.wants/foo.service");
                link("/etc/systemd/system/foo.service", "x.target.requires/foo.service");
                link("/etc/systemd/system/foo.service", "bar.service");
                link("/usr/lib/systemd/system/lib.service", "multi-user.target.wants/lib.service");
                link("/usr/lib/systemd/system/lib.service", "multi-user.target.wants/renamed.service");
                link("/etc/systemd/system/kept.service", "multi-user.target.wants/kept.service");
                link("/dev/null", "masked.service");
            },
            tolerate: &[],
            notes: "`enabled: false` removes what `systemctl disable` does: wants/requires links, aliases, links by target, then the directories left empty; other units' links stay (acceptance finding 4)",
        },
        Case {
            name: "files_append_fragments",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"files": [
                        {"path": "/example-file", "append": [{"source": "data:,a%0A"}, {"source": "data:,b%0A"}]}
                    ]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "the 3.x form of two 2.x append entries for one path (which the 2.x→3.x translation refuses as conflicting inodes, acceptance finding 5)",
        },
        Case {
            name: "files_owners",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "passwd": {
                        "users": [{"name": "svc", "uid": 1700}],
                        "groups": [{"name": "svcgrp", "gid": 1800}]
                    },
                    "storage": {
                        "files": [
                            {"path": "/etc/by-id", "contents": {"source": "data:,id"}, "user": {"id": 1234}, "group": {"id": 4321}},
                            {"path": "/etc/by-name", "contents": {"source": "data:,name"}, "user": {"name": "svc"}, "group": {"name": "svcgrp"}},
                            {"path": "/var/lib/svc/state/file", "contents": {"source": "data:,s"}, "user": {"name": "svc"}, "mode": 384}
                        ],
                        "directories": [{"path": "/var/lib/svc", "user": {"name": "svc"}, "group": {"name": "svc"}, "mode": 488}]
                    }
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "owners by id and by name of a user/group created by the same config (users are created before files)",
        },
        Case {
            name: "directories",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"directories": [
                        {"path": "/var/lib/one/two/three", "mode": 448},
                        {"path": "/srv/data", "mode": 493, "user": {"id": 500}, "group": {"id": 501}},
                        {"path": "/srv/data/sub"}
                    ]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "nested directories: only the leaf gets mode/owner, parents 0755 root",
        },
        Case {
            name: "links",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {
                        "files": [{"path": "/etc/target.txt", "contents": {"source": "data:,target"}}],
                        "links": [
                            {"path": "/etc/rel-link", "target": "target.txt"},
                            {"path": "/etc/abs-link", "target": "/etc/target.txt"},
                            {"path": "/opt/bin/dangling", "target": "/does/not/exist"},
                            {"path": "/etc/hard-link", "target": "/etc/target.txt", "hard": true},
                            {"path": "/etc/replaced-link", "target": "/etc/target.txt", "overwrite": true},
                            {"path": "/etc/owned-link", "target": "target.txt", "user": {"id": 1234}, "group": {"id": 1234}}
                        ]
                    }
                })
            },
            setup: |root| put(root, "etc/replaced-link", "I was a file\n", 0o644),
            tolerate: &[],
            notes: "relative/absolute/dangling symlinks, a hard link, a link over an existing file, symlink owner",
        },
        Case {
            name: "users",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "passwd": {"users": [
                        {"name": "plain"},
                        {"name": "withuid", "uid": 2001},
                        {"name": "grouped", "groups": ["sudo", "users"]},
                        {"name": "described", "gecos": "Full Name,Room 1", "shell": "/bin/bash"},
                        {"name": "homed", "homeDir": "/var/home/homed"},
                        {"name": "nohome", "noCreateHome": true},
                        {"name": "hashed", "passwordHash": "$6$salt$hash"},
                        {"name": "sysuser", "system": true}
                    ]}
                })
            },
            setup: |root| fs::create_dir_all(root.join("var/home")).unwrap(),
            tolerate: &[],
            notes: "every user field 2.14 passes to useradd; uids/gids allocated in config order",
        },
        Case {
            name: "users_ssh_keys",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "passwd": {"users": [
                        {"name": "alice", "uid": 1500, "groups": ["sudo"], "gecos": "Alice A",
                         "passwordHash": "$6$abc$def",
                         "sshAuthorizedKeys": ["ssh-ed25519 AAAA alice@x", "ssh-rsa BBBB k2"]},
                        {"name": "sysu", "system": true}
                    ], "groups": [
                        {"name": "grp1", "gid": 2000, "passwordHash": "$6$x$y"},
                        {"name": "sysg", "system": true}
                    ]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "the user documented at the top of this file",
        },
        Case {
            name: "groups",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "passwd": {"groups": [
                        {"name": "withgid", "gid": 3000},
                        {"name": "sysgroup", "system": true},
                        {"name": "secret", "passwordHash": "$6$g$h"},
                        {"name": "plaingroup"}
                    ]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "groupadd --gid / --system / --password (default password `*`)",
        },
        Case {
            name: "units",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "systemd": {"units": [
                        {"name": "a.service", "enabled": true, "contents": UNIT_A},
                        {"name": "b.service", "enabled": false},
                        {"name": "c.service", "mask": true},
                        {"name": "d.service", "dropins": [
                            {"name": "10-env.conf", "contents": "[Service]\nEnvironment=X=1\n"},
                            {"name": "20-more.conf", "contents": "[Service]\nNice=5\n"}
                        ]},
                        {"name": "e.service", "contents": UNIT_A},
                        {"name": "f.timer", "enabled": true, "contents": "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\n"}
                    ]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "unit contents, enable/disable presets, mask symlink, dropins",
        },
        Case {
            name: "units_instantiated",
            config: || {
                json!({
                    "ignition": {"version": "3.3.0"},
                    "systemd": {"units": [
                        {"name": "foo@.service", "enabled": true, "contents": UNIT_TEMPLATE},
                        {"name": "bar@.service", "contents": UNIT_TEMPLATE},
                        {"name": "bar@one.service", "enabled": true}
                    ]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "2.14 writes `enable foo@.service ` (trailing space, trimmed by the snapshot) and `enable bar@.service one`; it then fails asking systemd for its version (tolerated, see support::NO_SYSTEMD_ERROR)",
        },
        Case {
            name: "merge_data_url",
            config: || {
                let child = json!({
                    "ignition": {"version": "3.3.0"},
                    "storage": {"files": [
                        {"path": "/etc/from-child", "contents": {"source": "data:,child"}},
                        {"path": "/etc/both", "contents": {"source": "data:,child-wins"}, "mode": 384}
                    ]},
                    "passwd": {"users": [{"name": "merged", "uid": 1600}]}
                });
                let child = serde_json::to_vec(&child).unwrap();
                json!({
                    "ignition": {"version": "3.3.0", "config": {"merge": [
                        {"source": data_url(&child), "verification": {"hash": sha512_hash(&child)}}
                    ]}},
                    "storage": {"files": [
                        {"path": "/etc/from-parent", "contents": {"source": "data:,parent"}},
                        {"path": "/etc/both", "contents": {"source": "data:,parent"}, "mode": 420}
                    ]},
                    "passwd": {"users": [{"name": "merged", "gecos": "from parent"}]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "the child is merged over the parent: keyed entries combine field by field, child wins",
        },
        Case {
            name: "spec_3_0_0",
            config: || {
                json!({
                    "ignition": {"version": "3.0.0"},
                    "storage": {
                        "files": [{"path": "/etc/v300", "contents": {"source": "data:,three-oh"}, "mode": 420}],
                        "directories": [{"path": "/var/v300", "mode": 493}],
                        "links": [{"path": "/etc/v300-link", "target": "/etc/v300"}]
                    },
                    "passwd": {"users": [{"name": "v300", "sshAuthorizedKeys": ["ssh-ed25519 CCCC v300"]}]},
                    "systemd": {"units": [{"name": "v300.service", "enabled": true, "contents": UNIT_A}]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "3.0.0",
        },
        Case {
            name: "spec_3_1_0",
            config: || {
                json!({
                    "ignition": {"version": "3.1.0"},
                    "storage": {"files": [
                        {"path": "/etc/v310", "contents": {"source": "data:,three-one"}, "mode": 420, "overwrite": true},
                        {"path": "/etc/v310-append", "append": [{"source": "data:,appended"}]}
                    ]},
                    "passwd": {"groups": [{"name": "v310g", "gid": 3100}]},
                    "systemd": {"units": [{"name": "v310.service", "mask": true}]}
                })
            },
            setup: no_setup,
            tolerate: &[],
            notes: "3.1.0",
        },
    ]
}

fn case(name: &str) -> Case {
    cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// Config bytes of a case.
fn config_bytes(c: &Case) -> Vec<u8> {
    serde_json::to_vec_pretty(&(c.config)()).unwrap()
}

/// Runs Debian Ignition on `c` into `dir` (a fresh [`base_root`] + setup);
/// `None` if skipped.
fn reference(c: &Case, dir: &Path) -> Option<String> {
    let root = base_root(dir);
    (c.setup)(&root);
    match run_debian_ignition(&config_bytes(c), &root) {
        Ok(Outcome::Applied(log)) => Some(log),
        Ok(Outcome::Skipped(why)) => {
            eprintln!("skipped: {why}");
            None
        }
        Err(log) => panic!("{}: Debian ignition failed:\n{log}", c.name),
    }
}

/// The harness itself against Debian Ignition alone: a few cases and the
/// facts documented at the top of this file.
#[test]
fn debian_ignition_reference() {
    let tmp = tempfile::tempdir().unwrap();

    // Files.
    let dir = tmp.path().join("files");
    let Some(_) = reference(&case("files_basic"), &dir) else {
        return;
    };
    let s = snapshot(&dir);
    assert_eq!(text(&s, "etc/hello.txt"), "hello world\n");
    assert_eq!(s["etc/hello.txt"].mode, 0o644);
    assert_eq!(
        s["etc/secret"].kind,
        Kind::File(b"s3cr3t\x00\xff\n".to_vec())
    );
    assert_eq!(s["etc/secret"].mode, 0o600);
    assert_eq!(s["opt/bin/tool"].mode, 0o755);
    assert_eq!(s["etc/empty"].kind, Kind::File(vec![]));
    for d in ["opt", "opt/app", "opt/app/deep", "opt/app/deep/nested"] {
        assert_eq!(
            (s[d].kind.clone(), s[d].mode, s[d].uid),
            (Kind::Dir, 0o755, 0),
            "{d}"
        );
    }
    assert_eq!(text(&s, "opt/app/deep/nested/file.conf"), "key = value\n");
    for (excluded, _) in support::EXCLUDED {
        assert!(!s.contains_key(*excluded), "{excluded} not excluded");
    }
    assert!(dir.join("etc/.ignition-result.json").exists());

    // Special mode bits are masked out for specs < 3.4.0.
    let dir = tmp.path().join("special");
    reference(&case("files_special_mode"), &dir).unwrap();
    let s = snapshot(&dir);
    assert_eq!(s["opt/bin/suid"].mode, 0o755);
    assert_eq!(s["opt/bin/sgid"].mode, 0o755);
    assert_eq!(s["var/tmp/sticky"].mode, 0o777);

    // Users, groups, SSH keys.
    let dir = tmp.path().join("users");
    reference(&case("users_ssh_keys"), &dir).unwrap();
    let s = snapshot(&dir);
    assert_eq!(
        entry(&s, "passwd", "alice").as_deref(),
        Some("x:1500:1500:Alice A:/home/alice:/bin/sh")
    );
    assert_eq!(
        entry(&s, "shadow", "alice").as_deref(),
        Some("$6$abc$def:LASTCHG:0:99999:7:::")
    );
    assert_eq!(entry(&s, "group", "grp1").as_deref(), Some("x:2000:"));
    assert_eq!(entry(&s, "gshadow", "grp1").as_deref(), Some("$6$x$y::"));
    assert_eq!(entry(&s, "group", "sudo").as_deref(), Some("x:27:alice"));
    assert_eq!(entry(&s, "group", "alice").as_deref(), Some("x:1500:"));
    let keys = "home/alice/.ssh/authorized_keys.d/ignition";
    assert_eq!(
        text(&s, keys),
        "ssh-ed25519 AAAA alice@x\nssh-rsa BBBB k2\n"
    );
    for (p, mode) in [
        ("home/alice", 0o755),
        ("home/alice/.ssh", 0o700),
        ("home/alice/.ssh/authorized_keys.d", 0o700),
        (keys, 0o600),
    ] {
        assert_eq!((s[p].mode, s[p].uid, s[p].gid), (mode, 1500, 1500), "{p}");
    }
    assert_eq!(text(&s, "home/alice/.profile"), support::SKEL_PROFILE);
    assert_eq!(
        (s["etc/shadow"].mode, s["etc/shadow"].gid),
        (0o640, support::SHADOW_GID)
    );
    print_accounts(&dir, &s);

    // Units.
    let dir = tmp.path().join("units");
    reference(&case("units"), &dir).unwrap();
    let raw = fs::read_to_string(dir.join(support::PRESET_FILE)).unwrap();
    println!("units preset (raw):\n{raw}");
    let s = snapshot(&dir);
    assert_eq!(
        text(&s, support::PRESET_FILE),
        "disable b.service\nenable a.service\nenable f.timer\n"
    );
    assert_eq!(
        text(&snapshot_with(&dir, DIFF_NORMALISE), support::PRESET_FILE),
        "disable b.service\nenable a.service\nenable f.timer\n",
        "MetalOS is held to 2.14's disable lines too"
    );
    assert_eq!(
        s["etc/systemd/system/c.service"].kind,
        Kind::Symlink("/dev/null".into())
    );
    assert_eq!(text(&s, "etc/systemd/system/a.service"), UNIT_A);
    assert_eq!(s["etc/systemd/system/a.service"].mode, 0o644);
    assert_eq!(
        text(&s, "etc/systemd/system/d.service.d/10-env.conf"),
        "[Service]\nEnvironment=X=1\n"
    );
    assert!(!s.contains_key("etc/systemd/system/d.service"));
    assert!(!s.contains_key("etc/systemd/system/b.service"));

    let dir = tmp.path().join("units_instantiated");
    reference(&case("units_instantiated"), &dir).unwrap();
    let raw = fs::read_to_string(dir.join(support::PRESET_FILE)).unwrap();
    println!("instantiated preset (raw): {raw:?}");
    assert_eq!(
        text(&snapshot(&dir), support::PRESET_FILE),
        "enable bar@.service one\nenable foo@.service\n"
    );

    // Links.
    let dir = tmp.path().join("links");
    reference(&case("links"), &dir).unwrap();
    let s = snapshot(&dir);
    assert_eq!(s["etc/rel-link"].kind, Kind::Symlink("target.txt".into()));
    assert_eq!(
        s["etc/abs-link"].kind,
        Kind::Symlink("/etc/target.txt".into())
    );
    assert_eq!(
        s["etc/replaced-link"].kind,
        Kind::Symlink("/etc/target.txt".into())
    );
    assert_eq!(
        s["etc/hard-link"].hardlink.as_deref(),
        Some("etc/hard-link")
    );
    assert_eq!(
        s["etc/target.txt"].hardlink.as_deref(),
        Some("etc/hard-link")
    );
    assert_eq!(
        (s["etc/owned-link"].uid, s["etc/owned-link"].gid),
        (1234, 1234)
    );
}

/// Prints the account lines and home tree a reference run produced (run
/// with `--nocapture` to see them).
fn print_accounts(dir: &Path, s: &std::collections::BTreeMap<String, support::Node>) {
    for db in ["passwd", "shadow", "group", "gshadow"] {
        println!(
            "--- etc/{db}\n{}",
            fs::read_to_string(dir.join("etc").join(db)).unwrap()
        );
    }
    for (p, n) in s.range("home".to_string().."home~".to_string()) {
        println!("{p}: {:04o} {}:{}", n.mode, n.uid, n.gid);
    }
}

/// Acceptance finding 5: a 2.2.0 config with two `append: true` entries for
/// one path. The translation Ignition distributions run (ign-converter's
/// `Check2_4`, also in Flatcar's fork) refuses it ("Config has conflicting
/// inodes"); so does MetalOS, before touching the root. Debian's 2.14 has
/// no 2.x translation and refuses every 2.x config; the root stays as it
/// was on both sides.
#[test]
fn spec_2x_conflicting_inodes_are_refused() {
    let config = serde_json::to_vec(&json!({
        "ignition": {"version": "2.2.0"},
        "storage": {"files": [
            {"filesystem": "root", "path": "/example-file", "append": true, "contents": {"source": "data:,a"}},
            {"filesystem": "root", "path": "/example-file", "append": true, "contents": {"source": "data:,b"}}
        ]}
    }))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let b = base_root(&tmp.path().join("b"));
    let before = snapshot(&b);
    let e = apply_configs(
        &b,
        &[Input {
            name: "dup.ign".into(),
            bytes: config.clone(),
        }],
        &ApplyOptions::default(),
    )
    .expect_err("MetalOS applied conflicting inodes");
    assert!(
        e.to_string().contains("Config has conflicting inodes"),
        "{e}"
    );
    assert!(diff(&before, &snapshot(&b)).is_empty());
    let a = base_root(&tmp.path().join("a"));
    match run_debian_ignition(&config, &a) {
        Ok(Outcome::Skipped(why)) => eprintln!("skipped: {why}"),
        Ok(Outcome::Applied(log)) => panic!("Debian Ignition applied a 2.x config:\n{log}"),
        Err(log) => {
            assert!(!a.join("example-file").exists(), "{log}");
        }
    }
}

/// Every case: Debian Ignition into root A, [`apply_configs`] into root B;
/// the snapshots must match up to the case's tolerances.
#[test]
fn differential_cases() {
    let mut failures = Vec::new();
    for c in cases() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        if reference(&c, &a).is_none() {
            return;
        }
        let b = base_root(&tmp.path().join("b"));
        (c.setup)(&b);
        let options = ApplyOptions {
            strict: true,
            ..ApplyOptions::default()
        };
        if let Err(e) = apply_configs(
            &b,
            &[Input {
                name: c.name.to_string(),
                bytes: config_bytes(&c),
            }],
            &options,
        ) {
            failures.push(format!("{}: apply_configs failed: {e}", c.name));
            continue;
        }
        let d: Vec<String> = diff(
            &snapshot_with(&a, DIFF_NORMALISE),
            &snapshot_with(&b, DIFF_NORMALISE),
        )
        .into_iter()
        .filter(|l| !c.tolerate.iter().any(|t| l.contains(t)))
        .collect();
        if !d.is_empty() {
            failures.push(format!(
                "{} ({}): A = Debian ignition, B = apply_configs\n  {}",
                c.name,
                c.notes,
                d.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every case's config is accepted and applied by Debian Ignition 2.14, so
/// `differential_cases` fails only on real differences. Prints each
/// reference snapshot's paths that are not in the base root (run with
/// `--nocapture`).
#[test]
fn reference_accepts_every_case() {
    let tmp = tempfile::tempdir().unwrap();
    let base = snapshot(&base_root(&tmp.path().join("base")));
    for c in cases() {
        let dir = tmp.path().join(c.name);
        if reference(&c, &dir).is_none() {
            return;
        }
        println!("=== {} ({})", c.name, c.notes);
        for line in diff(&base, &snapshot(&dir)) {
            println!("  {line}");
        }
    }
}

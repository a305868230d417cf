//! Differential tests of `metalos metadata` against afterburn 5.11.0 itself
//! (`cargo install afterburn --version 5.11.0 --locked`; scripts/install-deps
//! installs it): the same emulated EC2 (IMDSv2 required, and IMDSv1 only)
//! and OpenStack metadata services, listening on 169.254.169.254:80 in a
//! network namespace of their own, must give the same attribute lines, the
//! same SSH keys and the same host name — also with no keys, 404s,
//! 500-then-200 and a slow service.
//!
//! Root is required (network and mount namespaces): the tests fail, not
//! skip, without it or without afterburn. Each agent runs under `unshare
//! --mount` with a test passwd bound over /etc/passwd, so the users whose
//! keys are written exist only there and have their homes in a temp dir.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use metalos_tests::metadata_service::{MetadataService, Tokens, KEY1, KEY2, KEY3};

const METALOS: &str = env!("CARGO_BIN_EXE_metalos");
const UID: u32 = 4242;

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the afterburn differential tests need root (network and mount namespaces)"
    );
}

/// The afterburn binary: `$AFTERBURN`, else `afterburn` on PATH or in ~/.cargo/bin.
fn afterburn() -> PathBuf {
    if let Some(p) = std::env::var_os("AFTERBURN") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("afterburn"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain([home.join(".cargo/bin/afterburn")]);
    for c in candidates {
        if c.is_file() {
            let out = Command::new(&c).arg("--version").output().unwrap();
            let version = String::from_utf8_lossy(&out.stdout);
            assert!(
                version.contains("5.11.0"),
                "{} is {version}, not afterburn 5.11.0",
                c.display()
            );
            return c;
        }
    }
    panic!("afterburn 5.11.0 not found: cargo install afterburn --version 5.11.0 --locked (scripts/install-deps)");
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// A temp dir with a passwd naming `abtest` (afterburn's) and `mstest`
/// (metalos's) users, uid/gid 4242, with their homes inside.
struct Users {
    dir: tempfile::TempDir,
}

impl Users {
    fn new() -> Users {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        for user in ["abtest", "mstest"] {
            let home = dir.path().join(user);
            std::fs::create_dir(&home).unwrap();
            std::os::unix::fs::chown(&home, Some(UID), Some(UID)).unwrap();
            passwd.push_str(&format!(
                "{user}:x:{UID}:{UID}::{}:/bin/sh\n",
                home.display()
            ));
        }
        std::fs::write(dir.path().join("passwd"), passwd).unwrap();
        Users { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `program args…` in a mount namespace where /etc/passwd is ours.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--",
            "sh",
            "-c",
            r#"mount --bind "$0" /etc/passwd && exec "$@""#,
        ])
        .arg(self.path("passwd"))
        .arg(program)
        .args(args);
        cmd
    }
}

/// What one agent produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    attributes: BTreeSet<String>,
    keys: Option<BTreeSet<String>>,
    hostname: Option<String>,
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Runs afterburn and `metalos metadata` with `provider` (reusing `users`'
/// homes, so a second run sees the first run's fragments) and returns
/// both outcomes; `before` runs before each agent (to re-arm faults).
fn both(users: &Users, provider: &str, before: &dyn Fn()) -> (Outcome, Outcome) {
    let run = |tag: &str, user: &str, fragment: &str, program: &Path, sub: &[&str]| {
        let attrs = users.path(&format!("{tag}/attributes"));
        let host = users.path(&format!("{tag}/hostname"));
        let _ = std::fs::remove_file(&host);
        before();
        let mut args = sub.to_vec();
        let (attrs_s, host_s) = (attrs.display().to_string(), host.display().to_string());
        args.extend([
            "--provider",
            provider,
            "--attributes",
            &attrs_s,
            "--ssh-keys",
            user,
            "--hostname",
            &host_s,
        ]);
        run_ok(&mut users.command(program, &args));
        let fragment = users.path(&format!("{user}/.ssh/authorized_keys.d/{fragment}"));
        let keys = std::fs::read_to_string(&fragment).ok().map(|t| lines(&t));
        if keys.is_some() {
            assert_eq!(
                std::fs::metadata(&fragment).unwrap().uid(),
                UID,
                "{} owned by the user",
                fragment.display()
            );
        }
        Outcome {
            attributes: lines(&std::fs::read_to_string(&attrs).unwrap()),
            keys,
            hostname: std::fs::read_to_string(&host).ok(),
        }
    };
    let theirs = run("ab", "abtest", "afterburn", &afterburn(), &["multi"]);
    let ours = run(
        "ms",
        "mstest",
        "coreos-metadata",
        Path::new(METALOS),
        &["metadata"],
    );
    (theirs, ours)
}

/// Runs `body` in a thread inside a new network namespace whose loopback
/// carries 169.254.169.254, with an emulated service listening there.
fn in_lab(tokens: Tokens, body: impl FnOnce(&MetadataService) + Send + 'static) {
    require_root();
    std::thread::spawn(move || {
        // SAFETY: unshare of this thread's network namespace only.
        assert_eq!(
            unsafe { libc::unshare(libc::CLONE_NEWNET) },
            0,
            "unshare(CLONE_NEWNET)"
        );
        run_ok(Command::new("ip").args(["link", "set", "lo", "up"]));
        run_ok(Command::new("ip").args(["addr", "add", "169.254.169.254/32", "dev", "lo"]));
        let listener = TcpListener::bind("169.254.169.254:80").unwrap();
        let service = MetadataService::start_on(listener, tokens);
        assert_eq!(service.url, "http://169.254.169.254");
        body(&service);
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn assert_same(users: &Users, provider: &str, before: &dyn Fn()) -> Outcome {
    let (theirs, ours) = both(users, provider, before);
    assert_eq!(ours, theirs, "metalos (left) and afterburn (right) differ");
    ours
}

#[test]
fn ec2_imdsv2_required() {
    in_lab(Tokens::Required, |imds| {
        imds.fill_ec2(&[("laptop", KEY1), ("ci", KEY3)]);
        let users = Users::new();
        let got = assert_same(&users, "aws", &|| ());
        assert_eq!(got.attributes.len(), 10, "{got:?}");
        assert!(got.attributes.contains("AFTERBURN_AWS_REGION=eu-west-3"));
        assert_eq!(got.keys.unwrap().len(), 2);
        // A key removed from the metadata is gone from both fragments.
        imds.set_keys(&[("ci", KEY3)]);
        let got = assert_same(&users, "aws", &|| ());
        assert_eq!(got.keys, Some(lines(KEY3)));
        // No keys: both delete their fragment; 404s are left out.
        imds.set_keys(&[]);
        imds.remove("/latest/meta-data/ipv6")
            .remove("/latest/meta-data/public-ipv4");
        let got = assert_same(&users, "aws", &|| ());
        assert_eq!(got.keys, None);
        assert_eq!(got.attributes.len(), 8, "{got:?}");
        let ak = std::fs::read_to_string(users.path("mstest/.ssh/authorized_keys")).unwrap();
        assert_eq!(
            ak.lines().count(),
            1,
            "no key left in authorized_keys: {ak}"
        );
    });
}

#[test]
fn ec2_imdsv1_only() {
    in_lab(Tokens::V1Only, |imds| {
        imds.fill_ec2(&[("laptop", KEY2)]);
        let users = Users::new();
        let got = assert_same(&users, "aws", &|| ());
        assert_eq!(got.keys, Some(lines(KEY2)));
        assert!(imds.requests().iter().all(|r| !r.ends_with(" token")));
    });
}

#[test]
fn ec2_500_then_200_and_a_slow_service() {
    in_lab(Tokens::Optional, |imds| {
        imds.fill_ec2(&[("laptop", KEY1)]);
        let users = Users::new();
        let got = assert_same(&users, "aws", &|| {
            imds.fail_next(3, 500);
        });
        assert_eq!(got.keys, Some(lines(KEY1)));
        imds.set_delay(Duration::from_millis(300));
        assert_same(&users, "aws", &|| ());
    });
}

#[test]
fn openstack_metadata_service() {
    in_lab(Tokens::V1Only, |nova| {
        nova.fill_openstack(&[("mykey", KEY1), ("other", KEY3)]);
        let users = Users::new();
        for provider in ["openstack-metadata", "openstack"] {
            let got = assert_same(&users, provider, &|| ());
            assert_eq!(got.attributes.len(), 6, "{got:?}");
            assert_eq!(got.keys.as_ref().map(BTreeSet::len), Some(2));
            assert_eq!(got.hostname.as_deref(), Some("metalos-vm.novalocal\n"));
        }
        // No keys (public-keys 404) and no nova JSON.
        nova.set_keys(&[])
            .remove("/openstack/2012-08-10/meta_data.json");
        let got = assert_same(&users, "openstack-metadata", &|| ());
        assert_eq!(got.keys, None);
        assert_eq!(got.attributes.len(), 5, "{got:?}");
    });
}

//! `metalos inputs fetch`: downloads the Debian packages that provide the
//! build inputs (`apt-get download`, never installed), unpacks each with
//! `dpkg-deb -x` into a cache directory and writes `inputs.json`.

use metalos_config::inputs::{file_digest, tree_digest, InputEntry, InputKind, InputsManifest};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Manifest file name inside the cache directory.
pub const MANIFEST_NAME: &str = "inputs.json";

/// One input taken from a package.
struct Wanted {
    name: &'static str,
    /// Path inside the unpacked package; `{kver}` is the kernel version.
    path: &'static str,
    kind: InputKind,
}

/// A Debian package and the inputs it provides.
struct PackageInputs {
    /// Package name; `None` means "the kernel the cloud metapackage depends on".
    package: Option<&'static str>,
    wanted: &'static [Wanted],
}

const PACKAGES: &[PackageInputs] = &[
    PackageInputs {
        package: None,
        wanted: &[
            Wanted {
                name: "kernel",
                path: "boot/vmlinuz-{kver}",
                kind: InputKind::File,
            },
            Wanted {
                name: "kernel-modules",
                path: "lib/modules/{kver}",
                kind: InputKind::Dir,
            },
        ],
    },
    PackageInputs {
        package: Some("systemd-boot-efi"),
        wanted: &[Wanted {
            name: "systemd-stub",
            path: "usr/lib/systemd/boot/efi/linuxx64.efi.stub",
            kind: InputKind::File,
        }],
    },
    PackageInputs {
        package: Some("busybox-static"),
        wanted: &[Wanted {
            name: "busybox",
            path: "bin/busybox",
            kind: InputKind::File,
        }],
    },
    PackageInputs {
        package: Some("btrfs-progs"),
        wanted: &[Wanted {
            name: "mkfs-btrfs",
            path: "sbin/mkfs.btrfs",
            kind: InputKind::File,
        }],
    },
    PackageInputs {
        package: Some("ca-certificates"),
        wanted: &[Wanted {
            name: "ca-certificates",
            path: CA_BUNDLE,
            kind: InputKind::File,
        }],
    },
    PackageInputs {
        package: Some("ovmf"),
        wanted: &[
            Wanted {
                name: "ovmf-code",
                path: "usr/share/OVMF/OVMF_CODE_4M.fd",
                kind: InputKind::File,
            },
            Wanted {
                name: "ovmf-vars",
                path: "usr/share/OVMF/OVMF_VARS_4M.fd",
                kind: InputKind::File,
            },
        ],
    },
];

/// The CA bundle made from the `ca-certificates` package (see [`write_ca_bundle`]).
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Writes `root/etc/ssl/certs/ca-certificates.crt` for an unpacked
/// `ca-certificates` package: every `usr/share/ca-certificates/**/*.crt` in
/// byte-wise sorted path order, each ending in a newline. This is what
/// `update-ca-certificates` makes with Debian's default configuration (all
/// certificates enabled), without running maintainer scripts; the same
/// package always gives the same bytes.
pub fn write_ca_bundle(root: &Path) -> Result<PathBuf, FetchError> {
    fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), FetchError> {
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let path = entry.map_err(io_err(dir))?.path();
            if path.is_dir() {
                collect(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "crt") {
                out.push(path);
            }
        }
        Ok(())
    }
    let certs = root.join("usr/share/ca-certificates");
    let mut files = Vec::new();
    collect(&certs, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(FetchError::Missing {
            package: "ca-certificates".into(),
            path: "usr/share/ca-certificates/**/*.crt".into(),
        });
    }
    let mut bundle = Vec::new();
    for f in &files {
        let pem = std::fs::read(f).map_err(io_err(f))?;
        bundle.extend_from_slice(&pem);
        if !pem.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    let out = root.join(CA_BUNDLE);
    let dir = out.parent().expect("bundle path has a parent");
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = dir.join(".ca-certificates.crt.tmp");
    std::fs::write(&tmp, &bundle).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &out).map_err(io_err(&out))?;
    Ok(out)
}

/// The kernel metapackage whose dependency names the real kernel package.
pub const KERNEL_METAPACKAGE: &str = "linux-image-cloud-amd64";

/// Errors while fetching inputs.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A command failed or is missing.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// stderr or the spawn error.
        message: String,
    },
    /// The package did not contain the expected file.
    #[error("package {package} has no {path}")]
    Missing {
        /// Package.
        package: String,
        /// Expected path inside it.
        path: String,
    },
    /// Cache I/O.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_owned(),
        source,
    }
}

fn run(cmd: &mut Command) -> Result<String, FetchError> {
    let command = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|e| FetchError::Command {
        command: command.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.is_empty() {
            message = format!("exit status {}", out.status);
        }
        return Err(FetchError::Command { command, message });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The versioned kernel package (`linux-image-<ver>-cloud-amd64`) that the
/// cloud metapackage currently depends on.
pub fn kernel_package() -> Result<String, FetchError> {
    let out = run(Command::new("apt-cache").args(["depends", KERNEL_METAPACKAGE]))?;
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && p.ends_with("-cloud-amd64"))
        .map(str::to_string)
        .ok_or_else(|| FetchError::Command {
            command: format!("apt-cache depends {KERNEL_METAPACKAGE}"),
            message: "no linux-image-*-cloud-amd64 dependency found (run `apt-get update`?)".into(),
        })
}

/// Downloads and unpacks `package` under `dir`, returning the unpack root
/// (`dir/root/<deb file stem>`). Already unpacked packages are reused.
fn unpack(
    dir: &Path,
    package: &str,
    progress: &dyn Fn(&str),
) -> Result<(PathBuf, String), FetchError> {
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs).map_err(io_err(&debs))?;
    let find_deb = || -> Result<Option<PathBuf>, FetchError> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&debs)
            .map_err(io_err(&debs))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                name.starts_with(&format!("{package}_")) && name.ends_with(".deb")
            })
            .collect();
        found.sort();
        Ok(found.pop())
    };
    let deb = match find_deb()? {
        Some(deb) => deb,
        None => {
            progress(&format!("downloading {package}"));
            run(Command::new("apt-get")
                .arg("download")
                .arg(package)
                .current_dir(&debs))?;
            find_deb()?.ok_or_else(|| FetchError::Missing {
                package: package.into(),
                path: "(.deb file)".into(),
            })?
        }
    };
    let stem = deb
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let root = dir.join("root").join(&stem);
    let done = root.join(".metalos-unpacked");
    if !done.exists() {
        progress(&format!("unpacking {stem}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        std::fs::write(&done, b"").map_err(io_err(&done))?;
    }
    Ok((root, stem))
}

/// Fetches every input into `dir` and writes `dir/inputs.json`.
pub fn fetch(dir: &Path, progress: &dyn Fn(&str)) -> Result<InputsManifest, FetchError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let dir = dir.canonicalize().map_err(io_err(dir))?;
    let mut manifest = InputsManifest::new();
    for pkg in PACKAGES {
        let (name, kver) = match pkg.package {
            Some(p) => (p.to_string(), String::new()),
            None => {
                let name = kernel_package()?;
                let kver = name.trim_start_matches("linux-image-").to_string();
                (name, kver)
            }
        };
        let (root, origin) = unpack(&dir, &name, progress)?;
        if name == "ca-certificates" {
            write_ca_bundle(&root)?;
        }
        for w in pkg.wanted {
            let rel = w.path.replace("{kver}", &kver);
            let path = root.join(&rel);
            if !path.exists() {
                return Err(FetchError::Missing {
                    package: name.clone(),
                    path: rel,
                });
            }
            let sha256 = match w.kind {
                InputKind::File => file_digest(&path),
                InputKind::Dir => tree_digest(&path),
            }
            .map_err(io_err(&path))?;
            manifest.inputs.insert(
                w.name.to_string(),
                InputEntry {
                    path,
                    kind: w.kind,
                    sha256,
                    origin: Some(origin.clone()),
                },
            );
        }
    }
    let out = dir.join(MANIFEST_NAME);
    let tmp = dir.join(".inputs.json.tmp");
    let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises") + "\n";
    std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &out).map_err(io_err(&out))?;
    Ok(manifest)
}

//! Ignition configs: what metalinit does with the base, user and
//! HostConfig-embedded configs on first boot.

use super::structured::arbitrary_ignition;
use metalos_ignition::apply::{self, ApplyOptions, Input};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A fixed "today" so executions are reproducible.
const NOW_DAYS: u64 = 20_000;

fn options() -> ApplyOptions {
    ApplyOptions {
        now_days: Some(NOW_DAYS),
        ..Default::default()
    }
}

/// An empty directory per process to plan (and apply) against.
fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let root = base.join(format!("metalos-fuzz-ignition-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("creating the scratch root");
        root
    })
}

/// Bytes → parse → render `data:` resources → merge → validate → plan.
/// Nothing is written (no network: remote resources are errors).
pub fn ignition(data: &[u8]) {
    let inputs = [Input {
        name: "user.ign".into(),
        bytes: data.to_vec(),
    }];
    let options = options();
    let Ok(parsed) = apply::parse_inputs(&inputs, &options) else {
        return;
    };
    for p in &parsed {
        serde_json::to_vec(&p.config).expect("a parsed config serialises");
    }
    let Ok(prepared) = apply::prepare(&inputs, parsed, &options) else {
        return;
    };
    let _ = apply::plan(scratch_root(), &prepared, &options);
}

/// Arbitrary configs: whatever validates applies into a scratch root, and
/// every planned write is a clean path inside it (no `..`: the planner
/// resolves and clamps paths as a chroot would).
pub fn ignition_structured(data: &[u8]) {
    let Some(config) = arbitrary_ignition(data) else {
        return;
    };
    let bytes = serde_json::to_vec(&config).expect("a config serialises");
    let inputs = [Input {
        name: "user.ign".into(),
        bytes,
    }];
    let options = options();
    let Ok(parsed) = apply::parse_inputs(&inputs, &options) else {
        return;
    };
    let Ok(prepared) = apply::prepare(&inputs, parsed, &options) else {
        return;
    };
    let root = scratch_root();
    let Ok(ops) = apply::plan(root, &prepared, &options) else {
        return;
    };
    for op in &ops {
        assert!(
            !op.path()
                .components()
                .any(|c| c == std::path::Component::ParentDir),
            "planned write escapes the root: {}",
            op.path().display()
        );
    }
    let _ = apply::write(root, &ops, &options);
    // Start the next execution from an empty root again.
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

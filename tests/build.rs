//! Embeds a fingerprint of the build code (`rust/`, `Cargo.lock`) in the
//! test helpers: cached test images (src/image_cache.rs) are keyed by the
//! code compiled into the tests, not by sources edited since the compile.

use std::hash::{DefaultHasher, Hasher};
use std::path::Path;
#[path = "src/walk.rs"]
mod walk;
use walk::walk;

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    println!("cargo:rerun-if-changed=../rust");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    let mut files = vec![repo.join("Cargo.lock")];
    walk(&repo.join("rust"), &mut files);
    files.sort();
    let mut h = DefaultHasher::new();
    for f in files {
        h.write(
            f.strip_prefix(&repo)
                .unwrap()
                .as_os_str()
                .as_encoded_bytes(),
        );
        h.write(&std::fs::read(&f).unwrap());
    }
    println!(
        "cargo:rustc-env=METALOS_TEST_CODE_FINGERPRINT={:016x}",
        h.finish()
    );
}

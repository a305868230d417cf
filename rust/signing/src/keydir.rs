//! The operator's key directory (`metalos keys generate DIR`).

use crate::{SigningError, SigningKey, VerifyingKey};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The ed25519 private key in a [`KeyDir`] (PEM PKCS#8, mode 0600).
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// The ed25519 public key in a [`KeyDir`] (PEM SPKI).
pub const SIGNING_PUB_FILE: &str = "signing.pub";
/// The Secure Boot key pairs in a [`KeyDir`]: `NAME.key` (PEM PKCS#8 RSA,
/// 0600) and `NAME.crt` (PEM X.509) for each.
pub const SECURE_BOOT_KEYS: [&str; 3] = ["PK", "KEK", "db"];
/// What a detached signature's file name appends to the signed file's.
pub const SIGNATURE_SUFFIX: &str = ".sig";

/// `FILE` → `FILE.sig`.
pub fn sig_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(SIGNATURE_SUFFIX);
    PathBuf::from(s)
}

/// The operator's key directory (`metalos keys generate DIR`).
#[derive(Debug, Clone)]
pub struct KeyDir {
    /// The directory.
    pub dir: PathBuf,
}

impl KeyDir {
    /// A key directory that must hold at least `signing.key` and
    /// `signing.pub` (checked: they parse and belong together).
    pub fn open(dir: &Path) -> Result<KeyDir, SigningError> {
        let kd = KeyDir {
            dir: dir.to_owned(),
        };
        let key = kd.signing_key()?;
        let public = kd.verifying_key()?;
        if key.verifying_key() != public {
            return Err(SigningError::Key {
                path: kd.signing_pub_path(),
                message: format!(
                    "is not the public half of {} (key {} vs {})",
                    kd.signing_key_path().display(),
                    public.fingerprint(),
                    key.verifying_key().fingerprint()
                ),
            });
        }
        Ok(kd)
    }

    /// `DIR/signing.key`.
    pub fn signing_key_path(&self) -> PathBuf {
        self.dir.join(SIGNING_KEY_FILE)
    }

    /// `DIR/signing.pub`.
    pub fn signing_pub_path(&self) -> PathBuf {
        self.dir.join(SIGNING_PUB_FILE)
    }

    /// Loads `signing.key`.
    pub fn signing_key(&self) -> Result<SigningKey, SigningError> {
        SigningKey::load(&self.signing_key_path())
    }

    /// Loads `signing.pub`.
    pub fn verifying_key(&self) -> Result<VerifyingKey, SigningError> {
        VerifyingKey::load(&self.signing_pub_path())
    }

    /// Generates `signing.key` (0600) and `signing.pub` in `dir` (created
    /// if missing, 0700). Refuses to overwrite either file.
    pub fn generate_signing(dir: &Path) -> Result<KeyDir, SigningError> {
        let kd = KeyDir {
            dir: dir.to_owned(),
        };
        for p in [kd.signing_key_path(), kd.signing_pub_path()] {
            if p.symlink_metadata().is_ok() {
                return Err(SigningError::Key {
                    path: p,
                    message: "exists; refusing to overwrite a key".into(),
                });
            }
        }
        create_private_dir(dir)?;
        let key = SigningKey::generate()?;
        write_new(&kd.signing_key_path(), key.to_pem().as_bytes(), 0o600)?;
        write_new(
            &kd.signing_pub_path(),
            key.verifying_key().to_pem().as_bytes(),
            0o644,
        )?;
        Ok(kd)
    }
}

/// Creates `dir` (and parents) with mode 0700 for the last component.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), SigningError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| SigningError::Key {
            path: dir.to_owned(),
            message: format!("cannot create: {e}"),
        })
}

/// Writes a new file with `mode` (never replacing an existing one).
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SigningError> {
    let err = |e: std::io::Error| SigningError::Key {
        path: path.to_owned(),
        message: format!("cannot write: {e}"),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

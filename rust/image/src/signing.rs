//! Build signing (docs/signing.md): with a key directory (`metalos build
//! --keys DIR` or the spec's `[signing] keys`), the build
//!
//! * puts the public key `signing.pub` into `/usr` at [`USR_PUBKEY_PATH`]
//!   (what `metalos update` verifies bundles with) and into every initrd
//!   at [`INITRD_PUBKEY_PATH`] (metalimage verifies netboot manifests
//!   with it);
//! * signs the update bundle's `bundle.json` (`bundle.json.sig`).
//!
//! Only the public key ever enters an artifact; the private key is read
//! into memory to sign and nothing else.

use metalos_config::spec::ImageSpec;
use metalos_config::{FieldError, Resolved, Resolver};
use metalos_disk::usrfs::UsrNode;
use metalos_signing::{KeyDir, SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};

/// The public key in `/usr` (relative to the slot: `/usr/lib/metalos/signing.pub`).
pub const USR_PUBKEY_PATH: &str = metalos_contract::paths::UsrPath::SIGNING_KEY.in_slot();
/// The public key in the initrds.
pub const INITRD_PUBKEY_PATH: &str = metalos_contract::paths::InitrdPath::SIGNING_KEY.as_str();

/// The build's keys.
pub struct BuildKeys {
    /// The key directory.
    pub dir: PathBuf,
    /// `signing.key`.
    pub key: SigningKey,
    /// `signing.pub`.
    pub public: VerifyingKey,
    /// The Secure Boot db key (`db.key` + `db.crt`), when the directory
    /// has it: UKIs and slot kernels are then signed
    /// ([`crate::secureboot`]).
    pub db: Option<metalos_secureboot::DbSigner>,
}

impl BuildKeys {
    /// The public key as written into artifacts (PEM SPKI).
    pub fn public_pem(&self) -> String {
        self.public.to_pem()
    }
}

/// Loads the key directory: `option` (`--keys`) wins over the spec's
/// `[signing] keys` (relative to the spec's directory). `None`: an
/// unsigned build.
pub fn load(
    spec: &ImageSpec,
    resolver: &Resolver,
    option: Option<&Path>,
) -> Result<Option<BuildKeys>, FieldError> {
    let (dir, field) = match (option, &spec.signing) {
        (Some(d), _) => (d.to_path_buf(), "--keys"),
        (None, Some(s)) => (resolver.base_dir.join(&s.keys), "signing.keys"),
        (None, None) => return Ok(None),
    };
    let kd = KeyDir::open(&dir).map_err(|e| FieldError::new(field, e.to_string()))?;
    let key = kd
        .signing_key()
        .map_err(|e| FieldError::new(field, e.to_string()))?;
    let public = key.verifying_key();
    let db = crate::secureboot::load_db(&dir, field)?;
    Ok(Some(BuildKeys {
        dir,
        key,
        public,
        db,
    }))
}

/// Adds (or replaces) `/usr/lib/metalos/signing.pub`.
pub fn add_usr_pubkey(usr: &mut Vec<UsrNode>, keys: &BuildKeys) {
    usr.retain(|n| !matches!(n, UsrNode::File { path, .. } if path == USR_PUBKEY_PATH));
    usr.push(UsrNode::file(
        USR_PUBKEY_PATH,
        0o644,
        Resolved::Bytes(keys.public_pem().into_bytes()),
    ));
}

/// The `[[files]]` entry every initrd of a signed build gets.
pub fn initrd_pubkey_entry(keys: &BuildKeys) -> metalos_initrd::spec::FileEntry {
    metalos_initrd::spec::FileEntry {
        path: INITRD_PUBKEY_PATH.into(),
        source: metalos_config::Source {
            text: Some(keys.public_pem()),
            ..Default::default()
        },
        mode: None,
    }
}

/// Writes `FILE.sig`, the detached signature of `file`.
pub fn sign_file(key: &SigningKey, file: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(file)?;
    let sig = metalos_signing::sign(key, &bytes);
    std::fs::write(metalos_signing::sig_path(file), sig.to_file_bytes())
}

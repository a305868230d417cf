//! The netboot `imaging.efi` under Secure Boot (docs/secure-boot.md):
//! with Secure Boot on, systemd-stub ignores the command line iPXE
//! passes, so the image parameters must be in the UKI's own `.cmdline` —
//! and replacing it invalidates the build's signature. The UKI is
//! therefore unsigned, rewritten and signed again with the db key.

use crate::error::NetbootError;
use metalos_secureboot::DbSigner;
use std::path::Path;

/// `uki` with `.cmdline` replaced by `cmdline`; signed with `db` when
/// given. A signed `uki` without `db` is an error: the result would not
/// boot where the original did.
pub fn replace_cmdline(
    path: &Path,
    uki: &[u8],
    cmdline: &str,
    db: Option<&DbSigner>,
) -> Result<Vec<u8>, NetbootError> {
    let sb_err = |message: String| NetbootError::SecureBoot {
        path: path.to_owned(),
        message,
    };
    let signer = metalos_secureboot::authenticode(uki).map_err(|e| sb_err(e.to_string()))?;
    if let (Some(a), None) = (&signer, db) {
        return Err(sb_err(format!(
            "is Secure Boot signed (by \"{}\"); replacing its command line needs the db key \
             to sign it again: pass --keys DIR with DIR/db.key and DIR/db.crt",
            a.signer
        )));
    }
    let unsigned =
        metalos_secureboot::pe::strip_signature(uki).map_err(|e| sb_err(e.to_string()))?;
    let replaced =
        metalos_uki::replace_cmdline(&unsigned, cmdline.as_bytes()).map_err(|source| {
            NetbootError::Uki {
                path: path.to_owned(),
                source,
            }
        })?;
    match db {
        Some(db) => db.sign_pe(&replaced).map_err(|e| sb_err(e.to_string())),
        None => Ok(replaced),
    }
}

//! Secure Boot signing in the build (docs/secure-boot.md): with a key
//! directory holding `db.key` + `db.crt`, every UKI the build makes and
//! every kernel it places in a `/usr` slot
//! (`lib/metalos/boot/vmlinuz`) are Authenticode-signed with the db key
//! ([`metalos_secureboot::DbSigner`]). The slot kernel must be: under
//! Secure Boot the bootloader's kernel is locked down and
//! `kexec_file_load` accepts only kernels signed by a key of the platform
//! keyring (the firmware's db), not Debian's signature.
//!
//! The slot kernel is signed before the slot is sealed, so the verity
//! descriptor's payload hash is the signed file's.

use metalos_config::{FieldError, Resolved};
use metalos_disk::slotdesc::PAYLOAD_DIR;
use metalos_disk::usrfs::UsrNode;
use metalos_secureboot::DbSigner;
use std::path::Path;

/// The db key of `dir` when it has `db.key` and `db.crt`; `None` when it
/// has neither (a key directory made for manifests only). One without
/// the other, or a broken key, is an error naming `field`.
pub fn load_db(dir: &Path, field: &str) -> Result<Option<DbSigner>, FieldError> {
    let (key, crt) = (dir.join("db.key"), dir.join("db.crt"));
    match (key.exists(), crt.exists()) {
        (false, false) => Ok(None),
        (true, true) => DbSigner::load(&key, &crt)
            .map(Some)
            .map_err(|e| FieldError::new(field, e.to_string())),
        _ => Err(FieldError::new(
            field,
            format!(
                "{} has only one of db.key and db.crt (Secure Boot signing needs both)",
                dir.display()
            ),
        )),
    }
}

/// `image` (a UKI or kernel) signed with the db key; errors name `field`.
pub fn sign(db: &DbSigner, image: &[u8], field: &str) -> Result<Vec<u8>, FieldError> {
    db.sign_pe(image)
        .map_err(|e| FieldError::new(field, format!("Secure Boot signing: {e}")))
}

/// Signs the slot kernel (`lib/metalos/boot/vmlinuz`) among `usr`, in place.
pub fn sign_slot_kernels(
    usr: &mut [UsrNode],
    db: &DbSigner,
    progress: &dyn Fn(&str),
) -> Result<(), FieldError> {
    let kernel = format!("{PAYLOAD_DIR}/vmlinuz");
    for node in usr.iter_mut() {
        if let UsrNode::File { path, content, .. } = node {
            if *path == kernel {
                let t0 = std::time::Instant::now();
                let field = format!("usr: {path}");
                let bytes = content
                    .read()
                    .map_err(|e| FieldError::new(&field, format!("cannot read: {e}")))?;
                *content = Resolved::Bytes(sign(db, &bytes, &field)?);
                progress(&format!(
                    "signed /usr/{path} with the db key ({} ms)",
                    t0.elapsed().as_millis()
                ));
            }
        }
    }
    Ok(())
}

/// The Authenticode signature of a PE image (UKI, kernel) for
/// `metalos inspect`: `null` when unsigned, else
/// `{"signer": CN, "signer_cert_sha256": …, "check": "ok" | why not}`,
/// or `{"error": …}` for an unreadable signature.
pub fn signature_json(image: &[u8]) -> serde_json::Value {
    match metalos_secureboot::authenticode(image) {
        Ok(None) => serde_json::Value::Null,
        Ok(Some(a)) => serde_json::json!({
            "signer": a.signer, "signer_cert_sha256": a.signer_cert_sha256, "check": a.check,
        }),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

/// One line for `metalos inspect`: `unsigned`, `CN (check: ok)`, or the error.
pub fn signature_text(image: &[u8]) -> String {
    match metalos_secureboot::authenticode(image) {
        Ok(None) => "unsigned".into(),
        Ok(Some(a)) => format!("signed by \"{}\" (check: {})", a.signer, a.check),
        Err(e) => format!("unreadable signature ({e})"),
    }
}

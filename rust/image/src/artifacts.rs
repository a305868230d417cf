//! Artifacts built before the disk: initrds from initrd specs, then UKIs.
//! They land in a temp directory inside the output directory and are
//! renamed to `DIR/artifacts/` only when the whole build succeeded.

use crate::error::{output_error, BuildError};
use crate::manifest::ArtifactRecord;
use crate::signing::BuildKeys;
use metalos_config::spec::{ImageSpec, InitrdArtifact, UkiArtifact};
use metalos_config::{FieldError, Resolver, Source};
use std::collections::BTreeMap;
use std::path::Path;

/// Builds every `[[initrds]]` and `[[ukis]]` of `spec` into `dir`,
/// registering each in `resolver.artifacts` as soon as it exists. With
/// `keys`, every initrd also gets the public key
/// ([`crate::signing::INITRD_PUBKEY_PATH`]).
pub fn build_artifacts(
    spec: &ImageSpec,
    resolver: &mut Resolver,
    dir: &Path,
    initrd_options: &metalos_initrd::BuildOptions,
    keys: Option<&BuildKeys>,
    progress: &dyn Fn(&str),
) -> Result<BTreeMap<String, ArtifactRecord>, BuildError> {
    let mut records = BTreeMap::new();
    for (i, initrd) in spec.initrds.iter().enumerate() {
        progress(&format!("building initrd {}", initrd.name));
        let bytes = build_initrd(i, initrd, resolver, initrd_options, keys)?;
        save(dir, &initrd.name, &bytes, resolver, &mut records)?;
    }
    for (i, u) in spec.ukis.iter().enumerate() {
        progress(&format!("building UKI {}", u.name));
        let bytes = build_uki(i, u, resolver, keys, progress)?;
        save(dir, &u.name, &bytes, resolver, &mut records)?;
    }
    Ok(records)
}

/// `initrds[i]`: reads its initrd spec and builds it (sources relative to
/// that spec), adding the public key when signing.
fn build_initrd(
    i: usize,
    initrd: &InitrdArtifact,
    resolver: &Resolver,
    options: &metalos_initrd::BuildOptions,
    keys: Option<&BuildKeys>,
) -> Result<Vec<u8>, FieldError> {
    let field = format!("initrds[{i}]");
    let spec_path = resolver.base_dir.join(&initrd.spec);
    let text = std::fs::read_to_string(&spec_path).map_err(|e| {
        FieldError::new(
            format!("{field}.spec"),
            format!("cannot read {}: {e}", spec_path.display()),
        )
    })?;
    let mut ispec = metalos_initrd::InitrdSpec::from_toml(&text).map_err(|e| {
        FieldError::new(
            format!("{field}.spec"),
            format!("{}: {e}", spec_path.display()),
        )
    })?;
    if let Some(keys) = keys {
        ispec.files.push(crate::signing::initrd_pubkey_entry(keys));
    }
    // Sources in the initrd spec are relative to the initrd spec's directory.
    let mut sub = resolver.clone();
    sub.base_dir = spec_path.parent().unwrap_or(Path::new(".")).to_owned();
    metalos_initrd::build(&ispec, &sub, options)
        .map_err(|e| FieldError::new(field, format!("{}: {e}", spec_path.display())))
}

/// `ukis[i]`: assembles the UKI and, with a db key, signs it.
fn build_uki(
    i: usize,
    u: &UkiArtifact,
    resolver: &Resolver,
    keys: Option<&BuildKeys>,
    progress: &dyn Fn(&str),
) -> Result<Vec<u8>, FieldError> {
    let field = format!("ukis[{i}]");
    let read = |s: &Source, name: &str| -> Result<Vec<u8>, FieldError> {
        let f = format!("{field}.{name}");
        let resolved = resolver.resolve(s, &f)?;
        resolved
            .read()
            .map_err(|e| FieldError::new(f, format!("cannot read: {e}")))
    };
    let stub = read(&u.stub, "stub")?;
    let inputs = metalos_uki::UkiInputs {
        kernel: read(&u.kernel, "kernel")?,
        initrd: u.initrd.as_ref().map(|s| read(s, "initrd")).transpose()?,
        cmdline: u.cmdline.clone(),
        osrel: u
            .os_release
            .as_ref()
            .map(|s| read(s, "os-release"))
            .transpose()?,
        uname: u.uname.clone(),
    };
    let mut bytes = inputs
        .build(&stub)
        .map_err(|e| FieldError::new(format!("{field}.stub"), e.to_string()))?;
    if let Some(db) = keys.and_then(|k| k.db.as_ref()) {
        let t0 = std::time::Instant::now();
        bytes = crate::secureboot::sign(db, &bytes, &field)?;
        progress(&format!(
            "signed UKI {} with the db key ({} ms)",
            u.name,
            t0.elapsed().as_millis()
        ));
    }
    Ok(bytes)
}

fn save(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    resolver: &mut Resolver,
    records: &mut BTreeMap<String, ArtifactRecord>,
) -> Result<(), BuildError> {
    use sha2::{Digest, Sha256};
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(output_error(&path))?;
    resolver.artifacts.insert(name.to_string(), path);
    records.insert(
        name.to_string(),
        ArtifactRecord {
            file: format!("artifacts/{name}"),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        },
    );
    Ok(())
}

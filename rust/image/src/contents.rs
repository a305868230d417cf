//! What goes on the ESP, into `/usr` and on the OEM partition: the spec's
//! files, directories, links and trees resolved to bytes or host paths,
//! and the inputs used.

use metalos_config::spec::{parse_mode, EspSpec, HostConfigSpec, ImageSpec, OemSpec, UsrSpec};
use metalos_config::{FieldError, Resolved, Resolver, Source};
use metalos_contract::oem::OemRelease;
use metalos_contract::paths::OemPath;
use metalos_disk::esp::EspFile;
use metalos_disk::usrfs::UsrNode;
use std::collections::BTreeMap;
use std::path::Path;

/// Where the HostConfig goes on the ESP.
pub const HOST_CONFIG_ESP_PATH: &str = metalos_contract::paths::EspPath::HOST_CONFIG.as_str();

/// The resolved content of the ESP and `/usr`.
pub(crate) struct Contents {
    /// ESP files, the HostConfig last.
    pub esp: Vec<EspFile>,
    /// `/usr` nodes, trees merged in.
    pub usr: Vec<UsrNode>,
    /// OEM partition files (`oem-release`, `base/*.ign`); empty without `[oem]`.
    pub oem: Vec<EspFile>,
    /// sha256 of every input used, by input name.
    pub inputs: BTreeMap<String, String>,
}

/// Resolves every source of `[esp]`, `[host-config]` and `[usr]`.
pub(crate) fn resolve_contents(
    spec: &ImageSpec,
    resolver: &Resolver,
) -> Result<Contents, FieldError> {
    let mut r = ContentResolver {
        resolver,
        inputs: BTreeMap::new(),
    };
    let mut esp = r.esp_files(&spec.esp)?;
    if let Some(hc) = &spec.host_config {
        esp.push(r.host_config(hc)?);
    }
    let usr = r.usr_nodes(&spec.usr)?;
    let oem = match &spec.oem {
        Some(o) => oem_files(o, resolver, &usr)?,
        None => vec![],
    };
    Ok(Contents {
        esp,
        usr,
        oem,
        inputs: r.inputs,
    })
}

/// A [`Resolver`] that also records the inputs it resolves.
struct ContentResolver<'a> {
    resolver: &'a Resolver,
    inputs: BTreeMap<String, String>,
}

impl ContentResolver<'_> {
    /// Resolves a source that must be a regular file (or bytes).
    fn file(&mut self, source: &Source, field: String) -> Result<Resolved, FieldError> {
        let resolved = resolve_kind(
            self.resolver,
            source,
            &field,
            Path::is_file,
            "a regular file",
        )?;
        self.record_input(source);
        Ok(resolved)
    }

    fn record_input(&mut self, source: &Source) {
        if let Some(name) = &source.input {
            let entry = &self.resolver.inputs.inputs[name];
            self.inputs.insert(name.clone(), entry.sha256.clone());
        }
    }

    fn esp_files(&mut self, esp: &EspSpec) -> Result<Vec<EspFile>, FieldError> {
        let mut files = vec![];
        for (i, f) in esp.files.iter().enumerate() {
            let content = self.file(&f.source, format!("esp.files[{i}].source"))?;
            files.push(EspFile {
                path: f.path.clone(),
                content,
            });
        }
        Ok(files)
    }

    /// The HostConfig as an ESP file, after checking that it parses.
    fn host_config(&mut self, hc: &HostConfigSpec) -> Result<EspFile, FieldError> {
        let content = self.file(&hc.default, "host-config.default".into())?;
        let bytes = content
            .read()
            .map_err(|e| FieldError::new("host-config.default", format!("cannot read: {e}")))?;
        check_host_config(&bytes)?;
        Ok(EspFile {
            path: HOST_CONFIG_ESP_PATH.into(),
            content: Resolved::Bytes(bytes),
        })
    }

    /// Directories, files and symlinks, then the trees merged in.
    fn usr_nodes(&mut self, usr: &UsrSpec) -> Result<Vec<UsrNode>, FieldError> {
        let mut nodes = vec![];
        let mode = |m: &Option<String>, default: u16| {
            m.as_deref()
                .map(|m| parse_mode(m).expect("validated"))
                .unwrap_or(default)
        };
        for d in &usr.directories {
            nodes.push(UsrNode::dir(d.path.clone(), mode(&d.mode, 0o755)));
        }
        for (i, f) in usr.files.iter().enumerate() {
            let content = self.file(&f.source, format!("usr.files[{i}].source"))?;
            nodes.push(UsrNode::file(f.path.clone(), mode(&f.mode, 0o644), content));
        }
        for l in &usr.symlinks {
            nodes.push(UsrNode::symlink(l.path.clone(), l.target.clone()));
        }
        let trees = self.usr_trees(usr)?;
        crate::usrtree::merge(nodes, trees)
    }

    /// Walks each `[[usr.trees]]`; returns its field path and nodes.
    fn usr_trees(&mut self, usr: &UsrSpec) -> Result<Vec<(String, Vec<UsrNode>)>, FieldError> {
        let mut trees = vec![];
        for (i, t) in usr.trees.iter().enumerate() {
            let field = format!("usr.trees[{i}]");
            let root = match resolve_dir(self.resolver, &t.source, &format!("{field}.source"))? {
                Resolved::Path(p) => p,
                Resolved::Bytes(_) => unreachable!("validated: trees are not `text`"),
            };
            self.record_input(&t.source);
            let nodes = crate::usrtree::walk_tree(&root, &t.path, &t.exclude)
                .map_err(|m| FieldError::new(format!("{field}.source"), m))?;
            trees.push((field, nodes));
        }
        Ok(trees)
    }
}

/// `oem-release` (`ID=`, the `/usr` version, `NAME=`) and each base config
/// as `base/<stem>.ign`, after checking that it is an Ignition config.
fn oem_files(
    oem: &OemSpec,
    resolver: &Resolver,
    usr: &[UsrNode],
) -> Result<Vec<EspFile>, FieldError> {
    let release = OemRelease {
        id: oem.id.clone(),
        version_id: Some(crate::usrtree::usr_version(usr)),
        name: Some(format!("MetalOS OEM ({})", oem.id)),
    };
    let mut files = vec![EspFile {
        path: OemPath::RELEASE.as_str().into(),
        content: Resolved::Bytes(release.render().into_bytes()),
    }];
    let names = oem.base_config_names()?;
    for (i, (path, name)) in oem.base_configs.iter().zip(names).enumerate() {
        let field = format!("oem.base-configs[{i}]");
        let source = Source {
            file: Some(path.clone()),
            ..Default::default()
        };
        let content = resolve_kind(resolver, &source, &field, Path::is_file, "a regular file")?;
        let bytes = content
            .read()
            .map_err(|e| FieldError::new(&field, format!("cannot read {path}: {e}")))?;
        check_base_config(&bytes).map_err(|m| FieldError::new(&field, format!("{path}: {m}")))?;
        files.push(EspFile {
            path: format!("{}/{name}", OemPath::BASE_DIR),
            content: Resolved::Bytes(bytes),
        });
    }
    Ok(files)
}

/// A base config must be JSON and a valid Ignition config (metalinit
/// parses it the same way on the first boot).
fn check_base_config(bytes: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<serde_json::Value>(bytes).map_err(|e| format!("not JSON: {e}"))?;
    metalos_ignition::parse::parse(bytes, Default::default())
        .map(drop)
        .map_err(|r| {
            let issues: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
            format!("not a valid Ignition config: {}", issues.join("; "))
        })
}

/// The HostConfig must be UTF-8, parse, and carry valid provisioning.
fn check_host_config(bytes: &[u8]) -> Result<(), FieldError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| FieldError::new("host-config.default", "the HostConfig is not UTF-8"))?;
    let invalid = |e: &dyn std::fmt::Display| {
        FieldError::new("host-config.default", format!("invalid HostConfig: {e}"))
    };
    let parsed =
        metalos_config::hostconfig::HostConfig::from_json(text).map_err(|e| invalid(&e))?;
    if let Some(p) = &parsed.provisioning {
        metalos_ignition::parse::check_provisioning(p).map_err(|e| invalid(&e))?;
    }
    Ok(())
}

/// Resolves a tree source, which must be a directory.
fn resolve_dir(resolver: &Resolver, source: &Source, field: &str) -> Result<Resolved, FieldError> {
    resolve_kind(resolver, source, field, Path::is_dir, "a directory")
}

/// Resolves `source`; a host path must pass `is_kind` (else: "PATH is not {kind}").
fn resolve_kind(
    resolver: &Resolver,
    source: &Source,
    field: &str,
    is_kind: fn(&Path) -> bool,
    kind: &str,
) -> Result<Resolved, FieldError> {
    let resolved = resolver.resolve(source, field)?;
    if let Resolved::Path(p) = &resolved {
        if !is_kind(p) {
            return Err(FieldError::new(
                field,
                format!("{} is not {kind}", p.display()),
            ));
        }
    }
    Ok(resolved)
}

//! Index synthesis for module trees without `depmod` output (an unpacked
//! Debian `linux-image-*.deb` ships `kernel/…/*.ko`, `modules.order` and
//! `modules.builtin`, but no `modules.dep`): each module's `.modinfo`
//! section (`depends=`, `softdep=`, `alias=`) is read and depmod-format
//! text is generated.

use super::{normalize_name, KmodError};
use object::{Object, ObjectSection};
use std::collections::BTreeMap;
use std::path::Path;

/// What a module's `.modinfo` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// `depends=` names.
    pub depends: Vec<String>,
    /// `softdep=` values (`pre: a b post: c`).
    pub softdeps: Vec<String>,
    /// `alias=` values.
    pub aliases: Vec<String>,
}

/// Generated `modules.dep`, `modules.softdep` and `modules.alias` text.
pub(super) struct Synthesized {
    pub dep: String,
    pub softdep: String,
    pub alias: String,
}

/// Reads the `.modinfo` of a `.ko` or `.ko.zst` file.
pub fn read_modinfo(path: &Path) -> Result<ModInfo, KmodError> {
    let io = |source| KmodError::Io {
        path: path.into(),
        source,
    };
    let bad = |reason: String| KmodError::Malformed {
        file: path.into(),
        line: 0,
        reason,
    };
    let raw = std::fs::read(path).map_err(io)?;
    let name = path.to_string_lossy();
    let data = if name.ends_with(".ko.zst") {
        zstd::stream::decode_all(&raw[..]).map_err(io)?
    } else if name.ends_with(".ko") {
        raw
    } else {
        return Err(bad(
            "compressed module without modules.dep (only .ko and .ko.zst are read)".into(),
        ));
    };
    let file = object::File::parse(&*data).map_err(|e| bad(format!("not an ELF module: {e}")))?;
    let mut info = ModInfo::default();
    let Some(section) = file.section_by_name(".modinfo") else {
        return Ok(info);
    };
    let bytes = section.data().map_err(|e| bad(e.to_string()))?;
    for entry in bytes.split(|&b| b == 0) {
        let entry = String::from_utf8_lossy(entry);
        match entry.split_once('=') {
            Some(("depends", v)) => info
                .depends
                .extend(v.split(',').filter(|s| !s.is_empty()).map(normalize_name)),
            Some(("softdep", v)) => info.softdeps.push(v.trim().to_string()),
            Some(("alias", v)) => info.aliases.push(v.to_string()),
            _ => {}
        }
    }
    Ok(info)
}

fn scan(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), KmodError> {
    let io = |source| KmodError::Io {
        path: dir.into(),
        source,
    };
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    names.sort();
    for n in names {
        let n = n.to_string_lossy().into_owned();
        let p = dir.join(&n);
        let r = format!("{rel}{n}");
        if p.is_dir() {
            scan(&p, &format!("{r}/"), out)?;
        } else if [".ko", ".ko.zst", ".ko.xz", ".ko.gz"]
            .iter()
            .any(|s| n.ends_with(s))
        {
            out.push(r);
        }
    }
    Ok(())
}

/// Generates depmod-style indexes for every module below `dir`.
///
/// `modules.dep` lines list the full transitive dependencies, the one to
/// load first last (depmod's convention); lines follow `modules.order`,
/// then the remaining modules in path order.
pub(super) fn synthesize(dir: &Path) -> Result<Synthesized, KmodError> {
    let mut rels = Vec::new();
    for top in ["kernel", "updates", "extra"] {
        if dir.join(top).is_dir() {
            scan(&dir.join(top), &format!("{top}/"), &mut rels)?;
        }
    }
    let order = std::fs::read_to_string(dir.join("modules.order")).unwrap_or_default();
    let rank: BTreeMap<String, usize> = order
        .lines()
        .enumerate()
        .map(|(i, l)| (normalize_name(l.trim()), i))
        .collect();
    rels.sort_by_key(|r| {
        (
            rank.get(&normalize_name(r)).copied().unwrap_or(usize::MAX),
            r.clone(),
        )
    });
    let mut infos = BTreeMap::new();
    let mut path_of = BTreeMap::new();
    for r in &rels {
        let name = normalize_name(r);
        infos.insert(name.clone(), read_modinfo(&dir.join(r))?);
        path_of.entry(name).or_insert_with(|| r.clone());
    }
    let mut out = Synthesized {
        dep: String::new(),
        softdep: String::new(),
        alias: String::new(),
    };
    for r in &rels {
        let name = normalize_name(r);
        let mut load = Vec::new();
        deps_first(&name, &infos, &mut load, &mut Vec::new());
        load.pop(); // the module itself
        let list: Vec<&str> = load
            .iter()
            .rev()
            .filter_map(|n| path_of.get(n).map(String::as_str))
            .collect();
        out.dep.push_str(&format!(
            "{r}:{}{}\n",
            if list.is_empty() { "" } else { " " },
            list.join(" ")
        ));
        let info = &infos[&name];
        for s in &info.softdeps {
            out.softdep.push_str(&format!("softdep {name} {s}\n"));
        }
        for a in &info.aliases {
            out.alias.push_str(&format!("alias {a} {name}\n"));
        }
    }
    Ok(out)
}

fn deps_first(
    name: &str,
    infos: &BTreeMap<String, ModInfo>,
    out: &mut Vec<String>,
    stack: &mut Vec<String>,
) {
    if out.iter().any(|n| n == name) || stack.iter().any(|n| n == name) {
        return;
    }
    stack.push(name.to_string());
    if let Some(info) = infos.get(name) {
        for d in &info.depends {
            deps_first(d, infos, out, stack);
        }
    }
    stack.pop();
    out.push(name.to_string());
}

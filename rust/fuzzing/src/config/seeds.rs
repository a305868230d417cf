//! Seeds: the repository's own HostConfigs, image specs and Ignition
//! configs (examples, fixtures, docs, tests).

use crate::seeds::{Seed, SeedSources};
use std::path::Path;

/// Files whose JSON objects (anywhere in the text: fixtures, Markdown,
/// Rust test sources) are harvested as seeds.
const JSON_SOURCES: &[&str] = &[
    "images/host-config.json",
    "images/host-config.example.json",
    "tests/fixtures/host-config-vm.json",
    "tests/fixtures/host-config-netboot-1.json",
    "tests/fixtures/host-config-netboot-2.json",
    "docs/host-config.md",
    "docs/provisioning.md",
    "tests/provision.rs",
    "tests/server.rs",
    "rust/ignition/tests/apply_cases.rs",
    "rust/ignition/tests/differential.rs",
];

/// Image specs.
const SPEC_SOURCES: &[&str] = &[
    "images/default.toml",
    "images/server.toml",
    "images/bootloader-initrd.toml",
    "images/setup-initrd.toml",
];

/// Every JSON object that parses on its own somewhere in `text`.
fn json_objects(text: &str) -> Vec<serde_json::Value> {
    let mut out = vec![];
    let mut start = 0;
    while let Some(i) = text[start..].find('{') {
        let at = start + i;
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter();
        match stream.next() {
            Some(Ok(v @ serde_json::Value::Object(_))) => {
                out.push(v);
                start = at + stream.byte_offset().max(1);
            }
            _ => start = at + 1,
        }
    }
    out
}

/// HostConfig, spec and Ignition seeds.
pub fn seeds(src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let mut out = vec![];
    let mut push =
        |target: &'static str, name: String, data: Vec<u8>| out.push(Seed { target, name, data });
    for rel in JSON_SOURCES {
        let path = src.repo.join(rel);
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("seeds: {} missing, skipped", path.display());
            continue;
        };
        let stem = stem(rel);
        for (i, v) in json_objects(&text).into_iter().enumerate() {
            let data = serde_json::to_vec_pretty(&v)?;
            if v.get("identity").is_some() {
                if let Some(p) = v.get("provisioning") {
                    push(
                        "ignition",
                        format!("{stem}-{i}-provisioning"),
                        serde_json::to_vec(p)?,
                    );
                }
                push("hostconfig", format!("{stem}-{i}"), data);
            } else if v.get("ignition").is_some() {
                push("ignition", format!("{stem}-{i}"), data);
            }
        }
    }
    for rel in SPEC_SOURCES {
        let path = src.repo.join(rel);
        match std::fs::read(&path) {
            Ok(data) => push("spec", stem(rel), data),
            Err(_) => eprintln!("seeds: {} missing, skipped", path.display()),
        }
    }
    // The structured targets start from a few byte patterns: arbitrary
    // turns any bytes into a value.
    for (i, fill) in [0u8, 1, 0x41, 0xff].iter().enumerate() {
        for target in [
            "spec_structured",
            "hostconfig_structured",
            "ignition_structured",
        ] {
            push(target, format!("fill-{i}"), vec![*fill; 512]);
        }
    }
    Ok(out)
}

fn stem(rel: &str) -> String {
    Path::new(rel).to_string_lossy().replace(['/', '.'], "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_objects_in_markdown_and_rust() {
        let text =
            "text {\"a\": {\"b\": 1}} more r#\"{\"ignition\":{\"version\":\"3.4.0\"}}\"# {broken";
        let found = json_objects(text);
        assert_eq!(found.len(), 2);
        assert!(found[1].get("ignition").is_some());
    }
}

//! Property test: random valid layouts survive write → inspect.

use metalos_config::spec::{ImageSpec, PARTITION_TYPES};
use metalos_config::{InputsManifest, Resolver};
use metalos_image::inspect::inspect_disk;
use metalos_image::{build, BuildOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Part {
    slot: u32,
    mib: u64,
    type_index: usize,
    prio: Option<(u8, u8, bool)>,
}

fn layout() -> impl Strategy<Value = (u64, u64, Vec<Part>)> {
    let part = (
        1u64..12,
        0usize..PARTITION_TYPES.len(),
        proptest::option::of((0u8..16, 0u8..16, any::<bool>())),
    );
    (
        prop_oneof![Just(512u64), Just(4096u64)],
        0u64..8,
        proptest::collection::btree_map(1u32..=128, part, 1..6),
    )
        .prop_map(|(ss, slack, parts)| {
            let parts = parts
                .into_iter()
                .map(|(slot, (mib, type_index, prio))| Part {
                    slot,
                    mib,
                    type_index,
                    prio,
                })
                .collect();
            (ss, slack, parts)
        })
}

fn spec_text(ss: u64, slack: u64, parts: &[Part]) -> String {
    let total: u64 = parts.iter().map(|p| p.mib).sum::<u64>() + 2 + slack;
    let mut s = format!("[disk]\nsize = \"{total}MiB\"\nsector-size = {ss}\nseed = \"3c2f0e4a-9d8b-4c7e-a1f2-6b5d4e3c2a10\"\n");
    for p in parts {
        s += &format!(
            "\n[[partitions]]\nslot = {}\nlabel = \"part-{}\"\ntype = \"{}\"\nsize = \"{}MiB\"\n",
            p.slot, p.slot, PARTITION_TYPES[p.type_index].0, p.mib
        );
        if let Some((priority, tries, successful)) = p.prio {
            s += &format!("gptprio = {{ priority = {priority}, tries = {tries}, successful = {successful} }}\n");
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn random_layouts_round_trip((ss, slack, parts) in layout()) {
        let text = spec_text(ss, slack, &parts);
        let spec = ImageSpec::parse(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let resolver = Resolver::new(dir.path(), InputsManifest::new());
        let options = BuildOptions { out_dir: dir.path().join("out"), source_date_epoch: None, progress: &|_| {}, signing_keys: None, cache_dir: None };
        let manifest = build(&spec, &resolver, &options).unwrap();
        let file = std::fs::File::open(dir.path().join("out/disk.img")).unwrap();
        let report = inspect_disk(&file).unwrap();
        prop_assert_eq!(report.sector_size, ss);
        prop_assert!(report.primary_gpt_error.is_none());
        prop_assert!(report.backup_gpt_error.is_none());
        prop_assert_eq!(report.partitions.len(), parts.len());
        for ((p, got), rec) in parts.iter().zip(&report.partitions).zip(&manifest.partitions) {
            prop_assert_eq!(got.slot, p.slot);
            prop_assert_eq!(&got.label, &format!("part-{}", p.slot));
            prop_assert_eq!(got.type_guid.clone(), PARTITION_TYPES[p.type_index].1.to_string());
            prop_assert_eq!(got.size, p.mib << 20);
            prop_assert_eq!(got.first_lba * ss, rec.offset);
            prop_assert_eq!(&got.guid, &rec.guid);
            let attrs = u64::from_str_radix(got.attributes.trim_start_matches("0x"), 16).unwrap();
            let want = p.prio.map(|(pr, t, s)| (u64::from(pr) << 48) | (u64::from(t) << 52) | (u64::from(s) << 56)).unwrap_or(0);
            prop_assert_eq!(attrs, want);
        }
    }
}

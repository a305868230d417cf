//! Every minimized fuzzing finding, replayed without a fuzzer: the inputs
//! under `tests/fuzz-regressions/<target>/` go through the same function
//! the cargo-fuzz binary `<target>` calls (rust/fuzzing). A finding that
//! comes back panics here. See docs/fuzzing.md.

use std::path::Path;

#[test]
fn every_regression_input_decodes_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-regressions");
    let mut ran = 0;
    for dir in std::fs::read_dir(&root).expect("tests/fuzz-regressions") {
        let dir = dir.unwrap();
        if !dir.file_type().unwrap().is_dir() {
            continue;
        }
        let name = dir.file_name().to_string_lossy().into_owned();
        let target = metalos_fuzzing::find(&name).unwrap_or_else(|| {
            panic!("tests/fuzz-regressions/{name}: no fuzz target of that name")
        });
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let path = f.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            eprintln!("{}", path.display());
            (target.run)(&data);
            ran += 1;
        }
    }
    eprintln!("{ran} regression inputs replayed");
}

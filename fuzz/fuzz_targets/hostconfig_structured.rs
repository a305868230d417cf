#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| metalos_fuzzing::config::hostconfig_structured(data));

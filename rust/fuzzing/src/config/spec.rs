//! Image spec: `metalos build`'s TOML, validation and partition layout.

use super::structured::arbitrary_spec;
use metalos_config::spec::ImageSpec;

/// Spec text → validation → layout.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = ImageSpec::parse(text) {
        lay_out(&s);
    }
}

/// Arbitrary specs: whatever validates lays out.
pub fn spec_structured(data: &[u8]) {
    let Some(s) = arbitrary_spec(data) else {
        return;
    };
    if s.validate().is_ok() {
        lay_out(&s);
    }
}

/// The builder's first, byte-free step: every partition placed inside the
/// usable area, aligned, in order and without overlap.
fn lay_out(s: &ImageSpec) {
    let Ok(placements) = metalos_image::layout::place(s) else {
        return;
    };
    let gpt = metalos_image::layout::empty_gpt(s, s.seed());
    let ss = s.disk.sector_size;
    let mut end = 0;
    for p in &placements {
        assert!(p.index < s.partitions.len());
        assert_eq!(
            p.offset % metalos_image::layout::ALIGN,
            0,
            "unaligned partition"
        );
        assert!(p.offset >= end, "partitions overlap");
        end = p.offset + p.size;
        assert!(end <= s.disk.size.0, "partition beyond the disk");
    }
    assert!(gpt.total_sectors * ss <= s.disk.size.0);
}

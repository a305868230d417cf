//! Real captures used as seeds, kept in `rust/fuzzing/seeds/net/` and
//! built into the crate.

/// `(file name, bytes)` of a capture in `rust/fuzzing/seeds/net/`.
macro_rules! capture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/net/", $name)).as_slice(),
        )
    };
}

pub(crate) use capture;

//! Update bundles: the manifest format is defined once, in
//! [`metalos_contract::update`] (the image build writes it, the update
//! code reads it); this module names it for the build's writer.

pub use metalos_contract::update::{
    is_plain_file_name, is_sha256_hex, os_release_version, BundleFile,
    UpdateManifest as BundleManifest, BUNDLE_FORMAT, BUNDLE_MANIFEST,
};

//! The `metalos.*` kernel arguments: written by the build host (netboot's
//! iPXE script and imaging UKI) and read by PID-1 programs, through the
//! same names and the same parser.

use std::num::ParseIntError;

/// `metalos.host_config_url=`: where metalimage fetches the HostConfig
/// (`${mac}` is expanded to the boot NIC's hyphenated MAC).
pub const HOST_CONFIG_URL: &str = "metalos.host_config_url";
/// `metalos.image_url=`: the zstd-compressed disk image blob.
pub const IMAGE_URL: &str = "metalos.image_url";
/// `metalos.image_sha256=`: sha256 of the uncompressed image.
pub const IMAGE_SHA256: &str = "metalos.image_sha256";
/// `metalos.image_size=`: bytes of the uncompressed image.
pub const IMAGE_SIZE: &str = "metalos.image_size";

/// `metalos.oem.id=`: the platform (OEM) id, written by
/// metalos-bootloader and metalimage for the slot kernel (the HostConfig's
/// `oem-id`, else the OEM partition's `oem-release` `ID=`), read by
/// metalinit. See [`crate::oem`].
pub const OEM_ID: &str = "metalos.oem.id";

/// Value of `key=value` on a kernel command line (the last one wins, as
/// the kernel's own parameters do).
pub fn value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
        .next_back()
}

/// Why the command line's imaging arguments cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    /// A required argument is missing or empty.
    #[error(
        "{key}= is missing from the kernel command line ({cmdline:?}); when iPXE loads \
         the imaging UKI it replaces the embedded command line: boot it through the \
         netboot bundle's boot.ipxe"
    )]
    Missing {
        /// The argument.
        key: &'static str,
        /// The whole command line.
        cmdline: String,
    },
    /// `metalos.image_sha256=` is not 64 hex digits.
    #[error("metalos.image_sha256={0}: not a sha256 (64 hex digits)")]
    NotSha256(String),
    /// `metalos.image_size=` is not a number.
    #[error("metalos.image_size={value}: not a number of bytes: {source}")]
    NotSize {
        /// The text given.
        value: String,
        /// Why it does not parse.
        source: ParseIntError,
    },
}

/// What metalimage needs from the kernel command line (boot.ipxe or the
/// imaging UKI's embedded `.cmdline` puts it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagingArgs {
    /// [`HOST_CONFIG_URL`], may contain `${mac}` (or iPXE's own expansion).
    pub host_config_url: String,
    /// [`IMAGE_URL`]: `…/blobs/sha256/<hex>`.
    pub image_url: String,
    /// [`IMAGE_SHA256`].
    pub image_sha256: String,
    /// [`IMAGE_SIZE`].
    pub image_size: u64,
}

impl ImagingArgs {
    /// The arguments as written onto a command line, in this order.
    pub fn to_args(&self) -> String {
        format!(
            "{HOST_CONFIG_URL}={} {IMAGE_URL}={} {IMAGE_SHA256}={} {IMAGE_SIZE}={}",
            self.host_config_url, self.image_url, self.image_sha256, self.image_size
        )
    }

    /// Reads the arguments; a missing or malformed one is named.
    pub fn parse(cmdline: &str) -> Result<Self, CmdlineError> {
        let required = |key: &'static str| {
            value(cmdline, key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| CmdlineError::Missing {
                    key,
                    cmdline: cmdline.to_string(),
                })
        };
        let host_config_url = required(HOST_CONFIG_URL)?.to_string();
        let image_url = required(IMAGE_URL)?.to_string();
        let image_sha256 = required(IMAGE_SHA256)?.to_ascii_lowercase();
        if !is_hex_digest(&image_sha256) {
            return Err(CmdlineError::NotSha256(image_sha256));
        }
        let size = required(IMAGE_SIZE)?;
        let image_size = size.parse().map_err(|source| CmdlineError::NotSize {
            value: size.to_string(),
            source,
        })?;
        Ok(Self {
            host_config_url,
            image_url,
            image_sha256,
            image_size,
        })
    }

    /// The sha256 of the compressed blob, when the image URL is content
    /// addressed (`…/sha256/<hex>`).
    pub fn blob_sha256(&self) -> Option<&str> {
        let (_, last) = self.image_url.rsplit_once("/sha256/")?;
        is_hex_digest(last).then_some(last)
    }
}

fn is_hex_digest(s: &str) -> bool {
    crate::is_sha256_hex(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ImagingArgs {
        ImagingArgs {
            host_config_url: "http://h/hosts/${mac}.json".into(),
            image_url: format!("http://h/blobs/sha256/{}", "ab".repeat(32)),
            image_sha256: "cd".repeat(32),
            image_size: 42,
        }
    }

    #[test]
    fn written_arguments_parse_back() {
        let line = format!("console=ttyS0 {} quiet", args().to_args());
        assert_eq!(ImagingArgs::parse(&line), Ok(args()));
        assert_eq!(args().blob_sha256(), Some("ab".repeat(32).as_str()));
        assert_eq!(value("a=1 b=2 a=3", "a"), Some("3"));
    }

    #[test]
    fn problems_are_named() {
        let e = ImagingArgs::parse("console=ttyS0").unwrap_err().to_string();
        assert!(e.starts_with("metalos.host_config_url= is missing"), "{e}");
        let bad = args().to_args().replace(&"cd".repeat(32), "xyz");
        let e = ImagingArgs::parse(&bad).unwrap_err().to_string();
        assert_eq!(e, "metalos.image_sha256=xyz: not a sha256 (64 hex digits)");
        let bad = args().to_args().replace("image_size=42", "image_size=4x");
        let e = ImagingArgs::parse(&bad).unwrap_err().to_string();
        assert!(
            e.starts_with("metalos.image_size=4x: not a number of bytes"),
            "{e}"
        );
    }
}

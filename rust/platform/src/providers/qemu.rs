//! `qemu`: the user config in a QEMU fw_cfg entry (`-fw_cfg
//! name=opt/com.coreos/config,file=…`), read through the `qemu_fw_cfg`
//! module's sysfs files `by_name/<name>/size` and `…/raw`. The caller loads
//! the module first; without `/sys/firmware/qemu_fw_cfg` there is no
//! config. When both names are present the CoreOS one is used (Flatcar
//! gives no fixed precedence) and the other is named on the log.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use super::{UserConfig, USER_DATA_LIMIT};
use crate::fetch::FetchContext;
use crate::PlatformError;

/// The fw_cfg entries read, in order.
pub const FW_CFG_NAMES: [&str; 2] = ["opt/com.coreos/config", "opt/org.flatcar-linux/config"];

pub(super) fn user_config(ctx: &FetchContext) -> Result<Option<UserConfig>, PlatformError> {
    let base = ctx.sysfs.join("firmware/qemu_fw_cfg");
    if !base.is_dir() {
        ctx.log.line(&format!(
            "qemu: no {} (module qemu_fw_cfg not loaded): no config",
            base.display()
        ));
        return Ok(None);
    }
    let mut found: Option<UserConfig> = None;
    for name in FW_CFG_NAMES {
        let dir = base.join("by_name").join(name);
        if !dir.join("size").exists() {
            continue;
        }
        if let Some(first) = &found {
            ctx.log.line(&format!(
                "qemu: fw_cfg {name} ignored: the config comes from {}",
                first.source
            ));
            continue;
        }
        found = Some(UserConfig {
            data: read_entry(&dir)?,
            source: format!("fw_cfg {name}"),
        });
    }
    Ok(found)
}

/// Reads `dir/raw`, which must hold exactly `dir/size` bytes: one byte
/// more is "missing EOF", as Ignition says.
fn read_entry(dir: &Path) -> Result<Vec<u8>, PlatformError> {
    let size_path = dir.join("size");
    let err = |path: &Path, reason: String| PlatformError::FwCfg {
        path: path.to_path_buf(),
        reason,
    };
    let text = fs::read_to_string(&size_path).map_err(|e| err(&size_path, e.to_string()))?;
    let size: u64 = text
        .trim()
        .parse()
        .map_err(|_| err(&size_path, format!("not a size: {:?}", text.trim())))?;
    if size > USER_DATA_LIMIT {
        return Err(err(
            &size_path,
            format!("{size} bytes, more than the limit of {USER_DATA_LIMIT}: put large configs at a URL"),
        ));
    }
    let raw = dir.join("raw");
    let mut data = Vec::with_capacity(size as usize + 1);
    File::open(&raw)
        .and_then(|f| f.take(size + 1).read_to_end(&mut data))
        .map_err(|e| err(&raw, e.to_string()))?;
    match (data.len() as u64).cmp(&size) {
        std::cmp::Ordering::Greater => Err(err(
            &raw,
            format!(
                "missing EOF: more than the {size} bytes of {}",
                size_path.display()
            ),
        )),
        std::cmp::Ordering::Less => Err(err(
            &raw,
            format!("{} bytes, {} says {size}", data.len(), size_path.display()),
        )),
        std::cmp::Ordering::Equal => Ok(data),
    }
}

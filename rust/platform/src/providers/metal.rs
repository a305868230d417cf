//! `metal`: no provider config, ever (the user config comes only from
//! `ignition.config.url=`, the OEM partition, a reset or the HostConfig).

use super::UserConfig;

/// Always `None`.
pub(super) fn user_config() -> Option<UserConfig> {
    None
}

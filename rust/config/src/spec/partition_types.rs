//! Partition type names accepted in `partitions[].type`, and their GUIDs.

use uuid::Uuid;

/// Partition types accepted by name in `partitions[].type` (besides GUIDs).
pub const PARTITION_TYPES: &[(&str, Uuid)] = &[
    (
        "esp",
        Uuid::from_u128(0xc12a7328_f81f_11d2_ba4b_00a0c93ec93b),
    ),
    (
        "usr-x86-64",
        Uuid::from_u128(0x8484680c_9521_48c6_9c11_b0720656f69e),
    ),
    (
        "root-x86-64",
        Uuid::from_u128(0x4f68bce3_e8cd_4db1_96e7_fbcaf984b709),
    ),
    (
        "linux-generic",
        Uuid::from_u128(0x0fc63daf_8483_4772_8e79_3d69d8477de4),
    ),
    (
        "xbootldr",
        Uuid::from_u128(0xbc13c2ff_59e6_4262_a352_b275fd6f7172),
    ),
    (
        "swap",
        Uuid::from_u128(0x0657fd6d_a4ab_43c4_84e5_0933c84b4f4f),
    ),
    (
        "home",
        Uuid::from_u128(0x933ac7e1_2eb4_4f13_b844_0e14e2aef915),
    ),
    (
        "var",
        Uuid::from_u128(0x4d21b016_b534_45c2_a9fb_5c16e091fd2d),
    ),
    (
        "bios-boot",
        Uuid::from_u128(0x21686148_6449_6e6f_744e_656564454649),
    ),
];

/// Resolves a type name (see [`PARTITION_TYPES`]) or GUID string.
pub fn type_guid(name: &str) -> Option<Uuid> {
    PARTITION_TYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, u)| *u)
        .or_else(|| Uuid::parse_str(name).ok())
}

/// Name of a known partition type GUID.
pub fn type_name(guid: &Uuid) -> Option<&'static str> {
    PARTITION_TYPES
        .iter()
        .find(|(_, u)| u == guid)
        .map(|(n, _)| *n)
}

//! GUID helpers: GPT's mixed-endian byte order, well-known partition types,
//! and seed-derived identifiers (HMAC-SHA256, the way systemd-repart does it).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// The disk GUID of every freshly built image; the first boot replaces it.
pub const SENTINEL_DISK_GUID: Uuid = Uuid::from_u128(1);

pub use metalos_config::spec::{
    type_guid as partition_type, type_name as partition_type_name, PARTITION_TYPES,
};

/// GUID → the 16 bytes GPT stores (first three fields little-endian).
pub fn to_gpt_bytes(guid: &Uuid) -> [u8; 16] {
    guid.to_bytes_le()
}

/// The 16 bytes GPT stores → GUID.
pub fn from_gpt_bytes(bytes: [u8; 16]) -> Uuid {
    Uuid::from_bytes_le(bytes)
}

/// First 128 bits of HMAC-SHA256(key, message), marked as a version-4 UUID.
pub fn derive_uuid(key: &[u8], message: &[u8]) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hmac_sha256(key, message)[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Partition GUID derived from the image seed like systemd-repart: the
/// message is the type GUID, followed by a little-endian counter for the
/// second and later partitions of the same type.
pub fn partition_guid(seed: &Uuid, type_guid: &Uuid, nth_of_type: u64) -> Uuid {
    let mut msg = type_guid.as_bytes().to_vec();
    if nth_of_type > 0 {
        msg.extend_from_slice(&nth_of_type.to_le_bytes());
    }
    derive_uuid(seed.as_bytes(), &msg)
}

/// Filesystem UUID for the filesystem inside `partition`.
pub fn filesystem_uuid(partition: &Uuid) -> Uuid {
    derive_uuid(partition.as_bytes(), b"file-system-uuid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt_byte_order_is_mixed_endian() {
        let esp = partition_type("esp").unwrap();
        assert_eq!(
            to_gpt_bytes(&esp),
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
        assert_eq!(from_gpt_bytes(to_gpt_bytes(&esp)), esp);
    }

    #[test]
    fn derived_guids_are_stable_and_distinct() {
        let seed = Uuid::from_u128(42);
        let usr = partition_type("usr-x86-64").unwrap();
        let a = partition_guid(&seed, &usr, 0);
        assert_eq!(a, partition_guid(&seed, &usr, 0));
        assert_ne!(a, partition_guid(&seed, &usr, 1));
        assert_eq!(a.get_version_num(), 4);
        assert_ne!(filesystem_uuid(&a), a);
    }
}

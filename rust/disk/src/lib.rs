//! MetalOS disk writers and readers: GPT with gptprio attributes, sparse
//! image files, the FAT32 ESP, the squashfs `/usr` image and its dm-verity
//! tree and slot descriptor, and the disks of the running machine.
//!
//! * [`gpt`], [`gptprio`], [`guid`]: the partition table, its slot
//!   attributes and its GUIDs;
//! * [`slots`] — choosing the `/usr` slot by gptprio and its transitions
//!   (trial boot, mark good, rollback), written back synced;
//! * [`esp`], [`fatcheck`], [`fatswap`]: the FAT32 ESP (writing it, checking
//!   it before reading, swapping a file atomically);
//! * [`esp_partition`] — an ESP on a block device read and written in place
//!   ([`esp_partition::EspHandle`]: the HostConfig, the first-boot flag);
//! * [`oem`] — the OEM partition (`oem-release`, `base/*.ign`,
//!   `config.ign`) read in place ([`oem::OemPartition`]);
//! * [`blockdev`] — disks and partitions as the kernel sees them
//!   (`/sys/class/block`), the booted slot;
//! * [`device`], [`readat`], [`sparse`], [`blockcache`]: block devices
//!   versus image files, positioned I/O, sparse writing, a write-back
//!   block cache for writers of many small pieces;
//! * [`medium`] — reading back from the medium, not the page cache, range
//!   by range behind a write;
//! * [`readcache`] — a read cache for the FAT driver's many small reads;
//! * [`zerohash`], [`rangehash`]: SHA-256 that takes runs of zeros without
//!   their bytes, two streams at a time, and of file ranges with holes
//!   (hashing mostly-empty images);
//! * [`imagewrite`] — streaming a disk image onto a disk, tables last;
//! * [`imagestream`] — a zstd-compressed image blob onto a disk (metalimage's
//!   write path: decompress, write, check the blob, read back);
//! * [`usrfs`], [`verity`], [`slotverity`], [`slotdesc`]: the `/usr`
//!   squashfs, its dm-verity tree and its slot descriptor.

pub mod blockcache;
pub mod blockdev;
pub mod device;
pub mod esp;
pub mod esp_partition;
pub mod fatcheck;
pub mod fatswap;
pub mod gpt;
pub mod gptprio;
pub mod guid;
pub mod imagestream;
pub mod imagewrite;
pub mod medium;
pub mod oem;
pub mod rangehash;
pub mod readat;
pub mod readcache;
pub mod slotdesc;
pub mod slots;
pub mod slotverity;
pub mod sparse;
pub mod usrfs;
pub mod verity;
pub mod zerohash;

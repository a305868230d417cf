//! MetalOS disk writers and readers: GPT with gptprio attributes, sparse
//! image files, the FAT32 ESP, the squashfs `/usr` image and its dm-verity
//! tree and slot descriptor.
//!
//! Modules: [`readat`] (positioned I/O traits), [`sparse`] (hole-keeping
//! writes and the [`sparse::Region`] window), [`device`] (block-device
//! queries), [`gpt`], [`gptprio`] and [`guid`] (the partition table),
//! [`imagewrite`] (streaming an image onto a disk), [`esp`], [`fatcheck`]
//! and [`fatswap`] (the FAT32 ESP), [`usrfs`] (the squashfs `/usr`),
//! [`verity`], [`slotverity`] and [`slotdesc`] (dm-verity and the slot
//! descriptor).

pub mod device;
pub mod esp;
pub mod fatcheck;
pub mod fatswap;
pub mod gpt;
pub mod gptprio;
pub mod guid;
pub mod imagewrite;
pub mod readat;
pub mod slotdesc;
pub mod slotverity;
pub mod sparse;
pub mod usrfs;
pub mod verity;

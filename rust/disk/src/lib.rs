//! MetalOS disk writers and readers: GPT with gptprio attributes, sparse
//! image files, the FAT32 ESP, the squashfs `/usr` image and its dm-verity
//! tree and slot descriptor.

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

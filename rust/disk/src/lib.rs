//! MetalOS disk writers and readers: GPT with gptprio attributes, sparse
//! image files, the FAT32 ESP and the squashfs `/usr` image.

pub mod device;
pub mod esp;
pub mod fatswap;
pub mod gpt;
pub mod gptprio;
pub mod guid;
pub mod imagewrite;
pub mod sparse;
pub mod usrfs;

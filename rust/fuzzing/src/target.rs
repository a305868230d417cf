//! What a fuzz target is: a name, the function that runs one input, and
//! what `make fuzz` needs to know about it.

/// One fuzz target.
#[derive(Clone, Copy)]
pub struct Target {
    /// Name of the cargo-fuzz binary and of its corpus/regression directories.
    pub name: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]),
    /// Read by a PID 1 program at boot (bootloader, metalinit, metalimage):
    /// held to 10^7 executions instead of 10^6.
    pub pid1: bool,
    /// What it decodes, for `make fuzz` and the README table.
    pub about: &'static str,
    /// Largest input libFuzzer generates (`-max_len`): big enough for the
    /// real artifacts' seeds, small enough to keep executions fast.
    pub max_len: usize,
}

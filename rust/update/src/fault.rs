//! Fault injection for the power-loss tests: the VM tests set
//! `METALOS_FAULT_PAUSE=<point>` and kill the machine while it waits at that
//! point, then check that the disk still boots.

use std::io::Write;

/// Whether `METALOS_FAULT_PAUSE` names `name` (work that only makes the
/// paused state meaningful, such as a sync, is done only then).
pub fn armed(name: &str) -> bool {
    std::env::var("METALOS_FAULT_PAUSE").is_ok_and(|v| v == name)
}

/// When `METALOS_FAULT_PAUSE` names `name`, says so on the console and
/// stops here forever (the test then kills the VM). Does nothing otherwise.
pub fn fault_point(name: &str) {
    if armed(name) {
        let msg = format!("metalos-fault: paused at {name}\n");
        if let Ok(mut c) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
            let _ = c.write_all(msg.as_bytes());
        }
        eprint!("{msg}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

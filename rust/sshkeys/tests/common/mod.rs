//! Shared fixtures: update-ssh-keys' own test keys (tests/test_update_ssh_keys.rs)
//! with the fingerprints `ssh-keygen -lf` prints for them, and temp homes.

#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use metalos_sshkeys::User;

/// RSA 2048, no comment.
pub const VALID1: &str = concat!(
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDULTftpWMj4nD+7Ps",
    "B8itam2T6Aqm9Z+ursQG1SRiK4ie5rHGJoteGnbH91Uix/HDE5GC3Hz",
    "ICQVOnQay4hwJUKRfEUEWj1Sncer/BL2igDquABlcXNl2dgOlfJ8a3q",
    "6IZnQpdEe6Vrqg/Ui082UxuZ08pNV94M/5IhR2fx0EbY66PQ97o+ywH",
    "sB7oXDO8p/+mGL+h7cxFY7hILXTa5/3TGBEgcA65Rrmq22eiRt97RGh",
    "DjfzIqTqb8gwuhTSNN7FWDLrEyRwJMbaTgDSoMIZdLtndVrGEqFHUO+",
    "WzinSiEQCs2MDDnTk29bleHAEktu1x68GYhg9S7O/gZq8/swAV",
);
/// DSA 1024 with a `command="…"` option containing escaped quotes.
pub const VALID2: &str = concat!(
    "command=\"echo \\\"test\\\"\" ssh-dss AAAAB3NzaC1kc3MAAACBAJA94Sqw80BSKjVTNZD6570nXIN",
    "hP8R2UhbBuydT+GI6CfA9Dw7O0udJQUfrqARFcRQR/syc72CO6jaKNE",
    "3/A5E+8uVmRZt7s9VtA47s1qxqHswth74m1Nb86n2OTB0HcW63FsXo2",
    "cJF+r+l6F3IcRPi4z/eaEKG7uhAS59TjH2tAAAAFQC0I9kL3oceMT1O",
    "44WPe6NZ8w8CMwAAAIABGm2Yg8nGFZbo/W8njuM79w0W2P1NBVNWzBH",
    "WQqVbr4i1bWTSSc9X+itQUpeF6zAUDsUoprhNise2NLrMYCLFo9JxhE",
    "iYAcEJ/YbKEnjtJzaAmQNpyh3rCWuOcGPTevjAZIkl+zEc+/N7tCW1e",
    "uDYm6IXZ8LEQyTUQUdU4pZ2OgAAAIABk1ZA3+TiCMaoAafNVUZ7zwqk",
    "888yVOgsJ7HGGDGRMo5ytr2SUJB7QWsLX6Un/Zbu32nXsAqtqagxd6F",
    "Ies98TSekMh/hAv9uK92mEsXSINXOeIMKRedqOyPgk5IEOsFpxAUO4T",
    "xpYToeuM8HRemecxw2eIFHnax+mQqCsi7FgQ== core@valid2",
);
/// FIDO ed25519.
pub const VALID3: &str = concat!(
    "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9w",
    "ZW5zc2guY29tAAAAIEX/dQ0v4127bEo8eeG1EV0ApO2lWbSnN6RWusn",
    "/NjqIAAAABHNzaDo= demos@siril",
);
/// FIDO ECDSA (from the openssh-keys crate's tests).
pub const VALID4: &str = concat!(
    "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20A",
    "AAAIbmlzdHAyNTYAAABBBDZ+f5tSRhlB7EN39f93SscTN5PUvbD3UQsNrlE1ZdbwPMMRul2zlPiUvwAvnJitW0jl",
    "D/vwZOW2YN+q+iZ5c0MAAAAEc3NoOg== demos@siril",
);
/// Not a key.
pub const BAD: &str = "ssh-bad this-not-a-key core@bad";

/// `ssh-keygen -lf` output for VALID1..VALID4 (OpenSSH 9.2).
pub const KEYGEN_LINES: [&str; 4] = [
    "2048 SHA256:yZ+o48h6quk9c+JVgJ/Zq4S5u4LUk6TSpneHKkmM9KY no comment (RSA)",
    "1024 SHA256:RP5k1AybZ1kollIAnpUavr1v1nfZ0yloKvI46AMDPkM core@valid2 (DSA)",
    "256 SHA256:U8IKRkIHed6vFMTflwweA3HhIf2DWgZ8EFTm9fgwOUk demos@siril (ED25519-SK)",
    "256 SHA256:N0sNKBgWKK8usPuPegtgzHQQA9vQ/dRhAEhwFDAnLA4 demos@siril (ECDSA-SK)",
];

/// A temp home owned by the test process, and a [`User`] for it.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub user: User,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let user = User {
            name: "core".into(),
            uid: meta.uid(),
            gid: meta.gid(),
            home: dir.path().to_path_buf(),
        };
        Home { dir, user }
    }

    pub fn ssh(&self) -> PathBuf {
        self.dir.path().join(".ssh")
    }

    pub fn fragment(&self, name: &str) -> PathBuf {
        self.ssh().join("authorized_keys.d").join(name)
    }

    pub fn authorized_keys(&self) -> String {
        std::fs::read_to_string(self.ssh().join("authorized_keys")).unwrap()
    }

    /// Writes a fragment directly (as Ignition would).
    pub fn write_fragment(&self, name: &str, text: &str) {
        let path = self.fragment(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Whether `path` exists.
pub fn exists(path: &Path) -> bool {
    path.exists()
}

//! A throw-away certificate authority per test run (openssl CLI), for
//! HTTPS servers the guest must (or must not) trust.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and one server certificate signed by it.
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA certificate (PEM): what a client must trust.
    pub ca_pem: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

impl TestCa {
    /// Generates, in `dir`, an RSA CA (`CN=<cn> CA`, valid 2 days) and a
    /// server certificate for `ip` (CN and SAN `IP:<ip>`, serverAuth).
    pub fn generate(dir: &Path, cn: &str, ip: &str) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let p = |n: &str| dir.join(n);
        let ext = p("server.ext");
        std::fs::write(
            &ext,
            format!(
                "subjectAltName=IP:{ip}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        let s = |p: PathBuf| p.display().to_string();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn} CA"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &s(p("ca.key")),
            "-out",
            &s(p("ca.pem")),
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={ip}"),
            "-keyout",
            &s(p("server.key")),
            "-out",
            &s(p("server.csr")),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &s(p("server.csr")),
            "-CA",
            &s(p("ca.pem")),
            "-CAkey",
            &s(p("ca.key")),
            "-set_serial",
            "1",
            "-extfile",
            &s(ext),
            "-out",
            &s(p("server.pem")),
        ]);
        TestCa {
            ca_pem: p("ca.pem"),
            cert: p("server.pem"),
            key: p("server.key"),
        }
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running openssl (package openssl): {e}"));
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

//! `metalos update verify|stage --disk` on image files: bundles from a
//! directory and over HTTP, checked with sgdisk, mtools and unsquashfs;
//! bad bundles change nothing.

mod common;
use common::*;
use metalos_tests::FileServer;
use std::path::Path;

fn sha(p: &Path) -> String {
    metalos_config::inputs::file_digest(p).unwrap()
}

/// v1 image + v2 bundle (other /usr content and another bootloader).
fn setup() -> (Fixture, std::path::PathBuf, std::path::PathBuf) {
    let fx = Fixture::new();
    let v1 = fx.build(&full_spec(512), "v1");
    let v2_spec = full_spec(512)
        .replace(
            "path = \"EFI/BOOT/BOOTX64.EFI\"\nsource = {{ input = \"blob\" }}",
            "",
        )
        .replace(
            "source = { input = \"blob\" }",
            "source = { file = \"motd\" }",
        )
        .replace(
            "path = \"share/motd\"\nsource = { file = \"motd\" }",
            "path = \"share/motd\"\nsource = { text = \"version two\\n\" }",
        );
    let v2 = fx.build(&v2_spec, "v2");
    (fx, v1.join("disk.img"), v2.join("update"))
}

fn attrs(img: &Path, n: u32) -> String {
    let info = tool_ok("sgdisk", &["-i", &n.to_string(), img.to_str().unwrap()]);
    info.split("Attribute flags: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn stage_into_an_image_from_a_directory() {
    let (fx, img, bundle) = setup();
    metalos_ok(&["update", "verify", bundle.to_str().unwrap()]);
    metalos_ok(&[
        "update",
        "stage",
        "-q",
        bundle.to_str().unwrap(),
        "--disk",
        img.to_str().unwrap(),
    ]);
    assert_eq!(attrs(&img, 2), "0101000000000000", "USR-A keeps (P1,T0,S1)");
    assert_eq!(attrs(&img, 3), "0012000000000000", "USR-B gets (P2,T1,S0)");
    assert!(tool_ok("sgdisk", &["-v", img.to_str().unwrap()]).contains("No problems found"));
    let m = manifest(img.parent().unwrap());
    let b = m["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slot"] == 3)
        .unwrap()
        .clone();
    let slot = extract(
        &img,
        b["offset"].as_u64().unwrap(),
        b["size"].as_u64().unwrap(),
    );
    let root = fx.path("usr-b");
    tool_ok(
        "unsquashfs",
        &["-d", root.to_str().unwrap(), slot.path().to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(root.join("share/motd")).unwrap(),
        "version two\n"
    );
    // The bootloader was replaced, the old one kept, the ESP still clean.
    let esp = partition(img.parent().unwrap(), 1);
    let esp_s = esp.path().to_str().unwrap();
    tool_ok("fsck.fat", &["-n", esp_s]);
    let out = fx.path("bl");
    tool_ok(
        "mcopy",
        &[
            "-o",
            "-i",
            esp_s,
            "::/EFI/BOOT/BOOTX64.EFI",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(fx.path("motd")).unwrap()
    );
    tool_ok(
        "mcopy",
        &[
            "-o",
            "-i",
            esp_s,
            "::/EFI/BOOT/BOOTX64.PRV",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(fx.path("inputs/blob")).unwrap()
    );
}

/// Runs `metalos`, asserting success; returns stdout and stderr (progress).
fn all_output(args: &[&str]) -> String {
    let out = common::metalos(args);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "metalos {args:?} failed:\n{text}");
    text
}

fn esp_file(fx: &Fixture, img: &Path, name: &str) -> Option<Vec<u8>> {
    let esp = partition(img.parent().unwrap(), 1);
    let out = fx.path("esp-file");
    let _ = std::fs::remove_file(&out);
    let from = format!("::/{name}");
    let args = [
        "-o",
        "-i",
        esp.path().to_str().unwrap(),
        &from,
        out.to_str().unwrap(),
    ];
    common::tool("mcopy", &args)
        .status
        .success()
        .then(|| std::fs::read(&out).unwrap())
}

#[test]
fn stage_without_activating_then_activate() {
    let (fx, img, bundle) = setup();
    let (img_s, bundle_s) = (img.to_str().unwrap(), bundle.to_str().unwrap());
    let out = all_output(&[
        "update",
        "stage",
        bundle_s,
        "--disk",
        img_s,
        "--no-activate",
    ]);
    assert!(out.contains("stays disabled until"), "{out}");
    assert_eq!(attrs(&img, 2), "0101000000000000", "USR-A still boots");
    assert_eq!(
        attrs(&img, 3),
        "0000000000000000",
        "USR-B written but disabled"
    );
    // The firmware still starts the old bootloader; the new one waits.
    let old_bl = std::fs::read(fx.path("inputs/blob")).unwrap();
    assert_eq!(esp_file(&fx, &img, "EFI/BOOT/BOOTX64.EFI").unwrap(), old_bl);
    let new_bl = std::fs::read(fx.path("motd")).unwrap();
    assert_eq!(esp_file(&fx, &img, "EFI/BOOT/BOOTX64.NEW").unwrap(), new_bl);
    let record = esp_file(&fx, &img, "metalos/staged-update.json").unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["slot"], 3, "{record}");

    // A slot changed after staging is refused and stays disabled.
    let b = manifest(img.parent().unwrap())["partitions"][2].clone();
    assert_eq!(b["slot"], 3);
    let offset = b["offset"].as_u64().unwrap() + 4096;
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    let original = {
        let mut buf = [0u8; 1];
        std::os::unix::fs::FileExt::read_at(&std::fs::File::open(&img).unwrap(), &mut buf, offset)
            .unwrap();
        buf[0]
    };
    std::os::unix::fs::FileExt::write_at(&f, &[original ^ 0xff], offset).unwrap();
    let e = common::metalos(&["update", "activate", "--disk", img_s]);
    assert!(!e.status.success());
    let text = String::from_utf8_lossy(&e.stderr);
    assert!(text.contains("stays disabled: stage again"), "{text}");
    assert_eq!(attrs(&img, 3), "0000000000000000");
    std::os::unix::fs::FileExt::write_at(&f, &[original], offset).unwrap();

    // Activation: one trial boot, the bootloader swapped, the record gone.
    let out = all_output(&["update", "activate", "--disk", img_s]);
    assert!(out.contains("boots next, once"), "{out}");
    assert_eq!(attrs(&img, 3), "0012000000000000", "USR-B gets (P2,T1,S0)");
    assert_eq!(esp_file(&fx, &img, "EFI/BOOT/BOOTX64.EFI").unwrap(), new_bl);
    assert_eq!(esp_file(&fx, &img, "EFI/BOOT/BOOTX64.PRV").unwrap(), old_bl);
    assert!(esp_file(&fx, &img, "metalos/staged-update.json").is_none());
    assert!(esp_file(&fx, &img, "EFI/BOOT/BOOTX64.NEW").is_none());
    let esp = partition(img.parent().unwrap(), 1);
    tool_ok("fsck.fat", &["-n", esp.path().to_str().unwrap()]);
    let e = common::metalos(&["update", "activate", "--disk", img_s]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("nothing is staged"));
}

#[test]
fn stage_over_http_and_refuse_bad_bundles() {
    let (fx, img, bundle) = setup();
    let serve = fx.path("serve");
    std::fs::create_dir_all(&serve).unwrap();
    std::fs::rename(&bundle, serve.join("good")).unwrap();
    // Corrupt: one byte of usr.img flipped.
    copy_dir(&serve.join("good"), &serve.join("corrupt"));
    let mut usr = std::fs::read(serve.join("corrupt/usr.img")).unwrap();
    let mid = usr.len() / 2;
    usr[mid] ^= 0xff;
    std::fs::write(serve.join("corrupt/usr.img"), usr).unwrap();
    // Interrupted: the server has only half of usr.img.
    copy_dir(&serve.join("good"), &serve.join("short"));
    let full = std::fs::read(serve.join("short/usr.img")).unwrap();
    std::fs::write(serve.join("short/usr.img"), &full[..full.len() / 2]).unwrap();
    // Too large for the slot.
    copy_dir(&serve.join("good"), &serve.join("huge"));
    let text = std::fs::read_to_string(serve.join("huge/bundle.json")).unwrap();
    let mut j: serde_json::Value = serde_json::from_str(&text).unwrap();
    j["usr"]["size"] = serde_json::json!(1u64 << 40);
    std::fs::write(serve.join("huge/bundle.json"), j.to_string()).unwrap();

    let server = FileServer::start(&serve);
    let url = |name: &str| format!("http://127.0.0.1:{}/{name}/", server.port);
    let before = sha(&img);
    for (name, needle) in [
        ("corrupt", "does not match bundle.json"),
        ("short", "bytes, bundle.json says"),
        ("huge", "holds only"),
    ] {
        let res = metalos(&[
            "update",
            "stage",
            &url(name),
            "--disk",
            img.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(
            !res.status.success() && err.contains(needle),
            "{name}: {err}"
        );
        assert_eq!(sha(&img), before, "{name}: the disk must be unchanged");
    }
    let res = metalos(&["update", "verify", &url("nope")]);
    assert!(String::from_utf8_lossy(&res.stderr).contains("404"));
    metalos_ok(&[
        "update",
        "stage",
        "-q",
        &url("good"),
        "--disk",
        img.to_str().unwrap(),
    ]);
    assert_eq!(attrs(&img, 3), "0012000000000000");
    let leftovers: Vec<_> = std::fs::read_dir(img.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A TLS file server: `openssl s_server -WWW` with a throwaway CA.
struct TlsServer {
    child: std::process::Child,
    port: u16,
    ca: std::path::PathBuf,
}

impl TlsServer {
    fn start(root: &Path, dir: &Path) -> TlsServer {
        let p = |n: &str| dir.join(n).display().to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        let (ca_key, ca, key, csr, cert, ext) = (
            p("ca.key"),
            p("ca.pem"),
            p("srv.key"),
            p("srv.csr"),
            p("srv.pem"),
            p("ext.cnf"),
        );
        args.extend([
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            "/CN=metalos-test-ca",
        ]);
        tool_ok("openssl", &args);
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
        tool_ok("openssl", &args);
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        tool_ok(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                &cert,
                "-key",
                &key,
                "-WWW",
            ])
            .current_dir(root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        TlsServer {
            child,
            port,
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn stage_over_https_with_a_private_ca() {
    let (fx, img, bundle) = setup();
    let serve = fx.path("serve");
    std::fs::create_dir_all(&serve).unwrap();
    std::fs::rename(&bundle, serve.join("v2")).unwrap();
    let certs = fx.path("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let server = TlsServer::start(&serve, &certs);
    let url = format!("https://127.0.0.1:{}/v2/", server.port);
    let ca = server.ca.to_str().unwrap();
    // Without the private CA the server is not trusted.
    let res = metalos(&["update", "verify", &url]);
    assert!(!res.status.success(), "an unknown CA must be refused");
    let before = metalos_config::inputs::file_digest(&img).unwrap();
    let res = metalos(&["update", "stage", &url, "--disk", img.to_str().unwrap()]);
    assert!(!res.status.success());
    assert_eq!(metalos_config::inputs::file_digest(&img).unwrap(), before);
    metalos_ok(&["update", "verify", &url, "--ca-cert", ca]);
    metalos_ok(&[
        "update",
        "stage",
        "-q",
        &url,
        "--ca-cert",
        ca,
        "--disk",
        img.to_str().unwrap(),
    ]);
    assert_eq!(attrs(&img, 3), "0012000000000000");
}

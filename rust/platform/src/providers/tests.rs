//! Each provider's "no config" versus error table, against real files
//! (fw_cfg sysfs trees, config drive images) and the emulated metadata
//! service on 127.0.0.1.

use super::*;
use crate::configdrive::tests::{add_device, fake_machine, fat, iso, tree, user_data, NOVA_FLAGS};
use crate::fetch::{Log, Retry};
use metalos_net::http::{HttpClient, HttpOptions};
use metalos_tests::metadata_service::{MetadataService, Tokens};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"{"ignition":{"version":"3.4.0"}}"#;

/// A context on `url` and a fake machine in `dir`, with fast retries, a
/// deadline `bound` from now, and its log lines.
pub(crate) fn context(
    url: &str,
    dir: &Path,
    bound: Duration,
) -> (FetchContext, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let http = HttpClient::new(HttpOptions {
        attempts: 1,
        connect_timeout: Duration::from_secs(2),
        ..HttpOptions::default()
    })
    .unwrap();
    let fast = Retry {
        first: Duration::from_millis(10),
        max: Duration::from_millis(40),
        retries: None,
    };
    let ctx = FetchContext {
        metadata_url: url.to_string(),
        sysfs: dir.join("sys"),
        dev: dir.join("dev"),
        http,
        deadline: Some(Instant::now() + bound),
        config_retry: fast,
        metadata_retry: Retry {
            retries: Some(10),
            ..fast
        },
        request_timeout: Duration::from_secs(2),
        drive_poll: Duration::from_millis(20),
        log: Log::new(move |l| sink.lock().unwrap().push(l.to_string())),
    };
    (ctx, lines)
}

fn data(c: Option<UserConfig>) -> Option<Vec<u8>> {
    c.map(|c| c.data)
}

#[test]
fn metal_never_has_a_config_and_network_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context("http://127.0.0.1:9", dir.path(), Duration::from_secs(1));
    assert_eq!(user_config(Platform::Metal, &ctx).unwrap(), None);
    let needs: Vec<bool> = Platform::ALL.iter().map(|p| needs_network(*p)).collect();
    assert_eq!(needs, [false, false, true, true]);
}

#[test]
fn not_ignition_is_flatcars_cloud_init_detection() {
    assert_eq!(not_ignition(b""), Some("empty"));
    assert_eq!(not_ignition(b" \n"), Some("empty"));
    assert_eq!(
        not_ignition(b"#cloud-config\nusers: []\n"),
        Some("a cloud-config")
    );
    assert_eq!(not_ignition(b"#!/bin/sh\necho hi\n"), Some("a script"));
    let mime = b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n--x\n";
    assert_eq!(not_ignition(mime), Some("MIME multipart"));
    assert_eq!(not_ignition(CONFIG.as_bytes()), None);
}

fn fw_cfg(dir: &Path, name: &str, body: &[u8], size: usize) {
    let entry = dir.join("sys/firmware/qemu_fw_cfg/by_name").join(name);
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("raw"), body).unwrap();
    std::fs::write(entry.join("size"), format!("{size}\n")).unwrap();
}

#[test]
fn qemu_fw_cfg_table() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, log) = context("http://127.0.0.1:9", dir.path(), Duration::from_secs(1));
    // No module: no config.
    assert_eq!(user_config(Platform::Qemu, &ctx).unwrap(), None);
    assert!(log.lock().unwrap()[0].contains("qemu_fw_cfg not loaded"));
    // The module but no entries: no config.
    std::fs::create_dir_all(dir.path().join("sys/firmware/qemu_fw_cfg/by_name/opt")).unwrap();
    assert_eq!(user_config(Platform::Qemu, &ctx).unwrap(), None);
    // Flatcar's name alone.
    fw_cfg(
        dir.path(),
        "opt/org.flatcar-linux/config",
        b"{\"flatcar\":1}",
        13,
    );
    let got = user_config(Platform::Qemu, &ctx).unwrap().unwrap();
    assert_eq!(got.data, b"{\"flatcar\":1}");
    assert_eq!(got.source, "fw_cfg opt/org.flatcar-linux/config");
    // Both: CoreOS's wins, the other is named.
    fw_cfg(
        dir.path(),
        "opt/com.coreos/config",
        CONFIG.as_bytes(),
        CONFIG.len(),
    );
    let got = user_config(Platform::Qemu, &ctx).unwrap().unwrap();
    assert_eq!(
        (got.data.as_slice(), got.source.as_str()),
        (CONFIG.as_bytes(), "fw_cfg opt/com.coreos/config")
    );
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("opt/org.flatcar-linux/config ignored")));
}

#[test]
fn qemu_fw_cfg_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context("http://127.0.0.1:9", dir.path(), Duration::from_secs(1));
    let raw = dir
        .path()
        .join("sys/firmware/qemu_fw_cfg/by_name/opt/com.coreos/config/raw");
    fw_cfg(
        dir.path(),
        "opt/com.coreos/config",
        CONFIG.as_bytes(),
        CONFIG.len() - 1,
    );
    let e = user_config(Platform::Qemu, &ctx).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("QEMU fw_cfg {}: missing EOF", raw.display())),
        "{e}"
    );
    fw_cfg(
        dir.path(),
        "opt/com.coreos/config",
        CONFIG.as_bytes(),
        CONFIG.len() + 1,
    );
    let e = user_config(Platform::Qemu, &ctx).unwrap_err().to_string();
    assert!(e.contains(&format!("{} bytes", CONFIG.len())), "{e}");
    fw_cfg(dir.path(), "opt/com.coreos/config", CONFIG.as_bytes(), 0);
    std::fs::write(raw.with_file_name("size"), "many").unwrap();
    let e = user_config(Platform::Qemu, &ctx).unwrap_err().to_string();
    assert!(e.ends_with("size: not a size: \"many\""), "{e}");
}

#[test]
fn aws_imdsv2_required_and_v1_only() {
    let dir = tempfile::tempdir().unwrap();
    for tokens in [Tokens::Required, Tokens::Optional, Tokens::V1Only] {
        let imds = MetadataService::start(tokens);
        imds.set("/latest/user-data", CONFIG);
        let (ctx, _) = context(&imds.url, dir.path(), Duration::from_secs(5));
        let got = user_config(Platform::Aws, &ctx).unwrap().unwrap();
        assert_eq!(got.data, CONFIG.as_bytes());
        assert_eq!(got.source, format!("{}/latest/user-data", imds.url));
        let with_token = tokens != Tokens::V1Only;
        let get = if with_token {
            "GET /latest/user-data token"
        } else {
            "GET /latest/user-data"
        };
        assert_eq!(
            imds.requests(),
            ["PUT /latest/api/token", get],
            "{tokens:?}"
        );
    }
}

#[test]
fn aws_empty_versus_error() {
    let dir = tempfile::tempdir().unwrap();
    let imds = MetadataService::start(Tokens::Required);
    let (ctx, log) = context(&imds.url, dir.path(), Duration::from_secs(5));
    // user-data 404: no config.
    assert_eq!(user_config(Platform::Aws, &ctx).unwrap(), None);
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.ends_with("404: no user data")));
    // cloud-config user data: ignored, as Flatcar does.
    imds.set("/latest/user-data", "#cloud-config\n");
    assert_eq!(user_config(Platform::Aws, &ctx).unwrap(), None);
    // A token refused (not 404): fatal at once, no fallback to IMDSv1.
    imds.fail_next(1, 403);
    let e = user_config(Platform::Aws, &ctx).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "PUT {}/latest/api/token: HTTP 403 Forbidden (after 1 attempt)",
            imds.url
        )
    );
    // A 401 on the user data: fatal, not retried.
    let v1 = MetadataService::start(Tokens::V1Only);
    let (ctx, _) = context(&v1.url, dir.path(), Duration::from_secs(5));
    v1.set_status("/latest/user-data", 401);
    let e = user_config(Platform::Aws, &ctx).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "GET {}/latest/user-data: HTTP 401 Unauthorized (after 1 attempt)",
            v1.url
        )
    );
}

#[test]
fn aws_500_then_200_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let imds = MetadataService::start(Tokens::Required);
    imds.set("/latest/user-data", CONFIG);
    imds.fail_next(3, 500);
    let (ctx, log) = context(&imds.url, dir.path(), Duration::from_secs(5));
    assert_eq!(
        data(user_config(Platform::Aws, &ctx).unwrap()),
        Some(CONFIG.into())
    );
    assert_eq!(imds.requests().len(), 5, "{:?}", imds.requests());
    assert!(log.lock().unwrap()[0].contains("HTTP 500 Internal Server Error; retrying in"));
}

#[test]
fn aws_failing_until_the_bound_names_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let imds = MetadataService::start(Tokens::Optional);
    imds.fail_next(u32::MAX, 503);
    let (ctx, _) = context(&imds.url, dir.path(), Duration::from_millis(600));
    let started = Instant::now();
    let e = user_config(Platform::Aws, &ctx).unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let prefix = format!(
        "PUT {}/latest/api/token: HTTP 503 Service Unavailable (after ",
        imds.url
    );
    assert!(e.starts_with(&prefix), "{e}");
    assert!(imds.requests().len() > 3);
    // Nobody listening: a connection failure, retried until the bound too.
    let (ctx, _) = context("http://127.0.0.1:9", dir.path(), Duration::from_millis(300));
    let e = user_config(Platform::Aws, &ctx).unwrap_err().to_string();
    assert!(
        e.starts_with("PUT http://127.0.0.1:9/latest/api/token: "),
        "{e}"
    );
    assert!(e.ends_with(" attempts)"), "{e}");
}

#[test]
fn a_slow_service_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let imds = MetadataService::start(Tokens::Optional);
    imds.set("/latest/user-data", CONFIG)
        .set_delay(Duration::from_millis(700));
    let (ctx, _) = context(&imds.url, dir.path(), Duration::from_secs(10));
    assert_eq!(
        data(user_config(Platform::Aws, &ctx).unwrap()),
        Some(CONFIG.into())
    );
    assert_eq!(imds.requests().len(), 2, "one try each");
}

#[test]
fn openstack_metadata_service_without_a_drive() {
    let dir = tempfile::tempdir().unwrap();
    fake_machine(dir.path(), &[]);
    let nova = MetadataService::openstack(&[]);
    nova.set("/openstack/latest/user_data", CONFIG);
    let (ctx, _) = context(&nova.url, dir.path(), Duration::from_secs(5));
    let got = user_config(Platform::Openstack, &ctx).unwrap().unwrap();
    assert_eq!(
        got.source,
        format!("{}/openstack/latest/user_data", nova.url)
    );
    // 404: no config, at once (the drive search is cancelled).
    nova.remove("/openstack/latest/user_data");
    let started = Instant::now();
    assert_eq!(user_config(Platform::Openstack, &ctx).unwrap(), None);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn openstack_config_drive_wins_over_a_failing_service() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("cd.iso");
    iso(&tree(dir.path(), true), &image, "config-2", NOVA_FLAGS);
    let (sysfs, dev) = fake_machine(dir.path(), &[("sr0", &image)]);
    let nova = MetadataService::openstack(&[]);
    nova.fail_next(u32::MAX, 500);
    let (ctx, _) = context(&nova.url, dir.path(), Duration::from_secs(5));
    let got = user_config(Platform::Openstack, &ctx).unwrap().unwrap();
    assert_eq!(got.data, user_data());
    assert_eq!(
        got.source,
        format!("{}:openstack/latest/user_data", dev.join("sr0").display())
    );
    // A drive that shows up late (FAT this time) still wins.
    let dir2 = tempfile::tempdir().unwrap();
    let (sysfs2, dev2) = fake_machine(dir2.path(), &[]);
    let drive = dir2.path().join("drive.img");
    fat(&tree(dir2.path(), true), &drive, "CONFIG-2", 16);
    let (ctx, _) = context(&nova.url, dir2.path(), Duration::from_secs(5));
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        add_device(&sysfs2, &dev2, "vdb", &drive);
    });
    assert_eq!(
        data(user_config(Platform::Openstack, &ctx).unwrap()),
        Some(user_data())
    );
    late.join().unwrap();
    // A drive without user_data: no config.
    iso(&tree(dir.path(), false), &image, "config-2", NOVA_FLAGS);
    std::fs::copy(&image, dev.join("sr0")).unwrap();
    let (ctx, _) = context(&nova.url, dir.path(), Duration::from_secs(5));
    assert_eq!(data(user_config(Platform::Openstack, &ctx).unwrap()), None);
    drop(sysfs);
}

#[test]
fn openstack_nothing_until_the_bound_names_both_sources() {
    let dir = tempfile::tempdir().unwrap();
    let (sysfs, _) = fake_machine(dir.path(), &[]);
    let nova = MetadataService::openstack(&[]);
    nova.fail_next(u32::MAX, 500);
    let (ctx, _) = context(&nova.url, dir.path(), Duration::from_millis(500));
    let started = Instant::now();
    let e = user_config(Platform::Openstack, &ctx)
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        e.starts_with("openstack: no config source answered in time: "),
        "{e}"
    );
    let url = format!("{}/openstack/latest/user_data", nova.url);
    assert!(
        e.contains(&format!(
            "metadata service: GET {url}: HTTP 500 Internal Server Error (after "
        )),
        "{e}"
    );
    let block = sysfs.join("class/block");
    assert!(
        e.contains(&format!(
            "no config drive labelled config-2 or CONFIG-2 under {}",
            block.display()
        )),
        "{e}"
    );
}

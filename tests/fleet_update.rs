//! The update agent on the server image, against a release channel served
//! by busybox httpd and a FleetLock server (a CGI script whose answers the
//! test sets): a 0 % rollout does not reach the host; a full one is staged
//! without becoming bootable while the lock is refused (a reboot then
//! comes back on v1); the grant reboots it into v2, which reports steady
//! state once marked good; a v3 that fails its health check rolls back by
//! itself, is denylisted and never staged again. One machine goes
//! through every step; the three images are built once.

use metalos_netboot::channel::{publish_release, ReleaseOptions, RolloutFlags};
use metalos_tests::server::*;
use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, Nic, UserNet};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MAC: &str = "52:54:00:aa:bb:08";
const MACHINE_ID: &str = "6f8b2d1e3c4a5b6c7d8e9f0a1b2c3d4e";
/// Long enough for a 113 MiB stage over slirp under TCG.
const AGENT_TIMEOUT: Duration = Duration::from_secs(600);

fn host_config(dir: &Path, key: &str) -> PathBuf {
    let hc = json!({
        "version": 1,
        "identity": {"hostname": "fleet-test", "machine-id": MACHINE_ID},
        "network": {"interfaces": [{"mac": MAC, "name": "lan0", "primary": true}]},
        "boot": {"emergency-action": "poweroff", "emergency-delay-seconds": 1},
        // Version 3 is the bad release: its trial boot fails this check.
        "update": {"mark-good-delay-seconds": 0,
                   "health-check": "! grep -q '^VERSION_ID=3$' /usr/lib/os-release"},
        "provisioning": {
            "ignition": {"version": "3.4.0"},
            "passwd": {"users": [{"name": "root", "sshAuthorizedKeys": [key]}]}
        }
    });
    let path = dir.join("host-config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&hc).unwrap()).unwrap();
    path
}

/// The FleetLock server: busybox httpd runs this CGI per request; it logs
/// `METHOD PATH_INFO HEADER BODY` and grants the lock only while the
/// answer file says `grant`.
fn fleetlock_dir(dir: &Path) -> PathBuf {
    let root = dir.join("fleetlock");
    std::fs::create_dir_all(root.join("cgi-bin")).unwrap();
    let script = format!(
        r#"#!/bin/sh
body=$(head -c "${{CONTENT_LENGTH:-0}}")
echo "$REQUEST_METHOD $PATH_INFO $HTTP_FLEET_LOCK_PROTOCOL $body" >> {log}
case "$PATH_INFO" in
  */v1/steady-state) printf 'Status: 200 OK\r\n\r\n' ;;
  */v1/pre-reboot)
    if [ "$(cat {answer} 2>/dev/null)" = grant ]; then printf 'Status: 200 OK\r\n\r\n'
    else printf 'Status: 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n{{"kind":"failed_lock_semaphore_full","value":"all 1 semaphore slots currently locked"}}'
    fi ;;
  *) printf 'Status: 404 Not Found\r\n\r\n' ;;
esac
"#,
        log = root.join("requests.log").display(),
        answer = root.join("answer").display(),
    );
    let cgi = root.join("cgi-bin/fleetlock");
    std::fs::write(&cgi, script).unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&cgi)
        .status()
        .unwrap();
    root
}

fn publish(dest: &Path, bundle: &Path, start_value: Option<f64>) {
    let opts = ReleaseOptions {
        channel: "stable",
        key: None,
        rollout: RolloutFlags {
            start_value,
            ..RolloutFlags::default()
        },
        barrier: false,
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
        fault: &|_| {},
        progress: &|_| {},
    };
    publish_release(bundle, dest, &opts).unwrap();
}

fn agent_status(ssh: &Ssh) -> Value {
    serde_json::from_str(&ssh.ok("root", "metalos update agent --status --json")).unwrap()
}

/// Waits until the agent's status satisfies `ok`.
fn wait_status(ssh: &Ssh, vm: &Machine, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (code, out) = ssh.run_with("root", &ssh.key, "metalos update agent --status --json");
        let status: Option<Value> = (code == 0)
            .then(|| serde_json::from_str(&out).ok())
            .flatten();
        if let Some(v) = status.as_ref().filter(|v| ok(v)) {
            return v.clone();
        }
        if started.elapsed() > AGENT_TIMEOUT {
            let (_, journal) = ssh.run_with(
                "root",
                &ssh.key,
                "journalctl -b -u metalos-update-agent --no-pager | tail -40",
            );
            panic!(
                "agent never reached {what}: {status:#?}\n{journal}\n{}",
                tail(&vm.console_text())
            );
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn slots(ssh: &Ssh) -> Value {
    serde_json::from_str(&ssh.ok("root", "metalos update status --json")).unwrap()
}

/// (priority, tries, successful) of slot 3 (USR-B).
fn usr_b(ssh: &Ssh) -> (u64, u64, bool) {
    let s = &slots(ssh)["slots"][1];
    (
        s["priority"].as_u64().unwrap(),
        s["tries"].as_u64().unwrap(),
        s["successful"].as_bool().unwrap(),
    )
}

fn requests(fl: &Path) -> String {
    std::fs::read_to_string(fl.join("requests.log")).unwrap_or_default()
}

fn reboot_and_wait(ssh: &Ssh, vm: &Machine) {
    let _ = ssh.run_with("root", &ssh.key, "systemctl reboot");
    std::thread::sleep(Duration::from_secs(15));
    ssh.wait(vm, "root", Instant::now());
}

const AGENT_CONFIG: &str = r#"[channel]
base_url = "http://10.0.2.100/"
name = "stable"

[agent.timing]
steady_interval_secs = 10

[identity]
group = "workers"

[updates]
strategy = "fleet_lock"

[updates.fleet_lock]
base_url = "http://10.0.2.101/cgi-bin/fleetlock/${group}"
"#;

#[test]
fn host_follows_its_channel_under_fleet_lock_and_denylists_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("id");
    let key = keygen(&key_path);
    let hc = host_config(dir.path(), &key);
    // Only read from the image cache (the booted disk is a copy).
    let images: Vec<_> = ["1", "2", "3"]
        .iter()
        .map(|v| cached_server_with(&hc, |t| with_version(t, v)))
        .collect();
    let v1 = images[0].join("disk.img");
    let bundle = |v: &str| images[v.parse::<usize>().unwrap() - 1].join("update");
    let dest = dir.path().join("channel");
    publish(&dest, &bundle("1"), None);
    // v2 at 0 %: published, but no host may start it yet.
    publish(&dest, &bundle("2"), Some(0.0));
    let fl = fleetlock_dir(dir.path());

    let disk = raw_copy(&v1, &repo().join("target/vmtest-fleet.raw"));
    let ssh = Ssh {
        port: free_port(),
        key: key_path.clone(),
    };
    let net = UserNet::new()
        .hostfwd_tcp(&format!("127.0.0.1:{}", ssh.port), 22)
        .http_dir("10.0.2.100:80", &dest)
        .http_dir("10.0.2.101:80", &fl);
    let mut vm = Machine::builder("fleet_update")
        .uefi()
        .memory_mib(1024)
        .disk(Disk::direct(&disk).bootindex(1))
        .nic(Nic::new(net).mac(MAC))
        .build()
        .unwrap();
    vm.start().unwrap();
    ssh.wait(&vm, "root", Instant::now());
    // Enabled and idle until a channel is configured.
    let idle = wait_status(&ssh, &vm, "idle", |v| v["state"] == "idle");
    assert_eq!(idle["booted_version"], "1");
    let node_id = ssh.ok(
        "root",
        "systemd-id128 machine-id -a de35106b6ec24688b63afddaa156679b",
    );
    assert_eq!(idle["node_id"], node_id.trim(), "Zincati's app-specific id");
    ssh.ok("root", &format!(
        "mkdir -p /etc/metalos/update.d && cat > /etc/metalos/update.d/50-fleet.toml <<'EOF'\n{AGENT_CONFIG}EOF\nsystemctl restart metalos-update-agent"
    ));

    // 1. 0 % rollout: checked, not taken; steady state reported first.
    let s = wait_status(&ssh, &vm, "a check", |v| v["state"] == "no-update");
    assert!(s["target_version"].is_null(), "{s:#}");
    let log = requests(&fl);
    assert!(
        log.starts_with("POST /workers/v1/steady-state true {\"client_params\":{\"id\":\""),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "\"id\":\"{}\",\"group\":\"workers\"",
            node_id.trim()
        )),
        "{log}"
    );

    // 2. Full rollout: staged, but the lock is refused: the slot stays disabled.
    publish(&dest, &bundle("2"), Some(1.0));
    wait_status(&ssh, &vm, "staged v2", |v| {
        v["staged_version"] == "2" && v["state"] == "waiting-to-reboot"
    });
    assert!(requests(&fl).contains("POST /workers/v1/pre-reboot"));
    assert_eq!(usr_b(&ssh), (0, 0, false), "staged but not bootable");
    assert_eq!(slots(&ssh)["staged"]["version"], "2");
    let prom = ssh.ok("root", "cat /run/metalos/update-agent.prom");
    assert!(
        prom.contains("kind=\"failed_lock_semaphore_full\""),
        "{prom}"
    );

    // 3. An unrelated reboot comes back on v1, the staged slot still waiting.
    reboot_and_wait(&ssh, &vm);
    let s = wait_status(&ssh, &vm, "waiting again", |v| {
        v["state"] == "waiting-to-reboot"
    });
    assert_eq!(s["booted_version"], "1");
    assert_eq!(s["staged_version"], "2");

    // 4. The grant: activation and reboot into v2; steady state after mark-good.
    std::fs::write(fl.join("answer"), "grant").unwrap();
    std::fs::write(fl.join("requests.log"), "").unwrap();
    let started = Instant::now();
    vm.wait_for_console(r"\(USR-B\) marked good", AGENT_TIMEOUT)
        .unwrap();
    ssh.wait(&vm, "root", started);
    let s = wait_status(&ssh, &vm, "v2 steady", |v| {
        v["booted_version"] == "2" && v["state"] == "no-update"
    });
    assert_eq!(s["lock_held"], false);
    let log = requests(&fl);
    let lock = log.find("pre-reboot").expect("pre-reboot");
    let unlock = log
        .rfind("steady-state")
        .expect("steady-state after the reboot");
    assert!(lock < unlock, "{log}");

    // 5. v3 fails its health check: rollback by itself, denylisted, no second try.
    std::fs::write(fl.join("requests.log"), "").unwrap();
    publish(&dest, &bundle("3"), None);
    vm.wait_for_console("failed; slot", AGENT_TIMEOUT).unwrap();
    let s = wait_status(&ssh, &vm, "rollback detected", |v| {
        v["denylist"] == json!(["3"])
    });
    assert_eq!(s["booted_version"], "2");
    assert_eq!(
        s["lock_held"], true,
        "the slot stays held: the rollout stops here"
    );
    std::thread::sleep(Duration::from_secs(15));
    let journal = ssh.ok("root", "journalctl -b -u metalos-update-agent --no-pager");
    assert!(!journal.contains("staging version 3"), "{journal}");
    assert!(journal.contains("rollback: version 3"), "{journal}");
    let s = agent_status(&ssh);
    assert_eq!(s["state"], "no-update", "{s:#}");
    assert!(
        !requests(&fl).contains("steady-state"),
        "no steady-state after a rollback"
    );

    ssh.ok("root", "systemctl poweroff || true");
    vm.wait_for_shutdown(Duration::from_secs(120)).unwrap();
    drop(vm);
    let _ = std::fs::remove_file(&disk);
}

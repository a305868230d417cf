//! The fleet server end to end: two server-image hosts on one namespace
//! bridge follow a channel under `metalos fleet serve` (one slot, Debian's
//! etcd behind it, both running in the lab's namespace). They update from
//! v1 to v2 one at a time; v3 fails its health check on the first host,
//! which rolls back and reports it: the server halts v3, and the second
//! host stays on v2. The hosts are configured by their HostConfigs alone
//! (an Ignition file drops the agent's config), no logins needed.

use metalos_netboot::channel::{publish_release, ReleaseOptions, RolloutFlags};
use metalos_tests::server::*;
use metalos_tests::*;
use metalos_vmtest::netns::{NetnsLab, SERVER};
use metalos_vmtest::{Disk, Machine, Nic};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HOSTS: [(&str, &str, &str); 2] = [
    ("a", "52:54:00:aa:bb:21", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
    ("b", "52:54:00:aa:bb:22", "1b2c3d4e5f60718293a4b5c6d7e8f90a"),
];
/// Two hosts, one slot, 113 MiB stages over the bridge, under TCG.
const FLEET_TIMEOUT: Duration = Duration::from_secs(1500);
const ETCD: &str = "http://127.0.0.1:2379";

fn agent_config() -> String {
    format!(
        "[channel]\nbase_url = \"http://{SERVER}/\"\nname = \"stable\"\n\n\
         [agent.timing]\nsteady_interval_secs = 10\n\n\
         [updates]\nstrategy = \"fleet_lock\"\n\n\
         [updates.fleet_lock]\nbase_url = \"http://{SERVER}:8080/\"\n"
    )
}

fn host_config(dir: &Path, name: &str, mac: &str, machine_id: &str) -> PathBuf {
    let hc = json!({
        "version": 1,
        "identity": {"hostname": format!("fleet-{name}"), "machine-id": machine_id},
        "network": {"interfaces": [{"mac": mac, "name": "lan0", "primary": true}]},
        "boot": {"emergency-action": "poweroff", "emergency-delay-seconds": 1},
        "update": {"mark-good-delay-seconds": 0,
                   "health-check": "! grep -q '^VERSION_ID=3$' /usr/lib/os-release"},
        "provisioning": {
            "ignition": {"version": "3.4.0"},
            "storage": {"files": [{
                "path": "/etc/metalos/update.d/50-fleet.toml", "mode": 420,
                "contents": {"source": data_url(&agent_config())}
            }]}
        }
    });
    let path = dir.join(format!("host-config-{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&hc).unwrap()).unwrap();
    path
}

fn publish(dest: &Path, bundle: &Path) {
    let opts = ReleaseOptions {
        channel: "stable",
        key: None,
        rollout: RolloutFlags::default(),
        barrier: false,
        now: 0,
        fault: &|_| {},
        progress: &|_| {},
    };
    publish_release(bundle, dest, &opts).unwrap();
}

/// The statically built `metalos` (scripts/build-static), run in the lab.
fn metalos_bin() -> String {
    let bin = repo().join("target/x86_64-unknown-linux-gnu/release/metalos");
    assert!(
        bin.exists(),
        "{} missing: run scripts/build-static",
        bin.display()
    );
    bin.display().to_string()
}

/// `metalos fleet status --json` inside the lab's network namespace.
fn fleet_status(pid: u32) -> Option<Value> {
    let out = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            &metalos_bin(),
            "fleet",
            "status",
        ])
        .args(["--etcd", ETCD, "--json"])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// Booted version per host id (from the hosts' reports).
fn booted(status: &Value) -> Vec<(String, String, String)> {
    status["hosts"]
        .as_array()
        .map(|hosts| {
            hosts
                .iter()
                .map(|h| {
                    let s = |k: &str| h[k].as_str().unwrap_or("-").to_string();
                    (s("id"), s("booted"), s("state"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn holders(status: &Value) -> Vec<String> {
    status["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["holders"].as_array().cloned().unwrap_or_default())
        .map(|h| h["id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Polls the fleet until `done`, recording every change of the holders.
fn watch(
    pid: u32,
    vms: &[&Machine],
    timeline: &mut Vec<String>,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        if let Some(s) = fleet_status(pid) {
            let h = holders(&s).join(",");
            if timeline.last() != Some(&h) {
                eprintln!("fleet: holders [{h}] hosts {:?}", booted(&s));
                timeline.push(h);
            }
            if done(&s) {
                return s;
            }
        }
        if started.elapsed() > FLEET_TIMEOUT {
            let consoles: Vec<String> = vms.iter().map(|v| tail(&v.console_text())).collect();
            panic!(
                "fleet never reached {what}; timeline {timeline:?}\n{}",
                consoles.join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// The hosts granted the slot, in order, from the server's log; panics if
/// a grant came while another host held the slot (one slot).
fn grant_sequence(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap();
    let (mut held, mut grants) = (Vec::<String>::new(), Vec::new());
    for line in text.lines() {
        if let Some(id) = line.strip_prefix("granted a slot of group default to ") {
            assert!(held.is_empty(), "{id} granted while {held:?} held the slot");
            held.push(id.to_string());
            grants.push(id.to_string());
        } else if let Some(rest) = line.strip_prefix("released the slot of ") {
            let id = rest.split(' ').next().unwrap_or_default();
            held.retain(|h| h != id);
        }
    }
    grants
}

#[test]
fn two_hosts_update_one_at_a_time_and_a_rolled_back_release_halts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Only read from the image cache (booted disks are copies).
    let v1: Vec<_> = HOSTS
        .iter()
        .map(|(name, mac, id)| {
            cached_server_with(&host_config(d, name, mac, id), |t| with_version(t, "1"))
        })
        .collect();
    let disks: Vec<PathBuf> = HOSTS
        .iter()
        .zip(&v1)
        .map(|((name, _, _), img)| {
            raw_copy(
                &img.join("disk.img"),
                &repo().join(format!("target/vmtest-fleet-{name}.raw")),
            )
        })
        .collect();
    let hc = host_config(d, "bundle", HOSTS[0].1, HOSTS[0].2);
    let release = |v: &str| cached_server_with(&hc, |t| with_version(t, v));
    let (v2, v3) = (release("2"), release("3"));
    let channel = d.join("channel");
    publish(&channel, &v1[0].join("update"));
    publish(&channel, &v2.join("update"));
    let etcd_dir = d.join("etcd");
    let peer = "http://127.0.0.1:2380";
    let lab = NetnsLab::new()
        .http_dir(&channel)
        .daemon(
            "etcd",
            &[
                "etcd",
                "--name",
                "default",
                "--data-dir",
                etcd_dir.to_str().unwrap(),
                "--listen-client-urls",
                ETCD,
                "--advertise-client-urls",
                ETCD,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                &format!("default={peer}"),
            ],
        )
        .daemon(
            "fleet",
            &[
                &metalos_bin(),
                "fleet",
                "serve",
                "--listen",
                &format!("{SERVER}:8080"),
                "--etcd",
                ETCD,
                "--default-slots",
                "1",
                "--halt-after",
                "1",
            ],
        );
    let machine = |name: &str, disk: &Path, mac: &str, nic: Nic| {
        Machine::builder("fleet_server")
            .name(name)
            .uefi()
            .memory_mib(1024)
            .disk(Disk::direct(disk).bootindex(1))
            .nic(nic.mac(mac))
            .build()
            .unwrap()
    };
    let mut a = machine("a", &disks[0], HOSTS[0].1, Nic::new_netns(lab));
    a.start().unwrap();
    let pid = a.launcher_pid().unwrap();
    let mut b = machine(
        "b",
        &disks[1],
        HOSTS[1].1,
        Nic::new_netns(NetnsLab::join(pid, "tapb")),
    );
    b.start().unwrap();

    // v1 → v2, one host at a time.
    let mut timeline = Vec::new();
    let on = |s: &Value, v: &str| {
        let hosts = booted(s);
        hosts.len() == 2
            && hosts
                .iter()
                .all(|(_, booted, state)| booted == v && state == "steady")
    };
    watch(pid, &[&a, &b], &mut timeline, "both hosts on v2", |s| {
        on(s, "2")
    });
    assert!(
        timeline.iter().all(|h| !h.contains(',')),
        "never two holders: {timeline:?}"
    );
    // The server's own log has every grant (sampling status every 5 s can
    // miss a short hold on a loaded machine).
    let grants = grant_sequence(&a.dir().join("fleet.log"));
    assert!(
        grants.len() >= 2 && grants[0] != grants[1],
        "each host held the slot in turn: {grants:?} (sampled: {timeline:?})"
    );

    // v3 fails its health check on the first host: rolled back, halted.
    publish(&channel, &v3.join("update"));
    let s = watch(pid, &[&a, &b], &mut timeline, "v3 halted", |s| {
        s["halted"]
            .as_array()
            .is_some_and(|h| h.iter().any(|r| r["version"] == "3"))
    });
    let hosts = booted(&s);
    assert!(hosts.iter().all(|(_, v, _)| v == "2"), "{hosts:?}");
    let rolled: Vec<_> = hosts
        .iter()
        .filter(|(_, _, st)| st == "rolled-back")
        .collect();
    assert_eq!(rolled.len(), 1, "{hosts:?}");
    // The other host never boots v3.
    std::thread::sleep(Duration::from_secs(30));
    let s = fleet_status(pid).unwrap();
    let hosts = booted(&s);
    assert!(hosts.iter().all(|(_, v, _)| v == "2"), "{hosts:?}");
    let consoles = [a.console_text(), b.console_text()];
    let trials = consoles
        .iter()
        .filter(|c| c.contains("the trial boot of slot"))
        .count();
    assert_eq!(trials, 1, "only one host tried v3");
    eprintln!("lock timeline: {timeline:?}");
    for vm in [&mut a, &mut b] {
        vm.crash().unwrap();
    }
    for disk in disks {
        let _ = std::fs::remove_file(disk);
    }
}

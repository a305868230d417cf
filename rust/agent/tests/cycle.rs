//! The agent's cycle against a real HTTP server on 127.0.0.1 (the channel
//! graph and a scripted FleetLock server) with a recording machine: which
//! answers keep the staged slot inactive, when it reboots, when it reports
//! steady state, and what a rollback does.

use metalos_agent::agent::{Agent, AgentPaths, Outcome};
use metalos_agent::config;
use metalos_agent::host::{Booted, Host};
use metalos_contract::graph::{meta, Graph, Node};
use metalos_contract::update::{BundleFile, StagedUpdate};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Answers: path → (status line, body); every request is recorded as
/// "METHOD PATH".
#[derive(Clone, Default)]
struct Routes(Arc<Mutex<(Answers, Seen, Seen)>>);

/// Request lines, or report bodies.
type Seen = Vec<String>;

/// path → (status line, body).
type Answers = BTreeMap<String, (String, String)>;

impl Routes {
    fn set(&self, path: &str, status: &str, body: &str) {
        self.0
            .lock()
            .unwrap()
            .0
            .insert(path.into(), (status.into(), body.into()));
    }
    fn seen(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap().1)
    }
    /// Bodies of the reports posted so far.
    fn reports(&self) -> Vec<serde_json::Value> {
        let bodies = std::mem::take(&mut self.0.lock().unwrap().2);
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect()
    }
}

fn serve(routes: Routes) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut words = line.split_whitespace();
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let (status, answer) = {
                let mut g = routes.0.lock().unwrap();
                g.1.push(format!("{method} {path}"));
                if path.ends_with("/report") {
                    g.2.push(String::from_utf8(body.clone()).unwrap());
                }
                g.0.get(path)
                    .cloned()
                    .unwrap_or(("404 Not Found".into(), String::new()))
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    base
}

#[derive(Default)]
struct FakeHost {
    booted: Option<Booted>,
    staged: Option<StagedUpdate>,
    actions: Vec<String>,
    sessions: usize,
    /// `stage` fails with this message.
    stage_error: Option<&'static str>,
}

impl Host for FakeHost {
    fn booted(&self) -> anyhow::Result<Booted> {
        Ok(self.booted.clone().unwrap())
    }
    fn staged(&self) -> anyhow::Result<Option<StagedUpdate>> {
        Ok(self.staged.clone())
    }
    fn stage(&mut self, url: &str) -> anyhow::Result<StagedUpdate> {
        self.actions.push(format!("stage {url}"));
        if let Some(e) = self.stage_error {
            anyhow::bail!("{e}");
        }
        let version = url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let s = StagedUpdate {
            version,
            slot: 3,
            partition_guid: "g".into(),
            usr: BundleFile {
                file: "usr.img".into(),
                size: 1,
                sha256: "0".repeat(64),
            },
            bootloader: None,
        };
        self.staged = Some(s.clone());
        Ok(s)
    }
    fn activate(&mut self) -> anyhow::Result<StagedUpdate> {
        self.actions.push("activate".into());
        Ok(self.staged.take().unwrap())
    }
    fn reboot(&mut self) -> anyhow::Result<()> {
        self.actions.push("reboot".into());
        Ok(())
    }
    fn interactive_sessions(&self) -> usize {
        self.sessions
    }
    fn broadcast(&self, _: &str) {}
}

fn booted(version: &str, good: bool, boot_id: &str) -> Booted {
    Booted {
        version: version.into(),
        good,
        boot_id: boot_id.into(),
    }
}

fn graph(versions: &[&str]) -> String {
    let nodes = versions
        .iter()
        .enumerate()
        .map(|(i, v)| Node {
            version: v.to_string(),
            payload: format!("{v}/"),
            metadata: [(meta::AGE_INDEX.to_string(), i.to_string())].into(),
        })
        .collect::<Vec<_>>();
    let mut edges = vec![];
    for to in 1..nodes.len() {
        for from in 0..to {
            edges.push([from, to]);
        }
    }
    Graph { nodes, edges }.to_json()
}

struct Setup {
    _dir: tempfile::TempDir,
    routes: Routes,
    base: String,
    paths: AgentPaths,
    config_dir: std::path::PathBuf,
}

fn setup(strategy: &str) -> Setup {
    setup_with(strategy, "")
}

/// [`setup`] with more TOML appended to the drop-in.
fn setup_with(strategy: &str, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let routes = Routes::default();
    let base = serve(routes.clone());
    let config_dir = dir.path().join("update.d");
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("50-test.toml"),
        format!(
            "[channel]\nbase_url = \"{base}/\"\nname = \"stable\"\n\n[identity]\ngroup = \"workers\"\nrollout_wariness = 0.5\n\n\
             [updates]\nstrategy = \"{strategy}\"\n\n[updates.fleet_lock]\nbase_url = \"{base}/fl/${{group}}\"\n{extra}"
        ),
    )
    .unwrap();
    let paths = AgentPaths {
        state_dir: dir.path().join("state"),
        status_file: dir.path().join("status.json"),
        metrics_file: dir.path().join("agent.prom"),
        signing_key: dir.path().join("no-key.pub"),
    };
    Setup {
        _dir: dir,
        routes,
        base,
        paths,
        config_dir,
    }
}

fn agent(s: &Setup, host: FakeHost) -> Agent<FakeHost> {
    let cfg = config::load(&[s.config_dir.as_path()]).unwrap().config;
    Agent::new(cfg, host, "node-1".into(), s.paths.clone()).unwrap()
}

const LOCK: &str = "/fl/workers/v1/pre-reboot";
const UNLOCK: &str = "/fl/workers/v1/steady-state";
const GRAPH: &str = "/updates/stable/graph.json";
const REPORT: &str = "/fl/workers/metalos/v1/report";

#[test]
fn fleet_lock_refusals_keep_the_slot_inactive_and_the_grant_reboots() {
    let s = setup("fleet_lock");
    s.routes.set(GRAPH, "200 OK", &graph(&["1", "2"]));
    s.routes.set(UNLOCK, "200 OK", "");
    s.routes.set(REPORT, "200 OK", "");
    let host = FakeHost {
        booted: Some(booted("1", false, "boot-a")),
        ..FakeHost::default()
    };
    let mut a = agent(&s, host);
    // Not marked good yet: nothing is reported or fetched.
    assert!(matches!(a.cycle(1000), Outcome::RetryIn(_)));
    assert_eq!(a.status().state, "waiting-for-mark-good");
    assert!(s.routes.seen().is_empty());

    // Marked good: steady-state first, then the graph; v2 staged; full slots.
    a.host_mut().booted = Some(booted("1", true, "boot-a"));
    let full =
        r#"{"kind":"failed_lock_semaphore_full","value":"all 1 semaphore slots currently locked"}"#;
    s.routes.set(LOCK, "500 Internal Server Error", full);
    assert_eq!(a.cycle(1001), Outcome::Wait);
    assert_eq!(
        s.routes.seen(),
        [
            format!("POST {UNLOCK}"),
            format!("POST {REPORT}"),
            format!("GET {GRAPH}"),
            format!("POST {REPORT}"),
            format!("POST {LOCK}")
        ]
    );
    let reports = s.routes.reports();
    assert_eq!(reports[0]["state"], "steady");
    assert_eq!(
        reports[1],
        serde_json::json!({"client_params": {"id": "node-1", "group": "workers"},
            "booted": "1", "target": "2", "state": "staged", "error": null})
    );
    assert_eq!(
        a.host().actions,
        [format!("stage {}/updates/stable/2/", s.base)]
    );
    assert_eq!(a.status().state, "waiting-to-reboot");
    assert_eq!(a.status().staged_version.as_deref(), Some("2"));
    // 423 (poseidon's lock_held): still no activation, no second stage.
    s.routes.set(
        LOCK,
        "423 Locked",
        r#"{"kind":"lock_held","value":"held by node-0"}"#,
    );
    a.cycle(1002);
    assert_eq!(a.host().actions.len(), 1, "{:?}", a.host().actions);
    assert!(!a.status().lock_held);
    let prom = std::fs::read_to_string(&s.paths.metrics_file).unwrap();
    for kind in ["failed_lock_semaphore_full", "lock_held"] {
        let line = format!(
            "metalos_strategy_fleet_lock_errors_total{{api=\"pre-reboot\",kind=\"{kind}\"}} 1"
        );
        assert!(prom.contains(&line), "{prom}");
    }
    // The grant: activate, then reboot; the slot is held across the reboot.
    s.routes.set(LOCK, "200 OK", "");
    assert_eq!(a.cycle(1003), Outcome::Rebooting);
    assert_eq!(
        a.host().actions[1..],
        ["activate".to_string(), "reboot".to_string()]
    );
    assert!(a.status().lock_held);
    s.routes.seen();

    // After the reboot: v2 in its trial boot, then marked good → steady-state.
    let mut b = agent(
        &s,
        FakeHost {
            booted: Some(booted("2", false, "boot-b")),
            ..FakeHost::default()
        },
    );
    b.cycle(2000);
    assert!(
        s.routes.seen().is_empty(),
        "no steady-state before mark-good"
    );
    b.host_mut().booted = Some(booted("2", true, "boot-b"));
    b.cycle(2001);
    assert_eq!(s.routes.seen()[0], format!("POST {UNLOCK}"));
    assert!(!b.status().lock_held);
    assert_eq!(b.status().state, "no-update");
    assert!(b.status().denylist.is_empty());
}

#[test]
fn a_rolled_back_version_is_denylisted_and_keeps_the_lock() {
    let s = setup("fleet_lock");
    s.routes.set(GRAPH, "200 OK", &graph(&["1", "2", "3"]));
    s.routes.set(UNLOCK, "200 OK", "");
    s.routes.set(REPORT, "200 OK", "");
    s.routes.set(LOCK, "200 OK", "");
    let mut a = agent(
        &s,
        FakeHost {
            booted: Some(booted("2", true, "boot-a")),
            ..FakeHost::default()
        },
    );
    assert_eq!(a.cycle(1000), Outcome::Rebooting);
    s.routes.seen();
    let states: Vec<_> = s
        .routes
        .reports()
        .iter()
        .map(|r| r["state"].clone())
        .collect();
    assert_eq!(states, ["steady", "staged", "rebooting"]);
    // The trial boot of 3 failed: the host is back on 2 (another boot).
    let mut b = agent(
        &s,
        FakeHost {
            booted: Some(booted("2", true, "boot-c")),
            ..FakeHost::default()
        },
    );
    assert_eq!(b.cycle(2000), Outcome::Wait);
    assert_eq!(b.status().denylist, ["3"]);
    assert!(
        b.host().actions.is_empty(),
        "3 is not staged again: {:?}",
        b.host().actions
    );
    assert_eq!(
        s.routes.seen(),
        [format!("POST {REPORT}"), format!("GET {GRAPH}")],
        "a rolled-back report; the slot stays held (no steady-state)"
    );
    let r = &s.routes.reports()[0];
    assert_eq!(
        (&r["state"], &r["booted"], &r["target"]),
        (&"rolled-back".into(), &"2".into(), &"3".into())
    );
    assert!(b.status().lock_held);
    assert_eq!(b.status().state, "no-update");
}

#[test]
fn immediate_reboots_at_once_but_logged_in_users_postpone_it() {
    let s = setup("immediate");
    s.routes.set(GRAPH, "200 OK", &graph(&["1", "2"]));
    let host = FakeHost {
        booted: Some(booted("1", true, "b")),
        sessions: 1,
        ..FakeHost::default()
    };
    let mut a = agent(&s, host);
    for i in 0..10 {
        assert!(matches!(a.cycle(1000 + i), Outcome::RetryIn(_)));
    }
    assert_eq!(a.cycle(1100), Outcome::Rebooting, "after 10 postponements");
    assert!(
        s.routes.seen().iter().all(|r| !r.contains("/fl/")),
        "no FleetLock calls"
    );
}

#[test]
fn a_target_that_fails_to_stage_twelve_times_is_given_up() {
    let s = setup("immediate");
    s.routes.set(GRAPH, "200 OK", &graph(&["1", "2"]));
    let host = FakeHost {
        booted: Some(booted("1", true, "b")),
        stage_error: Some("disk full"),
        ..FakeHost::default()
    };
    let mut a = agent(&s, host);
    for i in 1..=12 {
        a.cycle(1000 + i);
        let e = a.status().last_error.clone().unwrap();
        assert!(
            e.contains(&format!("attempt {i} of 12")) && e.contains("disk full"),
            "{e}"
        );
    }
    assert_eq!(a.status().denylist, ["2"]);
    a.cycle(2000);
    assert_eq!(a.host().actions.len(), 12, "no 13th attempt");
    assert_eq!(a.status().state, "no-update");
}

#[test]
fn periodic_reboots_only_inside_a_window() {
    // Mondays 04:00–05:00 UTC. 2026-12-07 is a Monday.
    let window = "[updates.periodic]\ntime_zone = \"UTC\"\n\n[[updates.periodic.window]]\ndays = [\"Mon\"]\nstart_time = \"04:00\"\nlength_minutes = 60\n";
    let s = setup_with("periodic", window);
    s.routes.set(GRAPH, "200 OK", &graph(&["1", "2"]));
    let host = FakeHost {
        booted: Some(booted("1", true, "b")),
        ..FakeHost::default()
    };
    let mut a = agent(&s, host);
    let monday = |h: i64, m: i64| 1_796_601_600 + h * 3600 + m * 60;
    assert_eq!(a.cycle(monday(3, 59)), Outcome::Wait);
    assert_eq!(a.status().state, "waiting-to-reboot");
    assert_eq!(
        a.cycle(monday(5, 0)),
        Outcome::Wait,
        "the window has closed"
    );
    assert_eq!(a.cycle(monday(4, 30)), Outcome::Rebooting);
    let prom = std::fs::read_to_string(&s.paths.metrics_file).unwrap();
    assert!(
        prom.contains("metalos_updates_strategy_periodic_schedule_length_minutes 60"),
        "{prom}"
    );
}

#[test]
fn a_signed_system_follows_only_graphs_signed_with_its_key() {
    let s = setup("immediate");
    let key = metalos_signing::SigningKey::generate().unwrap();
    std::fs::write(&s.paths.signing_key, key.verifying_key().to_pem()).unwrap();
    let text = graph(&["1", "2"]);
    s.routes.set(GRAPH, "200 OK", &text);
    let host = || FakeHost {
        booted: Some(booted("1", true, "b")),
        ..FakeHost::default()
    };
    // No signature, then another key's: refused, nothing staged.
    let mut a = agent(&s, host());
    a.cycle(1000);
    let e = a.status().last_error.clone().unwrap();
    assert!(
        e.contains("graph.json.sig") && e.contains("unsigned"),
        "{e}"
    );
    let other = metalos_signing::SigningKey::generate().unwrap();
    let forged = metalos_signing::sign(&other, text.as_bytes()).to_file_bytes();
    s.routes.set(
        "/updates/stable/graph.json.sig",
        "200 OK",
        std::str::from_utf8(&forged).unwrap(),
    );
    a.cycle(1001);
    let e = a.status().last_error.clone().unwrap();
    assert!(e.contains("does not verify"), "{e}");
    assert!(a.host().actions.is_empty());
    let prom = std::fs::read_to_string(&s.paths.metrics_file).unwrap();
    assert!(
        prom.contains("metalos_channel_update_checks_errors_total{kind=\"signature\"} 2"),
        "{prom}"
    );
    // Signed with the system's key: followed.
    let good = metalos_signing::sign(&key, text.as_bytes()).to_file_bytes();
    s.routes.set(
        "/updates/stable/graph.json.sig",
        "200 OK",
        std::str::from_utf8(&good).unwrap(),
    );
    assert_eq!(a.cycle(1002), Outcome::Rebooting);
}

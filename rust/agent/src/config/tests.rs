use super::*;
use std::fs;

/// `usr`, `etc` and `run` drop-in directories in a temporary root.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        Root {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, tier: &str, name: &str) -> PathBuf {
        self.dir.path().join(tier).join(name)
    }

    fn write(&self, tier: &str, name: &str, text: &str) -> PathBuf {
        let path = self.path(tier, name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    fn mask(&self, tier: &str, name: &str) {
        let path = self.path(tier, name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/dev/null", path).unwrap();
    }

    fn load(&self) -> Result<Loaded, ConfigError> {
        let dirs: Vec<PathBuf> = ["usr", "etc", "run"]
            .iter()
            .map(|t| self.dir.path().join(t))
            .collect();
        let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        load_with_localtime(&dirs, &self.dir.path().join("no-localtime"))
    }
}

#[test]
fn no_files_give_the_defaults() {
    let loaded = Root::new().load().unwrap();
    assert_eq!(loaded.config, AgentConfig::default());
    assert!(loaded.files.is_empty() && loaded.warnings.is_empty());
    let c = loaded.config;
    assert_eq!(c.channel, None);
    assert_eq!(c.steady_interval, Duration::from_secs(300));
    assert_eq!(c.identity.group, "default");
    assert!(c.updates.enabled && !c.updates.allow_downgrade);
    assert_eq!(c.updates.strategy, Strategy::Immediate);
    assert!(load(&[Path::new("/nonexistent/metalos/update.d")]).is_ok());
}

#[test]
fn later_files_win_key_by_key_and_tables_merge() {
    let root = Root::new();
    let usr = root.write(
        "usr",
        "10-defaults.toml",
        "[channel]\nbase_url = \"http://h/\"\nname = \"stable\"\n\
         [updates]\nenabled = false\nallow_downgrade = true\n\
         [identity]\ngroup = \"usr\"\n",
    );
    let etc = root.write("etc", "50-site.toml", "[identity]\ngroup = \"site\"\n");
    let run = root.write(
        "run",
        "90-now.toml",
        "[identity]\nrollout_wariness = 0\n[updates]\nenabled = true\n",
    );
    let loaded = root.load().unwrap();
    assert_eq!(loaded.files, [usr, etc, run]);
    let c = loaded.config;
    assert_eq!(c.identity.group, "site");
    assert_eq!(c.identity.rollout_wariness, Some(0.0));
    assert!(c.updates.enabled && c.updates.allow_downgrade);
    let channel = c.channel.unwrap();
    assert_eq!(
        (channel.base_url.as_str(), channel.name.as_str()),
        ("http://h/", "stable")
    );
}

#[test]
fn order_is_by_file_name_not_directory() {
    let root = Root::new();
    let late = root.write("usr", "90-late.toml", "[identity]\ngroup = \"late\"\n");
    let early = root.write("run", "10-early.toml", "[identity]\ngroup = \"early\"\n");
    let loaded = root.load().unwrap();
    assert_eq!(loaded.files, [early, late]);
    assert_eq!(loaded.config.identity.group, "late");
}

#[test]
fn same_name_in_a_later_directory_replaces_the_file() {
    let root = Root::new();
    root.write(
        "usr",
        "20-x.toml",
        "[identity]\ngroup = \"usr\"\nnode_uuid = \"27E3AC02AF3946AF995C9940E18B0CCE\"\n",
    );
    root.write("etc", "20-x.toml", "[identity]\ngroup = \"etc\"\n");
    let loaded = root.load().unwrap();
    assert_eq!(loaded.files, [root.path("etc", "20-x.toml")]);
    // The replaced file's other keys are gone too.
    assert_eq!(loaded.config.identity.node_uuid, None);
    assert_eq!(loaded.config.identity.group, "etc");

    let run = root.write("run", "20-x.toml", "[identity]\ngroup = \"run\"\n");
    let loaded = root.load().unwrap();
    assert_eq!(loaded.files, [run]);
    assert_eq!(loaded.config.identity.group, "run");
}

#[test]
fn dev_null_symlinks_and_empty_files_mask() {
    let root = Root::new();
    root.write("usr", "20-m.toml", "[identity]\ngroup = \"usr\"\n");
    root.mask("etc", "20-m.toml");
    let loaded = root.load().unwrap();
    assert!(loaded.files.is_empty(), "{:?}", loaded.files);
    assert_eq!(loaded.config.identity.group, "default");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    // A later directory can bring the name back.
    let run = root.write("run", "20-m.toml", "[identity]\ngroup = \"run\"\n");
    assert_eq!(root.load().unwrap().files, [run]);

    let root = Root::new();
    root.write("usr", "30-e.toml", "[identity]\ngroup = \"usr\"\n");
    let empty = root.write("run", "30-e.toml", "");
    let loaded = root.load().unwrap();
    assert_eq!(loaded.files, [empty]);
    assert_eq!(loaded.config.identity.group, "default");
}

#[test]
fn only_toml_files_count() {
    let root = Root::new();
    root.write("etc", "README", "not toml [");
    root.write("etc", "x.conf", "not toml [");
    root.write("etc", ".hidden.toml", "not toml [");
    root.write("etc", "x.toml.bak", "not toml [");
    fs::create_dir_all(root.path("etc", "dir.toml")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", root.path("etc", "dangling.toml")).unwrap();
    let real = root.write("etc", "ok.toml", "[identity]\ngroup = \"ok\"\n");
    let loaded = root.load().unwrap();
    assert_eq!(loaded.files, [real]);
    let dir = root.path("etc", "dir.toml").display().to_string();
    let dangling = root.path("etc", "dangling.toml").display().to_string();
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].starts_with(&format!("{dangling}: ignored")));
    assert!(loaded.warnings[1].starts_with(&format!("{dir}: ignored")));
}

const WINDOW_SAT: &str =
    "[[updates.periodic.window]]\ndays = [\"Sat\"]\nstart_time = \"23:30\"\nlength_minutes = 60\n";

#[test]
fn windows_accumulate_across_files() {
    let root = Root::new();
    root.write("usr", "30-a.toml", WINDOW_SAT);
    root.write(
        "etc",
        "40-b.toml",
        "[updates]\nstrategy = \"periodic\"\n[updates.periodic]\ntime_zone = \"Europe/Berlin\"\n\
         [[updates.periodic.window]]\ndays = [\"wed\", \"Thursday\"]\nstart_time = \"1:00\"\nlength_minutes = 30\n",
    );
    let Strategy::Periodic(s) = root.load().unwrap().config.updates.strategy else {
        panic!("not periodic");
    };
    assert_eq!(s.zone_name(), "Europe/Berlin");
    assert_eq!(s.windows().len(), 2);
    assert_eq!(s.total_minutes_per_week(), 120);
    assert_eq!(
        s.to_string(),
        "periodic (Europe/Berlin, 120 min/week): Sat 23:30 for 60 min; Wed,Thu 01:00 for 30 min"
    );
}

#[test]
fn localtime_zone_falls_back_to_utc() {
    let root = Root::new();
    root.write(
        "etc",
        "40-p.toml",
        &format!("[updates]\nstrategy = \"periodic\"\n[updates.periodic]\ntime_zone = \"localtime\"\n{WINDOW_SAT}"),
    );
    let Strategy::Periodic(s) = root.load().unwrap().config.updates.strategy else {
        panic!("not periodic");
    };
    assert_eq!(s.zone_name(), "UTC");
}

#[test]
fn unknown_keys_are_warnings_naming_file_and_key() {
    let root = Root::new();
    let path = root.write(
        "etc",
        "50-u.toml",
        "toplevel = 1\n[channel]\nbase_url = \"https://h\"\nname = \"s\"\nmirror = \"x\"\n\
         [bogus]\nx = 1\n[updates.periodic]\ntimezone = \"UTC\"\n\
         [[updates.periodic.window]]\ndays = [\"Mon\"]\nstart_time = \"01:00\"\nlength_minutes = 5\nlength = 5\n",
    );
    let loaded = root.load().unwrap();
    let p = path.display();
    let mut want = vec![
        format!("{p}: bogus: unknown key, ignored"),
        format!("{p}: channel.mirror: unknown key, ignored"),
        format!("{p}: toplevel: unknown key, ignored"),
        format!("{p}: updates.periodic.timezone: unknown key, ignored"),
        format!("{p}: updates.periodic.window[0].length: unknown key, ignored"),
    ];
    let mut got = loaded.warnings.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn values_and_spellings() {
    let root = Root::new();
    root.write(
        "etc",
        "50-v.toml",
        "[agent.timing]\nsteady_interval_secs = 35\n\
         [identity]\ngroup = \"workers.eu-1\"\nnode_uuid = \"27E3AC02AF3946AF995C9940E18B0CCE\"\nrollout_wariness = 1\n\
         [updates]\nstrategy = \"fleet_lock\"\n[updates.fleet_lock]\nbase_url = \"http://lock:8080/${group}/${basearch}/${platform}\"\n",
    );
    let c = root.load().unwrap().config;
    assert_eq!(c.steady_interval, Duration::from_secs(35));
    assert_eq!(
        c.identity.node_uuid.as_deref(),
        Some("27e3ac02af3946af995c9940e18b0cce")
    );
    assert_eq!(c.identity.rollout_wariness, Some(1.0));
    assert_eq!(c.updates.strategy.label(), "fleet_lock");
    let arch = std::env::consts::ARCH;
    assert_eq!(
        c.updates
            .strategy
            .fleet_lock_base(&c.identity.group)
            .unwrap(),
        format!("http://lock:8080/workers.eu-1/{arch}/metal")
    );
    assert_eq!(Strategy::Immediate.fleet_lock_base("g"), None);

    // Empty group, node_uuid and strategy mean the defaults (Zincati).
    root.write(
        "run",
        "90-reset.toml",
        "[identity]\ngroup = \"\"\nnode_uuid = \"\"\n[updates]\nstrategy = \"\"\n",
    );
    let c = root.load().unwrap().config;
    assert_eq!(c.identity.group, "default");
    assert_eq!(c.identity.node_uuid, None);
    assert_eq!(c.updates.strategy, Strategy::Immediate);
}

#[test]
fn graph_url_tolerates_a_trailing_slash() {
    for base in [
        "http://h:8000/tree",
        "http://h:8000/tree/",
        "http://h:8000/tree//",
    ] {
        let c = Channel {
            base_url: base.into(),
            name: "stable".into(),
        };
        assert_eq!(
            c.graph_url(),
            "http://h:8000/tree/updates/stable/graph.json"
        );
    }
}

#[test]
fn a_bad_value_overridden_by_a_later_file_is_fine() {
    let root = Root::new();
    root.write("usr", "10-a.toml", "[identity]\ngroup = \"bad group!\"\n");
    root.write("etc", "20-b.toml", "[identity]\ngroup = \"good\"\n");
    assert_eq!(root.load().unwrap().config.identity.group, "good");
}

#[test]
fn errors_name_the_file_that_set_the_value() {
    // A type error counts even when overridden.
    let root = Root::new();
    let usr = root.write("usr", "10-a.toml", "[updates]\nenabled = \"yes\"\n");
    root.write("etc", "20-b.toml", "[updates]\nenabled = false\n");
    let err = root.load().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: updates.enabled: expected a boolean, found string",
            usr.display()
        )
    );

    // The strategy in one file, its URL in another.
    let root = Root::new();
    root.write("usr", "10-a.toml", "[updates]\nstrategy = \"fleet_lock\"\n");
    let etc = root.write(
        "etc",
        "20-b.toml",
        "[updates.fleet_lock]\nbase_url = \"ftp://x\"\n",
    );
    let err = root.load().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: updates.fleet_lock.base_url: ", etc.display())),
        "{err}"
    );

    // A missing companion key names the file that needs it.
    let root = Root::new();
    let usr = root.write("usr", "10-a.toml", "[updates]\nstrategy = \"periodic\"\n");
    root.write(
        "etc",
        "20-b.toml",
        "[updates.periodic]\ntime_zone = \"UTC\"\n",
    );
    let err = root.load().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: updates.strategy: \"periodic\" needs at least one [[updates.periodic.window]]",
            usr.display()
        )
    );
}

#[test]
fn the_documented_strategy_error() {
    let root = Root::new();
    let path = root.write("etc", "50-x.toml", "[updates]\nstrategy = \"weekly\"\n");
    assert_eq!(
        root.load().unwrap_err().to_string(),
        format!(
            "{}: updates.strategy: \"weekly\" is not one of immediate, periodic, fleet_lock",
            path.display()
        )
    );
}

#[test]
fn syntax_errors_give_file_and_line() {
    let root = Root::new();
    let path = root.write(
        "etc",
        "50-s.toml",
        "[identity]\ngroup = \"a\"\nnode_uuid = \n",
    );
    let err = root.load().unwrap_err();
    let ConfigError::Syntax { path: at, line, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!((at, *line), (&path, 3));
    assert!(
        err.to_string()
            .starts_with(&format!("{}: line 3, column ", path.display())),
        "{err}"
    );
}

#[test]
fn unreadable_files_and_directories_are_named() {
    let root = Root::new();
    let path = root.path("etc", "50-bin.toml");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
    let err = root.load().unwrap_err();
    assert!(
        matches!(&err, ConfigError::Read { path: p, .. } if *p == path),
        "{err}"
    );

    let not_dir = root.write("etc", "plain", "");
    let err = load(&[not_dir.as_path()]).unwrap_err();
    assert!(
        err.to_string().starts_with(&not_dir.display().to_string()),
        "{err}"
    );
}

/// Each snippet, alone in `etc/50-x.toml`, fails at `key` with a message
/// containing `message`.
const BAD: &[(&str, &str, &str)] = &[
    ("[updates]\nenabled = 1\n", "updates.enabled", "expected a boolean, found integer"),
    ("[updates]\nallow_downgrade = \"no\"\n", "updates.allow_downgrade", "expected a boolean"),
    ("[agent.timing]\nsteady_interval_secs = \"300\"\n", "agent.timing.steady_interval_secs", "expected an integer"),
    ("[agent.timing]\nsteady_interval_secs = 0\n", "agent.timing.steady_interval_secs", "0 is not a positive"),
    ("[agent.timing]\nsteady_interval_secs = -5\n", "agent.timing.steady_interval_secs", "-5 is not a positive"),
    ("agent = 3\n", "agent", "expected a table, found integer"),
    ("[identity]\ngroup = \"bad group\"\n", "identity.group", "does not match ^[a-zA-Z0-9.-]+$"),
    ("[identity]\ngroup = \"a_b\"\n", "identity.group", "does not match"),
    ("[identity]\ngroup = 5\n", "identity.group", "expected a string"),
    ("[identity]\nnode_uuid = \"xyz\"\n", "identity.node_uuid", "is not 32 hex digits"),
    ("[identity]\nnode_uuid = \"27e3ac02-af39-46af-995c-9940e18b0cce\"\n", "identity.node_uuid", "is not 32 hex digits"),
    ("[identity]\nrollout_wariness = 1.5\n", "identity.rollout_wariness", "1.5 is not between 0.0 and 1.0"),
    ("[identity]\nrollout_wariness = -0.1\n", "identity.rollout_wariness", "is not between"),
    ("[identity]\nrollout_wariness = nan\n", "identity.rollout_wariness", "NaN is not between"),
    ("[identity]\nrollout_wariness = \"0.5\"\n", "identity.rollout_wariness", "expected a number"),
    ("[channel]\nbase_url = \"http://h\"\n", "channel.name", "missing"),
    ("[channel]\nname = \"stable\"\n", "channel.base_url", "missing"),
    ("[channel]\nbase_url = \"ftp://h\"\nname = \"s\"\n", "channel.base_url", "is not an http:// or https:// URL"),
    ("[channel]\nbase_url = \"http://\"\nname = \"s\"\n", "channel.base_url", "is not an http"),
    ("[channel]\nbase_url = \"http://h/a b\"\nname = \"s\"\n", "channel.base_url", "is not an http"),
    ("[channel]\nbase_url = \"http://h\"\nname = \"..\"\n", "channel.name", "is not a channel name"),
    ("[channel]\nbase_url = \"http://h\"\nname = \"a/b\"\n", "channel.name", "is not a channel name"),
    ("[channel]\nbase_url = \"http://h\"\nname = \"\"\n", "channel.name", "is not a channel name"),
    ("[updates]\nstrategy = \"fleet_lock\"\n", "updates.strategy", "needs updates.fleet_lock.base_url"),
    ("[updates.fleet_lock]\nbase_url = \"http://l/${stream}\"\n", "updates.fleet_lock.base_url", "${stream} is not one of"),
    ("[updates.fleet_lock]\nbase_url = \"http://l/${group\"\n", "updates.fleet_lock.base_url", "unterminated"),
    ("[updates.periodic]\ntime_zone = \"Mars/Base\"\n", "updates.periodic.time_zone", "is not a known time zone"),
    ("[updates.periodic]\nwindow = 3\n", "updates.periodic.window", "expected an array of tables"),
    ("[[updates.periodic.window]]\ndays = \"Mon\"\nstart_time = \"01:00\"\nlength_minutes = 5\n", "updates.periodic.window[0].days", "expected an array of strings"),
    ("[[updates.periodic.window]]\ndays = [1]\nstart_time = \"01:00\"\nlength_minutes = 5\n", "updates.periodic.window[0].days[0]", "expected a string"),
    ("[[updates.periodic.window]]\ndays = [\"Funday\"]\nstart_time = \"01:00\"\nlength_minutes = 5\n", "updates.periodic.window[0].days", "\"Funday\" is not a day name"),
    ("[[updates.periodic.window]]\ndays = []\nstart_time = \"01:00\"\nlength_minutes = 5\n", "updates.periodic.window[0].days", "no days"),
    ("[[updates.periodic.window]]\ndays = [\"Mon\"]\nstart_time = \"25:00\"\nlength_minutes = 5\n", "updates.periodic.window[0].start_time", "is not a 24-hour hh:mm time"),
    ("[[updates.periodic.window]]\ndays = [\"Mon\"]\nstart_time = \"01:00\"\nlength_minutes = 0\n", "updates.periodic.window[0].length_minutes", "0 is not between 1 and 10080"),
    ("[[updates.periodic.window]]\ndays = [\"Mon\"]\nstart_time = \"01:00\"\nlength_minutes = 20000\n", "updates.periodic.window[0].length_minutes", "20000 is not between"),
    ("[[updates.periodic.window]]\ndays = [\"Mon\"]\nlength_minutes = 5\n", "updates.periodic.window[0].start_time", "missing"),
    (
        "[[updates.periodic.window]]\ndays = [\"Mon\"]\nstart_time = \"01:00\"\nlength_minutes = 5\n\
         [[updates.periodic.window]]\ndays = [\"Tue\"]\nstart_time = \"1h\"\nlength_minutes = 5\n",
        "updates.periodic.window[1].start_time",
        "\"1h\" is not",
    ),
];

#[test]
fn every_error_names_file_and_key() {
    for (text, key, message) in BAD {
        let root = Root::new();
        let path = root.write("etc", "50-x.toml", text);
        let err = match root.load() {
            Ok(l) => panic!("{text:?} loaded: {:?}", l.config),
            Err(e) => e.to_string(),
        };
        let prefix = format!("{}: {key}: ", path.display());
        assert!(err.starts_with(&prefix), "{text:?}: {err}");
        assert!(err.contains(message), "{text:?}: {err}");
    }
}

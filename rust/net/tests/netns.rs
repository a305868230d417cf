//! End-to-end tests in network namespaces (root required: they fail, not
//! skip, without it).
//!
//! Each test builds its own lab: a server namespace with `srv0`
//! (10.77.1.1/24), dnsmasq (DHCP + DNS for `images.metalos.test`) and a
//! small HTTP server, and a client namespace whose `eth0` is the veth peer.
//! The client code runs in a thread that entered the client namespace (and
//! mounted a sysfs of its own, so `/sys/class/net` shows that namespace).
//! Everything is torn down by Drop guards, also on panic.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use metalos_net::cmdline;
use metalos_net::dhcp::DhcpConfig;
use metalos_net::dns::Resolver;
use metalos_net::http::{HttpClient, HttpOptions};
use metalos_net::link;
use metalos_net::setup::{self, SetupOptions};
use metalos_net::{addr, dhcp, MacAddr};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
const CLIENT_MAC: &str = "52:54:00:12:34:56";
const IMAGES_HOST: &str = "images.metalos.test";
const NS_PREFIX: &str = "metalos-net-test-";

static NEXT_LAB: AtomicUsize = AtomicUsize::new(0);

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        panic!(
            "the metalos-net netns tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN) \
             to create network namespaces; run them as root (euid is {euid})"
        );
    }
}

fn run(cmd: &[&str]) -> String {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes namespaces left by test processes that were killed.
fn sweep_stale_namespaces() {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(NS_PREFIX)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

/// A named network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(role: &str, lab: usize) -> Netns {
        let name = format!("{NS_PREFIX}{}-{lab}{role}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut cmd = vec!["ip", "-n", &self.name];
        cmd.extend_from_slice(args);
        run(&cmd)
    }

    /// Moves the calling thread into this namespace.
    fn enter_net(&self) {
        let file = File::open(Path::new("/run/netns").join(&self.name)).expect("open netns");
        setns(file, CloneFlags::CLONE_NEWNET).expect("setns(CLONE_NEWNET)");
    }

    /// Runs `f` in a thread inside this namespace, with a sysfs mounted in
    /// a private mount namespace (as `ip netns exec` does), so that
    /// `/sys/class/net` lists this namespace's interfaces.
    fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|s| {
            s.spawn(|| {
                self.enter_net();
                unshare(CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_SLAVE,
                    None::<&str>,
                )
                .expect("make / a slave mount");
                umount2("/sys", MntFlags::MNT_DETACH).expect("detach /sys");
                mount(
                    Some("sysfs"),
                    "/sys",
                    Some("sysfs"),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .expect("mount sysfs");
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The tiny HTTP server's behaviour per path, and its request counts.
#[derive(Default)]
struct Served {
    counts: HashMap<String, usize>,
}

/// An HTTP/1.1 server on 10.77.1.1:80 in the server namespace.
struct HttpServer {
    served: Arc<Mutex<Served>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    fn start(ns: &Netns) -> HttpServer {
        let served = Arc::new(Mutex::new(Served::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let path = Path::new("/run/netns").join(&ns.name);
        let thread = {
            let (served, stop) = (served.clone(), stop.clone());
            thread::spawn(move || {
                let file = File::open(path).expect("open server netns");
                setns(file, CloneFlags::CLONE_NEWNET).expect("setns server");
                let listener = TcpListener::bind((SERVER_IP, 80)).expect("bind 10.77.1.1:80");
                listener.set_nonblocking(true).expect("nonblocking");
                ready_tx.send(()).expect("ready");
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => serve_one(stream, &served),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(10))
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("HTTP server did not start");
        HttpServer {
            served,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self, path: &str) -> usize {
        let served = self.served.lock().unwrap();
        served.counts.get(path).copied().unwrap_or(0)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request: `/hello` → 200, `/flaky` → 503 twice then 200,
/// `/big` → 200 with 64 KiB, anything else → 404.
fn serve_one(stream: std::net::TcpStream, served: &Mutex<Served>) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    let count = {
        let mut s = served.lock().unwrap();
        let c = s.counts.entry(path.clone()).or_default();
        *c += 1;
        *c
    };
    let (status, body): (&str, Vec<u8>) = match path.as_str() {
        "/hello" => ("200 OK", b"hello from the server namespace\n".to_vec()),
        "/flaky" if count <= 2 => ("503 Service Unavailable", b"try later\n".to_vec()),
        "/flaky" => ("200 OK", b"finally\n".to_vec()),
        "/big" => ("200 OK", vec![0x5a; 64 * 1024]),
        _ => ("404 Not Found", b"no such thing\n".to_vec()),
    };
    let mut out = &stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = out.write_all(&body);
}

/// dnsmasq in the server namespace, killed on drop.
struct Dnsmasq {
    child: Child,
    log: PathBuf,
}

impl Dnsmasq {
    fn start(ns: &Netns, dir: &Path) -> Dnsmasq {
        let log = dir.join("dnsmasq.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "dnsmasq"])
            .args([
                "--conf-file=/dev/null",
                "--keep-in-foreground",
                "--port=53",
                "--bind-interfaces",
                "--interface=srv0",
                "--no-resolv",
                "--no-hosts",
                "--user=root",
                "--group=root",
                "--no-ping",
                "--dhcp-authoritative",
                "--dhcp-range=10.77.1.100,10.77.1.199,255.255.255.0,1h",
                "--dhcp-option=option:router,10.77.1.1",
                "--dhcp-option=option:dns-server,10.77.1.1",
                "--dhcp-option=option:domain-name,metalos.test",
                &format!("--address=/{IMAGES_HOST}/{SERVER_IP}"),
                "--log-dhcp",
                "--log-queries",
            ])
            .arg(format!("--log-facility={}", log.display()))
            .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dnsmasq (apt-get install dnsmasq-base)");
        let mut dnsmasq = Dnsmasq { child, log };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fs::read_to_string(&dnsmasq.log)
            .unwrap_or_default()
            .contains("DHCP, IP range")
        {
            if let Ok(Some(status)) = dnsmasq.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = dnsmasq.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("dnsmasq exited ({status}): {err}");
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq did not start: {}",
                dnsmasq.log_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
        dnsmasq
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        // `ip netns exec` execs dnsmasq, so this pid is dnsmasq's.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two namespaces joined by a veth pair: `srv0` (10.77.1.1/24) in the
/// server namespace, `eth0` (down, no address) in the client namespace.
/// Fields drop in order: servers first, then the namespaces.
struct Lab {
    http: Option<HttpServer>,
    dnsmasq: Option<Dnsmasq>,
    client: Netns,
    _server: Netns,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn new(with_dnsmasq: bool) -> Lab {
        require_root();
        sweep_stale_namespaces();
        let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let server = Netns::new("s", n);
        let client = Netns::new("c", n);
        server.ip(&[
            "link",
            "add",
            "srv0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &client.name,
        ]);
        client.ip(&["link", "set", "eth0", "address", CLIENT_MAC]);
        server.ip(&["addr", "add", "10.77.1.1/24", "dev", "srv0"]);
        server.ip(&["link", "set", "srv0", "up"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let dnsmasq = with_dnsmasq.then(|| Dnsmasq::start(&server, dir.path()));
        let http = Some(HttpServer::start(&server));
        Lab {
            http,
            dnsmasq,
            client,
            _server: server,
            _dir: dir,
        }
    }

    fn http(&self) -> &HttpServer {
        self.http.as_ref().expect("http server")
    }
}

fn fast_http() -> HttpOptions {
    HttpOptions {
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        connect_timeout: Duration::from_secs(3),
        io_timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    }
}

#[test]
fn dhcp_dns_and_http_from_the_kernel_command_line() {
    let lab = Lab::new(true);
    let mac: MacAddr = CLIENT_MAC.parse().unwrap();
    let net = cmdline::parse("imaging.efi console=ttyS0 BOOTIF=01-52-54-00-12-34-56").unwrap();
    let started = Instant::now();
    let state = lab.client.run_in(|| {
        let state = setup::configure(&net, &SetupOptions::default()).expect("configure");
        let configured = addr::ipv4_address("eth0").expect("read address");
        assert_eq!(
            configured,
            Some((state.address, 24)),
            "address on eth0 (ioctl)"
        );
        state
    });
    let dhcp_time = started.elapsed();
    let log = lab
        .dnsmasq
        .as_ref()
        .map(Dnsmasq::log_text)
        .unwrap_or_default();
    let lease = state
        .lease
        .clone()
        .unwrap_or_else(|| panic!("no lease; dnsmasq log:\n{log}"));
    assert_eq!(state.nic.name, "eth0");
    assert_eq!(state.nic.mac, mac);
    assert!(state.nic.carrier);
    let octets = lease.address.octets();
    assert_eq!(octets[..3], [10, 77, 1], "{lease:?}");
    assert!((100..=199).contains(&octets[3]), "{lease:?}");
    assert_eq!(lease.prefix_len, 24);
    assert_eq!(lease.routers, vec![SERVER_IP]);
    assert_eq!(lease.dns_servers, vec![SERVER_IP]);
    assert_eq!(lease.server_id, SERVER_IP);
    assert_eq!(lease.domain.as_deref(), Some("metalos.test"));
    assert_eq!(lease.lease_time, Some(Duration::from_secs(3600)));
    assert!(log.contains("DHCPACK(srv0)"), "{log}");
    // Independent check with iproute2.
    let addrs = lab.client.ip(&["-4", "addr", "show", "dev", "eth0"]);
    assert!(
        addrs.contains(&format!("inet {}/24", lease.address)),
        "{addrs}"
    );
    let routes = lab.client.ip(&["-4", "route", "show", "default"]);
    assert!(
        routes.contains("default via 10.77.1.1 dev eth0"),
        "{routes}"
    );

    let http_started = Instant::now();
    lab.client.run_in(|| {
        // DNS through the servers the lease set as default.
        let resolver = Resolver::from_defaults();
        assert_eq!(resolver.resolve_ipv4(IMAGES_HOST).unwrap(), vec![SERVER_IP]);
        let e = resolver
            .resolve_ipv4("nonexistent.invalid")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nonexistent.invalid") && e.contains("10.77.1.1:53"),
            "{e}"
        );

        let client = HttpClient::new(fast_http()).expect("client");
        let body = client
            .get_bytes(&format!("http://{IMAGES_HOST}/hello"), 1024)
            .expect("GET /hello");
        assert_eq!(body, b"hello from the server namespace\n");

        let (len, mut reader) = client
            .get_reader(&format!("http://{IMAGES_HOST}/big"))
            .expect("GET /big");
        assert_eq!(len, Some(64 * 1024));
        let mut big = Vec::new();
        reader.read_to_end(&mut big).unwrap();
        assert_eq!(big, vec![0x5a; 64 * 1024]);

        let too_large = client
            .get_bytes(&format!("http://{IMAGES_HOST}/big"), 1000)
            .unwrap_err();
        assert!(
            too_large.to_string().contains("limit of 1000 bytes"),
            "{too_large}"
        );

        let url = format!("http://{IMAGES_HOST}/hosts/52-54-00-12-34-56.json");
        let e = client.get_bytes(&url, 1024).unwrap_err();
        assert_eq!(e.status_code(), Some(404));
        assert_eq!(e.to_string(), format!("GET {url}: HTTP 404 Not Found"));

        let flaky = client
            .get_bytes(&format!("http://{IMAGES_HOST}/flaky"), 1024)
            .expect("GET /flaky after retries");
        assert_eq!(flaky, b"finally\n");
    });
    assert_eq!(
        lab.http().count("/hosts/52-54-00-12-34-56.json"),
        1,
        "404 must not be retried"
    );
    assert_eq!(lab.http().count("/flaky"), 3, "503 twice, then 200");
    assert_eq!(lab.http().count("/hello"), 1);
    eprintln!(
        "netns: DHCP + link setup {dhcp_time:.2?}, DNS + HTTP checks {:.2?}",
        http_started.elapsed()
    );
}

#[test]
fn static_configuration_from_ip_parameter() {
    let lab = Lab::new(true);
    let net =
        cmdline::parse("ip=10.77.1.50::10.77.1.1:255.255.255.0 metalos.dns=10.77.1.1").unwrap();
    lab.client.run_in(|| {
        let state = setup::configure(&net, &SetupOptions::default()).expect("configure");
        assert_eq!(state.nic.name, "eth0", "the only NIC with link");
        assert_eq!(state.lease, None);
        assert_eq!(state.dns_servers, vec![SERVER_IP]);
        assert_eq!(
            addr::ipv4_address("eth0").unwrap(),
            Some((Ipv4Addr::new(10, 77, 1, 50), 24))
        );
        // Applying again is harmless (the route exists: EEXIST is fine).
        let cmdline::IpConfig::Static(config) = net.ip.clone().unwrap() else {
            unreachable!()
        };
        addr::apply_static("eth0", &config).expect("idempotent");
        let client = HttpClient::new(fast_http()).expect("client");
        let body = client
            .get_bytes(&format!("http://{IMAGES_HOST}/hello"), 1024)
            .expect("GET");
        assert_eq!(body, b"hello from the server namespace\n");
    });
    let routes = lab.client.ip(&["-4", "route", "show", "default"]);
    assert!(
        routes.contains("default via 10.77.1.1 dev eth0"),
        "{routes}"
    );
    assert_eq!(lab.http().count("/hello"), 1);
}

#[test]
fn dhcp_without_server_times_out_clearly_and_wrong_mac_is_named() {
    let lab = Lab::new(false);
    let mac: MacAddr = CLIENT_MAC.parse().unwrap();
    lab.client.run_in(|| {
        let wrong: MacAddr = "52:54:00:00:00:99".parse().unwrap();
        let e = link::choose_boot_nic(Some(wrong), Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "no NIC has MAC 52:54:00:00:00:99 (NICs found: eth0 (52:54:00:12:34:56, no link))"
        );

        let nic = link::choose_boot_nic(Some(mac), Duration::from_secs(5)).expect("boot NIC");
        assert!(nic.carrier);
        let config = DhcpConfig {
            timeout: Duration::from_secs(3),
            first_retransmit: Duration::from_millis(500),
            max_retransmit: Duration::from_secs(1),
        };
        let started = Instant::now();
        let e = dhcp::obtain_lease("eth0", mac, &config).unwrap_err();
        let took = started.elapsed();
        let msg = e.to_string();
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(4),
            "took {took:?}: {msg}"
        );
        assert!(
            msg.starts_with("DHCP on eth0 (MAC 52:54:00:12:34:56): no DHCPOFFER after 3."),
            "{msg}"
        );
        assert!(msg.contains("DHCPDISCOVER sent"), "{msg}");
        assert_eq!(addr::ipv4_address("eth0").unwrap(), None);
    });
}

#[test]
fn namespaces_and_servers_are_torn_down_on_panic() {
    let names = Arc::new(Mutex::new(Vec::new()));
    let seen = names.clone();
    let result = std::panic::catch_unwind(move || {
        let lab = Lab::new(true);
        seen.lock()
            .unwrap()
            .extend([lab.client.name.clone(), lab._server.name.clone()]);
        panic!("deliberate");
    });
    assert!(result.is_err());
    let names = names.lock().unwrap();
    assert_eq!(names.len(), 2);
    for name in names.iter() {
        assert!(
            !Path::new("/run/netns").join(name).exists(),
            "{name} left behind"
        );
    }
}

/// A CA and a server certificate for `images.metalos.test`, made with the
/// openssl CLI in `dir`; returns (CA PEM, server cert PEM, server key PEM).
fn make_test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name);
    let s = |path: &PathBuf| path.to_str().expect("utf-8 path").to_string();
    let (ca_key, ca, key, csr, cert, ext) = (
        p("ca.key"),
        p("ca.pem"),
        p("srv.key"),
        p("srv.csr"),
        p("srv.pem"),
        p("srv.ext"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut cmd = vec![
        "openssl",
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=metalos-net test CA",
    ];
    cmd.extend(ec);
    let (ca_key_s, ca_s) = (s(&ca_key), s(&ca));
    cmd.extend([
        "-keyout",
        &ca_key_s,
        "-out",
        &ca_s,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&cmd);
    let mut cmd = vec!["openssl", "req", "-subj", "/CN=images.metalos.test"];
    cmd.extend(ec);
    let (key_s, csr_s) = (s(&key), s(&csr));
    cmd.extend(["-keyout", &key_s, "-out", &csr_s]);
    run(&cmd);
    fs::write(
        &ext,
        "subjectAltName=DNS:images.metalos.test\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
    run(&[
        "openssl",
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &csr_s,
        "-CA",
        &ca_s,
        "-CAkey",
        &ca_key_s,
        "-CAcreateserial",
        "-extfile",
        &s(&ext),
        "-out",
        &s(&cert),
    ]);
    (ca, cert, key)
}

/// `openssl s_server -WWW` on 10.77.1.1:443 serving files from `root`.
struct TlsServer(Child);

impl TlsServer {
    fn start(ns: &Netns, root: &Path, cert: &Path, key: &Path) -> TlsServer {
        let child = Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "openssl", "s_server", "-quiet", "-WWW",
            ])
            .args(["-accept", "10.77.1.1:443", "-cert"])
            .arg(cert)
            .arg("-key")
            .arg(key)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl s_server");
        TlsServer(child)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn https_trusts_only_the_given_ca_bundle() {
    let lab = Lab::new(true);
    let pki = tempfile::tempdir().expect("tempdir");
    let (ca, cert, key) = make_test_pki(pki.path());
    let www = tempfile::tempdir().expect("tempdir");
    fs::write(www.path().join("host.json"), "{\"hostname\":\"node1\"}\n").unwrap();
    let _tls = TlsServer::start(&lab._server, www.path(), &cert, &key);
    let net = cmdline::parse("ip=10.77.1.60::10.77.1.1:24 metalos.dns=10.77.1.1").unwrap();
    let url = format!("https://{IMAGES_HOST}/host.json");
    lab.client.run_in(|| {
        setup::configure(&net, &SetupOptions::default()).expect("configure");
        // Retries cover s_server still starting up (connection refused).
        let trusted = HttpClient::new(HttpOptions {
            ca_bundle: Some(ca.clone()),
            ..fast_http()
        })
        .expect("client with CA bundle");
        let body = trusted.get_bytes(&url, 1024).expect("GET over TLS");
        assert_eq!(body, b"{\"hostname\":\"node1\"}\n");

        // The built-in roots do not include the test CA: a TLS failure,
        // reported at once rather than retried.
        let untrusting = HttpClient::new(HttpOptions {
            first_backoff: Duration::from_secs(5),
            ..fast_http()
        })
        .expect("client with built-in roots");
        let started = Instant::now();
        let e = untrusting.get_bytes(&url, 1024).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(4), "retried: {e}");
        assert!(e.starts_with(&format!("GET {url}: ")), "{e}");
        assert!(e.to_lowercase().contains("certificate"), "{e}");
        eprintln!("without the CA bundle: {e}");
    });
}

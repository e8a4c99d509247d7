//! The harness every integration test shares: start the real `fulcrum`
//! binary with a config of the test's choosing (on loopback, or inside a
//! network namespace the test created), talk to it, and tear everything
//! down on drop. Tests that need root or a tool FAIL under `CI=true` when
//! it is missing, and skip with a message elsewhere. [`qemu`] holds what
//! the VM tests share.

pub mod qemu;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether we run in CI, where a missing prerequisite is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// True if the prerequisites hold. Otherwise panics under CI, or prints a
/// skip notice and returns false.
pub fn prerequisites(test: &str, need_root: bool, tools: &[&str]) -> bool {
    let mut missing = Vec::new();
    if need_root && !is_root() {
        missing.push("root".to_string());
    }
    for t in tools {
        if which(t).is_none() {
            missing.push(format!("`{t}`"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{test}: missing {}", missing.join(", "));
    if in_ci() {
        panic!("{msg} (CI=true: required; `.ci/run` installs them)");
    }
    eprintln!("SKIPPED {msg}");
    false
}

/// The directory of the Python packages the test command installs
/// (`target/pydeps`), if `module` is in it; a missing one fails under CI
/// and skips otherwise, as [`prerequisites`] does.
pub fn python_deps(test: &str, module: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pydeps");
    if dir.join(module).exists() {
        return Some(dir);
    }
    let msg = format!("{test}: {module} is not in {} (scripts/test-all.sh installs it)", dir.display());
    assert!(!in_ci(), "{msg} (CI=true: required)");
    eprintln!("SKIPPED {msg}");
    None
}

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

/// Full path of a program on PATH (also /usr/sbin, /sbin).
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default() + ":/usr/sbin:/sbin";
    path.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
}

/// A free port on 127.0.0.1 (TCP and UDP both free at the time of
/// asking), below the kernel's ephemeral range (32768 and up): between
/// this check and the server's bind, no client's source port (dig's, by
/// the thousand, in the DNS tests) can land on it. Each call in this
/// process tries a port no earlier call tried.
pub fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let offset = std::process::id() % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = (LOW + (offset + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// Runs a command, panicking with its output if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Polls `f` every 50 ms until it returns Some or `limit` passes.
/// `f`'s first answer within `limit`, if any (for a failure message that
/// needs more than [`wait_for`]'s).
pub fn within<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

static NS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by the test; deleted (with every interface
/// in it) on drop.
/// A process a test started, ended by PID when dropped.
pub struct Spawned(pub std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("fu-{tag}-{}-{}", std::process::id(), NS_COUNTER.fetch_add(1, Ordering::SeqCst));
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec NAME program args...` as a Command.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `ip ARGS` inside the namespace, panicking on failure.
    pub fn ip(&self, args: &[&str]) -> Output {
        run(self.cmd("ip").args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs dhcpcd in `ns` with `args` (a shell word list, the interface
/// last), in a mount namespace of its own with tmpfs over its state
/// directories, so that it reads and writes nothing of the host's (no
/// DUID, no leases, no resolv.conf: no config file, `--nohook
/// resolv.conf`). Bounded by `timeout`.
/// Runs udhcpc once on `ns`'s eth0 as network-boot firmware would ask:
/// vendor class `vendor` (option 60), architecture `arch` (option 93, four
/// hex digits), asking for the boot file. Returns the variables its script
/// saw on `bound` (the script also puts the address on eth0); panics,
/// naming `tag`, when no lease came.
pub fn udhcpc(ns: &Netns, tag: &str, vendor: &str, arch: &str) -> std::collections::HashMap<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("env");
    let script = dir.path().join("script.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = bound ]; then env > {out}; ip addr flush dev \"$interface\"; ip addr add \"$ip/$mask\" dev \"$interface\"; fi\n",
            out = out.display()
        ),
    )
    .expect("udhcpc script");
    run(Command::new("chmod").arg("+x").arg(&script));
    let o = run(ns
        .cmd("udhcpc")
        .args(["-f", "-q", "-n", "-t", "5", "-T", "1", "-i", "eth0", "-V", vendor, "-x", &format!("0x5d:{arch}")])
        .args(["-O", "bootfile", "-s"])
        .arg(&script));
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|_| panic!("{tag}: udhcpc got no lease: {}", String::from_utf8_lossy(&o.stderr)));
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn dhcpcd(ns: &Netns, seconds: u32, args: &str) -> Output {
    let script = format!(
        "for d in /var/lib/dhcpcd /run/dhcpcd; do mkdir -p $d && mount -t tmpfs none $d; done; \
         exec timeout {seconds} dhcpcd -1 -B -d -f /dev/null --nohook resolv.conf {args}"
    );
    ns.cmd("unshare").args(["-m", "sh", "-c", &script]).output().expect("dhcpcd")
}

/// A private mount namespace of the test's own, held open by a sleeping
/// process (an hour at most): what is mounted in it is seen by nothing
/// else, and goes away when it is dropped.
pub struct MountNs {
    holder: Child,
}

impl MountNs {
    pub fn new() -> MountNs {
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sleep", "3600"])
            .spawn()
            .expect("unshare --mount");
        let ns = MountNs { holder };
        // Wait until the holder is in its own namespace.
        let mine = std::fs::read_link("/proc/self/ns/mnt").expect("own mount ns");
        wait_for(Duration::from_secs(5), "the mount namespace", || {
            let theirs = std::fs::read_link(format!("/proc/{}/ns/mnt", ns.holder.id())).ok()?;
            (theirs != mine).then_some(())
        });
        ns
    }

    /// `program` run inside the namespace.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder.id().to_string(), "-m", "--", program]);
        c
    }

    /// `path` as the namespace sees it, for this process to read and write.
    pub fn path(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(path.strip_prefix("/").unwrap_or(path))
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A running `fulcrum serve`, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    /// The plain-HTTP boot listener.
    pub http: SocketAddr,
    /// The operator API's HTTPS listener.
    pub api: SocketAddr,
    /// The data dir, as this process sees it.
    data: PathBuf,
    log: PathBuf,
    /// The namespace it runs in.
    ns: Option<String>,
}

/// Runs the CLI against `srv` as its admin: whether it succeeded, and
/// what it printed (stdout, then stderr).
pub fn cli(srv: &Server, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .env("FULCRUM_ENDPOINT", srv.url(""))
        .env("FULCRUM_TOKEN", srv.token())
        .env("FULCRUM_CACERT", srv.cert())
        .args(args)
        .output()
        .expect("fulcrum");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fulcrum")
}

impl Server {
    /// Writes `config` (TOML; `{dir}` is replaced by the temp dir) and
    /// starts the server, optionally inside `ns`, waiting until `/healthz`
    /// answers at `http` (checked from inside `ns` when given).
    pub fn start(config: &str, http: SocketAddr, ns: Option<&Netns>) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, config, http, ns)
    }

    /// Like `start`, reusing an existing data directory.
    pub fn start_in(dir: tempfile::TempDir, config: &str, http: SocketAddr, ns: Option<&Netns>) -> Server {
        Self::start_logged(dir, config, http, ns, "info")
    }

    /// Like `start_in`, logging at `level` (`FULCRUM_LOG`).
    pub fn start_logged(
        dir: tempfile::TempDir,
        config: &str,
        http: SocketAddr,
        ns: Option<&Netns>,
        level: &str,
    ) -> Server {
        let cmd = match ns {
            Some(ns) => ns.cmd(bin()),
            None => Command::new(bin()),
        };
        Self::start_cmd(dir, config, http, ns, level, cmd, None)
    }

    /// Like `start_in`, run inside the mount namespace `m` (whose mounts
    /// may hold the data dir).
    pub fn start_in_mount_ns(dir: tempfile::TempDir, config: &str, http: SocketAddr, m: &MountNs) -> Server {
        let data = m.path(&dir.path().join("data"));
        Self::start_cmd(dir, config, http, None, "info", m.cmd(bin()), Some(data))
    }

    /// Every test server's default files directory starts with stand-ins for the
    /// shipped Ubuntu bootenv's files, as an import would leave them, so a
    /// test may give a node `ubuntu-24.04` (Fulcrum refuses a bootenv
    /// whose files are missing). `tests/it/bootenv_readiness.rs` tests the
    /// refusal with the other shipped bootenvs, which have none.
    pub fn stage_ubuntu_files(files_dir: &Path) {
        let dir = files_dir.join("ubuntu-24.04");
        if dir.exists() {
            return;
        }
        std::fs::create_dir_all(&dir).expect("files dir");
        for f in ["vmlinuz", "initrd", "ubuntu-24.04-live-server-amd64.iso"] {
            std::fs::write(dir.join(f), b"stand-in\n").expect("stand-in file");
        }
    }

    fn start_cmd(
        dir: tempfile::TempDir,
        config: &str,
        http: SocketAddr,
        ns: Option<&Netns>,
        level: &str,
        mut cmd: Command,
        data: Option<PathBuf>,
    ) -> Server {
        if data.is_none() {
            Self::stage_ubuntu_files(&dir.path().join("data/files"));
        }
        let data = data.unwrap_or_else(|| dir.path().join("data"));
        let config_path = dir.path().join("fulcrum.toml");
        let (text, api) = with_api_listener(&config.replace("{dir}", &dir.path().display().to_string()), http, ns);
        std::fs::File::create(&config_path).and_then(|mut f| f.write_all(text.as_bytes())).expect("write config");
        let log = dir.path().join("server.log");
        let logf = std::fs::File::create(&log).expect("log file");
        cmd.args(["serve", "--config"]).arg(&config_path);
        cmd.env("FULCRUM_LOG", level);
        cmd.stdout(Stdio::from(logf.try_clone().expect("dup"))).stderr(Stdio::from(logf));
        let child = cmd.spawn().expect("spawn fulcrum");
        let mut s = Server { child: Some(child), dir, http, api, data, log, ns: ns.map(|n| n.name.clone()) };
        remember_server(ns, &[http, api], s.data.clone());
        let url = format!("http://{http}/healthz");
        let limit = Duration::from_secs(20);
        let start = Instant::now();
        loop {
            let ok = match ns {
                Some(ns) => ns.cmd("curl").args(["-fsS", "-m", "2", &url]).output().is_ok_and(|o| o.status.success()),
                None => Command::new("curl").args(["-fsS", "-m", "2", &url]).output().is_ok_and(|o| o.status.success()),
            };
            if ok {
                break;
            }
            if let Some(Ok(Some(status))) = s.child.as_mut().map(|c| c.try_wait()) {
                panic!("fulcrum exited early ({status}):\n{}", s.log_text());
            }
            assert!(start.elapsed() < limit, "fulcrum did not become healthy:\n{}", s.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    /// The admin token it wrote at its first start.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("admin.token")).expect("admin token file").trim().to_string()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `path` on the listener that serves it: `/boot/...` on the boot
    /// listener, everything else on the API's.
    pub fn url(&self, path: &str) -> String {
        route_url(self.http, self.api, path)
    }

    /// `path` on the plain-HTTP boot listener, where machines call.
    pub fn boot_url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// The API's certificate (self-signed at first start).
    pub fn cert(&self) -> PathBuf {
        self.data.join("tls/cert.pem")
    }

    /// The data dir, as this process sees it.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// An HTTP client that trusts the API's certificate.
    pub fn client(&self) -> reqwest::Client {
        trusting_client(&self.cert())
    }

    /// SIGKILL, as a power cut would; returns the data dir for a restart.
    pub fn kill9(mut self) -> tempfile::TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// SIGTERM and wait (bounded) for the exit; returns the exit status and
    /// the data dir for a restart.
    pub fn stop(mut self) -> (Option<std::process::ExitStatus>, tempfile::TempDir) {
        let status = self.terminate();
        (status, std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")))
    }

    /// SIGTERM and wait (bounded) for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        c.wait().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
        forget_server(self.ns.as_deref(), &[self.http, self.api]);
    }
}

/// A server started inside the test process on port 0 (no binary, no
/// namespace, no port guessing), on a runtime of its own; shut down the
/// way `fulcrum serve` does on SIGTERM when dropped.
pub struct InProcess {
    rt: tokio::runtime::Runtime,
    running: Option<fulcrum::server::Running>,
    pub http: SocketAddr,
    pub api: SocketAddr,
    /// The DNS listener (UDP and TCP), when DNS is enabled.
    pub dns: Option<SocketAddr>,
    /// The DHCPv4 socket and the PXE boot server's.
    pub dhcp4: Option<SocketAddr>,
    pub boot_server: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    /// Starts a server with every service on a free loopback port; `extra`
    /// is appended to the config (TOML sections).
    pub fn start(extra: &str) -> InProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "data_dir = \"{d}/data\"\n[http]\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n[dhcp]\nlisten4 = \"127.0.0.1:0\"\nlisten6 = \"[::1]:0\"\n\
             listen_pxe = \"127.0.0.1:0\"\n[tftp]\nlisten = \"127.0.0.1:0\"\nroot = \"{d}\"\n{dns}{extra}",
            d = dir.path().display(),
            // A test that configures DNS itself says where it listens. Not
            // port 0: an ephemeral port can be dig's source port too, and
            // BIND's dig sets SO_REUSEPORT, so as the same user it joins the
            // server's port and its connected socket receives its own query
            // ("query response not set"; seen in 1 of ~4,000 queries).
            dns = if extra.contains("[dns]") {
                String::new()
            } else {
                format!("[dns]\nlisten = [\"127.0.0.1:{}\"]\n", free_port())
            },
        );
        Server::stage_ubuntu_files(&dir.path().join("data/files"));
        let config = fulcrum::config::Config::parse(&text, Path::new("test.toml")).expect("test config");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let running = rt.block_on(fulcrum::server::start(config)).expect("start fulcrum in-process");
        remember_server(None, &[running.http, running.api], dir.path().join("data"));
        let dns = running.dns.first().copied();
        InProcess {
            http: running.http,
            api: running.api,
            dns,
            dhcp4: running.dhcp4.first().copied(),
            boot_server: running.boot_server,
            running: Some(running),
            rt,
            _dir: dir,
        }
    }

    /// `path` on the listener that serves it (see [`Server::url`]).
    pub fn url(&self, path: &str) -> String {
        route_url(self.http, self.api, path)
    }

    /// The admin token it wrote at its first start.
    pub fn token(&self) -> String {
        admin_token_for(None, &self.url("")).expect("admin token file")
    }

    /// The API's certificate (self-signed at first start).
    pub fn cert(&self) -> PathBuf {
        self._dir.path().join("data/tls/cert.pem")
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        forget_server(None, &[self.http, self.api]);
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

/// `path` on the boot listener (`/boot/...`) or the API's (the rest).
fn route_url(http: SocketAddr, api: SocketAddr, path: &str) -> String {
    if path.starts_with("/boot/") {
        format!("http://{http}{path}")
    } else {
        format!("https://{api}{path}")
    }
}

/// The config `text` with an `[api] listen` of its own: as given, or, when
/// it has none, a free port on the boot listener's address.
fn with_api_listener(text: &str, http: SocketAddr, ns: Option<&Netns>) -> (String, SocketAddr) {
    let table: toml::Table = text.parse().expect("test config is TOML");
    if let Some(listen) = table.get("api").and_then(|a| a.get("listen")).and_then(|l| l.as_str()) {
        return (text.to_string(), listen.parse().expect("api.listen"));
    }
    assert!(table.get("api").is_none(), "harness: a test config with [api] must give api.listen");
    // A namespace is fresh: any port is free there.
    let port = if ns.is_some() { 8443 } else { free_port() };
    let api = SocketAddr::new(http.ip(), port);
    (format!("{text}\n[api]\nlisten = \"{api}\"\n"), api)
}

/// A reqwest client that trusts the certificate in `pem` (names checked).
pub fn trusting_client(pem: &Path) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(pem).expect("the API's certificate")).expect("PEM");
    reqwest::Client::builder().add_root_certificate(cert).build().expect("https client")
}

/// Servers the harness started, by (namespace, `host:port`) of each of
/// their listeners, and their data dir: [`curl`] presents the admin token
/// each wrote at its first start and trusts its API certificate.
static SERVERS: Mutex<BTreeMap<(String, String), PathBuf>> = Mutex::new(BTreeMap::new());

fn server_key(ns: Option<&str>, hostport: &str) -> (String, String) {
    (ns.unwrap_or_default().to_string(), hostport.to_string())
}

fn remember_server(ns: Option<&Netns>, listeners: &[SocketAddr], data: PathBuf) {
    let mut servers = SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    for l in listeners {
        servers.insert(server_key(ns.map(|n| n.name.as_str()), &l.to_string()), data.clone());
    }
}

fn forget_server(ns: Option<&str>, listeners: &[SocketAddr]) {
    let mut servers = SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    for l in listeners {
        servers.remove(&server_key(ns, &l.to_string()));
    }
}

/// The data dir of the harness's server that `url` points at.
fn data_dir_for(ns: Option<&Netns>, url: &str) -> Option<PathBuf> {
    let hostport = url.split("://").nth(1)?.split('/').next()?;
    SERVERS.lock().unwrap_or_else(|p| p.into_inner()).get(&server_key(ns.map(|n| n.name.as_str()), hostport)).cloned()
}

/// The admin token of the harness's server that `url` points at.
fn admin_token_for(ns: Option<&Netns>, url: &str) -> Option<String> {
    let file = data_dir_for(ns, url)?.join("admin.token");
    std::fs::read_to_string(file).ok().map(|t| t.trim().to_string())
}

/// One HTTP exchange made with `curl` (inside `ns` when given), as the
/// operator: a server the harness started gets its admin token. Returns the
/// status code and the body parsed as JSON (or as a JSON string when it is
/// not JSON).
pub fn curl(ns: Option<&Netns>, method: &str, url: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    let token = admin_token_for(ns, url);
    curl_as(ns, token.as_deref(), method, url, body)
}

/// Like [`curl`], presenting `token` (or none) instead of the admin's.
pub fn curl_as(
    ns: Option<&Netns>,
    token: Option<&str>,
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut cmd = match ns {
        Some(ns) => ns.cmd("curl"),
        None => Command::new("curl"),
    };
    cmd.args(["-sS", "-m", "10", "-X", method, "-w", "\n%{http_code}", url]);
    if url.starts_with("https://") {
        if let Some(data) = data_dir_for(ns, url) {
            cmd.arg("--cacert").arg(data.join("tls/cert.pem"));
        }
    }
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data-binary", &b.to_string()]);
    }
    let out = run(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    let code: u16 = code.trim().parse().unwrap_or_else(|_| panic!("curl gave no status: {text}"));
    let value = serde_json::from_str(body).unwrap_or_else(|_| serde_json::Value::String(body.to_string()));
    (code, value)
}

/// Addresses of a server started by [`loopback`].
pub struct Ports {
    pub http: SocketAddr,
    pub api: SocketAddr,
    pub dhcp: SocketAddr,
    pub tftp: SocketAddr,
    pub dns: SocketAddr,
}

/// A config with every service on free loopback ports; the TFTP root is
/// `{dir}/tftp` (created by the caller when it matters).
pub fn loopback_config() -> (String, Ports) {
    let p = Ports {
        http: SocketAddr::from(([127, 0, 0, 1], free_port())),
        api: SocketAddr::from(([127, 0, 0, 1], free_port())),
        dhcp: SocketAddr::from(([127, 0, 0, 1], free_port())),
        tftp: SocketAddr::from(([127, 0, 0, 1], free_port())),
        dns: SocketAddr::from(([127, 0, 0, 1], free_port())),
    };
    let cfg = format!(
        "data_dir = \"{{dir}}/data\"\n[http]\nlisten = \"{}\"\n[api]\nlisten = \"{}\"\n[dhcp]\nlisten4 = \"{}\"\nlisten6 = \"[::1]:0\"\n\
         listen_pxe = \"127.0.0.1:0\"\n[tftp]\nlisten = \"{}\"\nroot = \"{{dir}}\"\n[dns]\nlisten = [\"{}\"]\n",
        p.http, p.api, p.dhcp, p.tftp, p.dns
    );
    (cfg, p)
}

/// Starts a loopback server.
pub fn loopback() -> (Server, Ports) {
    let (cfg, p) = loopback_config();
    (Server::start(&cfg, p.http, None), p)
}

/// A network on 127.R.0.0/24 whose relay is 127.R.0.1 and whose server
/// address is 127.0.0.1, so every packet stays on loopback.
pub fn loopback_network(name: &str, r: u8) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "subnet": format!("127.{r}.0.0/24"),
        "router": format!("127.{r}.0.1"),
        "server": "127.0.0.1",
        "static": {"start": format!("127.{r}.0.10"), "end": format!("127.{r}.0.99")},
        "dynamic": {"start": format!("127.{r}.0.100"), "end": format!("127.{r}.0.200")},
        "domain": "test.example",
        "v6prefix": "auto"
    })
}

/// The sum of the lines of Prometheus text `text` that start with
/// `line_start` (a metric name with some of its labels; 0 when none
/// does). Panics when `text` has no such metric family at all.
pub fn metric(text: &str, line_start: &str) -> u64 {
    // A family /metrics does not have at all is a renamed or missing
    // metric, not a zero: a check for "none" must not pass on it.
    let family = line_start.split(['{', ' ']).next().unwrap_or(line_start);
    assert!(text.contains(&format!("# TYPE {family} ")), "no metric family `{family}` in:\n{text}");
    text.lines()
        .filter(|l| l.starts_with(line_start))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

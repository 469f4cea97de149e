//! The end-to-end harness: starts the real origin, the real edge (wasm in workerd) and
//! dmclient on loopback with ephemeral ports, and stops them (by PID) when dropped.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use portaldm_shared::keys::NamedKey;

pub mod admin;
pub mod browser;
pub mod chromium;
pub mod stock;

/// Now, from the OS clock.
pub fn now() -> portaldm_shared::time::UnixMillis {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64);
    portaldm_shared::time::UnixMillis(ms.unwrap_or(0))
}

/// Where the workspace is.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A built binary of the workspace (`make test` builds them before the suite).
pub fn bin(name: &str) -> PathBuf {
    let dir =
        std::env::var_os("PORTALDM_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target/debug"));
    let p = dir.join(name);
    assert!(p.exists(), "{} is missing: run `make test` (it builds the binaries and the edge first)", p.display());
    p
}

fn tool(env: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| workspace().join(default));
    assert!(p.exists(), "{} is missing: run `make test` (scripts/setup.sh installs it)", p.display());
    p
}

/// A free loopback port (bound then released: the window for a clash is tiny).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// Options for [`System::start`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds the origin holds package 4 before answering without `Final`.
    pub hold_secs: u64,
    /// Run the origin on a fresh database of the throwaway PostgreSQL (`PDM_TEST_POSTGRES`)
    /// instead of SQLite.
    pub postgres: bool,
    /// Lines added to the origin's configuration.
    pub origin_extra: &'static str,
    /// Run the origin on this database URL (e.g. an [`OwnPostgres`] database).
    pub database: Option<String>,
    /// Raise the edge's per-address mint limit out of the way (every simulated handset of a
    /// swarm mints from 127.0.0.1).
    pub unlimited_minting: bool,
    /// Run the edge as if behind Cloudflare (`PDM_TRUST_CLOUDFLARE = "true"`): it believes
    /// the `x-pdm-local-cf` blob ([`browser::Browser::in_country`]) and `CF-Connecting-IP`.
    pub trust_cloudflare: bool,
    /// Keep the blobs in this S3-compatible server's `blobs` bucket instead of a folder.
    pub blob_s3: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hold_secs: 2,
            postgres: false,
            origin_extra: "",
            database: None,
            unlimited_minting: false,
            trust_cloudflare: false,
            blob_s3: None,
        }
    }
}

/// A fresh database on the throwaway PostgreSQL that `make test` starts; its URL.
pub fn fresh_postgres_database() -> String {
    let admin = std::env::var("PDM_TEST_POSTGRES")
        .expect("PDM_TEST_POSTGRES is not set: run the tests with `make test` (it starts a throwaway PostgreSQL)");
    let db = format!("e2e_{}", free_port());
    let out = Command::new("psql").arg(&admin).args(["-q", "-c", &format!("CREATE DATABASE {db}")]).output();
    let out = out.expect("psql runs");
    assert!(out.status.success(), "CREATE DATABASE: {}", String::from_utf8_lossy(&out.stderr));
    format!("{}/{db}", admin.rsplit_once('/').expect("url with a database").0)
}

/// A PostgreSQL cluster of a test's own (Debian's binaries, a temporary folder, a free
/// loopback port), for tests that stop or restart the database; stopped when dropped.
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl OwnPostgres {
    fn pg(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        // The server refuses to run as root: as root, run the tools as `postgres`.
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let out = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-o", &opts])
            .args(args)
            .output()
            .expect("pg_ctl runs");
        assert!(out.status.success(), "pg_ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Creates and starts the cluster.
    pub fn start() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (make setup)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .max()
            .expect("a PostgreSQL version");
        let dir = tempfile::tempdir().expect("dir");
        let _ = Command::new("chown").arg("postgres").arg(dir.path()).status();
        let pg = OwnPostgres { dir, bin, port: free_port() };
        let out =
            pg.pg("initdb").arg("-D").arg(pg.dir.path().join("data")).args(["-A", "trust", "-U", "postgres"]).output();
        assert!(out.expect("initdb runs").status.success(), "initdb failed");
        pg.ctl(&["start"]);
        pg
    }

    /// The URL of database `name`, created.
    pub fn database(&self, name: &str) -> String {
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let out = Command::new("psql").arg(&admin).args(["-q", "-c", &format!("CREATE DATABASE {name}")]).output();
        assert!(out.expect("psql runs").status.success(), "CREATE DATABASE {name}");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Restarts the server, dropping every connection (`pg_ctl restart -m fast`).
    pub fn restart(&self) {
        self.ctl(&["-m", "fast", "restart"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.pg("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]).output();
    }
}

/// The bucket [`S3Server`] creates.
pub const S3_BUCKET: &str = "blobs";

/// An S3-compatible server on a free loopback port (s3rver, from the pinned npm tools, with
/// its default credentials `S3RVER`/`S3RVER`), keeping its objects in a temporary folder;
/// stopped when dropped.
pub struct S3Server {
    /// Where it keeps the objects.
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    proc: Child,
}

impl S3Server {
    /// Starts it with the bucket [`S3_BUCKET`] and waits until it listens.
    pub fn start() -> S3Server {
        use std::io::BufRead as _;
        let dir = tempfile::tempdir().expect("dir");
        let mut proc = Command::new(tool("S3RVER_BIN", "node_modules/.bin/s3rver"))
            .arg("-d")
            .arg(dir.path())
            .args(["-a", "127.0.0.1", "-p", "0", "--silent", "--configure-bucket", S3_BUCKET])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3rver starts (make test installs it)");
        let stdout = proc.stdout.take().expect("stdout");
        // "S3rver listening on 127.0.0.1:<port>"
        let mut lines = std::io::BufReader::new(stdout).lines();
        let addr = lines
            .find_map(|l| l.ok().and_then(|l| l.rsplit_once(' ').map(|(_, a)| a.to_owned())))
            .expect("s3rver prints its address");
        S3Server { dir, endpoint: format!("http://{addr}"), proc }
    }

    /// The objects stored in the bucket, by key (`a/b` for nested keys).
    pub fn keys(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() {
                    walk(&e.path(), &format!("{prefix}{name}/"), out);
                } else if let Some(key) = name.strip_suffix("._S3rver_object") {
                    out.push(format!("{prefix}{key}"));
                }
            }
        }
        let mut keys = Vec::new();
        walk(&self.dir.path().join(S3_BUCKET), "", &mut keys);
        keys.sort();
        keys
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// A running origin + edge pair with its configuration folder.
pub struct System {
    /// The configuration folder (kept until drop).
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:<edge port>`.
    pub edge: String,
    /// `http://127.0.0.1:<origin port>`.
    pub origin: String,
    origin_proc: Option<Child>,
    edge_proc: Option<Child>,
}

/// The keys dev-setup wrote.
pub struct Keys {
    /// Token signing seed.
    pub token: NamedKey,
    /// CDN URL key.
    pub cdn: NamedKey,
    /// pkg#0 server password.
    pub server_password: String,
    /// The edge's origin-request key.
    pub edge: NamedKey,
}

impl System {
    /// Writes a configuration, loads the demo catalog, starts origin and edge, waits for both.
    pub fn start(opts: Options) -> System {
        let dir = tempfile::tempdir().expect("temp dir");
        let (op, ep) = (free_port(), free_port());
        let bundle = std::env::var_os("PORTALDM_EDGE_BUNDLE")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("edge/build"));
        assert!(bundle.join("index_bg.wasm").exists(), "edge bundle missing: run `make test`");
        let out = origin_bin()
            .args(["dev-setup", "--dir"])
            .arg(dir.path())
            .args(["--origin-port", &op.to_string(), "--edge-port", &ep.to_string(), "--edge-bundle"])
            .arg(&bundle)
            .output()
            .expect("dev-setup runs");
        assert!(out.status.success(), "dev-setup failed: {}", String::from_utf8_lossy(&out.stderr));
        let cfg = dir.path().join("origin.toml");
        let text = std::fs::read_to_string(&cfg).expect("origin.toml");
        let written = format!("hold_secs = {}", portaldm_shared::session::hold::MAX_SECS);
        let mut text = text.replace(&written, &format!("hold_secs = {}", opts.hold_secs));
        let database = opts.database.clone().or_else(|| opts.postgres.then(fresh_postgres_database));
        if let Some(url) = database {
            let line = text.lines().find(|l| l.starts_with("database = ")).expect("database line").to_owned();
            text = text.replace(&line, &format!("database = \"{url}\""));
        }
        if opts.unlimited_minting {
            // The swarm's handsets come through one address and hold no DM account.
            text.push_str("dm_unauth_per_minute_per_address = 0\ndm_unauth_per_minute_per_device = 0\n");
        }
        text.push_str(opts.origin_extra);
        if let Some(endpoint) = &opts.blob_s3 {
            text.push_str(&format!(
                "blob_s3_bucket = \"{S3_BUCKET}\"\nblob_s3_endpoint = \"{endpoint}\"\n\
                 blob_s3_access_key_id = \"S3RVER\"\nblob_s3_secret_access_key = \"S3RVER\"\n"
            ));
        }
        std::fs::write(&cfg, text).expect("write");
        if opts.unlimited_minting {
            let capnp = dir.path().join("workerd.capnp");
            let edge = std::fs::read_to_string(&capnp).expect("workerd.capnp");
            let edge = edge
                .replace(
                    "(name = \"PDM_MINT_PER_MINUTE\", text = \"120\")",
                    "(name = \"PDM_MINT_PER_MINUTE\", text = \"100000000\")",
                )
                .replace(
                    "(name = \"PDM_MINT_BURST\", text = \"60\")",
                    "(name = \"PDM_MINT_BURST\", text = \"1000000\")",
                );
            std::fs::write(&capnp, edge).expect("write");
        }
        if opts.trust_cloudflare {
            let capnp = dir.path().join("workerd.capnp");
            let edge = std::fs::read_to_string(&capnp).expect("workerd.capnp");
            let edge = edge.replace(
                "(name = \"PDM_TRUST_CLOUDFLARE\", text = \"false\")",
                "(name = \"PDM_TRUST_CLOUDFLARE\", text = \"true\")",
            );
            std::fs::write(&capnp, edge).expect("write");
        }
        let mut sys = System {
            edge: format!("http://127.0.0.1:{ep}"),
            origin: format!("http://127.0.0.1:{op}"),
            dir,
            origin_proc: None,
            edge_proc: None,
        };
        {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(sys.staged_dir()).expect("staged folder");
        }
        let demo = sys.origin_cmd(&["catalog", "demo"]).output().expect("catalog demo");
        assert!(demo.status.success(), "catalog demo: {}", String::from_utf8_lossy(&demo.stderr));
        sys.start_origin();
        let workerd = Command::new(tool("WORKERD_BIN", "node_modules/.bin/workerd"))
            .arg("serve")
            .arg(sys.dir.path().join("workerd.capnp"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(sys.dir.path().join("workerd.log")).expect("log")))
            .spawn()
            .expect("workerd starts");
        sys.edge_proc = Some(workerd);
        sys.wait_ready(&format!("{}/portal/", sys.edge));
        sys
    }

    /// A `portaldm-origin` command on this system's configuration.
    pub fn origin_cmd(&self, args: &[&str]) -> Command {
        let mut c = origin_bin();
        c.arg("-c").arg(self.dir.path().join("origin.toml")).args(args);
        c
    }

    /// A new admin API token, made with `admin-token create`.
    pub fn admin_token(&self, name: &str) -> String {
        let out = self.origin_cmd(&["admin-token", "create", "--name", name]).output().expect("admin-token create");
        assert!(out.status.success(), "admin-token create: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
    }

    /// Starts (or restarts) the origin and waits until it listens.
    pub fn start_origin(&mut self) {
        let mut child = self
            .origin_cmd(&["serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(self.dir.path().join("origin.log")).expect("log")))
            .spawn()
            .expect("origin starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("origin prints its address");
        assert!(line.contains("listening on"), "origin did not start: {line:?}; see origin.log");
        self.origin_proc = Some(child);
    }

    /// Starts another origin on the same configuration and database (a replica), on its own
    /// port; it stops when the returned guard is dropped.
    pub fn start_replica(&self) -> Replica {
        let port = free_port();
        let mut child = self
            .origin_cmd(&["serve"])
            .env("PORTALDM_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(self.dir.path().join("replica.log")).expect("log")))
            .spawn()
            .expect("replica starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("replica prints its address");
        assert!(line.contains("listening on"), "replica did not start: {line:?}");
        Replica { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// Stops the origin (SIGKILL: a crash, as far as the system can tell).
    pub fn kill_origin(&mut self) {
        if let Some(mut c) = self.origin_proc.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn wait_ready(&self, url: &str) {
        let agent = browser::agent();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if agent.get(url).call().is_ok_and(|r| r.status() == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{url} did not come up; logs in {}", self.dir.path().display());
    }

    /// DM messages the origin has answered after holding them (package 4 waiting for the
    /// user, answered with the choice or when its hold ran out), from its `/metrics`.
    pub fn held_messages(&self) -> u64 {
        let page = browser::get(&format!("{}/metrics", self.origin));
        let text = String::from_utf8_lossy(&page.body);
        text.lines()
            .find_map(|l| l.strip_prefix("portaldm_dm_message_seconds_count{held=\"true\"} "))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .map_or(0, |n| n as u64)
    }

    /// Waits until the origin has answered `n` held messages: a package 4 was held at least
    /// that often (with a 1 s hold, about a second each).
    pub fn wait_for_held(&self, n: u64) {
        wait_until(&format!("{n} held DM messages"), Duration::from_secs(20), || self.held_messages() >= n);
    }

    /// Gives `dev_id` an md5 DM account and returns a stock handset holding it, at this
    /// system's edge (`stock`: a client that knows nothing of portaldm).
    pub fn stock_handset(&self, dev_id: &str) -> stock::Handset {
        let out = self.origin_cmd(&["device", "account", dev_id, "--scheme", "md5"]).output().expect("origin runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let table = String::from_utf8(out.stdout).expect("utf-8");
        // A value of the `[account.auth]` table the origin printed.
        let field = |key: &str| -> String {
            let line =
                table.lines().find(|l| l.starts_with(&format!("{key} ="))).unwrap_or_else(|| panic!("{key}: {table}"));
            serde_json::from_str(line.split_once('=').expect("key = value").1.trim()).expect("a quoted string")
        };
        let account = stock::Account {
            node: "portaldm".into(),
            server_id: field("server_name"),
            addr: String::new(),
            client_name: field("client_name"),
            client_password: field("client_password"),
            server_name: field("server_name"),
            server_password: field("server_password"),
        };
        stock::Handset::new(stock::Profile::new(dev_id, &format!("{}/dm", self.edge), account))
    }

    /// The keys dev-setup wrote.
    pub fn keys(&self) -> Keys {
        let text = std::fs::read_to_string(self.dir.path().join("keys.toml")).expect("keys.toml");
        let field = |name: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} = ")))
                .map(|v| v.trim().trim_matches('"').to_owned())
                .expect("key field")
        };
        Keys {
            token: NamedKey::parse(&field("token_key")).expect("token key"),
            cdn: NamedKey::parse(&field("cdn_key")).expect("cdn key"),
            server_password: field("server_password"),
            edge: NamedKey::parse(&field("edge_key")).expect("edge key"),
        }
    }

    /// The dmclient configuration file (edit it to test refusals).
    pub fn client_config(&self) -> PathBuf {
        self.dir.path().join("dmclient.toml")
    }

    /// A copy of the dmclient configuration with `line` added to its `[account]`.
    pub fn client_config_with(&self, name: &str, line: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.client_config()).expect("dmclient.toml");
        let path = self.dir.path().join(name);
        std::fs::write(&path, text.replace("[account]\n", &format!("[account]\n{line}\n"))).expect("write");
        path
    }

    /// A copy of the dmclient configuration, named `name`, whose installer is the shell
    /// script `script` (`sh -c`) instead of staging into a folder.
    pub fn client_config_with_installer(&self, name: &str, script: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.client_config()).expect("dmclient.toml");
        let stage = text.lines().find(|l| l.starts_with("stage_dir")).expect("stage_dir").to_owned();
        // A JSON string is a valid TOML basic string.
        let script = serde_json::Value::String(script.to_owned()).to_string();
        let path = self.dir.path().join(name);
        std::fs::write(&path, text.replace(&stage, &format!("command = [\"sh\", \"-c\", {script}]"))).expect("write");
        path
    }

    /// Where dmclient stages installed packages.
    pub fn staged_dir(&self) -> PathBuf {
        self.dir.path().join("dmclient/installed")
    }

    /// What dmclient has installed: the files in [`System::staged_dir`]. The folder must
    /// exist (made empty, owner-only, before the test runs anything), so a check that nothing
    /// was installed cannot pass because installs went elsewhere or the path is wrong.
    pub fn installed(&self) -> Vec<PathBuf> {
        let dir = std::fs::read_dir(self.staged_dir()).expect("the staged folder exists (System::start makes it)");
        dir.map(|e| e.expect("entry").path()).collect()
    }

    /// Starts `dmclient trigger` on `trigger` bytes, as a content dispatcher would.
    pub fn spawn_dmclient(&self, config: &Path, trigger: &[u8]) -> Child {
        let file = self.dir.path().join(format!("trigger-{}.bin", free_port()));
        std::fs::write(&file, trigger).expect("write trigger");
        Command::new(bin("dmclient"))
            .arg("-c")
            .arg(config)
            .arg("trigger")
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dmclient starts")
    }

    /// Runs `dmclient trigger` to completion.
    pub fn run_dmclient(&self, config: &Path, trigger: &[u8]) -> Output {
        wait_with_timeout(self.spawn_dmclient(config, trigger), Duration::from_secs(90))
    }
}

/// A `portaldm-origin` command without the harness's own `PORTALDM_*` variables, which the
/// origin would read as configuration overrides.
fn origin_bin() -> Command {
    let mut c = Command::new(bin("portaldm-origin"));
    c.env_remove("PORTALDM_BIN_DIR").env_remove("PORTALDM_EDGE_BUNDLE");
    c
}

/// A DM session answering the portal's `trigger` as a token-carrying handset `dev_id`
/// (model PDM-Phone-1 on firmware 1.0.0) would, driven message by message by the test itself
/// through the edge at `edge`: for tests that make the handset misbehave on purpose.
pub fn handset_session(edge: &str, trigger: &[u8], dev_id: &str) -> portaldm_shared::session::client::ClientSession {
    let pkg = portaldm_shared::pkg0::Package0::decode(trigger).expect("pkg0").package;
    let device = portaldm_shared::device::DeviceDetails {
        dev_id: dev_id.into(),
        man: Some("Acme".into()),
        model: Some("PDM-Phone-1".into()),
        fw_v: Some("1.0.0".into()),
        ..Default::default()
    };
    let token = pkg.token().expect("token");
    portaldm_shared::session::client::ClientSession::server_initiated(
        device,
        &format!("{edge}/dm"),
        &pkg.session_id_hex(),
        token,
    )
}

/// A second edge (workerd) in front of a system's origin, configured otherwise; killed (by
/// PID) when dropped.
pub struct SecondEdge {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for SecondEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl System {
    /// A second edge from this system's workerd configuration, with `vars` set instead of
    /// `PDM_TRUST_CLOUDFLARE = "false"` (a deployment configured otherwise), in front of this
    /// system's origin or of `origin`; waits until it serves.
    pub fn second_edge(&self, vars: &[(&str, &str)], origin: Option<&str>) -> SecondEdge {
        let text = std::fs::read_to_string(self.dir.path().join("workerd.capnp")).expect("workerd.capnp");
        let port = free_port();
        let own = format!("\"{}\"", self.edge.trim_start_matches("http://"));
        let lines: String = vars.iter().map(|(n, v)| format!("    (name = {n:?}, text = {v:?}),\n")).collect();
        let mut text = text
            .replace(&own, &format!("\"127.0.0.1:{port}\""))
            .replace("    (name = \"PDM_TRUST_CLOUDFLARE\", text = \"false\"),\n", "")
            .replacen("bindings = [\n", &format!("bindings = [\n{lines}"), 1);
        if let Some(o) = origin {
            text = text.replace(&format!("text = {:?}", self.origin), &format!("text = {o:?}"));
        }
        let cfg = self.dir.path().join(format!("workerd-{port}.capnp"));
        std::fs::write(&cfg, text).expect("write");
        let log = std::fs::File::create(self.dir.path().join(format!("workerd-{port}.log"))).expect("log");
        let child = Command::new(tool("WORKERD_BIN", "node_modules/.bin/workerd"))
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("workerd starts");
        let edge = SecondEdge { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !browser::agent().get(&format!("{}/portal/", edge.url)).call().is_ok_and(|r| r.status() == 200) {
            assert!(Instant::now() < deadline, "the second edge did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        edge
    }
}

/// A `dmclient -c <cfg>` command, to add a subcommand to.
pub fn dmclient(cfg: &Path) -> Command {
    let mut c = Command::new(bin("dmclient"));
    c.arg("-c").arg(cfg);
    c
}

/// dmclient's jobs on disk (state_dir/jobs/*.json), as JSON.
pub fn jobs(sys: &System) -> Vec<serde_json::Value> {
    let dir = sys.dir.path().join("dmclient/jobs");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("job file");
            out.push(serde_json::from_str(&text).expect("job json"));
        }
    }
    out
}

/// Polls `done` (every 20 ms) until it holds; fails the test naming `what` past `limit`.
/// For tests that wait for something observable, instead of sleeping for as long as it
/// usually takes.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child`, killing it past `limit`.
pub fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().expect("output"),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!("process did not finish in {limit:?}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

/// A second origin process; killed (by PID) when dropped, even when a test fails.
pub struct Replica {
    child: Child,
    /// Its base URL.
    pub url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for System {
    fn drop(&mut self) {
        for c in [self.origin_proc.take(), self.edge_proc.take()].into_iter().flatten() {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// User+system CPU this process has used, in ms, from `/proc/self/stat` (fields 14 and 15;
/// the kernel's clock tick is 100 Hz on every Linux this runs on).
pub fn own_cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10)
}

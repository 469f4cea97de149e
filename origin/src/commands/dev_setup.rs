//! `dev-setup`: a complete local configuration (keys, origin, edge under workerd, dmclient),
//! as `make run` and the end-to-end tests use it. Keys already in the folder are kept.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use portaldm_shared::keys::NamedKey;
use portaldm_shared::rand::bytes;
use serde::{Deserialize, Serialize};

use crate::cli::DevSetupArgs;
use crate::clock::OsRandom;

/// The ServerID of the local setup.
const SERVER_ID: &str = "portaldm";
/// The token audience of the local setup.
const AUDIENCE: &str = "portaldm-origin";

#[derive(Serialize, Deserialize)]
struct Keys {
    token_key: String,
    cdn_key: String,
    server_password: String,
    /// Added after the first release: generated when an older keys.toml lacks it.
    edge_key: Option<String>,
    /// Package signing seed (added later, generated the same way).
    package_key: Option<String>,
}

fn keys(dir: &Path) -> anyhow::Result<Keys> {
    let path = dir.join("keys.toml");
    let mut rng = OsRandom;
    let mut k = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?,
        Err(_) => Keys {
            token_key: NamedKey::generate("dev1", &mut rng)?.to_entry(),
            cdn_key: NamedKey::generate("cdn1", &mut rng)?.to_entry(),
            server_password: B64URL.encode(bytes::<18>(&mut rng)?),
            edge_key: None,
            package_key: None,
        },
    };
    if k.edge_key.is_none() {
        k.edge_key = Some(NamedKey::generate("edge1", &mut rng)?.to_entry());
    }
    if k.package_key.is_none() {
        k.package_key = Some(NamedKey::generate("pkg1", &mut rng)?.to_entry());
    }
    write_private(&path, toml::to_string(&k)?)?;
    Ok(k)
}

/// Writes `contents` to `path` readable by its owner only (0600): created with that mode, so
/// there is no moment it is readable by others, and narrowed if it existed before.
fn write_private(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(contents.as_ref()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Creates the folder `dir` (and missing parents) open to its owner only (0700), narrowing
/// it if it existed: it holds the keys, the configurations and the database.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))
}

/// A TOML/capnp string literal (both accept JSON-style escapes for what we write).
fn lit(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `to` as a path relative to the folder `from` (both absolute).
fn relative(from: &Path, to: &Path) -> std::path::PathBuf {
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = std::path::PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// Writes the setup.
pub fn run(a: &DevSetupArgs) -> anyhow::Result<()> {
    private_dir(&a.dir)?;
    let dir = a.dir.canonicalize()?;
    std::fs::create_dir_all(&a.edge_bundle)?;
    // capnp `embed` only takes paths relative to the config file.
    let bundle = relative(&dir, &a.edge_bundle.canonicalize()?);
    let k = keys(&dir)?;
    let edge_key = k.edge_key.clone().unwrap_or_default();
    let public = NamedKey::parse(&k.token_key)?.ed25519_public().to_entry();
    let package_key = k.package_key.clone().unwrap_or_default();
    let package_public = NamedKey::parse(&package_key)?.ed25519_public().to_entry();
    let edge = format!("http://127.0.0.1:{}", a.edge_port);
    let origin = format!("http://127.0.0.1:{}", a.origin_port);
    let d = |p: &str| lit(&dir.join(p).to_string_lossy());

    let origin_toml = format!(
        "# portaldm origin, local development (written by `portaldm-origin dev-setup`)\n\
         listen = {listen}\ndatabase = {db}\nblob_dir = {blobs}\nserver_id = {sid}\naudience = {aud}\n\
         dm_uri = {dm}\npublic_url = {edge}\ntoken_public_keys = {tpk}\ncdn_keys = {cdn}\nedge_keys = {ek}\npackage_signing_key = {pk}\nhold_secs = {hold}\n",
        listen = lit(&format!("127.0.0.1:{}", a.origin_port)),
        hold = portaldm_shared::session::hold::MAX_SECS,
        db = lit(&format!("sqlite://{}", dir.join("origin.db").to_string_lossy())),
        blobs = d("blobs"),
        sid = lit(SERVER_ID),
        aud = lit(AUDIENCE),
        dm = lit(&format!("{edge}/dm")),
        edge = lit(&edge),
        tpk = lit(&public),
        cdn = lit(&k.cdn_key),
        ek = lit(&edge_key),
        pk = lit(&package_key),
    );
    write_private(&dir.join("origin.toml"), origin_toml)?;

    let client_toml = format!(
        "# dmclient, local development: a demo handset (written by `portaldm-origin dev-setup`)\n\
         state_dir = {state}\n\
         # Asks the phone's user before a portal session starts; this demo handset always says yes.\n\
         confirm = [\"true\"]\n\n[device]\ndev_id = \"IMEI:490154203237518\"\nman = \"portaldm\"\n\
         model = \"PDM-Phone-1\"\ndm_v = \"1.2\"\nlang = \"en-US\"\nfw_v = \"1.0.0\"\nsw_v = \"1.0.0\"\n\
         hw_v = \"A1\"\ndev_typ = \"phone\"\noem = \"portaldm\"\n\n[account]\nserver_id = {sid}\n\
         dm_url = {dm}\nserver_password = {pw}\naudience = {aud}\ntrusted_keys = {tpk}\npackage_keys = {ppk}\n\n\
         [install]\nstage_dir = {staged}\n",
        state = d("dmclient"),
        sid = lit(SERVER_ID),
        dm = lit(&format!("{edge}/dm")),
        pw = lit(&k.server_password),
        aud = lit(AUDIENCE),
        tpk = lit(&public),
        ppk = lit(&package_public),
        staged = d("dmclient/installed"),
    );
    write_private(&dir.join("dmclient.toml"), client_toml)?;

    let vars = [
        ("PDM_TOKEN_KEY", k.token_key.as_str()),
        ("PDM_CDN_KEYS", k.cdn_key.as_str()),
        ("PDM_EDGE_KEYS", edge_key.as_str()),
        ("PDM_ORIGIN_URL", origin.as_str()),
        ("PDM_SERVER_ID", SERVER_ID),
        ("PDM_SERVER_PASSWORD", k.server_password.as_str()),
        ("PDM_ISSUER", "portaldm-edge-local"),
        ("PDM_AUDIENCE", AUDIENCE),
        ("PDM_TOKEN_TTL_SECS", "600"),
        ("PDM_COLO", "LOCAL"),
        ("PDM_MINT_PER_MINUTE", "120"),
        ("PDM_MINT_BURST", "60"),
        // Clients reach this edge directly: their CF-Connecting-IP and cf blob are not believed.
        ("PDM_TRUST_CLOUDFLARE", "false"),
    ];
    let bindings: Vec<String> =
        vars.iter().map(|(n, v)| format!("    (name = {}, text = {}),", lit(n), lit(v))).collect();
    let capnp = format!(
        "# portaldm edge under workerd, local development (written by `portaldm-origin dev-setup`)\n\
         using Workerd = import \"/workerd/workerd.capnp\";\n\n\
         const config :Workerd.Config = (\n  services = [\n    (name = \"edge\", worker = .edgeWorker),\n\
         \x20   (name = \"internet\", network = (allow = [\"public\", \"local\", \"private\"])),\n\
         \x20   # Cloudflare's cache, stood in for by an in-memory worker.\n\
         \x20   (name = \"cache\", worker = (modules = [(name = \"cache.mjs\", esModule = embed {cache})], \
         compatibilityDate = \"2025-09-01\")),\n  ],\n\
         \x20 # Local only: `x-pdm-local-cf` (JSON) stands in for Cloudflare's `request.cf`. Any\n\
         \x20 # client can send it, so the edge ignores it unless PDM_TRUST_CLOUDFLARE is \"true\"\n\
         \x20 # (a test posing as Cloudflare, or a trusted proxy in front that sets it).\n\
         \x20 sockets = [(name = \"http\", address = {addr}, http = (cfBlobHeader = \"x-pdm-local-cf\"), \
         service = \"edge\")],\n);\n\n\
         const edgeWorker :Workerd.Worker = (\n  modules = [\n\
         \x20   (name = \"worker.mjs\", esModule = embed {js}),\n\
         \x20   (name = \"index_bg.wasm\", wasm = embed {wasm}),\n  ],\n\
         \x20 compatibilityDate = \"2025-09-01\",\n  bindings = [\n{bindings}\n\
         \x20   (name = \"PDM_MINT_LIMITER\", durableObjectNamespace = \"MintLimiter\"),\n  ],\n\
         \x20 durableObjectNamespaces = [(className = \"MintLimiter\", uniqueKey = \"portaldm-mint-limiter\")],\n\
         \x20 durableObjectStorage = (inMemory = void),\n\
         \x20 globalOutbound = \"internet\",\n  cacheApiOutbound = \"cache\",\n);\n",
        addr = lit(&format!("127.0.0.1:{}", a.edge_port)),
        js = lit(&bundle.join("worker.mjs").to_string_lossy()),
        wasm = lit(&bundle.join("index_bg.wasm").to_string_lossy()),
        cache = lit(&bundle.join("local-cache.mjs").to_string_lossy()),
        bindings = bindings.join("\n"),
    );
    write_private(&dir.join("workerd.capnp"), capnp)?;
    // The same values for `wrangler dev`, which reads .dev.vars beside wrangler.toml.
    let dev_vars: String = vars.iter().map(|(n, v)| format!("{n}={}\n", lit(v))).collect();
    write_private(&dir.join("dev.vars"), dev_vars)?;
    println!("wrote {}/{{origin.toml,dmclient.toml,workerd.capnp,dev.vars,keys.toml}}", dir.display());
    Ok(())
}

//! `catalog add|list|demo`: the package catalog from the command line.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

use crate::cli::CatalogCommand;
use crate::clock::{now, now_ms};
use crate::config::Config;
use crate::edge_purge::{self, Purged};
use crate::store::{NewPackage, Store};

/// Runs a catalog subcommand.
pub async fn run(cfg: &Config, cmd: CatalogCommand) -> anyhow::Result<()> {
    let store = super::open_store(cfg).await?;
    match cmd {
        CatalogCommand::Add { name, version, models, base_min, base_max, notes, file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let id = add(
                cfg,
                store.as_ref(),
                &bytes,
                NewPackage {
                    name,
                    version,
                    models,
                    base_min,
                    base_max,
                    blob: String::new(),
                    size: 0,
                    notes,
                    signature: None,
                },
            )
            .await?;
            println!("added package {id}");
        }
        CatalogCommand::List => {
            for p in store.packages().await? {
                println!(
                    "{:>4}  {:<32} {:<10} models={} base={}..{} size={} sha256={}",
                    p.id,
                    p.name,
                    p.version,
                    p.models.join(","),
                    p.base_min.as_deref().unwrap_or(""),
                    p.base_max.as_deref().unwrap_or(""),
                    p.size,
                    p.blob
                );
            }
        }
        CatalogCommand::Show { id } => {
            let Some(p) = store.packages().await?.into_iter().find(|p| p.id == id) else {
                anyhow::bail!("no published package {id}");
            };
            println!("package    {} {} (id {})", p.name, p.version, p.id);
            println!("models     {}", p.models.join(", "));
            println!(
                "applies to base firmware {} .. {}",
                p.base_min.as_deref().unwrap_or("any"),
                p.base_max.as_deref().unwrap_or("any")
            );
            println!("blob       sha256 {} ({} bytes)", p.blob, p.size);
            println!("signature  {}", p.signature.as_deref().unwrap_or("none (unsigned)"));
            if !p.notes.is_empty() {
                println!("notes      {}", p.notes);
            }
            let counts = store.result_counts(id).await?;
            if counts.is_empty() {
                println!("results    none yet");
            }
            for (code, n) in counts {
                println!("results    {n} x {code} ({})", portaldm_shared::fumo::ResultCode(code).describe());
            }
        }
        CatalogCommand::Demo => demo(cfg, store.as_ref()).await?,
        CatalogCommand::Url { id, device } => {
            let Some(p) = store.packages().await?.into_iter().find(|p| p.id == id) else {
                anyhow::bail!("no published package {id}");
            };
            let expires = now().as_secs() + cfg.download_ttl_secs;
            let path = portaldm_shared::cdn::sign(&cfg.cdn_key_list()?, &p.blob, &device, expires)?;
            println!("{}{path}", cfg.public_url.trim_end_matches('/'));
        }
        CatalogCommand::Revoke { id } => {
            let blob = store.packages().await?.into_iter().find(|p| p.id == id).map(|p| p.blob);
            if !store.revoke(id, now_ms()).await? {
                anyhow::bail!("no published package {id}");
            }
            println!("revoked package {id}");
            if let Some(blob) = blob {
                let c = cfg.clone();
                match tokio::task::spawn_blocking(move || edge_purge::purge(&c, &blob)).await? {
                    Purged::Done(what) => println!("edge cache: {what}"),
                    Purged::Failed(why) => eprintln!(
                        "warning: the edge cache was not purged ({why}); cached copies stop being served \
                         within PDM_BLOB_CACHE_SECS"
                    ),
                }
            }
        }
    }
    Ok(())
}

/// Stores `bytes` as a blob named by its SHA-256 and adds the package, signed with the
/// configured package key if there is one.
pub async fn add(cfg: &Config, store: &dyn Store, bytes: &[u8], mut p: NewPackage) -> anyhow::Result<i64> {
    let blob = hex::encode(Sha256::digest(bytes));
    write_blob(&cfg.blob_dir, &blob, bytes)?;
    p.size = bytes.len() as u64;
    if let Some(key) = cfg.package_key()? {
        p.signature = Some(portaldm_shared::pkgsig::sign(&key, &blob, p.size));
    }
    p.blob = blob;
    Ok(store.add_package(&p, now_ms()).await?)
}

fn write_blob(dir: &Path, blob: &str, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let final_path = dir.join(blob);
    if final_path.exists() {
        return Ok(());
    }
    // Write then rename, so a blob is either whole or absent.
    let tmp = dir.join(format!(".{blob}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &final_path)?;
    Ok(())
}

/// Synthetic firmware bytes: deterministic, incompressible, `len` long.
fn synthetic(seed: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = Sha256::digest(seed.as_bytes());
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out.truncate(len);
    out
}

/// The demo catalog: firmware for two demo phone models, idempotent.
async fn demo(cfg: &Config, store: &dyn Store) -> anyhow::Result<()> {
    let existing = store.packages().await?;
    // (name, version, model, base_min, base_max, notes)
    type Demo<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);
    let demo: [Demo; 4] = [
        ("PDM Phone 1 firmware", "1.1.0", "PDM-Phone-1", Some("1.0.0"), Some("1.0.9"), "Security fixes for 1.0.x."),
        ("PDM Phone 1 firmware", "1.2.0", "PDM-Phone-1", Some("1.0.0"), None, "New camera app, battery improvements."),
        ("PDM Phone 1 firmware", "1.3.0", "PDM-Phone-1", Some("1.2.0"), None, "Delta update from 1.2.x only."),
        ("PDM Phone 2 firmware", "2.0.0", "PDM-Phone-2", None, None, "For the other demo model."),
    ];
    for (name, version, model, min, max, notes) in demo {
        if existing.iter().any(|p| p.name == name && p.version == version) {
            continue;
        }
        let mut bytes = Vec::new();
        synthetic(&format!("{name} {version}"), 256 * 1024).as_slice().read_to_end(&mut bytes)?;
        let id = add(
            cfg,
            store,
            &bytes,
            NewPackage {
                name: name.into(),
                version: version.into(),
                models: vec![model.into()],
                base_min: min.map(Into::into),
                base_max: max.map(Into::into),
                blob: String::new(),
                size: 0,
                notes: notes.into(),
                signature: None,
            },
        )
        .await?;
        println!("demo package {id}: {name} {version}");
    }
    Ok(())
}

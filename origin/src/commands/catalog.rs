//! `catalog …`: the package catalog from the command line (changes audited as `cli:<user>`).

use anyhow::Context as _;
use portaldm_shared::catalog::PackageRules;
use sha2::{Digest as _, Sha256};

use crate::admin::api_types::{PackageRequest, PackageStatus};
use crate::blobstore::BlobStore;
use crate::catalog_changes::{self, cli_actor};
use crate::cli::CatalogCommand;
use crate::clock::now;
use crate::config::Config;
use crate::edge_purge::Purged;
use crate::store::Store;

/// Runs a catalog subcommand.
pub async fn run(cfg: &Config, cmd: CatalogCommand) -> anyhow::Result<()> {
    let store = super::open_store(cfg).await?;
    let actor = cli_actor();
    match cmd {
        CatalogCommand::Add(a) => {
            let a = *a;
            let req = PackageRequest {
                rules: PackageRules {
                    name: a.name,
                    version: a.version,
                    models: a.models,
                    base_min: a.base_min,
                    base_max: a.base_max,
                    notes: a.notes,
                    hw_revisions: a.hw_revisions,
                    countries: a.countries,
                    operators: a.operators,
                    delta_from: a.delta_from,
                    rollout_percent: a.rollout,
                    notes_by_lang: a.notes_lang.into_iter().collect(),
                    kind: a.kind,
                },
                blob: a.blob.unwrap_or_default(),
                publish: !a.draft,
            };
            let id = match a.file {
                Some(file) => {
                    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                    catalog_changes::add_bytes(cfg, &BlobStore::from_config(cfg)?, store.as_ref(), &bytes, req, &actor)
                        .await?
                        .0
                }
                None => catalog_changes::add(cfg, &BlobStore::from_config(cfg)?, store.as_ref(), req, &actor).await?,
            };
            println!("added package {id}");
        }
        CatalogCommand::Upload { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let blob = catalog_changes::upload(&BlobStore::from_config(cfg)?, store.as_ref(), &bytes, &actor).await?;
            println!(
                "stored blob {} ({} bytes); add it with: catalog add --blob {} …",
                blob.sha256, blob.size, blob.sha256
            );
        }
        CatalogCommand::List => {
            for v in store.all_packages().await? {
                let p = v.package;
                println!(
                    "{:>4}  {:<32} {:<10} models={} base={}..{} size={} sha256={}{}",
                    p.id,
                    p.rules.name,
                    p.rules.version,
                    p.rules.models.join(","),
                    p.rules.base_min.as_deref().unwrap_or(""),
                    p.rules.base_max.as_deref().unwrap_or(""),
                    p.size,
                    p.blob,
                    status_mark(v.status)
                );
            }
        }
        CatalogCommand::Show { id } => {
            let Some(v) = store.all_packages().await?.into_iter().find(|v| v.package.id == id) else {
                anyhow::bail!("no package {id}");
            };
            let p = v.package;
            println!(
                "package    {} {} (id {}, {}){}",
                p.rules.name,
                p.rules.version,
                p.id,
                p.rules.kind.as_str(),
                status_mark(v.status)
            );
            println!("models     {}", p.rules.models.join(", "));
            println!(
                "applies to base firmware {} .. {}",
                p.rules.base_min.as_deref().unwrap_or("any"),
                p.rules.base_max.as_deref().unwrap_or("any")
            );
            if let Some(from) = &p.rules.delta_from {
                println!("delta      from exactly {from}");
            }
            if !p.rules.countries.is_empty() {
                println!("countries  {}", p.rules.countries.join(", "));
            }
            if !p.rules.operators.is_empty() {
                println!("operators  {}", p.rules.operators.join(", "));
            }
            if !p.rules.hw_revisions.is_empty() {
                println!("hardware   {}", p.rules.hw_revisions.join(", "));
            }
            println!("rollout    {}% of fitting devices", p.rules.rollout_percent);
            println!("blob       sha256 {} ({} bytes)", p.blob, p.size);
            println!("signature  {}", p.signature.as_deref().unwrap_or("none (unsigned)"));
            if !p.rules.notes.is_empty() {
                println!("notes      {}", p.rules.notes);
            }
            for (lang, notes) in &p.rules.notes_by_lang {
                println!("notes [{lang}] {notes}");
            }
            let counts = store.result_counts(id).await?;
            if counts.is_empty() {
                println!("results    none yet");
            }
            for (code, n) in counts {
                println!("results    {n} x {code} ({})", portaldm_shared::fumo::ResultCode(code).describe());
            }
        }
        CatalogCommand::Publish { id } => {
            catalog_changes::publish(store.as_ref(), id, &actor).await?;
            println!("published package {id}");
        }
        CatalogCommand::Rollout { id, percent } => {
            catalog_changes::set_rollout(store.as_ref(), id, percent, &actor).await?;
            println!("package {id} is offered to {percent}% of fitting devices");
        }
        CatalogCommand::Demo => demo(cfg, store.as_ref(), &actor).await?,
        CatalogCommand::Url { id, device } => {
            let catalog = store.packages().await?;
            let Some(p) = catalog.iter().find(|p| p.id == id) else {
                anyhow::bail!("no published package {id}");
            };
            let expires = now().as_secs() + cfg.download_ttl_secs;
            let path = portaldm_shared::cdn::sign(&cfg.cdn_key_list()?, &p.blob, p.id, &device, expires)?;
            println!("{}{path}", cfg.public_url.trim_end_matches('/'));
        }
        CatalogCommand::Revoke { id } => {
            let purged = catalog_changes::revoke(cfg, store.as_ref(), id, &actor).await?;
            println!("revoked package {id}");
            match purged {
                Purged::Done(what) => println!("edge cache: {what}"),
                Purged::Failed(why) => eprintln!(
                    "warning: the edge cache was not purged ({why}); cached copies stop being served \
                     within PDM_BLOB_CACHE_SECS"
                ),
            }
        }
    }
    Ok(())
}

/// The demo's release notes in German (the portal's second language).
fn german(notes: &str) -> &'static str {
    match notes {
        "Security fixes for 1.0.x." => "Sicherheitskorrekturen für 1.0.x.",
        "New camera app, battery improvements." => "Neue Kamera-App, längere Akkulaufzeit.",
        "Delta update from 1.2.0 only." => "Delta-Update nur von 1.2.0 aus.",
        _ => "Für das andere Demo-Modell.",
    }
}

fn status_mark(s: PackageStatus) -> &'static str {
    match s {
        PackageStatus::Published => "",
        PackageStatus::Draft => "  DRAFT",
        PackageStatus::Revoked => "  REVOKED",
    }
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
async fn demo(cfg: &Config, store: &dyn Store, actor: &str) -> anyhow::Result<()> {
    let blobs = &BlobStore::from_config(cfg)?;
    let existing = store.packages().await?;
    // (name, version, model, base_min, base_max, notes)
    type Demo<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);
    let demo: [Demo; 4] = [
        ("PDM Phone 1 firmware", "1.1.0", "PDM-Phone-1", Some("1.0.0"), Some("1.0.9"), "Security fixes for 1.0.x."),
        ("PDM Phone 1 firmware", "1.2.0", "PDM-Phone-1", Some("1.0.0"), None, "New camera app, battery improvements."),
        ("PDM Phone 1 firmware", "1.3.0", "PDM-Phone-1", None, None, "Delta update from 1.2.0 only."),
        ("PDM Phone 2 firmware", "2.0.0", "PDM-Phone-2", None, None, "For the other demo model."),
    ];
    for (name, version, model, min, max, notes) in demo {
        if existing.iter().any(|p| p.rules.name == name && p.rules.version == version) {
            continue;
        }
        let bytes = synthetic(&format!("{name} {version}"), 256 * 1024);
        let req = PackageRequest {
            rules: PackageRules {
                name: name.into(),
                version: version.into(),
                models: vec![model.into()],
                base_min: min.map(Into::into),
                base_max: max.map(Into::into),
                notes: notes.into(),
                hw_revisions: vec![],
                // The 1.3.0 demo is a delta: it applies to exactly 1.2.0.
                delta_from: (version == "1.3.0").then(|| "1.2.0".to_owned()),
                rollout_percent: 100,
                notes_by_lang: [("de".to_owned(), german(notes).to_owned())].into_iter().collect(),
                kind: Default::default(),
                countries: vec![],
                operators: vec![],
            },
            blob: String::new(),
            publish: true,
        };
        let (id, _) = catalog_changes::add_bytes(cfg, blobs, store, &bytes, req, actor).await?;
        println!("demo package {id}: {name} {version}");
    }
    Ok(())
}

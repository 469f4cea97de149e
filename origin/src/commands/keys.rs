//! `keys list|add|rotate`: which keys this origin trusts and uses (by id, never the keys),
//! and new keys with the exact lines to put where. Keys are configuration (origin.toml and
//! the edge's secrets), so these commands print and change nothing themselves.

use portaldm_shared::keys::{NamedKey, format_key_list};

use crate::cli::KeysCommand;
use crate::clock::OsRandom;
use crate::config::Config;

/// Runs a keys subcommand.
pub fn run(cfg: &Config, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List => {
            let v = cfg.keys_view()?;
            println!("token keys (verify session tokens)      {}", v.token_keys.join(", "));
            println!("cdn keys (first signs download URLs)    {}", v.cdn_keys.join(", "));
            println!("edge keys (edge request credential)     {}", v.edge_keys.join(", "));
            println!("package signing key                     {}", v.package_key.as_deref().unwrap_or("none"));
        }
        KeysCommand::Add { kind, kid } => print_new(cfg, &kind, &kid, false)?,
        KeysCommand::Rotate { kind, kid } => print_new(cfg, &kind, &kid, true)?,
    }
    Ok(())
}

/// `current` with `new` first (it signs) or last (it only verifies).
fn with(current: Vec<NamedKey>, new: NamedKey, first: bool) -> String {
    let mut keys: Vec<NamedKey> = current.into_iter().filter(|k| k.kid != new.kid).collect();
    if first {
        keys.insert(0, new);
    } else {
        keys.push(new);
    }
    format_key_list(&keys)
}

fn print_new(cfg: &Config, kind: &str, kid: &str, rotate: bool) -> anyhow::Result<()> {
    if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        anyhow::bail!("--kid must be letters, digits, - or _");
    }
    let key = NamedKey::generate(kid, &mut OsRandom)?;
    match kind {
        "token" => {
            if cfg.token_keys()?.iter().any(|k| k.kid == kid) {
                anyhow::bail!("a token key {kid} is configured already: choose another id");
            }
            let public = with(cfg.token_keys()?, key.ed25519_public(), rotate);
            println!("# 1. origin.toml (every replica), then restart: the origin trusts the new key too");
            println!("token_public_keys = \"{public}\"");
            println!(
                "# 2. {}the edge's signing key:",
                if rotate { "then switch " } else { "when it should sign, set " }
            );
            println!("wrangler secret put PDM_TOKEN_KEY   # value: {}", key.to_entry());
            println!(
                "# 3. after the token lifetime (PDM_TOKEN_TTL_SECS), drop the old public keys from token_public_keys"
            );
        }
        "cdn" | "edge" => {
            let (current, origin_key, secret) = if kind == "cdn" {
                (cfg.cdn_key_list()?, "cdn_keys", "PDM_CDN_KEYS")
            } else {
                (cfg.edge_key_list()?, "edge_keys", "PDM_EDGE_KEYS")
            };
            if current.iter().any(|k| k.kid == kid) {
                anyhow::bail!("a {kind} key {kid} is configured already: choose another id");
            }
            let list = with(current, key, rotate);
            let first = if rotate {
                "it signs from now on; the others still verify"
            } else {
                "it verifies; the first still signs"
            };
            println!("# the same list at the origin and the edge ({first})");
            println!("{origin_key} = \"{list}\"          # origin.toml, every replica");
            println!("wrangler secret put {secret}   # value: {list}");
            if kind == "cdn" {
                println!("# drop the old keys once download URLs they signed have expired (download_ttl_secs)");
            } else {
                println!("# update the origin first, then the edge; drop the old key once both run the new list");
            }
        }
        "package" => {
            println!("# origin.toml: packages added from now on are signed with it");
            println!("package_signing_key = \"{}\"", key.to_entry());
            println!("# every dmclient.toml [account] package_keys: add the public key (keep the old one for");
            println!("# packages signed before):");
            println!("package_keys = \"{}\"", key.ed25519_public().to_entry());
        }
        other => anyhow::bail!("unknown key kind {other:?}: token, cdn, edge or package"),
    }
    Ok(())
}

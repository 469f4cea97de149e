//! Giving a device a DM account, the same for the CLI and the admin API: passwords generated
//! when not given, only the account keys stored, the device's side returned once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use portaldm_shared::auth::{Account, Scheme, Secret};
use portaldm_shared::rand::{SecureRandom, bytes};

use crate::admin::api_types::{AccountIssued, AccountRequest};
use crate::clock::{OsRandom, now_ms};
use crate::config::Config;
use crate::store::{Store, StoreError};

/// Why an account was not set.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The request breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness for the passwords.
    #[error(transparent)]
    Random(#[from] portaldm_shared::rand::RandomUnavailable),
}

fn generated() -> Result<String, AccountError> {
    Ok(B64URL.encode(bytes::<18>(&mut OsRandom as &mut dyn SecureRandom)?))
}

/// Sets (or replaces) `dev_id`'s account; the device's `[account.auth]` table, shown once.
pub async fn set(
    cfg: &Config,
    store: &dyn Store,
    dev_id: &str,
    req: AccountRequest,
    actor: &str,
) -> Result<AccountIssued, AccountError> {
    let ok = |s: &str| !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control);
    if !ok(dev_id) {
        return Err(AccountError::Invalid("the DevId must be 1 to 256 printable characters".into()));
    }
    let scheme = Scheme::parse(&req.scheme)
        .ok_or_else(|| AccountError::Invalid(format!("unknown scheme {:?}: use md5, hmac or basic", req.scheme)))?;
    let client_name = req.client_name.unwrap_or_else(|| dev_id.to_owned());
    let client_password = match req.client_password {
        Some(p) => p,
        None => generated()?,
    };
    let server = match req.server_auth {
        false => None,
        true => {
            let name = req.server_name.unwrap_or_else(|| cfg.server_id.clone());
            let password = match req.server_password {
                Some(p) => p,
                None => generated()?,
            };
            Some((name, password))
        }
    };
    if ![&client_name, &client_password].iter().all(|s| ok(s)) || server.as_ref().is_some_and(|(n, p)| !ok(n) || !ok(p))
    {
        return Err(AccountError::Invalid("names and passwords must be 1 to 256 printable characters".into()));
    }
    let account = Account {
        scheme,
        client: Secret::from_password(&client_name, &client_password),
        server: server.as_ref().map(|(n, p)| Secret::from_password(n, p)),
    };
    store.set_device_account(dev_id, &account, actor, now_ms()).await?;
    // The origin keeps only the keys; the passwords travel once, to the device.
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let mut toml = format!(
        "[account.auth]\nscheme = {}\nclient_name = {}\nclient_password = {}\n",
        q(&format!("{scheme:?}").to_ascii_lowercase()),
        q(&client_name),
        q(&client_password)
    );
    if let Some((name, password)) = &server {
        toml.push_str(&format!("server_name = {}\nserver_password = {}\n", q(name), q(password)));
    }
    Ok(AccountIssued { dev_id: dev_id.to_owned(), dmclient_toml: toml })
}

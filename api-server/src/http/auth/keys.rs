//! The JWKS: loaded at start from a file or URL, and reloaded (at most every 30 s) when a token
//! names a key id it does not hold, so key rotation needs no restart.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use jsonwebtoken::{DecodingKey, jwk::JwkSet};
use tokio::sync::RwLock;

/// Where keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    /// A JWKS JSON file (e.g. a mounted Secret).
    File(PathBuf),
    /// A JWKS endpoint.
    Url(String),
}

/// Why keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The JWKS could not be read or fetched.
    #[error("cannot load the JWKS from {source_name}: {message}")]
    Load { source_name: String, message: String },
    /// The token names no known key.
    #[error("unknown signing key {0:?}")]
    UnknownKey(Option<String>),
    /// A JWK could not be used.
    #[error("unusable signing key: {0}")]
    Unusable(String),
}

const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// The current keys.
#[derive(Debug)]
pub struct KeySet {
    source: JwksSource,
    state: RwLock<(JwkSet, Instant)>,
}

impl KeySet {
    /// Loads the keys once.
    pub async fn load(source: JwksSource) -> Result<Self, KeyError> {
        let keys = fetch(&source).await?;
        Ok(Self { source, state: RwLock::new((keys, Instant::now())) })
    }

    /// The key a token's `kid` names (or the only key, when the token names none).
    pub async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, KeyError> {
        if let Some(key) = find(&self.state.read().await.0, kid)? {
            return Ok(key);
        }
        let mut state = self.state.write().await;
        if state.1.elapsed() >= MIN_RELOAD_INTERVAL {
            match fetch(&self.source).await {
                Ok(keys) => *state = (keys, Instant::now()),
                Err(err) => tracing::warn!(error = %err, "JWKS reload failed; keeping the old keys"),
            }
        }
        find(&state.0, kid)?.ok_or_else(|| KeyError::UnknownKey(kid.map(str::to_owned)))
    }
}

fn find(keys: &JwkSet, kid: Option<&str>) -> Result<Option<DecodingKey>, KeyError> {
    let jwk = match kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    };
    jwk.map(|jwk| DecodingKey::from_jwk(jwk).map_err(|err| KeyError::Unusable(err.to_string()))).transpose()
}

async fn fetch(source: &JwksSource) -> Result<JwkSet, KeyError> {
    let (name, text) = match source {
        JwksSource::File(path) => {
            let text = tokio::fs::read_to_string(path).await.map_err(|err| load_error(source, err))?;
            (path.display().to_string(), text)
        }
        JwksSource::Url(url) => {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| load_error(source, e))?;
            let response = client.get(url).send().await.and_then(|r| r.error_for_status());
            let text = response
                .map_err(|e| load_error(source, e))?
                .text()
                .await
                .map_err(|e| load_error(source, e))?;
            (url.clone(), text)
        }
    };
    serde_json::from_str(&text).map_err(|err| KeyError::Load { source_name: name, message: err.to_string() })
}

fn load_error(source: &JwksSource, err: impl std::fmt::Display) -> KeyError {
    let source_name = match source {
        JwksSource::File(path) => path.display().to_string(),
        JwksSource::Url(url) => url.clone(),
    };
    KeyError::Load { source_name, message: err.to_string() }
}

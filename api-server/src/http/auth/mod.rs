//! Optional JWT authentication (off unless a JWKS is configured). Sits in front of every
//! `/api/hyperfleet/v1` route except the OpenAPI document: verifies the bearer token against the
//! JWKS (RS256/ES256 and friends), checks issuer and audience, takes the caller's identity from a
//! claim into `created_by`/`updated_by`, and enforces scopes: `read` for GETs, `write` for
//! resource changes, `status` for adapter reports. Tokens are never logged.

mod keys;

use std::collections::HashSet;

use axum::{
    extract::{Request, State},
    http::{Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};

pub use keys::{JwksSource, KeySet};

use super::{error::ApiError, extract::Caller};

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reading resources and statuses (Sentinels, adapters, people).
    Read,
    /// Creating, changing and deleting resources.
    Write,
    /// Writing adapter status reports (adapters).
    Status,
}

impl Scope {
    /// The scope a request needs.
    pub fn required_by(method: &Method, path: &str) -> Scope {
        if method == Method::GET || method == Method::HEAD {
            Scope::Read
        } else if path.contains("/statuses") {
            Scope::Status
        } else {
            Scope::Write
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Status => "status",
        }
    }
}

/// Settings of the authenticator.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Where the signing keys come from.
    pub jwks: JwksSource,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`, if any.
    pub audience: Option<String>,
    /// Claim naming the caller (`sub`, `email`, ...).
    pub identity_claim: String,
    /// Claim holding scopes: a space-separated string or an array.
    pub scope_claim: String,
    /// Prefix of scope names, e.g. `hyperfleet.` for `hyperfleet.read`.
    pub scope_prefix: String,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("a bearer token is required")]
    Missing,
    /// The token is malformed, badly signed, or for another issuer or audience.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
    /// The token lacks the scope the request needs.
    #[error("the token lacks the '{0}' scope")]
    Forbidden(String),
}

impl AuthError {
    /// Bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        self.into()
    }
}

/// Verifies tokens.
#[derive(Debug)]
pub struct Authenticator {
    config: AuthConfig,
    keys: KeySet,
}

impl Authenticator {
    /// Loads the keys; fails when the JWKS cannot be read.
    pub async fn new(config: AuthConfig) -> Result<Self, keys::KeyError> {
        let keys = KeySet::load(config.jwks.clone()).await?;
        Ok(Self { config, keys })
    }

    /// Verifies `token` and checks it grants `scope`; returns the caller's identity.
    pub async fn authorize(&self, token: &str, scope: Scope) -> Result<String, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|err| AuthError::Invalid(err.to_string()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let key = self
            .keys
            .key_for(header.kid.as_deref())
            .await
            .map_err(|err| AuthError::Invalid(err.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        match &self.config.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
                .map_err(|err| match err.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid(err.to_string()),
                })?
                .claims;
        let identity = claims
            .get(&self.config.identity_claim)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty() && v.len() <= 256 && !v.chars().any(char::is_control))
            .ok_or_else(|| AuthError::Invalid(format!("no usable '{}' claim", self.config.identity_claim)))?;
        let wanted = format!("{}{}", self.config.scope_prefix, scope.name());
        if !scopes(claims.get(&self.config.scope_claim)).contains(wanted.as_str()) {
            return Err(AuthError::Forbidden(wanted));
        }
        Ok(identity.to_owned())
    }
}

const ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

fn scopes(claim: Option<&serde_json::Value>) -> HashSet<&str> {
    match claim {
        Some(serde_json::Value::String(s)) => s.split_whitespace().collect(),
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|v| v.as_str()).collect(),
        _ => HashSet::new(),
    }
}

/// Middleware: authenticates the request and records the caller for the handlers.
pub async fn authenticate(
    State(auth): State<std::sync::Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let scope = Scope::required_by(request.method(), request.uri().path());
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let result = match token {
        None | Some("") => Err(AuthError::Missing),
        Some(token) => auth.authorize(token, scope).await,
    };
    match result {
        Ok(identity) => {
            request.extensions_mut().insert(Caller(identity));
            next.run(request).await
        }
        Err(err) => {
            tracing::info!(reason = %err, category = err.category(), path = %request.uri().path(), "request refused");
            ApiError::from(err).into_response()
        }
    }
}

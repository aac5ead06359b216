//! Shared test harness: the real API (router, middleware, store) served on an ephemeral
//! loopback port over a fresh database that `#[sqlx::test]` created and migrated.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use hyperfleet_api::{http::AppState, kinds::Kinds, store::Store};
use hyperfleet_api_model::{CreateResource, Resource, client::Client};

/// A running API.
pub struct TestApi {
    /// Typed client.
    pub client: Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    http: reqwest::Client,
    pub pool: PgPool,
}

/// A raw answer, for asserting status codes, headers and error bodies.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// Stuck threshold of test servers.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

pub async fn start(pool: PgPool) -> TestApi {
    start_with(pool, Kinds::default()).await
}

pub async fn start_with(pool: PgPool, kinds: Kinds) -> TestApi {
    serve(pool.clone(), AppState::new(Store::new(pool, std::sync::Arc::new(kinds)).unwrap(), STUCK_AFTER))
        .await
}

/// The API with per-caller rate limits.
pub async fn start_limited(
    pool: PgPool,
    limits: hyperfleet_api::http::rate_limit::RateLimitSettings,
) -> TestApi {
    let state = AppState::new(Store::new(pool.clone(), Default::default()).unwrap(), STUCK_AFTER)
        .with_rate_limits(limits);
    serve(pool, state).await
}

/// The API with JWT authentication against `tests/fixtures/jwt/jwks.json`.
pub async fn start_with_auth(pool: PgPool, audience: Option<&str>) -> TestApi {
    let config = hyperfleet_api::auth::AuthConfig {
        jwks: hyperfleet_api::auth::JwksSource::File(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt/jwks.json"),
        ),
        issuer: "https://issuer.test".into(),
        audience: audience.map(str::to_owned),
        identity_claim: "sub".into(),
        scope_claim: "scope".into(),
        scope_prefix: "hyperfleet.".into(),
    };
    let auth = hyperfleet_api::auth::Authenticator::new(config).await.unwrap();
    let state =
        AppState::new(Store::new(pool.clone(), Default::default()).unwrap(), STUCK_AFTER).with_auth(auth);
    serve(pool, state).await
}

async fn serve(pool: PgPool, state: AppState) -> TestApi {
    let served = hyperfleet_testing::api::serve(state).await.unwrap();
    TestApi { client: served.client, base: served.base, http: reqwest::Client::new(), pool }
}

impl TestApi {
    /// Sends `body` (raw text when a string, JSON otherwise) to `path` under the API base path.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_raw(method, &format!("/api/hyperfleet/v1{path}"), body).await
    }

    /// Sends to `path` as given (for routes outside the base path).
    pub async fn send_raw(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_as(None, method, path, body).await
    }

    /// Sends with `Authorization: Bearer <token>` when a token is given.
    pub async fn send_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Some(Value::String(raw)) => request.header("content-type", "application/json").body(raw),
            Some(json) => request.json(&json),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// Creates a cluster named `name` with `labels`.
    pub async fn cluster(&self, name: &str, labels: &[(&str, &str)]) -> Resource {
        let body = CreateResource {
            kind: Some("Cluster".into()),
            name: name.into(),
            spec: json!({"region": "us-east-1", "version": "4.17"}),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        };
        self.client.create_cluster(&body).await.unwrap()
    }

    /// Creates a node pool named `name` in `cluster`.
    pub async fn nodepool(&self, cluster: &Resource, name: &str) -> Resource {
        let body = CreateResource {
            kind: Some("NodePool".into()),
            name: name.into(),
            spec: json!({"replicas": 3}),
            labels: Default::default(),
        };
        self.client.create_nodepool(cluster.id, &body).await.unwrap()
    }
}

impl Answer {
    /// Asserts a problem+json error with `status` and `code`, returning the body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        &self.body
    }
}

//! JWT authentication: every refusal has its own code, identities land in the audit fields, and
//! scopes keep Sentinels read-only and adapters to status reports.

use crate::common;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

const RSA: &[u8] = include_bytes!("../fixtures/jwt/rsa.pem");
const UNTRUSTED: &[u8] = include_bytes!("../fixtures/jwt/rsa-untrusted.pem");
const EC: &[u8] = include_bytes!("../fixtures/jwt/ec.pem");

fn claims(scope: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": "https://issuer.test", "aud": "hyperfleet", "sub": "alice@example.com",
           "scope": scope, "iat": now, "exp": now + 300})
}

fn rsa_token(claims: &Value) -> String {
    sign(claims, Algorithm::RS256, "test-rsa", &EncodingKey::from_rsa_pem(RSA).unwrap())
}

fn sign(claims: &Value, alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let header = Header { kid: Some(kid.into()), ..Header::new(alg) };
    encode(&header, claims, key).unwrap()
}

const CLUSTERS: &str = "/api/hyperfleet/v1/clusters";

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn each_kind_of_bad_token_has_its_code(pool: PgPool) {
    let api = common::start_with_auth(pool, Some("hyperfleet")).await;
    let missing = api.send_as(None, Method::GET, CLUSTERS, None).await;
    missing.problem(401, "HYPERFLEET-AUT-001");
    assert_eq!(missing.headers.get("www-authenticate").unwrap(), "Bearer");

    let forged = sign(
        &claims("hyperfleet.read"),
        Algorithm::RS256,
        "test-rsa",
        &EncodingKey::from_rsa_pem(UNTRUSTED).unwrap(),
    );
    let mut expired = claims("hyperfleet.read");
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut other_audience = claims("hyperfleet.read");
    other_audience["aud"] = json!("someone-else");
    let mut other_issuer = claims("hyperfleet.read");
    other_issuer["iss"] = json!("https://evil.test");
    let unknown_kid = sign(
        &claims("hyperfleet.read"),
        Algorithm::RS256,
        "rotated-away",
        &EncodingKey::from_rsa_pem(RSA).unwrap(),
    );
    let cases = [
        ("bad signature", forged, "HYPERFLEET-AUT-002"),
        ("expired", rsa_token(&expired), "HYPERFLEET-AUT-003"),
        ("wrong audience", rsa_token(&other_audience), "HYPERFLEET-AUT-002"),
        ("wrong issuer", rsa_token(&other_issuer), "HYPERFLEET-AUT-002"),
        ("unknown key", unknown_kid, "HYPERFLEET-AUT-002"),
        ("not a JWT", "not.a.jwt".to_owned(), "HYPERFLEET-AUT-002"),
    ];
    for (what, token, code) in cases {
        let answer = api.send_as(Some(&token), Method::GET, CLUSTERS, None).await;
        assert_eq!(answer.body["code"], code, "{what}: {}", answer.body);
        answer.problem(401, code);
        assert!(!answer.body.to_string().contains(&token), "{what}: the token is never echoed");
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn scopes_separate_readers_writers_and_adapters(pool: PgPool) {
    let api = common::start_with_auth(pool, Some("hyperfleet")).await;
    let writer = rsa_token(&claims("hyperfleet.read hyperfleet.write"));
    let sentinel = rsa_token(&claims("hyperfleet.read"));
    let adapter = sign(
        &json!({"scope": ["hyperfleet.read", "hyperfleet.status"], "sub": "system:serviceaccount:hf:dns",
        "iss": "https://issuer.test", "aud": "hyperfleet", "exp": chrono::Utc::now().timestamp() + 300}),
        Algorithm::ES256,
        "test-ec",
        &EncodingKey::from_ec_pem(EC).unwrap(),
    );

    let body = json!({"name": "secured", "spec": {}});
    let created = api.send_as(Some(&writer), Method::POST, CLUSTERS, Some(body.clone())).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["created_by"], "alice@example.com");
    let href = created.body["href"].as_str().unwrap().to_owned();

    assert_eq!(api.send_as(Some(&sentinel), Method::GET, &href, None).await.status, 200);
    let denied = api.send_as(Some(&sentinel), Method::POST, CLUSTERS, Some(body)).await;
    assert!(
        denied.problem(403, "HYPERFLEET-AUZ-001")["detail"].as_str().unwrap().contains("hyperfleet.write")
    );
    let report = json!({"adapter": "dns", "observed_generation": 1, "conditions": [
        {"type": "Applied", "status": "True"}, {"type": "Available", "status": "True"}, {"type": "Health", "status": "True"}]});
    api.send_as(Some(&sentinel), Method::PUT, &format!("{href}/statuses"), Some(report.clone()))
        .await
        .problem(403, "HYPERFLEET-AUZ-001");

    let stored = api.send_as(Some(&adapter), Method::PUT, &format!("{href}/statuses"), Some(report)).await;
    assert_eq!(stored.status, 201, "ES256 adapter token: {}", stored.body);
    let patch = api.send_as(Some(&adapter), Method::PATCH, &href, Some(json!({"labels": {}}))).await;
    patch.problem(403, "HYPERFLEET-AUZ-001");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn probes_metrics_and_the_openapi_document_need_no_token(pool: PgPool) {
    let api = common::start_with_auth(pool, None).await;
    for path in ["/healthz", "/readyz", "/metrics", "/api/hyperfleet/v1/openapi"] {
        assert_eq!(api.send_as(None, Method::GET, path, None).await.status, 200, "{path}");
    }
    let mut no_aud = claims("hyperfleet.read");
    no_aud.as_object_mut().unwrap().remove("aud");
    assert_eq!(api.send_as(Some(&rsa_token(&no_aud)), Method::GET, CLUSTERS, None).await.status, 200);
}

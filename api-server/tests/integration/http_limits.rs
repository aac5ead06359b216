//! What the HTTP layer answers when the body is the problem: too large (413), not JSON (415),
//! announced but not sent (408, after the body timeout, not a silent 503 at the request timeout).

use crate::common;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_oversized_body_is_413_and_a_body_that_is_not_json_is_415(pool: PgPool) {
    let api = common::start(pool).await;
    let huge = json!({"name": "big", "spec": {"blob": "x".repeat(3 * 1024 * 1024)}});
    api.send(Method::POST, "/clusters", Some(huge)).await.problem(413, "HYPERFLEET-VAL-010");

    let url = format!("{}/api/hyperfleet/v1/clusters", api.base);
    let http = reqwest::Client::new();
    for content_type in [Some("text/plain"), None] {
        let mut request = http.post(&url).body(r#"{"name": "plain", "spec": {}}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "HYPERFLEET-VAL-011");
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_stalled_upload_is_answered_408_after_the_body_timeout(pool: PgPool) {
    let api = common::start(pool).await;
    let address = api.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/hyperfleet/v1/clusters HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: 100\r\n\r\n{{\"name\": "
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("HYPERFLEET-") {
        let read =
            tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buffer)).await.unwrap().unwrap();
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("HYPERFLEET-TMO-001"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(15), "well before the 30 s request timeout");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_caller_over_its_rate_limit_gets_429_with_retry_after_and_probes_are_never_limited(pool: PgPool) {
    use hyperfleet_api::http::rate_limit::RateLimitSettings;
    let limits = RateLimitSettings { reads_per_minute: 60, writes_per_minute: 0, status_per_minute: 0 };
    let api = common::start_limited(pool, limits).await;
    for _ in 0..6 {
        assert_eq!(api.get("/clusters").await.status, 200, "a burst of a tenth of the minute");
    }
    let limited = api.get("/clusters").await;
    limited.problem(429, "HYPERFLEET-LMT-001");
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    for probe in ["/healthz", "/readyz", "/metrics", "/api/hyperfleet/v1/openapi"] {
        assert_eq!(api.send_raw(Method::GET, probe, None).await.status, 200, "{probe}");
    }
    let body = json!({"name": "still-writes", "spec": {}});
    assert_eq!(
        api.send(Method::POST, "/clusters", Some(body)).await.status,
        201,
        "writes have their own bucket"
    );
    let metrics = api.send_raw(Method::GET, "/metrics", None).await.body;
    assert!(
        metrics.as_str().unwrap().contains("hyperfleet_api_rate_limited_total{scope=\"read\"} 1"),
        "{metrics}"
    );
}

//! Benchmark: the API next to PostgreSQL doing the same work, in the same run. For each request
//! (GET by id, a labelled list page of 100, a status report, a create) it records the statements
//! the store runs for one request (from sqlx's own query events), drives the in-process API
//! with `wrk` over `c` connections for a while (a C load generator, as light as pgbench's
//! client), then has `pgbench` run those statements as one transaction with `c` clients for as
//! long, and prints both throughputs, their ratio and the latency percentiles. The API logs its
//! requests as JSON at INFO (into a sink), as deployed. Under each row, the CPU a request cost the
//! API process and PostgreSQL in each run (from `/proc`), to show which side a change must cut.
//!
//! Run with `hack/bench.sh --bench api_vs_postgres`. `HYPERFLEET_BENCH_CLUSTERS` (default
//! 10 000) and `HYPERFLEET_BENCH_SECONDS` (default 10 per run) tune it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod capture;
mod cpu;
mod pgbench;
mod wrk;

use std::{sync::Arc, time::Duration};

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use tracing_subscriber::{filter, prelude::*};
use uuid::Uuid;

use hyperfleet_api::kinds::{KindSettings, Kinds};
use pgbench::Args;

/// Throughput and latency percentiles of one run.
#[derive(Debug)]
pub struct Sample {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

impl Sample {
    fn from_latencies(per_second: f64, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let at = |quantile: f64| {
            let last = latencies.len().saturating_sub(1);
            latencies.get((last as f64 * quantile) as usize).copied().unwrap_or_default()
        };
        Sample { per_second, p50: at(0.5), p99: at(0.99) }
    }
}

/// What a case must reach to meet the issue's targets.
#[derive(Clone, Copy)]
enum Target {
    /// API throughput at least this fraction of pgbench's.
    Throughput(f64),
    /// API p99 at most this multiple of pgbench's.
    P99Within(f64),
}

struct Fixture {
    http: reqwest::Client,
    base: String,
    ids: Vec<Uuid>,
}

impl Fixture {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/api/hyperfleet/v1{path}", self.base))
    }

    fn any_cluster(&self, rng: &mut fastrand::Rng) -> Uuid {
        self.ids[rng.usize(..self.ids.len())]
    }
}

struct Case {
    name: &'static str,
    concurrency: usize,
    target: Target,
    /// One request, sent once to capture the statements it runs.
    request: fn(&Fixture, &mut fastrand::Rng) -> reqwest::RequestBuilder,
    /// wrk's requests: top-level Lua and the body of its `request()` function.
    load: (&'static str, &'static str),
    /// pgbench's `\set` lines; `{clusters}` is the fleet size.
    prelude: &'static str,
    args: &'static [Args],
}

const PICK_CLUSTER: &str = "\\set n random(1, {clusters})";
const LIST_PATH: &str = "/clusters?search=labels.region%3D'eu-west'&size=100";
/// wrk: a GET of a random cluster.
const GET_ONE: (&str, &str) =
    ("", "return wrk.format('GET', '/api/hyperfleet/v1/clusters/' .. ids[math.random(#ids)])");
const CLUSTER_ID: &str = "md5('cluster-' || :n)::uuid";
const POST_ID: &str = "md5('post-' || :p)::uuid";
const LABEL: &str = r#"'{"region": "eu-west"}'"#;
const KIND: &str = "'Cluster'";
const REPORTED: &str = "jsonb_build_array(\
    jsonb_build_object('type', 'Applied', 'status', 'True', 'last_transition_time', now()), \
    jsonb_build_object('type', 'Available', 'status', 'True', 'last_transition_time', now()), \
    jsonb_build_object('type', 'Health', 'status', 'True', 'last_transition_time', now()))";
/// The two aggregated conditions every cluster with required adapters carries (not reconciled
/// yet), as a `jsonb_build_object` list.
macro_rules! unreconciled {
    () => {
        "jsonb_build_object('type', 'Reconciled', 'status', 'False', 'reason', 'ReconciledMissingAdapters', \
           'message', 'not yet available at generation 1', 'observed_generation', 1, 'created_time', now(), \
           'last_updated_time', now(), 'last_transition_time', now()), \
         jsonb_build_object('type', 'LastKnownReconciled', 'status', 'False', 'reason', 'NeverReconciled', \
           'message', 'never reconciled', 'observed_generation', 1, 'created_time', now(), \
           'last_updated_time', now(), 'last_transition_time', now())"
    };
}
const AGGREGATED_NEW: &str = concat!("jsonb_build_array(", unreconciled!(), ")");
const AGGREGATED_REPORTED: &str = concat!(
    "jsonb_build_array(",
    unreconciled!(),
    ", jsonb_build_object('type', 'ValidationSuccessful', 'status', 'True', 'reason', 'AdapterReportedAvailable', \
       'message', 'available', 'observed_generation', 1, 'created_time', now(), \
       'last_updated_time', now(), 'last_transition_time', now()))"
);

fn report() -> serde_json::Value {
    json!({"adapter": "validation", "observed_generation": 1, "conditions": [
        {"type": "Applied", "status": "True"}, {"type": "Available", "status": "True"},
        {"type": "Health", "status": "True"}]})
}

/// The cases, each with the parameters pgbench gives the store's statements, in the order the
/// store runs them (a transaction's BEGIN and COMMIT included).
fn cases() -> Vec<Case> {
    let get_one = |f: &Fixture, rng: &mut fastrand::Rng| {
        f.request(Method::GET, &format!("/clusters/{}", f.any_cluster(rng)))
    };
    vec![
        Case {
            name: "GET by id",
            concurrency: 8,
            target: Target::Throughput(0.5),
            request: get_one,
            load: GET_ONE,
            prelude: PICK_CLUSTER,
            args: &[&[CLUSTER_ID, KIND, "null"]],
        },
        Case {
            name: "GET by id, p99 at c=1",
            concurrency: 1,
            target: Target::P99Within(3.0),
            request: get_one,
            load: GET_ONE,
            prelude: PICK_CLUSTER,
            args: &[&[CLUSTER_ID, KIND, "null"]],
        },
        Case {
            name: "list: label, size 100",
            concurrency: 8,
            target: Target::Throughput(0.8),
            request: |f, _| f.request(Method::GET, LIST_PATH),
            load: ("", "return wrk.format('GET', '/api/hyperfleet/v1' .. list_path)"),
            prelude: "",
            args: &[&[], &[], &[KIND, LABEL], &[KIND, LABEL, "100", "0"], &[]],
        },
        Case {
            name: "status PUT (a repeat)",
            concurrency: 8,
            target: Target::Throughput(0.7),
            request: |f, rng| {
                let path = format!("/clusters/{}/statuses", f.any_cluster(rng));
                f.request(Method::PUT, &path).json(&report())
            },
            load: (
                "",
                "return wrk.format('PUT', '/api/hyperfleet/v1/clusters/' .. ids[math.random(#ids)] .. '/statuses', \
                 {['Content-Type'] = 'application/json'}, report)",
            ),
            prelude: PICK_CLUSTER,
            args: &[
                &[],
                &[CLUSTER_ID, KIND, "null"],
                &[CLUSTER_ID],
                &[CLUSTER_ID, "'validation'", "1", REPORTED, "null", "null", "now()", "now()"],
                &[CLUSTER_ID],
                &[CLUSTER_ID],
                &[CLUSTER_ID, AGGREGATED_REPORTED],
                &[CLUSTER_ID, "'Reconciling'", "'False'", "now()"],
                &[],
            ],
        },
        Case {
            name: "POST a cluster",
            concurrency: 8,
            target: Target::Throughput(0.7),
            request: |f, rng| {
                let body = json!({"name": format!("post-{}", rng.u64(..)), "spec": {}, "labels": {"region": "eu-west"}});
                f.request(Method::POST, "/clusters").json(&body)
            },
            load: (
                "",
                "local name = 'post-' .. math.random(1, 1000000000) .. '-' .. math.random(1, 1000000000) \
                 return wrk.format('POST', '/api/hyperfleet/v1/clusters', {['Content-Type'] = 'application/json'}, \
                 '{\"name\": \"' .. name .. '\", \"spec\": {}, \"labels\": {\"region\": \"eu-west\"}}')",
            ),
            prelude: "\\set p random(1, 9223372036854775806)",
            args: &[
                &[],
                &[POST_ID, KIND, "'post-' || :p", "null", "'{}'", LABEL, "'bench'"],
                &[POST_ID],
                &[POST_ID, AGGREGATED_NEW],
                &[POST_ID, "'Pending'", "'False'", "now()"],
                &[POST_ID, KIND, "null"],
                &[],
            ],
        },
    ]
}

#[tokio::main]
async fn main() {
    let url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL must point at PostgreSQL (use hack/bench.sh)");
    let clusters: usize = std::env::var("HYPERFLEET_BENCH_CLUSTERS")
        .map_or(10_000, |n| n.parse().expect("HYPERFLEET_BENCH_CLUSTERS is a number of clusters"));
    let seconds = std::env::var("HYPERFLEET_BENCH_SECONDS")
        .map_or(10, |n| n.parse().expect("HYPERFLEET_BENCH_SECONDS is a number of seconds"));
    let duration = Duration::from_secs(seconds);
    // `HYPERFLEET_BENCH_LOGS=off` leaves the request logs out, to see what they cost;
    // `HYPERFLEET_BENCH_ONLY=<text>` runs only the cases whose name contains it.
    let logs = match std::env::var("HYPERFLEET_BENCH_LOGS").as_deref() {
        Ok("off") => filter::LevelFilter::OFF,
        _ => filter::LevelFilter::INFO,
    };
    let only = std::env::var("HYPERFLEET_BENCH_ONLY").unwrap_or_default();
    let statements = capture::Statements::default();
    let recording = statements.clone();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().json().with_writer(std::io::sink).with_filter(logs))
        .with(statements.recorder().with_filter(filter::dynamic_filter_fn(move |meta, _| {
            recording.recording() && meta.target() == "sqlx::query"
        })))
        .init();

    let pool = hyperfleet_testing::api::fresh_database(&url, "hyperfleet_pgbench", 16)
        .await
        .unwrap_or_else(|err| panic!("cannot prepare the benchmark database: {err}"));
    let ids = seed(&pool, clusters).await;
    let required = vec!["validation".to_owned(), "dns".to_owned()];
    let kinds = Kinds {
        cluster: KindSettings { required_adapters: required, ..KindSettings::default() },
        ..Kinds::default()
    };
    let served =
        hyperfleet_testing::api::serve_kinds(pool.clone(), kinds).await.expect("cannot serve the API");
    let fixture = Arc::new(Fixture { http: reqwest::Client::new(), base: served.base, ids });
    let db_url =
        format!("{}/hyperfleet_pgbench", url.rsplit_once('/').expect("DATABASE_URL has no database name").0);
    let scratch = std::env::temp_dir().join(format!("hyperfleet-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("cannot create the pgbench scratch directory");

    println!(
        "{clusters} clusters, {seconds} s per run; the API in-process, JSON request logs {logs} (into a sink)"
    );
    println!(
        "{:<24} {:>2} {:>9} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9}  target",
        "request", "c", "API/s", "PG/s", "ratio", "API p50", "API p99", "PG p50", "PG p99"
    );
    for case in cases().into_iter().filter(|case| case.name.contains(&only)) {
        let mut rng = fastrand::Rng::with_seed(7);
        let (answer, captured) = statements.during((case.request)(&fixture, &mut rng).send()).await;
        let answer = answer.unwrap_or_else(|err| panic!("{}: the sample request failed: {err}", case.name));
        assert!(
            answer.status().is_success(),
            "{}: {} {}",
            case.name,
            answer.status(),
            answer.text().await.unwrap_or_default()
        );
        let prelude = case.prelude.replace("{clusters}", &clusters.to_string());
        let script = pgbench::script(&prelude, &captured, case.args)
            .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        let lua = format!("{}\n{}", wrk_prelude(&fixture), case.load.0);
        let (base, dir, load) = (fixture.base.clone(), scratch.clone(), case.load.1);
        let before_api = cpu::Usage::now().unwrap_or_else(|err| panic!("{err}"));
        let api = tokio::task::spawn_blocking(move || {
            wrk::run(&base, &lua, load, case.concurrency, duration, &dir)
        })
        .await
        .expect("the wrk task panicked")
        .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        let before_pg = cpu::Usage::now().unwrap_or_else(|err| panic!("{err}"));
        let (dir, db) = (scratch.clone(), db_url.clone());
        let pg =
            tokio::task::spawn_blocking(move || pgbench::run(&db, &script, case.concurrency, duration, &dir))
                .await
                .expect("the pgbench task panicked")
                .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        let after = cpu::Usage::now().unwrap_or_else(|err| panic!("{err}"));
        print_row(&case, &api, &pg, captured.len());
        let requests = |sample: &Sample| sample.per_second * duration.as_secs_f64();
        let api_cpu = before_pg.per_request_since(&before_api, requests(&api));
        let pg_cpu = after.per_request_since(&before_pg, requests(&pg));
        println!(
            "{:<27} CPU per request: API run {} µs in the API + {} µs in PostgreSQL; pgbench run {} µs in PostgreSQL",
            "",
            api_cpu.api.as_micros(),
            api_cpu.postgres.as_micros(),
            pg_cpu.postgres.as_micros()
        );
    }
    std::fs::remove_dir_all(&scratch).ok();
}

/// N clusters with ids pgbench can compute (`md5('cluster-' || n)`), each with a stored
/// `validation` report that the PUT case repeats.
async fn seed(pool: &PgPool, clusters: usize) -> Vec<Uuid> {
    sqlx::query(
        "insert into resources (id, kind, name, spec, labels, created_time, updated_time, created_by, updated_by) \
         select md5('cluster-' || n)::uuid, 'Cluster', 'cluster-' || n, '{}', \
           jsonb_build_object('region', (array['us-east', 'eu-west', 'ap-south', 'sa-east', 'ca-central'])[n % 5 + 1]), \
           now(), now(), 'bench', 'bench' from generate_series(1, $1) as n",
    )
    .bind(i64::try_from(clusters).expect("HYPERFLEET_BENCH_CLUSTERS fits an i64"))
    .execute(pool)
    .await
    .expect("cannot seed the clusters");
    sqlx::query(
        "insert into adapter_statuses (resource_id, adapter, observed_generation, conditions, created_time, last_report_time) \
         select id, 'validation', 1, jsonb_build_array( \
           jsonb_build_object('type', 'Applied', 'status', 'True', 'last_transition_time', now()), \
           jsonb_build_object('type', 'Available', 'status', 'True', 'last_transition_time', now()), \
           jsonb_build_object('type', 'Health', 'status', 'True', 'last_transition_time', now())), now(), now() \
         from resources",
    )
    .execute(pool)
    .await
    .expect("cannot seed the validation reports");
    // And the aggregate those reports made, so that the first report of the run is a repeat too.
    sqlx::query(
        "insert into resource_conditions (resource_id, type, status, observed_generation, created_time, \
           last_updated_time, last_transition_time) \
         select id, t, 'False', 1, now(), now(), now() from resources, \
           unnest(array['Reconciled', 'LastKnownReconciled', 'ValidationSuccessful']) as t",
    )
    .execute(pool)
    .await
    .expect("cannot seed the aggregated conditions");
    sqlx::query("vacuum analyze").execute(pool).await.expect("vacuum analyze failed");
    sqlx::query_scalar("select id from resources order by name")
        .fetch_all(pool)
        .await
        .expect("cannot read the seeded ids")
}

/// What every wrk script may use: the cluster ids, the status report, the list path.
fn wrk_prelude(fixture: &Fixture) -> String {
    let ids: Vec<String> = fixture.ids.iter().map(|id| format!("\"{id}\"")).collect();
    let lua_string = |text: &str| format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"));
    format!(
        "ids = {{{}}}\nreport = {}\nlist_path = {}\n",
        ids.join(","),
        lua_string(&report().to_string()),
        lua_string(LIST_PATH)
    )
}

fn print_row(case: &Case, api: &Sample, pg: &Sample, statements: usize) {
    let ratio = api.per_second / pg.per_second;
    let verdict = match case.target {
        Target::Throughput(min) => format!("{} >= {min}x", if ratio >= min { "meets" } else { "MISSES" }),
        Target::P99Within(max) => {
            let p99 = api.p99.as_secs_f64() / pg.p99.as_secs_f64();
            format!("p99 {p99:.1}x: {} <= {max}x", if p99 <= max { "meets" } else { "MISSES" })
        }
    };
    println!(
        "{:<24} {:>2} {:>9.0} {:>9.0} {:>5.2}x {:>9.2?} {:>9.2?} {:>9.2?} {:>9.2?}  {verdict} ({statements} statements)",
        case.name, case.concurrency, api.per_second, pg.per_second, ratio, api.p50, api.p99, pg.p50, pg.p99,
    );
}

//! `hyperfleet-demo fleet`: the fleet benchmark's client half. Creates N clusters at once
//! against a running HyperFleet (API + operator with the catalog), waits until every one is
//! Ready, and reports how long that took and what it cost: create -> Ready percentiles, events
//! published and coalesced and API requests (from both processes' `/metrics`, the benchmark's
//! own requests left out), each process's CPU time and peak RSS (from `/proc`), and the largest
//! backlog in the adapters' queues (from the broker, see [`backlog`](super::backlog)).
//! `hack/fleet.sh` starts the processes and runs it.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use uuid::Uuid;

use hyperfleet_api_model::{CreateResource, ListParams, Phase, client::Client};
use hyperfleet_telemetry::process::CpuTimes;

use super::{
    CLUSTER, DemoError,
    backlog::{self, Largest, Queues},
};

/// What to measure.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Clusters to create at once.
    pub clusters: usize,
    /// Give up after this long.
    pub timeout: Duration,
    /// The API's and the operator's `/metrics` URLs.
    pub metrics: Vec<String>,
    /// Processes to measure, by name.
    pub processes: Vec<(String, u32)>,
    /// The adapters' queues, to sample their backlog.
    pub queues: Option<Queues>,
}

/// What one run cost.
#[derive(Debug, Clone, Default)]
pub struct FleetReport {
    /// Clusters created.
    pub clusters: usize,
    /// Creation of the first to the last Ready.
    pub all_ready: Duration,
    /// create -> Ready, 50th, 95th percentile and the slowest.
    pub ready_p50: Duration,
    /// See `ready_p50`.
    pub ready_p95: Duration,
    /// See `ready_p50`.
    pub ready_max: Duration,
    /// Events the Sentinels published.
    pub published: f64,
    /// Events adapters acknowledged as coalesced.
    pub coalesced: f64,
    /// API requests other than the benchmark's own.
    pub api_requests: f64,
    /// Status reports the adapters sent.
    pub reports: f64,
    /// CPU seconds and peak RSS (MiB) per process.
    pub processes: Vec<(String, f64, f64)>,
    /// The largest queue backlog seen, when queues were given.
    pub largest_backlog: Option<Largest>,
}

/// Creates the clusters, waits for them, and reports.
pub async fn fleet(client: &Client, options: &FleetOptions) -> Result<FleetReport, DemoError> {
    let before = scrape_all(&options.metrics).await;
    let started = Instant::now();
    let template: CreateResource = serde_json::from_str(CLUSTER)?;
    let run = Uuid::now_v7().simple().to_string();
    let creates = futures::stream::iter(0..options.clusters).map(|n| {
        let body = CreateResource { name: format!("f{}-{n}", &run[24..]), ..template.clone() };
        async move { client.create_cluster(&body).await.map(|created| (created.id, Instant::now())) }
    });
    let created: HashMap<Uuid, Instant> =
        creates.buffer_unordered(64).collect::<Vec<_>>().await.into_iter().collect::<Result<_, _>>()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let waiting = async {
        let ready = wait_until_ready(client, &created, options.timeout, started).await;
        let _ = stop.send(());
        ready
    };
    let sampling = async {
        let stopped = async {
            let _ = stopped.await;
        };
        match &options.queues {
            Some(queues) => backlog::sample(queues, Duration::from_millis(500), stopped).await.map(Some),
            None => Ok(None),
        }
    };
    let (waited, largest_backlog) = tokio::join!(waiting, sampling);
    let (ready, own_requests) = waited?;
    let own_requests = own_requests + options.clusters as f64;
    let after = scrape_all(&options.metrics).await;
    let mut waits: Vec<Duration> = ready.iter().map(|(id, at)| at.duration_since(created[id])).collect();
    waits.sort();
    let at = |q: f64| {
        let index = ((waits.len().saturating_sub(1)) as f64 * q).round() as usize;
        waits.get(index).copied().unwrap_or_default()
    };
    let delta = |metric: &str, filter: &str| sum(&after, metric, filter) - sum(&before, metric, filter);
    Ok(FleetReport {
        clusters: created.len(),
        all_ready: started.elapsed(),
        ready_p50: at(0.5),
        ready_p95: at(0.95),
        ready_max: at(1.0),
        published: delta("hyperfleet_broker_messages_published_total", "hyperfleet-clusters"),
        coalesced: delta("hyperfleet_adapter_events_consumed_total", "outcome=\"coalesced\""),
        api_requests: delta("hyperfleet_api_requests_total", "") - own_requests,
        reports: delta("hyperfleet_api_requests_total", "/statuses\",code=\"20"),
        processes: options.processes.iter().map(|(name, pid)| process(name, *pid)).collect(),
        largest_backlog: largest_backlog?,
    })
}

/// Polls until every created cluster is Ready; when each became Ready, and the requests spent.
async fn wait_until_ready(
    client: &Client,
    created: &HashMap<Uuid, Instant>,
    timeout: Duration,
    started: Instant,
) -> Result<(HashMap<Uuid, Instant>, f64), DemoError> {
    let mut ready: HashMap<Uuid, Instant> = HashMap::new();
    let mut requests = 0.0;
    while ready.len() < created.len() {
        if started.elapsed() > timeout {
            let what = format!("{} of {} clusters Ready", created.len() - ready.len(), created.len());
            return Err(DemoError::Timeout { what, timeout, last: "not Ready".into() });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (page, spent) = ready_clusters(client).await?;
        requests += spent;
        for id in page.into_iter().filter(|id| created.contains_key(id)) {
            ready.entry(id).or_insert_with(Instant::now);
        }
    }
    Ok((ready, requests))
}

/// The Ready clusters (every page), and how many requests that took.
async fn ready_clusters(client: &Client) -> Result<(Vec<Uuid>, f64), DemoError> {
    let (mut ids, mut requests, mut after) = (Vec::new(), 0.0, None);
    loop {
        // Keyset paging walks ids upwards: asked for from the first page.
        let params =
            ListParams { size: Some(1000), order: Some("id asc".into()), after, ..ListParams::default() };
        let page = client.list_clusters(&params).await?;
        requests += 1.0;
        let last = page.items.last().map(|resource| resource.id);
        ids.extend(page.items.iter().filter(|r| r.status.phase == Phase::Ready).map(|r| r.id));
        match last {
            Some(last) if page.items.len() == 1000 => after = Some(last),
            _ => return Ok((ids, requests)),
        }
    }
}

async fn scrape_all(urls: &[String]) -> String {
    let mut text = String::new();
    for url in urls {
        match reqwest::get(url).await {
            Ok(response) => text.push_str(&response.text().await.unwrap_or_default()),
            Err(err) => eprintln!("hyperfleet-demo: cannot read {url}: {err}"),
        }
    }
    text
}

/// The sum of every sample of `metric` whose line contains `filter`.
fn sum(text: &str, metric: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(metric) && line.contains(filter))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// CPU seconds (user + system) and peak RSS in MiB of `pid`.
fn process(name: &str, pid: u32) -> (String, f64, f64) {
    let cpu = CpuTimes::of(&pid.to_string()).unwrap_or_default().own.as_secs_f64();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    (name.to_owned(), cpu, peak_kib / 1024.0)
}

impl std::fmt::Display for FleetReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |total: f64| total / self.clusters.max(1) as f64;
        writeln!(f, "clusters {}: all Ready after {:.1?}", self.clusters, self.all_ready)?;
        writeln!(
            f,
            "create -> Ready: p50 {:.1?}, p95 {:.1?}, max {:.1?}",
            self.ready_p50, self.ready_p95, self.ready_max
        )?;
        writeln!(
            f,
            "events published {:.0} ({:.1} per cluster), coalesced {:.0}",
            self.published,
            per(self.published),
            self.coalesced
        )?;
        writeln!(
            f,
            "API requests {:.0} ({:.1} per cluster), status reports {:.0}",
            self.api_requests,
            per(self.api_requests),
            self.reports
        )?;
        for (name, cpu, rss) in &self.processes {
            writeln!(f, "{name}: CPU {cpu:.1} s, peak RSS {rss:.0} MiB")?;
        }
        match &self.largest_backlog {
            Some(largest) if largest.messages > 0 => {
                writeln!(f, "largest queue backlog {} messages ({})", largest.messages, largest.queue)?;
            }
            Some(_) => writeln!(f, "largest queue backlog: no message ever waited")?,
            None => {}
        }
        Ok(())
    }
}

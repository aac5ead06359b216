//! The demo scenario, against any running HyperFleet (API + operator with the adapter catalog):
//! create a cluster and a node pool and watch the adapters report until both are Ready; change
//! the cluster's spec and watch it reconcile again at generation 2; delete it and watch it
//! finalize and go. Progress is printed as a live table of adapter conditions; the timings are
//! returned. `hack/demo.sh` runs it against throwaway processes; a test runs it in-process.

use std::{
    collections::BTreeMap,
    io::Write,
    time::{Duration, Instant},
};

use hyperfleet_api_model::{
    ConditionStatus, CreateResource, PatchResource, Phase, Resource,
    client::{Client, ClientError},
};

pub mod backlog;
pub mod fleet;

/// The sample payloads the demo creates.
const CLUSTER: &str = include_str!("../../config/samples/api/cluster.json");
const NODEPOOL: &str = include_str!("../../config/samples/api/nodepool.json");

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The API refused or failed.
    #[error("API call failed: {0}")]
    Api(#[from] ClientError),
    /// Something did not happen in time.
    #[error("{what} did not happen within {timeout:?}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
        /// The resource's last phase and conditions.
        last: String,
    },
    /// A sample payload does not parse (a bug in the repository).
    #[error("sample payload: {0}")]
    Sample(#[from] serde_json::Error),
    /// The fleet benchmark could not read the adapters' queues.
    #[error(transparent)]
    Backlog(#[from] backlog::BacklogError),
}

/// How long each step took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Cluster creation to Ready.
    pub cluster_ready: Duration,
    /// Node pool creation to Ready.
    pub nodepool_ready: Duration,
    /// Cluster spec change to Ready at the new generation.
    pub update_ready: Duration,
    /// Cluster deletion to gone.
    pub deleted: Duration,
}

/// Prints condition changes as they happen.
struct Table<'a> {
    out: &'a mut dyn Write,
    started: Instant,
    seen: BTreeMap<(String, String), String>,
}

impl Table<'_> {
    fn line(&mut self, text: &str) {
        // Output is best effort: a closed stdout must not fail the scenario.
        let _ = writeln!(self.out, "[{:>5.1}s] {text}", self.started.elapsed().as_secs_f64());
    }

    /// Prints what changed on `resource` and its adapters since the last look.
    async fn observe(&mut self, client: &Client, resource: &Resource) -> Result<(), ClientError> {
        let label = format!("{} {}", resource.kind.to_lowercase(), resource.name);
        let phase = format!("phase {:?} (generation {})", resource.status.phase, resource.generation);
        self.changed(&label, "", phase);
        let statuses = match client.list_statuses(&resource.href).await {
            Ok(page) => page.items,
            // Deleted between the two calls: nothing more to show.
            Err(err) if err.status().map(|s| s.as_u16()) == Some(404) => return Ok(()),
            Err(err) => return Err(err),
        };
        for status in statuses {
            let conditions: Vec<String> = status
                .conditions
                .iter()
                .filter(|c| c.type_ != "Health" || c.status != ConditionStatus::True)
                .map(|c| {
                    format!(
                        "{}={:?}{}",
                        c.type_,
                        c.status,
                        c.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
                    )
                })
                .collect();
            let row = format!(
                "{:<12} gen {}  {}",
                status.adapter,
                status.observed_generation,
                conditions.join("  ")
            );
            self.changed(&label, &status.adapter, row);
        }
        Ok(())
    }

    fn changed(&mut self, label: &str, column: &str, row: String) {
        let key = (label.to_owned(), column.to_owned());
        if self.seen.get(&key) != Some(&row) {
            self.line(&format!("{label:<28} {row}"));
            self.seen.insert(key, row);
        }
    }
}

fn summary(resource: &Resource) -> String {
    let conditions: Vec<String> =
        resource.status.conditions.iter().map(|c| format!("{}={:?}", c.type_, c.status)).collect();
    format!(
        "phase {:?} generation {} [{}]",
        resource.status.phase,
        resource.generation,
        conditions.join(", ")
    )
}

/// Waits until the API answers a list call, at most `timeout` (zero: one try).
pub async fn wait_for_api(client: &Client, timeout: Duration) -> Result<(), ClientError> {
    let deadline = Instant::now() + timeout;
    loop {
        match client.list_clusters(&hyperfleet_api_model::ListParams::default()).await {
            Ok(_) => return Ok(()),
            Err(err) if Instant::now() >= deadline => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Runs the scenario; every wait gives up after `timeout`.
pub async fn run(client: &Client, out: &mut dyn Write, timeout: Duration) -> Result<Timings, DemoError> {
    let mut table = Table { out, started: Instant::now(), seen: BTreeMap::new() };
    let suffix = &uuid::Uuid::now_v7().simple().to_string()[26..];
    let mut cluster: CreateResource = serde_json::from_str(CLUSTER)?;
    cluster.name = format!("{}-{suffix}", cluster.name);
    table.line(&format!("creating cluster {}", cluster.name));
    let started = Instant::now();
    let cluster = client.create_cluster(&cluster).await?;
    let ready_at = |generation: i64| {
        move |r: Option<&Resource>| {
            r.is_some_and(|r| r.status.phase == Phase::Ready && r.generation == generation)
        }
    };
    wait(client, &mut table, &cluster.href, "the cluster to be Ready", timeout, ready_at(1)).await?;
    let cluster_ready = started.elapsed();
    table.line(&format!("cluster Ready after {cluster_ready:.1?}"));

    let nodepool: CreateResource = serde_json::from_str(NODEPOOL)?;
    table.line(&format!("creating node pool {}", nodepool.name));
    let started = Instant::now();
    let nodepool = client.create_nodepool(cluster.id, &nodepool).await?;
    wait(client, &mut table, &nodepool.href, "the node pool to be Ready", timeout, ready_at(1)).await?;
    let nodepool_ready = started.elapsed();
    table.line(&format!("node pool Ready after {nodepool_ready:.1?}"));

    let mut spec = cluster.spec.clone();
    spec["release"]["version"] = "4.17.4".into();
    table.line("updating the cluster's release to 4.17.4 (generation 2)");
    let started = Instant::now();
    client.patch_cluster(cluster.id, &PatchResource { spec: Some(spec), labels: None }).await?;
    wait(client, &mut table, &cluster.href, "the cluster to be Ready at generation 2", timeout, ready_at(2))
        .await?;
    let update_ready = started.elapsed();
    table.line(&format!("cluster Ready again after {update_ready:.1?}"));

    table.line("deleting the cluster (and with it the node pool)");
    let started = Instant::now();
    client.delete_cluster(cluster.id).await?;
    wait(client, &mut table, &cluster.href, "the cluster to be deleted", timeout, |r| r.is_none()).await?;
    let deleted = started.elapsed();
    table.line(&format!("cluster and node pool finalized and gone after {deleted:.1?}"));
    Ok(Timings { cluster_ready, nodepool_ready, update_ready, deleted })
}

/// Polls the resource at `href` (`None` once it is gone) until `done`, printing progress.
async fn wait(
    client: &Client,
    table: &mut Table<'_>,
    href: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(Option<&Resource>) -> bool,
) -> Result<(), DemoError> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("nothing yet");
    while Instant::now() < deadline {
        let resource = client.get_resource(href).await?;
        if let Some(resource) = &resource {
            table.observe(client, resource).await?;
            last = summary(resource);
        }
        if done(resource.as_ref()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(DemoError::Timeout { what: what.to_owned(), timeout, last })
}

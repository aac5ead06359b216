//! The dry-run transport with its Job creations counted (and optionally slowed): how tests see
//! how many passes ran and whether any object was created twice.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::Value;

use hyperfleet_operator::adapter::{
    Transports,
    transport::{
        ObjectTransport, Target, TransportError,
        dry_run::{DryRun, JobOutcome},
    },
};

/// A dry-run cluster counting creates.
#[derive(Debug)]
pub struct CountedJobs {
    inner: Arc<DryRun>,
    delay: Duration,
    creates: AtomicUsize,
    created: Mutex<Vec<String>>,
}

impl CountedJobs {
    /// Jobs that run for `job_duration`, each create taking `delay`.
    pub fn new(job_duration: Duration, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(DryRun::new(job_duration, JobOutcome::Succeed)),
            delay,
            creates: 0.into(),
            created: Mutex::default(),
        })
    }

    /// Every transport of an adapter going here.
    pub fn transports(self: &Arc<Self>) -> Transports {
        Transports { kubernetes: self.clone(), dry_run: self.clone(), maestro: None }
    }

    /// Create calls (one per pass that acts).
    pub fn creates(&self) -> usize {
        self.creates.load(Ordering::SeqCst)
    }

    /// Names of the objects a create made (an existing one read back is not counted).
    pub fn created(&self) -> Vec<String> {
        self.created.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl ObjectTransport for CountedJobs {
    async fn create(&self, manifest: &Value) -> Result<(Value, bool), TransportError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let (object, created) = self.inner.create(manifest).await?;
        if created {
            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
            self.created.lock().unwrap().push(name);
        }
        Ok((object, created))
    }

    async fn apply(&self, manifest: &Value) -> Result<Value, TransportError> {
        self.inner.apply(manifest).await
    }

    async fn find(&self, target: &Target) -> Result<Option<Value>, TransportError> {
        self.inner.find(target).await
    }

    async fn list(&self, target: &Target) -> Result<Vec<Value>, TransportError> {
        self.inner.list(target).await
    }

    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        self.inner.delete(target).await
    }

    async fn changes(
        self: Arc<Self>,
        target: Target,
    ) -> Result<Option<futures::stream::BoxStream<'static, Value>>, TransportError> {
        self.inner.clone().changes(target).await
    }
}

//! The registry of running tasks, keyed by the custom resource that configures them. A task
//! reports its health and its progress (`P`: the figures its resource's status shows); every
//! change, and the task's end, is announced on the registry's change channel so the controller
//! re-reconciles that resource and its status follows the task.

use std::{
    collections::HashMap, fmt, future::Future, hash::Hash, panic::AssertUnwindSafe, sync::Arc, time::Duration,
};

use futures::FutureExt as _;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// How a task is doing, as the task itself reports it (and as the registry sees it end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskHealth {
    /// Started, not yet reporting.
    Starting,
    /// Working normally.
    Running,
    /// Working, with errors (the message says which).
    Degraded(String),
    /// Ended on its own or panicked; `ensure` restarts it.
    Failed(String),
}

type Notify = Arc<dyn Fn() + Send + Sync>;

/// What a task gets: its stop signal and ways to report health and progress.
#[derive(Clone)]
pub struct TaskContext<P = ()> {
    /// Cancelled when the task must stop; the task returns soon after.
    pub cancel: CancellationToken,
    health: watch::Sender<TaskHealth>,
    progress: watch::Sender<P>,
    notify: Notify,
}

impl<P> fmt::Debug for TaskContext<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext").field("health", &*self.health.borrow()).finish_non_exhaustive()
    }
}

impl<P> TaskContext<P> {
    /// Reports the task's health; a change is announced to the controller.
    pub fn report(&self, health: TaskHealth) {
        let changed = self.health.send_if_modified(|current| {
            let changed = *current != health;
            *current = health;
            changed
        });
        if changed {
            (self.notify)();
        }
    }

    /// Updates the task's progress figures. Not announced: the controller reads them when it
    /// writes status (on health changes and periodically), which bounds status writes.
    pub fn update(&self, change: impl FnOnce(&mut P)) {
        self.progress.send_modify(change);
    }
}

/// What [`TaskRegistry::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// A task for this generation was already running.
    Unchanged,
    /// No task ran; one was started.
    Started,
    /// A task for another generation (or a failed one) was replaced.
    Restarted,
}

struct Entry<P> {
    generation: i64,
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    health: watch::Receiver<TaskHealth>,
    progress: watch::Receiver<P>,
}

/// Running tasks by key, each with progress figures of type `P`.
pub struct TaskRegistry<K, P = ()> {
    tasks: HashMap<K, Entry<P>>,
    stop_timeout: Duration,
    changes: Option<mpsc::UnboundedSender<K>>,
}

impl<K, P> fmt::Debug for TaskRegistry<K, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRegistry").field("tasks", &self.tasks.len()).finish()
    }
}

impl<K, P> TaskRegistry<K, P>
where
    K: Eq + Hash + Clone + fmt::Display + Send + Sync + 'static,
    P: Clone + Default + Send + Sync + 'static,
{
    /// An empty registry; a stopping task gets `stop_timeout` before it is aborted.
    pub fn new(stop_timeout: Duration) -> Self {
        Self { tasks: HashMap::new(), stop_timeout, changes: None }
    }

    /// Announces the key of a task on `changes` whenever its health changes or it ends.
    pub fn with_changes(mut self, changes: mpsc::UnboundedSender<K>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Makes sure a task for `key` at `generation` runs: keeps a live one for the same
    /// generation, otherwise stops the old one (waiting for it) and starts `start`.
    pub async fn ensure<F, Fut>(&mut self, key: &K, generation: i64, start: F) -> Ensured
    where
        F: FnOnce(TaskContext<P>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if !self.needs_start(key, generation) {
            return Ensured::Unchanged;
        }
        let outcome = match self.tasks.get(key) {
            Some(_) => {
                self.stop(key).await;
                Ensured::Restarted
            }
            None => Ensured::Started,
        };
        let cancel = CancellationToken::new();
        let (health_tx, health) = watch::channel(TaskHealth::Starting);
        let (progress_tx, progress) = watch::channel(P::default());
        let notify = self.notifier(key);
        let context =
            TaskContext { cancel: cancel.clone(), health: health_tx, progress: progress_tx, notify };
        let handle = tokio::spawn(supervised(key.clone(), context.clone(), start(context)));
        tracing::info!(task = %key, generation, ?outcome, "task started");
        self.tasks.insert(key.clone(), Entry { generation, cancel, handle, health, progress });
        outcome
    }

    fn notifier(&self, key: &K) -> Notify {
        let (key, changes) = (key.clone(), self.changes.clone());
        Arc::new(move || {
            if let Some(changes) = &changes {
                // A closed channel means the controller is gone; nobody is left to tell.
                let _ = changes.send(key.clone());
            }
        })
    }

    /// Whether [`TaskRegistry::ensure`] would start a task: none runs for `key` at `generation`.
    pub fn needs_start(&self, key: &K, generation: i64) -> bool {
        !matches!(self.tasks.get(key), Some(entry) if entry.generation == generation && !entry.handle.is_finished())
    }

    /// Stops the task for `key`, waiting up to the stop timeout before aborting it. Returns
    /// whether there was one.
    pub async fn stop(&mut self, key: &K) -> bool {
        let Some(stopping) = self.take(key) else { return false };
        stopping.join().await;
        true
    }

    /// Tells the task for `key` to stop and removes it, returning what to await for its end:
    /// the caller can drop its hold on the registry before waiting.
    pub fn take(&mut self, key: &K) -> Option<Stopping<K>> {
        let entry = self.tasks.remove(key)?;
        entry.cancel.cancel();
        Some(Stopping { key: key.clone(), handle: entry.handle, timeout: self.stop_timeout })
    }

    /// Stops every task (on shutdown or when leadership is lost): all are told to stop at once,
    /// then joined under one deadline (the stop timeout), and what is left is aborted, so the
    /// whole stop takes one timeout however many tasks there are.
    pub async fn shutdown_all(&mut self) {
        let entries: Vec<(K, Entry<P>)> = self.tasks.drain().collect();
        for (_, entry) in &entries {
            entry.cancel.cancel();
        }
        let deadline = tokio::time::Instant::now() + self.stop_timeout;
        for (key, entry) in entries {
            let mut handle = entry.handle;
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => tracing::info!(task = %key, "task stopped"),
                Ok(Err(err)) => tracing::warn!(task = %key, error = %err, "task ended abnormally"),
                Err(_) => {
                    tracing::warn!(task = %key, timeout = ?self.stop_timeout, "task ignored its stop signal; aborting it");
                    handle.abort();
                }
            }
        }
    }

    /// The task's health (a task that ended on its own or panicked reported `Failed` through
    /// its supervisor before ending).
    pub fn health(&self, key: &K) -> Option<TaskHealth> {
        self.tasks.get(key).map(|entry| entry.health.borrow().clone())
    }

    /// The progress a key's task last reported.
    pub fn progress(&self, key: &K) -> Option<P> {
        self.tasks.get(key).map(|entry| entry.progress.borrow().clone())
    }

    /// Keys of the registered tasks.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.tasks.keys()
    }

    /// The generation a key's task was started for.
    pub fn generation(&self, key: &K) -> Option<i64> {
        self.tasks.get(key).map(|e| e.generation)
    }
}

/// A task told to stop, not yet joined.
#[derive(Debug)]
pub struct Stopping<K> {
    key: K,
    handle: JoinHandle<()>,
    timeout: Duration,
}

impl<K: fmt::Display> Stopping<K> {
    /// Waits for the task to end, up to the stop timeout, then aborts it.
    pub async fn join(self) {
        let Stopping { key, mut handle, timeout } = self;
        match tokio::time::timeout(timeout, &mut handle).await {
            Ok(Ok(())) => tracing::info!(task = %key, "task stopped"),
            Ok(Err(err)) => tracing::warn!(task = %key, error = %err, "task ended abnormally"),
            Err(_) => {
                tracing::warn!(task = %key, ?timeout, "task ignored its stop signal; aborting it");
                handle.abort();
            }
        }
    }
}

/// Runs a task, turning a panic or an unasked-for end into `Failed` and announcing it.
async fn supervised<K: fmt::Display, P>(key: K, context: TaskContext<P>, task: impl Future<Output = ()>) {
    let result = AssertUnwindSafe(task).catch_unwind().await;
    if context.cancel.is_cancelled() {
        return;
    }
    let reason = match result {
        // A task that reported why it gives up keeps its reason.
        Ok(()) => match &*context.health.borrow() {
            TaskHealth::Failed(reason) => reason.clone(),
            _ => "the task ended unexpectedly".to_owned(),
        },
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            format!("the task panicked: {message}")
        }
    };
    tracing::error!(task = %key, reason, "task failed");
    context.report(TaskHealth::Failed(reason));
}

#[cfg(test)]
mod tests;

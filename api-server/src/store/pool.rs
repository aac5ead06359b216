//! The connections the store's requests run on: a `deadpool` pool of sqlx connections, between
//! [`Store`](super::Store)'s methods and PostgreSQL.
//!
//! sqlx's own pool pings every connection as it goes back (a Sync round trip), which flushes any
//! rollback a dropped transaction queued but costs a second backend wakeup per request: a GET's
//! one statement became two round trips. This pool returns a connection without a round trip
//! when nothing is pending, and only otherwise (an abandoned transaction's `ROLLBACK` waits in its
//! write buffer) flushes it first, so its locks go at once, not at the connection's next use.
//!
//! A broken connection is found without a round trip per request, too: a connection-level error
//! anywhere in the store ([`note_trouble`]) makes every pooled connection prove itself with a
//! ping before its next use, and so does a connection idle for [`IDLE_CHECK`].

use std::{
    ops::{Deref, DerefMut},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use deadpool::managed::{self, BuildError, Metrics, Object, PoolError, RecycleError, RecycleResult};
use sqlx::{Connection as _, PgConnection, postgres::PgConnectOptions};

/// A connection unused for this long is pinged before it is handed out again (the server or
/// something between may have closed it meanwhile).
pub const IDLE_CHECK: Duration = Duration::from_secs(10);

/// Bumped by every connection-level error: connections verified before it are pinged again.
static TROUBLE: AtomicU64 = AtomicU64::new(0);

/// Whether `err` says the connection itself failed (or the server is going away), not the
/// statement: the database is unavailable rather than the request wrong.
pub fn is_connection_error(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
            true
        }
        // Class 08 (connection exception) and 57 (operator intervention: shutdown, restart).
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57"))
        }
        _ => false,
    }
}

/// Records that a statement failed in a way that may have broken its connection (and, since a
/// restart breaks them all, its neighbours): every pooled connection is pinged before reuse.
pub fn note_trouble(err: &sqlx::Error) {
    if is_connection_error(err) {
        TROUBLE.fetch_add(1, Ordering::Relaxed);
    }
}

/// A pooled sqlx connection with the trouble count it was last known good at.
#[derive(Debug)]
pub struct Tracked {
    raw: PgConnection,
    verified_at: u64,
}

/// Opens connections and decides whether an idle one may be reused.
#[derive(Debug)]
pub struct Connector {
    options: PgConnectOptions,
    max_lifetime: Option<Duration>,
}

impl managed::Manager for Connector {
    type Type = Tracked;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Tracked, sqlx::Error> {
        let verified_at = TROUBLE.load(Ordering::Relaxed);
        Ok(Tracked { raw: PgConnection::connect_with(&self.options).await?, verified_at })
    }

    async fn recycle(&self, conn: &mut Tracked, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if self.max_lifetime.is_some_and(|max| metrics.age() > max) {
            return Err(RecycleError::message("past its maximum lifetime"));
        }
        let trouble = TROUBLE.load(Ordering::Relaxed);
        if conn.verified_at != trouble || metrics.last_used() > IDLE_CHECK {
            conn.raw.ping().await?;
            conn.verified_at = trouble;
        }
        Ok(())
    }
}

/// The pool.
#[derive(Debug, Clone)]
pub struct Connections(managed::Pool<Connector, Pooled>);

impl Connections {
    /// A lazy pool with the sqlx pool's settings: connect options, size, acquire timeout and
    /// maximum lifetime.
    pub fn like(sqlx_pool: &sqlx::PgPool) -> Result<Self, BuildError> {
        let settings = sqlx_pool.options();
        let connector = Connector {
            options: (*sqlx_pool.connect_options()).clone(),
            max_lifetime: settings.get_max_lifetime(),
        };
        let wait = Some(settings.get_acquire_timeout());
        let pool = managed::Pool::builder(connector)
            .max_size(usize::try_from(settings.get_max_connections()).unwrap_or(usize::MAX))
            // The connection used last is the one whose backend and statement cache are warm.
            .queue_mode(managed::QueueMode::Lifo)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(wait)
            .create_timeout(wait)
            .recycle_timeout(wait)
            .build()?;
        close_with(sqlx_pool, &pool);
        Ok(Self(pool))
    }

    /// A connection, in the sqlx error the rest of the store already maps (a full pool that
    /// stays full is `PoolTimedOut`, answered 503).
    pub async fn get(&self) -> Result<Pooled, sqlx::Error> {
        self.0.get().await.map_err(|err| match err {
            PoolError::Backend(err) => err,
            PoolError::Timeout(_) => sqlx::Error::PoolTimedOut,
            PoolError::Closed => sqlx::Error::PoolClosed,
            other => sqlx::Error::Configuration(other.to_string().into()),
        })
    }
}

/// Closes `pool` when `sqlx_pool` closes: the sqlx pool is the handle its owner closes (at
/// shutdown; a test harness before it drops the test database), and these connections are
/// part of it. The watcher holds the pool weakly, so a dropped store still closes them at once.
fn close_with(sqlx_pool: &sqlx::PgPool, pool: &managed::Pool<Connector, Pooled>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    let (closed, pool) = (sqlx_pool.close_event(), pool.weak());
    runtime.spawn(async move {
        closed.await;
        if let Some(pool) = pool.upgrade() {
            pool.close();
        }
    });
}

/// A connection out of the pool; dropping it puts it back.
#[derive(Debug)]
pub struct Pooled(Option<Object<Connector>>);

impl From<Object<Connector>> for Pooled {
    fn from(object: Object<Connector>) -> Self {
        Self(Some(object))
    }
}

impl Deref for Pooled {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match &self.0 {
            Some(object) => &object.raw,
            None => unreachable!("only `drop` takes the connection out"),
        }
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match &mut self.0 {
            Some(object) => &mut object.raw,
            None => unreachable!("only `drop` takes the connection out"),
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(mut object) = self.0.take() else { return };
        // Nothing queued: back to the pool as it is, the common case.
        if !object.raw.should_flush() {
            return;
        }
        // A dropped transaction queued its ROLLBACK; send it now (its locks must not wait for
        // the connection's next use), off this synchronous drop, like sqlx's own pool does.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(Object::take(object));
            return;
        };
        runtime.spawn(async move {
            if let Err(err) = object.raw.flush().await {
                tracing::warn!(error = %err, "a pooled connection failed flushing its rollback; closing it");
                drop(Object::take(object));
            }
        });
    }
}

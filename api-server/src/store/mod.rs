//! PostgreSQL access: the only module that writes SQL. Handlers call [`Store`] methods, which
//! take typed inputs, run in one transaction per write, and return wire model types.

mod aggregation;
mod changes;
mod fleet;
mod list;
mod pool;
mod resources;
mod row;
mod statuses;

use std::time::Duration;

use std::sync::Arc;

use sqlx::{PgPool, postgres::PgPoolOptions};
use uuid::Uuid;

use hyperfleet_api_model::FieldError;

pub use changes::{ChangeQuery, ChangeRead, Cursor};
pub use fleet::FleetCounts;
pub use list::{ListQuery, OrderBy, parse_order};
pub use pool::is_connection_error;
pub use resources::{Changes, DeleteMode, Locator, NewResource};

use crate::{
    kinds::{Kind, Kinds},
    search::SearchError,
};

/// Migrations embedded from `api-server/migrations`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What went wrong in the store.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum StoreError {
    /// No live or deleting resource with that id (under that parent).
    #[error("{kind} with id '{id}' not found")]
    NotFound { kind: Kind, id: Uuid },
    /// The name is taken by a live resource of the same kind (and parent).
    #[error("a {kind} named '{name}' already exists")]
    NameTaken { kind: Kind, name: String },
    /// The resource is being deleted; it (or its children) cannot change.
    #[error("{kind} '{id}' is being deleted")]
    Deleting { kind: Kind, id: Uuid },
    /// DELETE it first: force-delete only removes resources already being deleted.
    #[error("{kind} '{id}' is not being deleted; DELETE it before forcing")]
    NotDeleting { kind: Kind, id: Uuid },
    /// No report from that adapter.
    #[error("no status reported by adapter '{adapter}'")]
    NoReport { adapter: String },
    /// A report failed validation that depends on stored state.
    #[error("invalid status report")]
    Rejected(Vec<FieldError>),
    /// The search expression is invalid.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The database failed or could not be reached.
    #[error("database query failed")]
    Database(#[source] sqlx::Error),
    /// The request connection pool could not be set up.
    #[error("cannot set up the database connection pool")]
    Pool(#[source] deadpool::managed::BuildError),
    /// A stored row could not be turned into the wire model.
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        // Every database error passes here, so a broken connection is noticed whatever failed.
        pool::note_trouble(&err);
        Self::Database(err)
    }
}

impl StoreError {
    /// Bounded label for logs and metrics.
    pub fn category(&self) -> &'static str {
        self.into()
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `postgres://` URL.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing with 503.
    pub acquire_timeout: Duration,
}

/// Opens a pool. Connecting is lazy, so the API starts (and `/readyz` reports) while the
/// database is still coming up.
pub fn connect(options: &DbOptions) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        // Requests run on the store's own pool (`pool`); this one serves the migrations and the
        // change feed's listener, which do not need a ping per checkout.
        .test_before_acquire(false)
        .connect_lazy(&options.url)
}

/// Waits until the database accepts connections, logging why it does not, for at most
/// `attempts` tries two seconds apart (a database starting next to the API is normal).
pub async fn wait_for_database(url: &str, attempts: u32) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let mut attempt = 1;
    loop {
        match sqlx::PgConnection::connect(url).await {
            Ok(conn) => return conn.close().await,
            Err(err) if attempt < attempts => {
                tracing::warn!(error = %err, attempt, attempts, "database not reachable yet; retrying in 2s");
                tokio::time::sleep(Duration::from_secs(2)).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Runs pending migrations. sqlx holds a PostgreSQL advisory lock while migrating, so replicas
/// starting together apply each migration once.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// Status reports kept per (resource, adapter) when not configured.
pub const DEFAULT_HISTORY_LIMIT: i64 = 100;

/// Handle on the database, with the per-kind settings aggregation needs.
#[derive(Debug, Clone)]
pub struct Store {
    /// The sqlx pool: the change feed's listener and the migrations use it.
    pool: PgPool,
    /// What requests run on (see [`pool`] for why it is not the sqlx pool).
    connections: pool::Connections,
    kinds: Arc<Kinds>,
    history_limit: i64,
}

impl Store {
    /// Wraps a pool; requests run on a pool of their own with its settings.
    pub fn new(pool: PgPool, kinds: Arc<Kinds>) -> Result<Self, StoreError> {
        let connections = pool::Connections::like(&pool).map_err(StoreError::Pool)?;
        Ok(Self { pool, connections, kinds, history_limit: DEFAULT_HISTORY_LIMIT })
    }

    /// A connection for one request's statements.
    async fn conn(&self) -> Result<pool::Pooled, StoreError> {
        Ok(self.connections.get().await?)
    }

    /// The connection pool (the change feed's listener connects through it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Keeps at most `limit` history entries per (resource, adapter).
    pub fn with_history_limit(mut self, limit: i64) -> Self {
        self.history_limit = limit.max(1);
        self
    }

    /// Per-kind settings.
    pub fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&mut *self.conn().await?).await?;
        Ok(())
    }
}

//! The real API (router, middleware, store) served in-process on `127.0.0.1:0`, over a database
//! the caller prepared (usually one `#[sqlx::test]` created and migrated).

use std::{sync::Arc, time::Duration};

use hyperfleet_api::{
    http::{AppState, Timeouts, app},
    kinds::{KindSettings, Kinds},
    store::Store,
};
use hyperfleet_api_model::client::Client;

/// Stuck threshold of test servers.
pub const STUCK_AFTER: Duration = Duration::from_secs(600);
/// Timeouts of test servers.
pub const TIMEOUTS: Timeouts = Timeouts { request: Duration::from_secs(30), body: Duration::from_secs(2) };

/// A served API: its base URL (`http://127.0.0.1:PORT`) and a typed client for it.
#[derive(Debug, Clone)]
pub struct ServedApi {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Typed client.
    pub client: Client,
}

/// Why a test API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No loopback port could be had.
    #[error("cannot listen on a loopback port")]
    Listen(#[source] std::io::Error),
    /// The typed client could not be built.
    #[error("cannot build a client for {base}")]
    Client {
        /// The server's base URL.
        base: String,
        /// The client's error.
        #[source]
        source: hyperfleet_api_model::client::ClientError,
    },
    /// The store could not be set up over the pool.
    #[error("cannot set up the store")]
    Store(#[source] hyperfleet_api::store::StoreError),
}

/// Serves `state` until the test's runtime ends.
pub async fn serve(state: AppState) -> Result<ServedApi, ServeError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(ServeError::Listen)?;
    let base = format!("http://{}", listener.local_addr().map_err(ServeError::Listen)?);
    let router = app(state, TIMEOUTS).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            eprintln!("the test API server stopped: {err}");
        }
    });
    let client = Client::new(&base).map_err(|source| ServeError::Client { base: base.clone(), source })?;
    Ok(ServedApi { client, base })
}

/// Serves the API over `pool` with `kinds`' settings.
pub async fn serve_kinds(pool: sqlx::PgPool, kinds: Kinds) -> Result<ServedApi, ServeError> {
    let store = Store::new(pool, Arc::new(kinds)).map_err(ServeError::Store)?;
    serve(AppState::new(store, STUCK_AFTER)).await
}

/// Serves the API over `pool` with `clusters` as the required cluster adapters and `nodepools`
/// as the required node pool adapters.
pub async fn serve_requiring(
    pool: sqlx::PgPool,
    clusters: &[&str],
    nodepools: &[&str],
) -> Result<ServedApi, ServeError> {
    let required = |names: &[&str]| KindSettings {
        required_adapters: names.iter().map(|n| (*n).to_owned()).collect(),
        ..KindSettings::default()
    };
    let mut kinds = Kinds { cluster: required(clusters), ..Kinds::default() };
    if !nodepools.is_empty() {
        kinds.nodepool = required(nodepools);
    }
    serve_kinds(pool, kinds).await
}

/// A benchmark's own database next to `url`'s: dropped if it exists, created and migrated, and a
/// pool of `connections` over it.
pub async fn fresh_database(url: &str, name: &str, connections: u32) -> Result<sqlx::PgPool, FreshDbError> {
    use sqlx::{AssertSqlSafe, Connection};
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(FreshDbError::Name(name.to_owned()));
    }
    let mut admin = sqlx::PgConnection::connect(url).await?;
    // The name is checked above: lower-case letters and `_` only.
    let drop = format!("drop database if exists {name} with (force)");
    sqlx::query(AssertSqlSafe(drop)).execute(&mut admin).await?;
    sqlx::query(AssertSqlSafe(format!("create database {name}"))).execute(&mut admin).await?;
    let (server, _) = url.rsplit_once('/').ok_or_else(|| FreshDbError::Url(url.to_owned()))?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        .connect(&format!("{server}/{name}"))
        .await?;
    hyperfleet_api::store::migrate(&pool).await?;
    Ok(pool)
}

/// Why a benchmark database could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum FreshDbError {
    /// The database name is not a plain identifier.
    #[error("database name {0:?} is not lower-case letters and underscores")]
    Name(String),
    /// `DATABASE_URL` has no database part.
    #[error("DATABASE_URL {0} names no database")]
    Url(String),
    /// The server refused.
    #[error("cannot prepare the database")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("cannot migrate the database")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

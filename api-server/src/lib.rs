//! HyperFleet API server: a lean REST API over PostgreSQL that stores clusters, node pools and
//! (later) adapter statuses. `main.rs` parses the command line and calls [`run`]; everything
//! else is a library so tests drive [`http::app`] directly.

pub mod config;
pub mod feed;
pub mod http;
pub mod kinds;
pub mod openapi;
pub mod search;
pub mod status;
pub mod store;
pub mod validate;

/// Authentication is part of the HTTP layer; the old path stays for callers outside.
pub use http::auth;

use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use tokio::net::TcpListener;

use config::{Cli, Command, DatabaseArgs, ServeArgs};
use kinds::{KindSettings, Kinds};
use store::{DbOptions, Store};

/// Runs one subcommand to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Migrate(args) => migrate(&args).await,
        Command::Openapi => {
            print!("{}", openapi::yaml().map_err(anyhow::Error::msg)?);
            Ok(())
        }
    }
}

fn db_options(args: &DatabaseArgs) -> DbOptions {
    DbOptions {
        url: args.database_url.clone(),
        max_connections: args.database_max_connections,
        acquire_timeout: args.database_acquire_timeout,
    }
}

async fn migrate(args: &DatabaseArgs) -> anyhow::Result<()> {
    let pool = store::connect(&db_options(args)).context("invalid database URL")?;
    apply_migrations(&args.database_url, &pool).await
}

/// Connection attempts (2 s apart) before migrating gives up: a minute for a database to start.
const MIGRATE_CONNECT_ATTEMPTS: u32 = 30;

async fn apply_migrations(url: &str, pool: &sqlx::PgPool) -> anyhow::Result<()> {
    store::wait_for_database(url, MIGRATE_CONNECT_ATTEMPTS).await.context("cannot reach the database")?;
    store::migrate(pool).await.context("failed to apply migrations")?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let kinds = Kinds {
        cluster: kind_settings(&args.cluster_adapters, args.cluster_spec_schema.as_deref())?,
        nodepool: kind_settings(&args.nodepool_adapters, args.nodepool_spec_schema.as_deref())?,
    };
    let pool = store::connect(&db_options(&args.database)).context("invalid database URL")?;
    if args.migrate {
        apply_migrations(&args.database.database_url, &pool).await?;
    }
    let store = Store::new(pool, Arc::new(kinds))
        .context("cannot set up the store")?
        .with_history_limit(args.status_history_limit);
    let limits = http::rate_limit::RateLimitSettings {
        reads_per_minute: args.rate_limit_reads,
        writes_per_minute: args.rate_limit_writes,
        status_per_minute: args.rate_limit_status,
    };
    let mut state = http::AppState::new(store, args.stuck_threshold).with_rate_limits(limits);
    if let Some(config) = auth_config(&args)? {
        let authenticator = auth::Authenticator::new(config).await.context("cannot set up authentication")?;
        state = state.with_auth(authenticator);
        tracing::info!("JWT authentication is on");
    } else {
        tracing::warn!(
            "JWT authentication is off: every caller is trusted (set --jwt-jwks-file or --jwt-jwks-url)"
        );
    }
    let timeouts = http::Timeouts { request: args.request_timeout, body: args.body_timeout };
    let (feed, feed_store) = (state.feed.clone(), state.store.clone());
    let app = http::app(state, timeouts);
    let listener =
        TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(address = %args.listen, "serving the HyperFleet API");
    let timeout = args.shutdown_timeout;
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        hyperfleet_telemetry::shutdown_signal().await;
        tracing::info!(?timeout, "shutting down: draining in-flight requests");
        let _ = drained_tx.send(());
    };
    let server = http::serve(listener, app, shutdown);
    tokio::pin!(server);
    // The feed's listener lives as long as the server does.
    let stop_feed = tokio_util::sync::CancellationToken::new();
    let feed_loop = feed.run(&feed_store, args.changes_retention, stop_feed.clone());
    tokio::pin!(feed_loop);
    let outcome = tokio::select! {
        result = &mut server => result.context("server failed"),
        () = async { let _ = drained_rx.await; tokio::time::sleep(timeout).await } => {
            tracing::warn!("shutdown timeout reached with requests still in flight");
            Ok(())
        }
        () = &mut feed_loop => Ok(()),
    };
    stop_feed.cancel();
    outcome
}

fn auth_config(args: &ServeArgs) -> anyhow::Result<Option<auth::AuthConfig>> {
    let jwks = match (&args.jwt_jwks_file, &args.jwt_jwks_url) {
        (None, None) => return Ok(None),
        (Some(file), None) => auth::JwksSource::File(file.clone()),
        (None, Some(url)) => auth::JwksSource::Url(url.clone()),
        (Some(_), Some(_)) => anyhow::bail!("give --jwt-jwks-file or --jwt-jwks-url, not both"),
    };
    let issuer = args.jwt_issuer.clone().context("--jwt-issuer is required when JWT authentication is on")?;
    Ok(Some(auth::AuthConfig {
        jwks,
        issuer,
        audience: args.jwt_audience.clone(),
        identity_claim: args.jwt_identity_claim.clone(),
        scope_claim: args.jwt_scope_claim.clone(),
        scope_prefix: args.jwt_scope_prefix.clone(),
    }))
}

fn kind_settings(adapters: &[String], schema: Option<&Path>) -> anyhow::Result<KindSettings> {
    let required_adapters = adapters.iter().map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect();
    let spec_schema = match schema {
        None => None,
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            let validator = jsonschema::validator_for(&json)
                .map_err(|err| anyhow::anyhow!("{} is not a valid JSON schema: {err}", path.display()))?;
            Some(Arc::new(validator))
        }
    };
    Ok(KindSettings { required_adapters, spec_schema })
}

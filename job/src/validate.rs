//! `hyperfleet-job validate`: read the resource, check it, write the verdict where the adapter
//! reads it, and exit with what it means.

use std::process::ExitCode;

use hyperfleet_api_model::{Resource, client::Client};

use crate::{
    checks,
    cli::{ResourceArgs, ValidateArgs},
    termination,
};

/// Why the check could not be done (as opposed to a resource that failed it).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The API could not be reached or refused the request.
    #[error("cannot read {href} from the API")]
    Api {
        /// The resource path.
        href: String,
        /// The client's error.
        #[source]
        source: hyperfleet_api_model::client::ClientError,
    },
    /// The resource does not exist (any more).
    #[error("{0} does not exist")]
    Gone(String),
    /// The termination message could not be written.
    #[error("cannot write the termination message to {path}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Exit code of a resource that failed its checks.
pub const INVALID: u8 = 1;
/// Exit code of a check that could not be done (the Job's pod is retried).
pub const UNAVAILABLE: u8 = 2;

/// Runs `validate`; the exit code says how it went.
pub async fn run(args: &ValidateArgs) -> ExitCode {
    match validate(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(INVALID),
        Err(err) => {
            let message = hyperfleet_telemetry::error_chain(&err);
            tracing::error!(error = %message, "validation could not be done");
            // The adapter shows why the Job failed, if the file can take it.
            if let Err(err) = termination::write(&args.resource.termination_log, &message) {
                tracing::warn!(path = %args.resource.termination_log.display(), error = %err, "cannot write the termination message");
            }
            ExitCode::from(UNAVAILABLE)
        }
    }
}

/// Whether the resource is valid; its problems are logged and written as the termination message.
pub async fn validate(args: &ValidateArgs) -> Result<bool, ValidateError> {
    let resource = fetch(&args.resource).await?;
    let problems = checks::check(&resource, &args.rules());
    for problem in &problems {
        tracing::info!(field = %problem.field, problem = %problem.message, "invalid");
    }
    let message = termination::message(&problems);
    tracing::info!(resource_id = %resource.id, kind = %resource.kind, valid = problems.is_empty(), %message, "validated");
    let path = &args.resource.termination_log;
    termination::write(path, &message)
        .map_err(|source| ValidateError::Write { path: path.display().to_string(), source })?;
    Ok(problems.is_empty())
}

/// The resource the Job is for.
pub async fn fetch(args: &ResourceArgs) -> Result<Resource, ValidateError> {
    let api = |source| ValidateError::Api { href: args.href.clone(), source };
    let mut client = Client::with_timeout(&args.api_url, args.timeout).map_err(api)?;
    if let Some(token) = &args.token {
        client = client.with_token(token.clone());
    }
    client.get_resource(&args.href).await.map_err(api)?.ok_or_else(|| ValidateError::Gone(args.href.clone()))
}

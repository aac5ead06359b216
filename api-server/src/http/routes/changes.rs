//! `GET /changes`: the change feed, long-polled. A page is answered as soon as it has changes;
//! an empty one is held up to `wait` seconds, woken by PostgreSQL `NOTIFY` (the writing
//! transaction's trigger sends it at commit) and, as a safety net, re-read every
//! [`RECHECK`]. Scopes and rate limits are the list routes' (a GET reads).

use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::get,
};

use hyperfleet_api_model::{ChangePage, ChangesParams, FieldError, problem::Constraint};

use super::fail_on;
use crate::{
    http::{AppState, error::ApiError},
    kinds::Kind,
    search::parse_search,
    store::{ChangeQuery, ChangeRead, Cursor},
};

/// Most changes a page holds.
pub const MAX_LIMIT: u32 = 1000;
/// Changes a page holds when the client does not say.
pub const DEFAULT_LIMIT: u32 = 500;
/// Longest a client may ask an empty answer to be held (within the default 30 s request
/// timeout, which answers 503 past it).
pub const MAX_WAIT_SECONDS: u32 = 25;
/// How often a held request reads again without being woken (a lost notification, a
/// reconnecting listener).
pub const RECHECK: Duration = Duration::from_millis(500);

/// The route.
pub fn router() -> Router<AppState> {
    Router::new().route("/changes", get(changes))
}

/// Changes after a cursor, held up to `wait` seconds while there are none.
#[utoipa::path(
    get,
    path = "/changes",
    tag = "changes",
    params(ChangesParams),
    responses(
        (status = 200, description = "Changes after the cursor, oldest first (possibly none)", body = ChangePage),
        (status = 400, description = "A parameter is invalid", body = hyperfleet_api_model::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The cursor is older than the feed keeps: list again, then follow from a new cursor", body = hyperfleet_api_model::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn changes(
    State(state): State<AppState>,
    Query(params): Query<ChangesParams>,
) -> Result<Json<ChangePage>, ApiError> {
    let (mut query, wait) = validate(&params)?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Registered before reading: a change committed while we read still wakes us.
        let notified = state.feed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (page, last, caught_up) = match state.store.changes(&query).await? {
            ChangeRead::Page { page, last, caught_up } => (page, last, caught_up),
            ChangeRead::TooOld { through } => {
                return Err(ApiError::Gone(format!(
                    "changes up to {through} are no longer kept: list the resources again, then follow the feed \
                     from a new cursor (ask without `after`)"
                )));
            }
        };
        let now = tokio::time::Instant::now();
        if !page.items.is_empty() || query.after.is_none() || now >= deadline {
            return Ok(Json(page));
        }
        // Nothing that matches: go on from past what was scanned; at once if a full window of
        // changes the filter skips may be followed by more, else when a commit wakes us.
        query.after = Some(last);
        if !caught_up {
            continue;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(RECHECK.min(deadline - now)) => {}
        }
    }
}

fn validate(params: &ChangesParams) -> Result<(ChangeQuery, Duration), ApiError> {
    let mut errors = Vec::new();
    let mut invalid = |field: &str, value: String, constraint, message: String| {
        errors.push(FieldError {
            field: field.into(),
            value: Some(value),
            constraint: Some(constraint),
            message,
        });
    };
    let after = match params.after.as_deref().filter(|a| !a.is_empty()).map(str::parse::<Cursor>) {
        Some(Ok(cursor)) => Some(cursor),
        Some(Err(message)) => {
            invalid("after", params.after.clone().unwrap_or_default(), Constraint::Pattern, message);
            None
        }
        None => None,
    };
    let kind = match params.kind.as_deref() {
        None | Some("") => None,
        Some("Cluster") => Some(Kind::Cluster),
        Some("NodePool") => Some(Kind::NodePool),
        Some(other) => {
            let value = other.chars().take(64).collect();
            invalid("kind", value, Constraint::Enum, "kind must be Cluster or NodePool".into());
            None
        }
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        let constraint = if limit == 0 { Constraint::Min } else { Constraint::Max };
        invalid("limit", limit.to_string(), constraint, format!("limit must be between 1 and {MAX_LIMIT}"));
    }
    let wait = params.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        invalid(
            "wait",
            wait.to_string(),
            Constraint::Max,
            format!("wait must be at most {MAX_WAIT_SECONDS} seconds"),
        );
    }
    fail_on(errors)?;
    let filter = params.search.as_deref().filter(|s| !s.trim().is_empty()).map(parse_search).transpose()?;
    Ok((ChangeQuery { after, kind, filter, limit }, Duration::from_secs(wait.into())))
}

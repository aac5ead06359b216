//! Adapter status routes, the same for clusters and node pools: report (`PUT`/`POST`), read,
//! patch and forget one adapter's report, its history, and force-delete. The handlers are
//! generic over how the path names the resource ([`super::paths`]); `status_routes!` stamps out
//! the concrete, documented routes per kind.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use hyperfleet_api_model::{
    AdapterStatus, FieldError, ForceDelete, Page, PageParams, StatusHistoryEntry, StatusPatch, StatusReport,
    problem::Constraint,
};

use super::paths::{AdapterPath, ResourcePath};
use crate::{
    http::{
        AppState,
        error::ApiError,
        extract::{AppJson, AppQuery, Caller},
    },
    status::{Decision, validate_shape},
    store::Locator,
};

/// Longest force-delete reason.
pub const MAX_FORCE_DELETE_REASON_LEN: usize = 1024;

/// `limit` of the history route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Most recent entries to return (1..=1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

pub(super) async fn list<P: ResourcePath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
    AppQuery(params): AppQuery<PageParams>,
) -> Result<Json<Page<AdapterStatus>>, ApiError> {
    let items = state.store.list_statuses(path.locate()?).await?;
    Ok(Json(super::page_of(items, params)?))
}

pub(super) async fn report<P: ResourcePath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
    AppJson(report): AppJson<StatusReport>,
) -> Result<Response, ApiError> {
    store_report(&state, path.locate()?, &report).await
}

async fn store_report(state: &AppState, at: Locator, report: &StatusReport) -> Result<Response, ApiError> {
    let observed_time = validate_shape(report, chrono::Utc::now())
        .map_err(|errors| ApiError::Validation { detail: "invalid status report".into(), errors })?;
    match state.store.put_status(at, report, observed_time).await? {
        Decision::Store(row) => {
            tracing::info!(kind = %at.kind, id = %at.id, adapter = %row.adapter,
                generation = row.observed_generation, "status stored");
            Ok((StatusCode::CREATED, Json(row)).into_response())
        }
        Decision::Discard(why) => {
            tracing::info!(kind = %at.kind, id = %at.id, adapter = %report.adapter, why, "status discarded");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

pub(super) async fn get_one<P: AdapterPath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
) -> Result<Json<AdapterStatus>, ApiError> {
    Ok(Json(state.store.get_status(path.locate()?, path.adapter()).await?))
}

pub(super) async fn patch_one<P: AdapterPath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
    AppJson(patch): AppJson<StatusPatch>,
) -> Result<Response, ApiError> {
    let at = path.locate()?;
    let stored = state.store.get_status(at, path.adapter()).await?;
    store_report(&state, at, &patch.apply_to(&stored)).await
}

pub(super) async fn delete_one<P: AdapterPath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_status(path.locate()?, path.adapter()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn history<P: AdapterPath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
    AppQuery(params): AppQuery<HistoryParams>,
) -> Result<Json<Vec<StatusHistoryEntry>>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadQuery("limit must be between 1 and 1000".into()));
    }
    Ok(Json(state.store.status_history(path.locate()?, path.adapter(), limit).await?))
}

pub(super) async fn force_delete<P: ResourcePath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
    caller: Caller,
    AppJson(body): AppJson<ForceDelete>,
) -> Result<StatusCode, ApiError> {
    let reason = body.reason.trim();
    let broken = if reason.is_empty() {
        Some(Constraint::Required)
    } else if reason.len() > MAX_FORCE_DELETE_REASON_LEN {
        Some(Constraint::MaxLength)
    } else {
        None
    };
    if let Some(constraint) = broken {
        return Err(ApiError::Validation {
            detail: "invalid fields: reason".into(),
            errors: vec![FieldError {
                field: "reason".into(),
                value: None,
                constraint: Some(constraint),
                message: format!("a reason of 1 to {MAX_FORCE_DELETE_REASON_LEN} characters is required"),
            }],
        });
    }
    state.store.force_delete(path.locate()?, reason, &caller.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

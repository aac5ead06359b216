//! `/clusters` routes.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};

use hyperfleet_api_model::{CreateResource, ListParams, Page, PatchResource, Problem, Resource};

use super::{
    create, delete, list, patch,
    paths::{ClusterPath, ResourcePath},
};
use crate::{
    http::{
        AppState,
        error::ApiError,
        extract::{AppJson, AppQuery, Caller},
    },
    kinds::Kind,
};

/// Cluster routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clusters", get(list_clusters).post(create_cluster))
        .route("/clusters/{cluster_id}", get(get_cluster).patch(patch_cluster).delete(delete_cluster))
}

/// List clusters.
#[utoipa::path(get, path = "/clusters", tag = "clusters", params(ListParams),
    responses(
        (status = 200, description = "A page of clusters", body = Page<Resource>),
        (status = 400, description = "Invalid page, size, order or search", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_clusters(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<Json<Page<Resource>>, ApiError> {
    list(&state, Kind::Cluster, None, params).await
}

/// Create a cluster.
#[utoipa::path(post, path = "/clusters", tag = "clusters", request_body = CreateResource,
    responses(
        (status = 201, description = "Created", body = Resource),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_cluster(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<CreateResource>,
) -> Result<(StatusCode, Json<Resource>), ApiError> {
    create(&state, Kind::Cluster, None, body, &caller.0).await
}

/// Get a cluster (also while it is being deleted).
#[utoipa::path(get, path = "/clusters/{cluster_id}", tag = "clusters",
    params(("cluster_id" = String, Path, description = "Cluster id")),
    responses(
        (status = 200, description = "The cluster", body = Resource),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_cluster(
    State(state): State<AppState>,
    Path(path): Path<ClusterPath>,
) -> Result<Json<Resource>, ApiError> {
    Ok(Json(state.store.get(path.locate()?).await?))
}

/// Replace a cluster's spec and/or labels.
#[utoipa::path(patch, path = "/clusters/{cluster_id}", tag = "clusters", request_body = PatchResource,
    params(("cluster_id" = String, Path, description = "Cluster id")),
    responses(
        (status = 200, description = "The updated cluster", body = Resource),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cluster is being deleted", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_cluster(
    State(state): State<AppState>,
    Path(path): Path<ClusterPath>,
    caller: Caller,
    AppJson(body): AppJson<PatchResource>,
) -> Result<Json<Resource>, ApiError> {
    patch(&state, path.locate()?, body, &caller.0).await
}

/// Request deletion of a cluster and its node pools.
#[utoipa::path(delete, path = "/clusters/{cluster_id}", tag = "clusters",
    params(("cluster_id" = String, Path, description = "Cluster id")),
    responses(
        (status = 202, description = "Deletion started (or already under way)", body = Resource),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_cluster(
    State(state): State<AppState>,
    Path(path): Path<ClusterPath>,
    caller: Caller,
) -> Result<(StatusCode, Json<Resource>), ApiError> {
    delete(&state, path.locate()?, &caller.0).await
}

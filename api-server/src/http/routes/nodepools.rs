//! Node pool routes: nested under their cluster, plus `GET /nodepools` across all clusters (what
//! the node pool Sentinel polls).

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};

use hyperfleet_api_model::{CreateResource, ListParams, Page, PatchResource, Problem, Resource};

use super::{
    create, delete, list, patch,
    paths::{ClusterPath, NodePoolPath, ResourcePath},
};
use crate::{
    http::{
        AppState,
        error::ApiError,
        extract::{AppJson, AppQuery, Caller},
    },
    kinds::Kind,
};

/// Node pool routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/nodepools", get(list_all_nodepools))
        .route("/clusters/{cluster_id}/nodepools", get(list_nodepools).post(create_nodepool))
        .route(
            "/clusters/{cluster_id}/nodepools/{nodepool_id}",
            get(get_nodepool).patch(patch_nodepool).delete(delete_nodepool),
        )
}

/// List the node pools of every cluster.
#[utoipa::path(get, path = "/nodepools", tag = "nodepools", params(ListParams),
    responses(
        (status = 200, description = "A page of node pools", body = Page<Resource>),
        (status = 400, description = "Invalid page, size, order or search", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_all_nodepools(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<Json<Page<Resource>>, ApiError> {
    list(&state, Kind::NodePool, None, params).await
}

/// List a cluster's node pools.
#[utoipa::path(get, path = "/clusters/{cluster_id}/nodepools", tag = "nodepools",
    params(("cluster_id" = String, Path, description = "Cluster id"), ListParams),
    responses(
        (status = 200, description = "A page of node pools", body = Page<Resource>),
        (status = 400, description = "Invalid page, size, order or search", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_nodepools(
    State(state): State<AppState>,
    Path(path): Path<ClusterPath>,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<Json<Page<Resource>>, ApiError> {
    let owner = path.locate()?;
    state.store.get(owner).await?;
    list(&state, Kind::NodePool, Some(owner.id), params).await
}

/// Create a node pool in a cluster.
#[utoipa::path(post, path = "/clusters/{cluster_id}/nodepools", tag = "nodepools", request_body = CreateResource,
    params(("cluster_id" = String, Path, description = "Cluster id")),
    responses(
        (status = 201, description = "Created", body = Resource),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cluster", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken, or the cluster is being deleted", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_nodepool(
    State(state): State<AppState>,
    Path(path): Path<ClusterPath>,
    caller: Caller,
    AppJson(body): AppJson<CreateResource>,
) -> Result<(StatusCode, Json<Resource>), ApiError> {
    create(&state, Kind::NodePool, Some(path.locate()?.id), body, &caller.0).await
}

/// Get a node pool.
#[utoipa::path(get, path = "/clusters/{cluster_id}/nodepools/{nodepool_id}", tag = "nodepools",
    params(("cluster_id" = String, Path, description = "Cluster id"), ("nodepool_id" = String, Path, description = "Node pool id")),
    responses(
        (status = 200, description = "The node pool", body = Resource),
        (status = 404, description = "No such node pool in this cluster", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_nodepool(
    State(state): State<AppState>,
    Path(path): Path<NodePoolPath>,
) -> Result<Json<Resource>, ApiError> {
    Ok(Json(state.store.get(path.locate()?).await?))
}

/// Replace a node pool's spec and/or labels.
#[utoipa::path(patch, path = "/clusters/{cluster_id}/nodepools/{nodepool_id}", tag = "nodepools",
    request_body = PatchResource,
    params(("cluster_id" = String, Path, description = "Cluster id"), ("nodepool_id" = String, Path, description = "Node pool id")),
    responses(
        (status = 200, description = "The updated node pool", body = Resource),
        (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such node pool in this cluster", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The node pool is being deleted", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_nodepool(
    State(state): State<AppState>,
    Path(path): Path<NodePoolPath>,
    caller: Caller,
    AppJson(body): AppJson<PatchResource>,
) -> Result<Json<Resource>, ApiError> {
    patch(&state, path.locate()?, body, &caller.0).await
}

/// Request deletion of a node pool.
#[utoipa::path(delete, path = "/clusters/{cluster_id}/nodepools/{nodepool_id}", tag = "nodepools",
    params(("cluster_id" = String, Path, description = "Cluster id"), ("nodepool_id" = String, Path, description = "Node pool id")),
    responses(
        (status = 202, description = "Deletion started (or already under way)", body = Resource),
        (status = 404, description = "No such node pool in this cluster", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_nodepool(
    State(state): State<AppState>,
    Path(path): Path<NodePoolPath>,
    caller: Caller,
) -> Result<(StatusCode, Json<Resource>), ApiError> {
    delete(&state, path.locate()?, &caller.0).await
}

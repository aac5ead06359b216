//! Node pool routes: nested under their cluster, plus `GET /nodepools` across all clusters (what
//! the node pool Sentinel polls).

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};

use hyperfleet_api_model::{CreateResource, ListParams, Page, Problem, Resource};

use super::{
    create, list,
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

/// Node pool routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/nodepools", get(list_all_nodepools))
        .route("/clusters/{cluster_id}/nodepools", get(list_nodepools).post(create_nodepool))
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

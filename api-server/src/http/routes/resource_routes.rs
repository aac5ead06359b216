//! The documented routes on one resource (`GET`, `PATCH`, `DELETE` of a cluster or a node
//! pool), stamped out from one template like the status routes, so the two kinds cannot drift
//! apart. Each generated handler only picks the path type ([`super::paths`]) for the shared
//! handlers in [`super`].

use axum::{Router, routing::get};

use super::paths::{ClusterPath, NodePoolPath};
use crate::http::AppState;

macro_rules! resource_routes {
    (
        $module:ident, id = $id:literal, tag = $tag:literal, path = $path:ty, one = $one:literal,
        params = [$($param:tt)*],
        noun = $noun:literal, get = $get_doc:literal, patch = $patch_doc:literal, delete = $delete_doc:literal,
        missing = $missing:literal,
        deleting = $deleting:literal
    ) => {
        /// Routes on one resource of one kind.
        pub mod $module {
            use axum::{Json, extract::{Path, State}, http::StatusCode};
            use hyperfleet_api_model::{PatchResource, Problem, Resource};

            use super::*;
            use crate::http::{error::ApiError, extract::{AppJson, AppQuery, Caller}, routes};

            #[doc = $get_doc]
            #[utoipa::path(get, path = $one, tag = $tag, operation_id = concat!("get_", $id), params($($param)* hyperfleet_api_model::GetParams),
                responses(
                    (status = 200, description = concat!("The ", $noun, " (with every adapter's latest report when asked: `include=statuses`)"), body = hyperfleet_api_model::ResourceWithStatuses),
                    (status = 400, description = "Unknown include", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = $missing, body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn get_one(state: State<AppState>, path: Path<$path>, AppQuery(params): AppQuery<hyperfleet_api_model::GetParams>) -> Result<Json<hyperfleet_api_model::ResourceWithStatuses>, ApiError> {
                routes::get_one(state, path, params).await
            }

            #[doc = $patch_doc]
            #[utoipa::path(patch, path = $one, tag = $tag, operation_id = concat!("patch_", $id), params($($param)*),
                request_body = PatchResource,
                responses(
                    (status = 200, description = concat!("The updated ", $noun), body = Resource),
                    (status = 400, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = $missing, body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = $deleting, body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn patch_one(state: State<AppState>, path: Path<$path>, caller: Caller, body: AppJson<PatchResource>) -> Result<Json<Resource>, ApiError> {
                routes::patch_one(state, path, caller, body).await
            }

            #[doc = $delete_doc]
            #[utoipa::path(delete, path = $one, tag = $tag, operation_id = concat!("delete_", $id), params($($param)*),
                responses(
                    (status = 202, description = "Deletion started (or already under way)", body = Resource),
                    (status = 404, description = $missing, body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn delete_one(state: State<AppState>, path: Path<$path>, caller: Caller) -> Result<(StatusCode, Json<Resource>), ApiError> {
                routes::delete_one(state, path, caller).await
            }

            /// The routes.
            pub fn router() -> Router<AppState> {
                Router::new().route($one, get(get_one).patch(patch_one).delete(delete_one))
            }
        }
    };
}

resource_routes!(
    cluster,
    id = "cluster",
    tag = "clusters",
    path = ClusterPath,
    one = "/clusters/{cluster_id}",
    params = [("cluster_id" = String, Path, description = "Cluster id"),],
    noun = "cluster",
    get = "Get a cluster (also while it is being deleted).",
    patch = "Replace a cluster's spec and/or labels.",
    delete = "Request deletion of a cluster and its node pools.",
    missing = "No such cluster",
    deleting = "The cluster is being deleted"
);

resource_routes!(
    nodepool,
    id = "nodepool",
    tag = "nodepools",
    path = NodePoolPath,
    one = "/clusters/{cluster_id}/nodepools/{nodepool_id}",
    params = [
        ("cluster_id" = String, Path, description = "Cluster id"),
        ("nodepool_id" = String, Path, description = "Node pool id"),
    ],
    noun = "node pool",
    get = "Get a node pool.",
    patch = "Replace a node pool's spec and/or labels.",
    delete = "Request deletion of a node pool.",
    missing = "No such node pool in this cluster",
    deleting = "The node pool is being deleted"
);

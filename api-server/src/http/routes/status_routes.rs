//! The documented status routes of each kind, stamped out from one template so clusters and node
//! pools cannot drift apart. Each generated handler only picks the path type for the generic
//! handlers in [`super::statuses`].

use axum::{Router, routing::get};

use super::{
    paths::{ClusterAdapterPath, ClusterPath, NodePoolAdapterPath, NodePoolPath},
    statuses,
};
use crate::http::AppState;

macro_rules! status_routes {
    (
        $module:ident, id = $id:literal, tag = $tag:literal, resource = $resource:ty, adapter = $adapter:ty,
        statuses = $statuses:literal, one = $one:literal, history = $history:literal, force = $force:literal,
        params = [$($param:tt)*]
    ) => {
        /// Status routes of one kind.
        pub mod $module {
            use axum::{Json, extract::{Path, State}, http::StatusCode, response::Response};
            use hyperfleet_api_model::{
                AdapterStatus, ForceDelete, Page, Problem, StatusHistoryEntry, StatusPatch, StatusReport,
            };

            use super::*;
            use crate::http::{error::ApiError, extract::{AppJson, AppQuery, Caller}, routes::statuses::HistoryParams};

            /// The latest report of every adapter.
            #[utoipa::path(get, path = $statuses, tag = $tag, operation_id = concat!("list_", $id, "_statuses"), params($($param)* hyperfleet_api_model::PageParams),
                responses((status = 200, body = Page<AdapterStatus>),
                    (status = 400, description = "Invalid page or size", body = Problem, content_type = "application/problem+json"),
                    (status = 404, body = Problem, content_type = "application/problem+json")))]
            pub async fn list(state: State<AppState>, path: Path<$resource>, query: AppQuery<hyperfleet_api_model::PageParams>) -> Result<Json<Page<AdapterStatus>>, ApiError> {
                statuses::list(state, path, query).await
            }

            /// Report an adapter's status (`POST` does the same). 201 when stored; 204 when
            /// discarded because a newer report is stored or the generation is ahead.
            #[utoipa::path(put, path = $statuses, tag = $tag, operation_id = concat!("report_", $id, "_status"), params($($param)*), request_body = StatusReport,
                responses((status = 201, body = AdapterStatus), (status = 204, description = "Discarded"),
                    (status = 400, body = Problem, content_type = "application/problem+json"),
                    (status = 404, body = Problem, content_type = "application/problem+json")))]
            pub async fn report(state: State<AppState>, path: Path<$resource>, body: AppJson<StatusReport>) -> Result<Response, ApiError> {
                statuses::report(state, path, body).await
            }

            /// One adapter's latest report.
            #[utoipa::path(get, path = $one, tag = $tag, operation_id = concat!("get_", $id, "_status"), params($($param)* ("adapter" = String, Path, description = "Adapter name")),
                responses((status = 200, body = AdapterStatus),
                    (status = 404, body = Problem, content_type = "application/problem+json")))]
            pub async fn get_one(state: State<AppState>, path: Path<$adapter>) -> Result<Json<AdapterStatus>, ApiError> {
                statuses::get_one(state, path).await
            }

            /// Change part of an adapter's report; the result is judged like a report.
            #[utoipa::path(patch, path = $one, tag = $tag, operation_id = concat!("patch_", $id, "_status"), params($($param)* ("adapter" = String, Path, description = "Adapter name")),
                request_body = StatusPatch,
                responses((status = 201, body = AdapterStatus), (status = 204, description = "Discarded"),
                    (status = 400, body = Problem, content_type = "application/problem+json"),
                    (status = 404, body = Problem, content_type = "application/problem+json")))]
            pub async fn patch_one(state: State<AppState>, path: Path<$adapter>, body: AppJson<StatusPatch>) -> Result<Response, ApiError> {
                statuses::patch_one(state, path, body).await
            }

            /// Forget an adapter's report (e.g. a decommissioned adapter).
            #[utoipa::path(delete, path = $one, tag = $tag, operation_id = concat!("delete_", $id, "_status"), params($($param)* ("adapter" = String, Path, description = "Adapter name")),
                responses((status = 204, description = "Forgotten"),
                    (status = 404, body = Problem, content_type = "application/problem+json")))]
            pub async fn delete_one(state: State<AppState>, path: Path<$adapter>) -> Result<StatusCode, ApiError> {
                statuses::delete_one(state, path).await
            }

            /// An adapter's accepted reports, newest first.
            #[utoipa::path(get, path = $history, tag = $tag, operation_id = concat!("get_", $id, "_status_history"),
                params($($param)* ("adapter" = String, Path, description = "Adapter name"), HistoryParams),
                responses((status = 200, body = Vec<StatusHistoryEntry>),
                    (status = 400, description = "Invalid limit", body = Problem, content_type = "application/problem+json"),
                    (status = 404, body = Problem, content_type = "application/problem+json")))]
            pub async fn history(state: State<AppState>, path: Path<$adapter>, query: AppQuery<HistoryParams>) -> Result<Json<Vec<StatusHistoryEntry>>, ApiError> {
                statuses::history(state, path, query).await
            }

            /// Remove a resource stuck in deletion, without waiting for its adapters.
            #[utoipa::path(post, path = $force, tag = $tag, operation_id = concat!("force_delete_", $id), params($($param)*), request_body = ForceDelete,
                responses((status = 204, description = "Removed"),
                    (status = 400, description = "Missing or overlong reason", body = Problem, content_type = "application/problem+json"),
                    (status = 404, body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Not being deleted", body = Problem, content_type = "application/problem+json")))]
            pub async fn force_delete(state: State<AppState>, path: Path<$resource>, caller: Caller, body: AppJson<ForceDelete>) -> Result<StatusCode, ApiError> {
                statuses::force_delete(state, path, caller, body).await
            }

            /// The routes.
            pub fn router() -> Router<AppState> {
                Router::new()
                    .route($statuses, get(list).put(report).post(report))
                    .route($one, get(get_one).patch(patch_one).delete(delete_one))
                    .route($history, get(history))
                    .route($force, axum::routing::post(force_delete))
            }
        }
    };
}

status_routes!(
    cluster,
    id = "cluster",
    tag = "clusters",
    resource = ClusterPath,
    adapter = ClusterAdapterPath,
    statuses = "/clusters/{cluster_id}/statuses",
    one = "/clusters/{cluster_id}/statuses/{adapter}",
    history = "/clusters/{cluster_id}/statuses/{adapter}/history",
    force = "/clusters/{cluster_id}/force-delete",
    params = [("cluster_id" = String, Path, description = "Cluster id"),]
);

status_routes!(
    nodepool,
    id = "nodepool",
    tag = "nodepools",
    resource = NodePoolPath,
    adapter = NodePoolAdapterPath,
    statuses = "/clusters/{cluster_id}/nodepools/{nodepool_id}/statuses",
    one = "/clusters/{cluster_id}/nodepools/{nodepool_id}/statuses/{adapter}",
    history = "/clusters/{cluster_id}/nodepools/{nodepool_id}/statuses/{adapter}/history",
    force = "/clusters/{cluster_id}/nodepools/{nodepool_id}/force-delete",
    params = [
        ("cluster_id" = String, Path, description = "Cluster id"),
        ("nodepool_id" = String, Path, description = "Node pool id"),
    ]
);

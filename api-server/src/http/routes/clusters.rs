//! `/clusters` routes.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};

use hyperfleet_api_model::{CreateResource, ListParams, Page, Problem, Resource};

use super::{create, list};
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
    Router::new().route("/clusters", get(list_clusters).post(create_cluster))
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

//! The OpenAPI document, generated from the handlers' annotations (never written by hand).
//! Served at `/api/hyperfleet/v1/openapi` and committed as `api-server/openapi.yaml`; a test
//! fails when the committed file drifts from the code.

mod enforced;

use enforced::{CommonResponses, FieldRules};

use utoipa::OpenApi;

use crate::http::routes::{changes, clusters, health, nodepools, resource_routes, status_routes};

#[derive(OpenApi)]
#[openapi(
    paths(
        clusters::list_clusters, clusters::create_cluster,
        resource_routes::cluster::get_one, resource_routes::cluster::patch_one, resource_routes::cluster::delete_one,
        nodepools::list_all_nodepools, nodepools::list_nodepools, nodepools::create_nodepool,
        resource_routes::nodepool::get_one, resource_routes::nodepool::patch_one,
        resource_routes::nodepool::delete_one,
        status_routes::cluster::list, status_routes::cluster::report, status_routes::cluster::get_one,
        status_routes::cluster::patch_one, status_routes::cluster::delete_one,
        status_routes::cluster::history, status_routes::cluster::force_delete,
        status_routes::nodepool::list, status_routes::nodepool::report, status_routes::nodepool::get_one,
        status_routes::nodepool::patch_one, status_routes::nodepool::delete_one,
        status_routes::nodepool::history, status_routes::nodepool::force_delete,
        changes::changes,
    ),
    tags(
        (name = "changes", description = "The change feed: what changed, in order, from a cursor (long polling)"),
        (name = "clusters", description = "Managed clusters"),
        (name = "nodepools", description = "Node pools of managed clusters"),
    )
)]
struct V1;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HyperFleet API",
        description = "Clusters, node pools and adapter statuses of a HyperFleet fleet.\n\n\
            Create and update bodies refuse unknown members (a create body's read-only members, such as \
            `id`, `href` or `created_time`, are accepted and ignored). A method a path does not serve \
            answers 405 with an `Allow` header listing the methods it does. List routes ignore query \
            parameters they do not know; a known one with a bad value is a 400.",
    ),
    paths(health::api_metadata),
    nest((path = "/api/hyperfleet/v1", api = V1)),
    modifiers(&FieldRules, &CommonResponses),
    tags((name = "meta", description = "What this API is")),
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as YAML, as committed in `api-server/openapi.yaml`.
pub fn yaml() -> Result<String, String> {
    document().to_yaml().map_err(|err| err.to_string())
}

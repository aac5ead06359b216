//! The double's REST reads, as in Maestro's OpenAPI: a resource bundle by id (404 with an
//! `Error` body when unknown) and the consumer list filtered by `search=name='<name>'` (the one
//! search the client uses; any other is refused with 400, so a client that starts relying on
//! more shows up here).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::get,
};
use serde_json::{Value, json};

use super::Shared;

/// The REST routes over the double's state.
pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/maestro/v1/resource-bundles/{id}", get(bundle))
        .route("/api/maestro/v1/consumers", get(consumers))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), authenticate))
        .with_state(shared)
}

/// 401 with an `Error` body unless the call carries the required token.
async fn authenticate(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let header = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    if !shared.authorized(header) {
        return error(StatusCode::UNAUTHORIZED, "Account authentication could not be verified".into())
            .into_response();
    }
    next.run(request).await
}

fn error(status: StatusCode, reason: String) -> (StatusCode, Json<Value>) {
    let code = format!("maestro-{}", status.as_u16());
    (
        status,
        Json(json!({"kind": "Error", "id": status.as_u16().to_string(), "code": code, "reason": reason})),
    )
}

async fn bundle(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    let found = id.parse::<uuid::Uuid>().ok().and_then(|id| shared.store().bundles.get(&id).cloned());
    match found {
        Some(bundle) => (StatusCode::OK, Json(bundle)),
        None => error(StatusCode::NOT_FOUND, format!("Resource with id='{id}' not found")),
    }
}

#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    search: Option<String>,
}

async fn consumers(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ListQuery>,
) -> (StatusCode, Json<Value>) {
    let wanted = match query.search.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(search) => {
            let name = search
                .strip_prefix("name")
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::trim)
                .and_then(|quoted| quoted.strip_prefix('\'')?.strip_suffix('\''));
            match name {
                Some(name) => Some(name.replace("''", "'")),
                None => {
                    return error(StatusCode::BAD_REQUEST, format!("the double cannot search '{search}'"));
                }
            }
        }
    };
    let items: Vec<Value> = shared
        .store()
        .consumers
        .iter()
        .filter(|name| wanted.as_ref().is_none_or(|wanted| wanted == *name))
        .map(|name| json!({"id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()), "kind": "Consumer", "name": name}))
        .collect();
    let list =
        json!({"kind": "ConsumerList", "page": 1, "size": items.len(), "total": items.len(), "items": items});
    (StatusCode::OK, Json(list))
}

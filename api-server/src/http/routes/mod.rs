//! The `/api/hyperfleet/v1` routes. Cluster and node pool handlers are thin: they extract, call
//! the shared steps below (validate, then store), and wrap the answer.

pub mod changes;
pub mod clusters;
pub mod health;
pub mod nodepools;
pub mod paths;
pub mod resource_routes;
pub mod status_routes;
pub mod statuses;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
};
use uuid::Uuid;

use hyperfleet_api_model::{
    CreateResource, FieldError, GetParams, ListParams, Page, PatchResource, Resource, ResourceWithStatuses,
    problem::Constraint,
};

use self::paths::ResourcePath;
use super::{
    AppState,
    error::ApiError,
    extract::{AppJson, Caller},
};
use crate::{
    kinds::Kind,
    search::parse_search,
    store::{Changes, DeleteMode, ListQuery, NewResource, OrderBy, parse_order},
    validate,
};

/// Largest page size a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE: u32 = 100_000;

/// Routes under the base path.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(changes::router())
        .merge(clusters::router())
        .merge(nodepools::router())
        .merge(resource_routes::cluster::router())
        .merge(resource_routes::nodepool::router())
        .merge(status_routes::cluster::router())
        .merge(status_routes::nodepool::router())
}

async fn create(
    state: &AppState,
    kind: Kind,
    owner: Option<Uuid>,
    body: CreateResource,
    caller: &str,
) -> Result<(StatusCode, Json<Resource>), ApiError> {
    let mut errors = Vec::new();
    if let Some(given) = body.kind.as_deref().filter(|k| *k != kind.as_str()) {
        errors.push(FieldError {
            field: "kind".into(),
            value: Some(given.chars().take(64).collect()),
            constraint: Some(Constraint::Enum),
            message: format!("kind must be '{kind}' on this route"),
        });
    }
    validate::name(kind, &body.name, &mut errors);
    validate::labels(&body.labels, &mut errors);
    validate::spec(state.store.kinds().get(kind), &body.spec, &mut errors);
    fail_on(errors)?;
    let new = NewResource { name: body.name, spec: body.spec, labels: body.labels };
    let resource = state.store.create(kind, owner, new, caller).await?;
    tracing::info!(kind = %kind, id = %resource.id, name = %resource.name, "created");
    Ok((StatusCode::CREATED, Json(resource)))
}

async fn list(
    state: &AppState,
    kind: Kind,
    owner: Option<Uuid>,
    params: ListParams,
) -> Result<Json<Page<Resource>>, ApiError> {
    let (page, size) = paging(params.page, params.size)?;
    let order = list_order(&params)?;
    let filter = params.search.as_deref().filter(|s| !s.trim().is_empty()).map(parse_search).transpose()?;
    let count = params.count.unwrap_or(true);
    let query = ListQuery { kind, owner, filter, after: params.after, order, page, size, count };
    let (items, total) = state.store.list(&query).await?;
    let size = u32::try_from(items.len()).unwrap_or(u32::MAX);
    Ok(Json(Page { items, page, size, total }))
}

/// `page` and `size` with their defaults, checked: the same for every list. Out of range is a
/// field error (`VAL-000`, `min`/`max`), as the reference answers.
fn paging(page: Option<u32>, size: Option<u32>) -> Result<(u32, u32), ApiError> {
    let (page, size) = (page.unwrap_or(1), size.unwrap_or(DEFAULT_PAGE_SIZE));
    let mut errors = Vec::new();
    for (field, value, max) in [("page", page, MAX_PAGE), ("size", size, MAX_PAGE_SIZE)] {
        let constraint = match value {
            0 => Constraint::Min,
            v if v > max => Constraint::Max,
            _ => continue,
        };
        errors.push(FieldError {
            field: field.into(),
            value: Some(value.to_string()),
            constraint: Some(constraint),
            message: format!("{field} must be between 1 and {max}"),
        });
    }
    fail_on(errors)?;
    Ok((page, size))
}

/// One page of `items` (an in-memory list: a resource's statuses, one per adapter).
fn page_of<T>(items: Vec<T>, params: hyperfleet_api_model::PageParams) -> Result<Page<T>, ApiError> {
    let (page, size) = paging(params.page, params.size)?;
    let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let skip = usize::try_from((page - 1) * size).unwrap_or(usize::MAX);
    let items: Vec<T> = items.into_iter().skip(skip).take(size as usize).collect();
    let size = u32::try_from(items.len()).unwrap_or(u32::MAX);
    Ok(Page { items, page, size, total })
}

/// The list's order; keyset paging (`after`) pages by `id` and so takes no other order and no
/// page number.
fn list_order(params: &ListParams) -> Result<Vec<OrderBy>, ApiError> {
    let order = match params.order.as_deref().filter(|o| !o.trim().is_empty()) {
        Some(order) => parse_order(order).map_err(ApiError::BadQuery)?,
        None => Vec::new(),
    };
    if params.after.is_none() {
        return Ok(order);
    }
    let by_id = parse_order("id asc").map_err(ApiError::BadQuery)?;
    if params.page.is_some_and(|page| page != 1) {
        return Err(ApiError::BadQuery("`after` pages by id: it takes no `page`".into()));
    }
    if !order.is_empty() && order != by_id {
        return Err(ApiError::BadQuery("`after` pages by id: `order` must be `id asc` or absent".into()));
    }
    Ok(by_id)
}

async fn get_one<P: ResourcePath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
    params: GetParams,
) -> Result<Json<ResourceWithStatuses>, ApiError> {
    let at = path.locate()?;
    match params.include.as_deref().filter(|i| !i.trim().is_empty()) {
        None => Ok(Json(ResourceWithStatuses { resource: state.store.get(at).await?, statuses: None })),
        Some("statuses") => {
            let (resource, statuses) = state.store.get_with_statuses(at).await?;
            Ok(Json(ResourceWithStatuses { resource, statuses: Some(statuses) }))
        }
        Some(other) => Err(ApiError::BadQuery(format!("cannot include '{other}'; use include=statuses"))),
    }
}

async fn patch_one<P: ResourcePath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
    Caller(caller): Caller,
    AppJson(body): AppJson<PatchResource>,
) -> Result<Json<Resource>, ApiError> {
    let at = path.locate()?;
    if body.spec.is_none() && body.labels.is_none() {
        return Err(ApiError::EmptyPatch("a patch needs `spec` or `labels`".into()));
    }
    let mut errors = Vec::new();
    if let Some(spec) = &body.spec {
        validate::spec(state.store.kinds().get(at.kind), spec, &mut errors);
    }
    if let Some(labels) = &body.labels {
        validate::labels(labels, &mut errors);
    }
    fail_on(errors)?;
    let changes = Changes { spec: body.spec, labels: body.labels };
    let resource = state.store.patch(at, changes, &caller).await?;
    tracing::info!(kind = %at.kind, id = %at.id, generation = resource.generation, "patched");
    Ok(Json(resource))
}

async fn delete_one<P: ResourcePath>(
    State(state): State<AppState>,
    Path(path): Path<P>,
    Caller(caller): Caller,
) -> Result<(StatusCode, Json<Resource>), ApiError> {
    let at = path.locate()?;
    let mode = if state.store.kinds().delete_needs_finalization(at.kind) {
        DeleteMode::Soft
    } else {
        DeleteMode::Hard
    };
    let resource = state.store.delete(at, mode, &caller).await?;
    tracing::info!(kind = %at.kind, id = %at.id, ?mode, "deletion requested");
    Ok((StatusCode::ACCEPTED, Json(resource)))
}

fn fail_on(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    Err(ApiError::Validation { detail: format!("invalid fields: {}", fields.join(", ")), errors })
}

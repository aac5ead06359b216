//! Paging: the query parameters every list route takes and the envelope it answers with.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::search::Expr;

/// One page of a list: `{items, page, size, total}`.
///
/// `size` is the number of items on this page (as in the reference API), not the page size asked
/// for; `total` counts every item matching the query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The 1-based page number.
    pub page: u32,
    /// How many items this page holds.
    pub size: u32,
    /// How many items match the query across all pages (`-1` when the client asked not to count).
    pub total: i64,
}

/// Query parameters of list routes. Every field is optional; the server applies its defaults
/// (`page=1`, `size=20`, `order=created_time desc`; an empty `order` or `search` means the
/// default). Parameters the server does not know (e.g. a reference client's `pageSize`) are
/// ignored, as the reference API does; a known one with a bad value is a 400.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ListParams {
    /// 1-based page number (1..=100000).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Items per page (1..=1000, default 20).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// Comma-separated `column [asc|desc]` list, e.g. `name asc,created_time desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Search expression, e.g. `labels.region='us-east' and status.conditions.Reconciled='False'`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// `false` skips counting every match: `total` is then `-1`. For clients paging through a
    /// large list with `after`, which only need to know that a short page was the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<bool>,
    /// Keyset paging: only items whose `id` is greater than this one, in `id` order (`order`
    /// must then be absent or `id asc`, and `page` absent or 1). Ask for the first page with
    /// `order=id asc`, then pass the last id of each page to get the next; unlike `page`, the
    /// cost of a page does not grow with its position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Uuid>,
}

impl ListParams {
    /// Parameters that select only `search`, written as text.
    pub fn search(expr: impl Into<String>) -> Self {
        Self { search: Some(expr.into()), ..Self::default() }
    }

    /// The same parameters filtered by `expr` (rendered in the search language), or unfiltered.
    pub fn with_search(mut self, expr: Option<&Expr>) -> Self {
        self.search = expr.map(ToString::to_string);
        self
    }
}

/// Paging alone, for lists that take no search or order (an adapter's statuses): the same
/// `page` and `size` as [`ListParams`], validated the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PageParams {
    /// 1-based page number (1..=100000).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Items per page (1..=1000, default 20).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
}

//! The `search` query parameter of list routes: parsed by the model's grammar
//! ([`hyperfleet_api_model::search`], shared with the clients that build expressions) and
//! translated here into a SQL `WHERE` fragment whose every user-supplied value is a bind
//! parameter ([`sql`]). Sits between the list handlers and the store.

mod sql;

pub use hyperfleet_api_model::search::{
    CompareOp, Expr, Field, Literal, MAX_SEARCH_LEN, SearchError, parse, parse_search,
};
pub use sql::push_filter;

#[cfg(test)]
mod tests;

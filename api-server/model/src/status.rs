//! Adapter status reports: what an adapter PUTs after acting on a resource, and what the API
//! stores and returns for it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ConditionStatus;

/// Condition types every report must carry.
pub const MANDATORY_CONDITIONS: [&str; 3] = ["Applied", "Available", "Health"];

/// Body of `PUT` (or `POST`) `.../statuses`: one adapter's report about one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    /// The reporting adapter (`adapter_name` is accepted too).
    #[serde(alias = "adapter_name")]
    pub adapter: String,
    /// The resource generation the adapter acted on.
    pub observed_generation: i64,
    /// When the adapter observed this state (adapter clock); the server's time when absent.
    /// Must lie within 30 minutes before and 5 minutes after the server's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_time: Option<DateTime<Utc>>,
    /// `Applied`, `Available` and `Health` are mandatory; `Finalized` reports deletion done.
    pub conditions: Vec<ReportedCondition>,
    /// Free-form adapter output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<serde_json::Value>,
    /// Execution details (job name and namespace, attempt, timings...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
}

/// One condition in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReportedCondition {
    /// PascalCase type, e.g. `Available`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// PascalCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A stored adapter report, as returned by the statuses routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdapterStatus {
    /// The reporting adapter.
    pub adapter: String,
    /// The resource generation the adapter acted on.
    pub observed_generation: i64,
    /// Reported conditions, each with the time its status last flipped.
    pub conditions: Vec<AdapterCondition>,
    /// Free-form adapter output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<serde_json::Value>,
    /// Execution details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// `observed_time` of the adapter's first accepted report.
    pub created_time: DateTime<Utc>,
    /// `observed_time` of the latest accepted report.
    pub last_report_time: DateTime<Utc>,
}

/// A stored condition of an adapter report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdapterCondition {
    /// PascalCase type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// PascalCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When this condition's status last flipped.
    pub last_transition_time: DateTime<Utc>,
}

impl AdapterStatus {
    /// The status of condition `type_`, if reported.
    pub fn condition(&self, type_: &str) -> Option<ConditionStatus> {
        self.conditions.iter().find(|c| c.type_ == type_).map(|c| c.status)
    }
}

/// One accepted report in an adapter's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusHistoryEntry {
    /// The resource generation the adapter acted on.
    pub observed_generation: i64,
    /// When the adapter observed this state.
    pub observed_time: DateTime<Utc>,
    /// When the API accepted the report.
    pub received_time: DateTime<Utc>,
    /// The reported conditions.
    pub conditions: Vec<ReportedCondition>,
    /// Free-form adapter output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<serde_json::Value>,
}

/// Body of `PATCH .../statuses/{adapter}`: present members replace the stored ones; conditions
/// replace stored conditions of the same type. The result goes through the same rules as a PUT.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusPatch {
    /// The resource generation the adapter acted on (default: the stored one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the adapter observed this state (default: the server's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_time: Option<DateTime<Utc>>,
    /// Conditions to add or replace, by type.
    #[serde(default)]
    pub conditions: Vec<ReportedCondition>,
    /// Replaces `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<serde_json::Value>,
    /// Replaces `metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
}

impl StatusPatch {
    /// The full report this patch makes of `stored`.
    pub fn apply_to(self, stored: &AdapterStatus) -> StatusReport {
        let mut conditions: Vec<ReportedCondition> = stored
            .conditions
            .iter()
            .filter(|c| !self.conditions.iter().any(|p| p.type_ == c.type_))
            .map(|c| ReportedCondition {
                type_: c.type_.clone(),
                status: c.status,
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
            .collect();
        conditions.extend(self.conditions);
        StatusReport {
            adapter: stored.adapter.clone(),
            observed_generation: self.observed_generation.unwrap_or(stored.observed_generation),
            observed_time: self.observed_time,
            conditions,
            data: self.data.or_else(|| stored.data.clone()),
            metadata: self.metadata.or_else(|| stored.metadata.clone()),
        }
    }
}

/// `GET` of one resource with `?include=statuses`: the resource and every adapter's latest
/// report in one answer (what an adapter reads for each event). `statuses` is absent without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceWithStatuses {
    /// The resource.
    #[serde(flatten)]
    pub resource: crate::Resource,
    /// Every adapter's latest report, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<AdapterStatus>>,
}

/// Query of `GET` on one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct GetParams {
    /// `statuses`: answer every adapter's latest report with the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
}

/// Body of `POST .../force-delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForceDelete {
    /// Why the resource is removed without its adapters' finalization (1 to 1024 characters).
    pub reason: String,
}

//! What a Sentinel runs with, checked and compiled from a SentinelConfig spec (pure: the same in
//! `run` and `local` mode, and every error reported at once), and the progress figures it
//! reports back for the SentinelConfig's status.

use std::time::Duration;

use chrono::{DateTime, Utc};

use hyperfleet_crds::{
    parse_duration,
    v1alpha1::{ResourceType, SentinelConfigSpec},
};

use hyperfleet_api_model::search::Expr;

use super::{
    decision::{Backoff, REPEAT_DOUBLINGS},
    query::shard_search,
    rules::CustomRules,
};
use crate::tasks::TaskKey;

/// A Sentinel's settings, resolved from its SentinelConfig.
#[derive(Debug, Clone)]
pub struct SentinelSettings {
    /// The SentinelConfig's name (the event source and the metrics' `shard` label).
    pub name: String,
    /// The SentinelConfig's namespace (the metrics' `namespace` label: two shards of one name in
    /// two namespaces are two sets of series).
    pub namespace: String,
    /// Clusters or node pools.
    pub resource_type: ResourceType,
    /// The shard as an API search, `None` for everything.
    pub shard: Option<Expr>,
    /// Time between polls.
    pub poll_interval: Duration,
    /// Publish backoffs.
    pub backoff: Backoff,
    /// Topic events go to.
    pub topic: String,
    /// RabbitMQ exchange and routing key of the publishes.
    pub routing: hyperfleet_broker::Routing,
    /// CEL overrides of the decision and the event data.
    pub rules: CustomRules,
    /// Seconds a read of the API's change feed may be held (below the API client's timeout).
    pub follow_wait: u32,
}

impl SentinelSettings {
    /// A Sentinel `namespace/name` of every `resource_type` resource, publishing to `topic`, with
    /// the SentinelConfig defaults (polls every 5 s, backoffs 10 s and 30 min, the built-in rule)
    /// and not following the change feed; fields may be changed after (embedding, tests).
    pub fn new(namespace: &str, name: &str, resource_type: ResourceType, topic: &str) -> Self {
        Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            resource_type,
            shard: None,
            poll_interval: Duration::from_secs(5),
            backoff: Backoff {
                not_ready: chrono::Duration::seconds(10),
                ready: chrono::Duration::minutes(30),
                repeat_doublings: REPEAT_DOUBLINGS,
            },
            topic: topic.to_owned(),
            routing: hyperfleet_broker::Routing::default(),
            rules: CustomRules::default(),
            follow_wait: 0,
        }
    }

    /// Checks `spec` and compiles its selector and CEL; every problem is listed.
    pub fn from_spec(key: &TaskKey, spec: &SentinelConfigSpec) -> Result<Self, Vec<String>> {
        let mut errors = spec.validate().err().unwrap_or_default();
        let shard = shard_search(&spec.shard_selector).map_err(|err| errors.push(err.to_string())).ok();
        let rules = CustomRules::compile(spec.message_decision.as_deref(), &spec.message_data)
            .map_err(|mut errs| errors.append(&mut errs))
            .ok();
        let durations = (
            parse_duration("pollInterval", &spec.poll_interval),
            parse_duration("backoffNotReady", &spec.backoff_not_ready),
            parse_duration("backoffReady", &spec.backoff_ready),
        );
        let (Ok(poll_interval), Ok(not_ready), Ok(ready), Some(shard), Some(rules), true) =
            (durations.0, durations.1, durations.2, shard, rules, errors.is_empty())
        else {
            // The durations' errors are already in `errors` (from `validate`).
            return Err(errors);
        };
        let to_chrono = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        // The client gives up after `hyperfleetAPI.timeout`: hold reads of the feed for less.
        let timeout =
            parse_duration("hyperfleetAPI.timeout", &spec.hyperfleet_api.timeout).unwrap_or_default();
        let follow_wait = u32::try_from(timeout.as_secs().saturating_sub(2).min(25)).unwrap_or(0);
        Ok(Self {
            name: key.name.clone(),
            namespace: key.namespace.clone(),
            resource_type: spec.resource_type,
            shard,
            poll_interval,
            backoff: Backoff {
                not_ready: to_chrono(not_ready),
                ready: to_chrono(ready),
                repeat_doublings: REPEAT_DOUBLINGS,
            },
            topic: spec.broker.topic.clone(),
            routing: crate::resolve::routing(&spec.broker),
            rules,
            follow_wait,
        })
    }
}

/// What a running Sentinel has done, for its SentinelConfig's status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentinelProgress {
    /// When the last successful poll finished.
    pub last_poll: Option<DateTime<Utc>>,
    /// Resources in the shard (counted every few polls).
    pub in_shard: i64,
    /// Resources not reconciled at the last poll.
    pub pending: i64,
    /// Events published since the task started.
    pub published: u64,
    /// Publishes that failed since the task started.
    pub publish_errors: u64,
    /// The last poll's or publish's error; cleared by a clean poll.
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> SentinelConfigSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const BASE: &str =
        "resourceType: clusters\nhyperfleetAPI: {url: 'http://api:8000'}\nbroker: {type: memory, topic: t}\n";

    #[test]
    fn a_valid_spec_compiles_with_defaults() {
        let settings = SentinelSettings::from_spec(
            &TaskKey::new("fleet", "s"),
            &spec(&format!("{BASE}shardSelector: {{matchLabels: {{region: eu}}}}")),
        )
        .unwrap();
        assert_eq!(settings.shard.map(|shard| shard.to_string()).as_deref(), Some("labels.region = 'eu'"));
        assert_eq!(settings.poll_interval, Duration::from_secs(5));
        assert_eq!(settings.backoff.ready, chrono::Duration::minutes(30));
        assert!(settings.rules.uses_builtin_decision());
        assert_eq!(
            settings.routing,
            hyperfleet_broker::Routing::default(),
            "the topic's exchange, an empty key"
        );
        let routed = "resourceType: clusters\nhyperfleetAPI: {url: 'http://api:8000'}\n\
            broker: {type: memory, topic: t, exchange: hyperfleet.clusters, routingKey: clusters.changed}\n";
        let settings = SentinelSettings::from_spec(&TaskKey::new("fleet", "s"), &spec(routed)).unwrap();
        assert_eq!(
            (settings.routing.exchange_of("t"), settings.routing.publish_key()),
            ("hyperfleet.clusters", "clusters.changed"),
            "the seeds' example: publishes go to that exchange with that key"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let yaml = format!(
            "{BASE}pollInterval: 0s\nmessageDecision: 'resource.generation >'\nmessageData: {{id: 'resource.id +'}}\n\
             shardSelector: {{matchExpressions: [{{key: '-bad', operator: Exists}}]}}"
        );
        let errors = SentinelSettings::from_spec(&TaskKey::new("fleet", "s"), &spec(&yaml)).unwrap_err();
        let text = errors.join("\n");
        for expected in ["pollInterval", "messageDecision", "messageData.id", "invalid label key '-bad'"] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
    }

    #[test]
    fn an_api_url_that_does_not_parse_and_a_zero_timeout_are_invalid_config_not_poll_errors() {
        for (api, expected) in [
            ("{url: 'http://', timeout: 10s}", "hyperfleetAPI.url"),
            ("{url: 'http://exa mple:80', timeout: 10s}", "does not parse"),
            ("{url: 'http://api:8000', timeout: 0s}", "hyperfleetAPI.timeout: must be greater than zero"),
        ] {
            let yaml =
                format!("resourceType: clusters\nhyperfleetAPI: {api}\nbroker: {{type: memory, topic: t}}\n");
            let errors = SentinelSettings::from_spec(&TaskKey::new("fleet", "s"), &spec(&yaml)).unwrap_err();
            assert!(errors.iter().any(|e| e.contains(expected)), "{api}: {errors:?}");
        }
    }
}

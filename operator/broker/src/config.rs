//! Broker configuration: one serde type naming the backend and its settings, validated with
//! errors that say what to fix, and [`connect`] turning it into a [`Broker`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    Broker, BrokerError, memory::MemoryBroker, metrics::BrokerMetrics, pubsub::PubSubBroker,
    rabbitmq::RabbitMqBroker,
};

/// Which broker to use and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BrokerConfig {
    /// In-process (`stub` is accepted too): local runs and tests only.
    #[serde(alias = "stub")]
    Memory {},
    /// RabbitMQ over AMQP 0-9-1.
    Rabbitmq {
        /// `amqp://user:password@host:5672/vhost` (or `amqps://`).
        url: String,
        /// Unacknowledged deliveries per consumer (default: the subscription's concurrency).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefetch: Option<u16>,
    },
    /// Google Cloud Pub/Sub.
    GcpPubsub {
        /// The GCP project holding topics and subscriptions.
        project_id: String,
        /// `host:port` of a Pub/Sub emulator; `PUBSUB_EMULATOR_HOST` is used when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emulator_host: Option<String>,
    },
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required field is empty.
    #[error("broker.{0} must not be empty")]
    Empty(&'static str),
    /// A field has the wrong form.
    #[error("broker.{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl BrokerConfig {
    /// Checks the settings without connecting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            BrokerConfig::Memory {} => Ok(()),
            BrokerConfig::Rabbitmq { url, prefetch } => {
                if url.trim().is_empty() {
                    return Err(ConfigError::Empty("url"));
                }
                if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                    let message = "must start with amqp:// or amqps://".to_owned();
                    return Err(ConfigError::Invalid { field: "url", message });
                }
                if *prefetch == Some(0) {
                    return Err(ConfigError::Invalid {
                        field: "prefetch",
                        message: "must be at least 1".into(),
                    });
                }
                Ok(())
            }
            BrokerConfig::GcpPubsub { project_id, .. } => {
                if project_id.trim().is_empty() {
                    return Err(ConfigError::Empty("project_id"));
                }
                Ok(())
            }
        }
    }
}

/// Checks a topic or subscription name.
pub fn validate_name(field: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::Empty(field));
    }
    if name.len() > 200 || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        let message = format!("'{name}' must be 1-200 letters, digits, '-', '_' or '.'");
        return Err(ConfigError::Invalid { field, message });
    }
    Ok(())
}

/// Validates `config` and connects.
pub async fn connect(config: &BrokerConfig, metrics: BrokerMetrics) -> Result<Arc<dyn Broker>, BrokerError> {
    config.validate().map_err(|err| BrokerError::operation("configure", err))?;
    Ok(match config {
        BrokerConfig::Memory {} => Arc::new(MemoryBroker::new(metrics)),
        BrokerConfig::Rabbitmq { url, prefetch } => {
            Arc::new(RabbitMqBroker::connect(url, *prefetch, metrics).await?)
        }
        BrokerConfig::GcpPubsub { project_id, emulator_host } => {
            let emulator = emulator_host.clone().or_else(|| std::env::var("PUBSUB_EMULATOR_HOST").ok());
            Arc::new(PubSubBroker::connect(project_id, emulator, metrics).await?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_parse_with_both_memory_names() {
        let stub: BrokerConfig = serde_json::from_str(r#"{"type": "stub"}"#).unwrap();
        assert_eq!(stub, BrokerConfig::Memory {});
        let rabbit: BrokerConfig =
            serde_json::from_str(r#"{"type": "rabbitmq", "url": "amqp://h"}"#).unwrap();
        assert!(rabbit.validate().is_ok());
        assert!(serde_json::from_str::<BrokerConfig>(r#"{"type": "kafka"}"#).is_err());
        assert!(serde_json::from_str::<BrokerConfig>(r#"{"type": "memory", "url": "x"}"#).is_err());
    }

    #[test]
    fn validation_says_what_to_fix() {
        let empty = BrokerConfig::Rabbitmq { url: " ".into(), prefetch: None };
        assert_eq!(empty.validate().unwrap_err().to_string(), "broker.url must not be empty");
        let http = BrokerConfig::Rabbitmq { url: "http://h".into(), prefetch: None };
        assert!(http.validate().unwrap_err().to_string().contains("amqp://"));
        assert_eq!(validate_name("topic", "").unwrap_err().to_string(), "broker.topic must not be empty");
        assert!(validate_name("topic", "clusters events").is_err());
        assert!(validate_name("topic", "hyperfleet.clusters-v1").is_ok());
    }
}

//! The double's `CloudEventService`: `Publish` decodes a spec event and applies it to the store,
//! answering errors the way Maestro's gRPC server does (gRPC status `Unknown` with its message);
//! `Subscribe` streams status events (`<manifestbundles>.status.update_request`, with `sequenceid`)
//! to the source that sent the work.

use std::{collections::HashMap, pin::Pin, sync::Arc};

use futures::Stream;
use serde_json::Value;
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::{
    event::{MANIFEST_BUNDLES, SpecEvent},
    proto::{
        CloudEvent, CloudEventAttributeValue, PublishRequest, SubscriptionRequest, cloud_event,
        cloud_event_attribute_value::Attr, cloud_event_service_server::CloudEventService,
    },
};

/// A status event and the source it is for.
pub type StatusEvent = (String, CloudEvent);

/// The status event of a stored bundle.
pub fn status_event(bundle: &Value) -> CloudEvent {
    let string = |value: String| CloudEventAttributeValue { attr: Some(Attr::CeString(value)) };
    let text = |key: &str| bundle[key].as_str().unwrap_or_default().to_owned();
    let version = i32::try_from(bundle["version"].as_i64().unwrap_or(0)).unwrap_or(i32::MAX);
    CloudEvent {
        id: uuid::Uuid::now_v7().to_string(),
        source: "maestro".into(),
        spec_version: "1.0".into(),
        r#type: format!("{MANIFEST_BUNDLES}.status.update_request"),
        attributes: HashMap::from([
            ("datacontenttype".into(), string("application/json".into())),
            ("resourceid".into(), string(text("id"))),
            ("clustername".into(), string(text("consumer_name"))),
            ("sequenceid".into(), string(uuid::Uuid::now_v7().to_string())),
            ("resourceversion".into(), CloudEventAttributeValue { attr: Some(Attr::CeInteger(version)) }),
        ]),
        data: Some(cloud_event::Data::TextData(bundle["status"].to_string())),
    }
}

/// The service, over the double's shared state.
#[derive(Debug, Clone)]
pub struct Service {
    pub(super) shared: Arc<Shared>,
}

#[tonic::async_trait]
impl CloudEventService for Service {
    async fn publish(&self, request: Request<PublishRequest>) -> Result<Response<()>, Status> {
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        if !self.shared.authorized(header) {
            return Err(Status::unauthenticated("invalid token"));
        }
        let event = request.into_inner().event.ok_or_else(|| Status::invalid_argument("no event"))?;
        let event = SpecEvent::from_proto(&event)
            .map_err(|err| Status::unknown(format!("failed to decode cloudevent: {err}")))?;
        let source = event.source.clone();
        let stored = self.shared.store().apply(event).map_err(Status::unknown)?;
        if let Some(bundle) = stored {
            // Nobody listening is fine: status is read over REST as well.
            let _ = self.shared.statuses.send((source, status_event(&bundle)));
        }
        Ok(Response::new(()))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<CloudEvent, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<SubscriptionRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let request = request.into_inner();
        if request.source.is_empty() && request.cluster_name.is_empty() {
            return Err(Status::invalid_argument("a subscription names a source or a cluster"));
        }
        let receiver = self.shared.statuses.subscribe();
        let stream =
            futures::stream::unfold((receiver, request.source), |(mut receiver, source)| async move {
                loop {
                    match receiver.recv().await {
                        Ok((to, event)) if to == source => return Some((Ok(event), (receiver, source))),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            });
        Ok(Response::new(Box::pin(stream)))
    }
}

//! Why the pipeline could not handle an event, and what the consumer does about it: transient
//! errors are redelivered, the others make the event poison (dead-lettered now); and why acting
//! on one failed, which is reported (`Health=False`) unless a retry may help.

use hyperfleet_api_model::client::ClientError;

use super::{ownership::OwnershipError, report::Reason, transport::TransportError};

/// Why an event could not be handled now: transient errors are retried by redelivery, the
/// others make the event poison (dead-lettered).
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum HandleError {
    /// The CloudEvent carries no data.
    #[error("the event has no data")]
    NoData,
    /// The data is not a reconcile event.
    #[error("the event data is not a reconcile event")]
    Data(#[source] serde_json::Error),
    /// The event, resource or statuses could not be given to CEL and templates.
    #[error("the event's variables do not serialize")]
    Encode(#[source] serde_json::Error),
    /// The event's `href` names another resource than its `resourceId` (or kind, or owner).
    #[error("the event names {event} but its href {href} is {found}")]
    WrongResource {
        /// The event's `resourceId`.
        event: uuid::Uuid,
        /// The event's `href`.
        href: String,
        /// The id of what the `href` answered.
        found: uuid::Uuid,
    },
    /// A call to the HyperFleet API failed.
    #[error("the API call failed")]
    Api(#[source] ClientError),
    /// Delivering or reading the adapter's objects failed (only transient failures end here;
    /// terminal ones are reported as `Health=False`).
    #[error("delivering the adapter's objects failed")]
    Transport(#[source] TransportError),
}

impl HandleError {
    /// Whether a redelivery may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            HandleError::Api(err) => err.is_transient(),
            HandleError::Transport(err) => err.is_transient(),
            HandleError::NoData
            | HandleError::Data(_)
            | HandleError::Encode(_)
            | HandleError::WrongResource { .. } => false,
        }
    }

    /// Bounded label for metrics.
    pub fn category(&self) -> &'static str {
        self.into()
    }
}

/// Why acting failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ActError {
    #[error(transparent)]
    Template(#[from] super::template::TemplateError),
    #[error(transparent)]
    Cel(#[from] crate::cel::CelError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    NotOwned(Box<super::ownership::NotOwned>),
}

impl From<OwnershipError> for ActError {
    fn from(err: OwnershipError) -> Self {
        match err {
            OwnershipError::NotOwned(err) => ActError::NotOwned(Box::new(err)),
            OwnershipError::Transport(err) => ActError::Transport(err),
        }
    }
}

impl ActError {
    pub(super) fn reason(&self) -> Reason {
        match self {
            ActError::Template(_) => Reason::TemplateFailed,
            ActError::Cel(_) => Reason::ExpressionFailed,
            ActError::Transport(TransportError::Maestro {
                source: hyperfleet_maestro::MaestroError::UnknownConsumer(_),
                ..
            }) => Reason::MaestroConsumerUnknown,
            ActError::Transport(_) => Reason::ExecutionFailed,
            ActError::NotOwned(_) => Reason::NotOwned,
        }
    }
}

//! What the server enforces beyond the shapes of its types, written into the OpenAPI document
//! from the very constants the validation uses (utoipa's attributes take only literals, which
//! would drift from the code), and the answers every route can give besides its own.

use utoipa::{
    Modify,
    openapi::{
        Components, ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
        path::Operation,
        schema::{AdditionalProperties, Object, Schema, Type},
    },
};

use crate::{
    http::routes::statuses::MAX_FORCE_DELETE_REASON_LEN,
    kinds::Kind,
    status::report::{ADAPTER_NAME_PATTERN, CONDITION_TYPE_PATTERN, MAX_MESSAGE_LEN, MAX_REASON_LEN},
    validate::{LABEL_VALUE_PATTERN, MAX_LABEL_VALUE_LEN, NAME_PATTERN},
};

/// Patterns, lengths and bounds of request fields.
pub(super) struct FieldRules;

impl Modify for FieldRules {
    fn modify(&self, doc: &mut OpenApi) {
        let Some(components) = doc.components.as_mut() else { return };
        let names = Kind::Cluster.name_len();
        edit(components, "CreateResource", "name", |o| {
            o.pattern = Some(NAME_PATTERN.into());
            o.min_length = Some(*names.start());
            // Node pool names are shorter; the property's description says how much.
            o.max_length = Some(*names.end());
        });
        for schema in ["CreateResource", "PatchResource"] {
            edit(components, schema, "labels", |o| {
                if let Some(values) = o.additional_properties.as_deref_mut()
                    && let AdditionalProperties::RefOr(RefOr::T(Schema::Object(value))) = values
                {
                    value.pattern = Some(LABEL_VALUE_PATTERN.into());
                    value.max_length = Some(MAX_LABEL_VALUE_LEN);
                }
            });
        }
        edit(components, "StatusReport", "adapter", |o| o.pattern = Some(ADAPTER_NAME_PATTERN.into()));
        edit(components, "StatusReport", "observed_generation", |o| o.minimum = Some(1.into()));
        edit(components, "StatusPatch", "observed_generation", |o| o.minimum = Some(1.into()));
        edit(components, "ReportedCondition", "type", |o| o.pattern = Some(CONDITION_TYPE_PATTERN.into()));
        edit(components, "ReportedCondition", "reason", |o| o.max_length = Some(MAX_REASON_LEN));
        edit(components, "ReportedCondition", "message", |o| o.max_length = Some(MAX_MESSAGE_LEN));
        edit(components, "ForceDelete", "reason", |o| {
            o.min_length = Some(1);
            o.max_length = Some(MAX_FORCE_DELETE_REASON_LEN);
        });
    }
}

/// Applies `change` to one property of a component schema. A rule naming a property that is
/// not there is caught by the tests, which read every rule back.
fn edit(components: &mut Components, schema: &str, property: &str, change: impl FnOnce(&mut Object)) {
    if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema)
        && let Some(RefOr::T(Schema::Object(field))) = object.properties.get_mut(property)
    {
        change(field);
    }
}

/// Answers any route can give: authentication and permission, rate limiting, an unavailable
/// database, and for routes with a body the body's own failures.
pub(super) struct CommonResponses;

const SHARED: &[(&str, &str, &str)] = &[
    (
        "401",
        "Unauthorized",
        "A bearer token is required and was missing, invalid or expired (when authentication is on)",
    ),
    ("403", "Forbidden", "The token lacks the scope this route needs"),
    ("429", "TooManyRequests", "Over the caller's rate limit; `Retry-After` says when to try again"),
    ("503", "Unavailable", "The database is unavailable"),
];
const WITH_BODY: &[(&str, &str, &str)] = &[
    ("408", "BodyTimeout", "The announced body did not arrive within the server's body timeout"),
    ("413", "PayloadTooLarge", "The body is larger than the server accepts"),
    ("415", "UnsupportedMediaType", "The body is not `application/json`"),
];

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Components::new);
        for (_, name, description) in SHARED.iter().chain(WITH_BODY) {
            let mut response = ResponseBuilder::new().description(*description).content(
                hyperfleet_api_model::problem::PROBLEM_CONTENT_TYPE,
                ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
            );
            if *name == "TooManyRequests" {
                let seconds = Object::with_type(Type::Integer);
                let header = HeaderBuilder::new().schema(Some(seconds)).description(Some("Seconds to wait"));
                response = response.header("Retry-After", header.build());
            }
            components.responses.insert((*name).into(), RefOr::T(response.build()));
        }
        let versioned =
            doc.paths.paths.iter_mut().filter(|(path, _)| path.starts_with(hyperfleet_api_model::BASE_PATH));
        for (_, item) in versioned {
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                add_common(operation);
            }
        }
    }
}

fn add_common(operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let extra = if has_body { WITH_BODY } else { &[] };
    for (status, name, _) in SHARED.iter().chain(extra) {
        let reference = RefOr::Ref(Ref::new(format!("#/components/responses/{name}")));
        operation.responses.responses.entry((*status).into()).or_insert(reference);
    }
}

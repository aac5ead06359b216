//! An event is trusted only as far as the API confirms it: the resource its `href` answers must
//! be the one it names (id, kind, owner), and an `href` that answers something other than a
//! resource is poison at once, not a transient failure retried until the delivery limit.

use crate::common;

use std::{sync::Arc, time::Duration};

use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api_model::{
    AdapterStatus, Resource, StatusReport,
    client::{Client, ClientError},
};
use hyperfleet_crds::v1alpha1::AdapterConfigSpec;
use hyperfleet_operator::adapter::{
    Adapter, AdapterPlan, HandleError, Handled, Transports,
    api::AdapterApi,
    transport::dry_run::{DryRun, JobOutcome},
};

use common::{adapter, create, event};

const VALIDATION: &str = r#"
adapterType: validation
resourceType: clusters
hyperfleetAPI: {url: "http://api.test"}
broker: {type: memory, topic: clusters}
jobTemplate: {namespace: jobs, image: "example/validate:1"}
"#;

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_href_that_names_another_resource_or_no_resource_is_poison(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation"]).await;
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let validation = adapter(VALIDATION, &client, &dry_run);
    let real = create(&client, json!({})).await;

    let mut forged = event(&real);
    forged.resource_id = uuid::Uuid::now_v7();
    let err = validation.handle(&forged).await.unwrap_err();
    assert!(matches!(err, HandleError::WrongResource { .. }) && !err.is_transient(), "{err:?}");
    assert!(
        client.list_statuses(&real.href).await.unwrap().items.is_empty(),
        "nothing reported for the real cluster"
    );
    assert!(dry_run.recorded().is_empty(), "nothing made for it either");

    let mut not_a_resource = event(&real);
    not_a_resource.href = "/api/hyperfleet/v1/openapi".into();
    let err = validation.handle(&not_a_resource).await.unwrap_err();
    assert!(!err.is_transient(), "a wrong answer does not get better with retries: {err:?}");
}

/// The API as an adapter sees it, except that the resource is force-deleted just before the
/// report arrives: another adapter's last `Finalized` report removed it meanwhile.
#[derive(Debug)]
struct VanishingApi(Client);

#[async_trait::async_trait]
impl AdapterApi for VanishingApi {
    async fn resource(&self, href: &str) -> Result<Option<(Resource, Vec<AdapterStatus>)>, ClientError> {
        self.0.resource(href).await
    }

    async fn report(&self, href: &str, report: &StatusReport) -> Result<bool, ClientError> {
        self.0.force_delete(href, "gone meanwhile").await?;
        AdapterApi::report(&self.0, href, report).await
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_resource_removed_while_its_event_is_handled_is_done_not_poison(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation"]).await;
    let cluster = create(&client, json!({})).await;
    let deleting = client.delete_cluster(cluster.id).await.unwrap();
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let spec: AdapterConfigSpec = serde_saphyr::from_str(VALIDATION).unwrap();
    let transports = Transports { kubernetes: dry_run.clone(), dry_run, maestro: None };
    let api = Arc::new(VanishingApi(client.clone()));
    let validation = Adapter::new(AdapterPlan::compile(&spec).unwrap(), api, transports, "http://api.test");
    let handled = validation.handle(&event(&deleting)).await.unwrap();
    assert!(matches!(handled, Handled::Gone), "{handled:?}");
}

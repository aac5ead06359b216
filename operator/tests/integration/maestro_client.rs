//! The Maestro client against the Maestro double, over real gRPC and HTTP: a work is created
//! once, not re-sent unchanged, updated when it changes and deleted; an unregistered consumer
//! and a Maestro that is down are told apart (terminal vs. transient), and the client recovers
//! by itself when Maestro is back; mutual TLS works with the right certificate and fails
//! without one; a token goes with every call.

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::{Value, json};

use hyperfleet_maestro::{
    MaestroClient, MaestroConnection, MaestroError, MaestroTls,
    client::Applied,
    double::{DoubleTls, MaestroDouble},
    event::SpecAction,
};

pub(crate) fn connection(double: &MaestroDouble, tls: MaestroTls) -> MaestroConnection {
    MaestroConnection {
        grpc_address: double.grpc_address(),
        http_address: double.http_address(),
        source_id: "hyperfleet-test".into(),
        tls,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        keepalive: Duration::from_secs(30),
    }
}

fn work(consumer: &str, data: &str) -> Value {
    json!({
        "apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
        "metadata": {"name": "cluster-a-config", "namespace": consumer, "annotations": {"hyperfleet.io/generation": "1"}},
        "spec": {"workload": {"manifests": [{
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "config", "namespace": "clusters"}, "data": {"k": data},
        }]}},
    })
}

pub(crate) fn actions(double: &MaestroDouble) -> Vec<(SpecAction, i64)> {
    double.taken().into_iter().map(|taken| (taken.action, taken.version)).collect()
}

#[tokio::test]
async fn a_work_is_created_once_kept_updated_and_deleted() {
    let double = MaestroDouble::start(None).await.unwrap();
    double.register_consumer("mc-1");
    let client = MaestroClient::new(&connection(&double, MaestroTls::default())).unwrap();

    let (applied, stored) = client.apply(&work("mc-1", "v1")).await.unwrap();
    assert_eq!(applied, Applied::Created);
    assert_eq!(stored["status"]["conditions"][0]["type"], "Applied", "the agent reported back: {stored}");
    let (applied, _) = client.apply(&work("mc-1", "v1")).await.unwrap();
    assert_eq!(applied, Applied::Unchanged);
    let (applied, stored) = client.apply(&work("mc-1", "v2")).await.unwrap();
    assert_eq!(applied, Applied::Updated);
    assert_eq!(stored["spec"]["workload"]["manifests"][0]["data"]["k"], "v2");
    assert_eq!(actions(&double), [(SpecAction::CreateRequest, 1), (SpecAction::UpdateRequest, 2)]);

    assert!(client.delete("mc-1", "cluster-a-config").await.unwrap());
    assert!(client.get("mc-1", "cluster-a-config").await.unwrap().is_none());
    assert!(!client.delete("mc-1", "cluster-a-config").await.unwrap(), "gone is done");
    assert_eq!(actions(&double).last(), Some(&(SpecAction::DeleteRequest, 2)));
}

#[tokio::test]
async fn an_unregistered_consumer_is_terminal_and_named() {
    let double = MaestroDouble::start(None).await.unwrap();
    let client = MaestroClient::new(&connection(&double, MaestroTls::default())).unwrap();
    let err = client.apply(&work("nowhere", "v1")).await.unwrap_err();
    assert!(matches!(&err, MaestroError::UnknownConsumer(name) if name == "nowhere"), "{err:?}");
    assert!(!err.is_transient());
    assert!(double.taken().is_empty(), "nothing was sent for a consumer Maestro does not know");
}

#[tokio::test]
async fn a_maestro_that_is_down_is_transient_and_the_client_reconnects() {
    let mut double = MaestroDouble::start(None).await.unwrap();
    double.register_consumer("mc-1");
    let client = MaestroClient::new(&connection(&double, MaestroTls::default())).unwrap();
    client.apply(&work("mc-1", "v1")).await.unwrap();

    double.stop().await;
    let err = client.apply(&work("mc-1", "v2")).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    double.restart().await.unwrap();
    let (applied, _) = client.apply(&work("mc-1", "v2")).await.unwrap();
    assert_eq!(applied, Applied::Updated, "the same client, reconnected, with Maestro's state kept");
}

pub(crate) struct Pki {
    pub(crate) ca: String,
    pub(crate) server: (String, String),
    pub(crate) client: (String, String),
}

pub(crate) fn pki() -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki { ca: ca.pem(), server: leaf("localhost"), client: leaf("hyperfleet-adapter") }
}

/// A double serving TLS with `pki`'s server certificate, requiring a client certificate its CA
/// signed, with the consumer `mc-1`.
pub(crate) async fn mtls_double(pki: &Pki) -> MaestroDouble {
    let tls = DoubleTls {
        cert_pem: pki.server.0.clone(),
        key_pem: pki.server.1.clone(),
        client_ca_pem: Some(pki.ca.clone()),
    };
    let double = MaestroDouble::start(Some(tls)).await.unwrap();
    double.register_consumer("mc-1");
    double
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let pki = pki();
    let double = mtls_double(&pki).await;
    let trusted = MaestroTls {
        ca_pem: Some(pki.ca.clone()),
        client: Some(pki.client.clone()),
        server_name: Some("localhost".into()),
        ..MaestroTls::default()
    };
    let client = MaestroClient::new(&connection(&double, trusted.clone())).unwrap();
    assert_eq!(client.apply(&work("mc-1", "v1")).await.unwrap().0, Applied::Created);

    let anonymous = MaestroTls { client: None, ..trusted };
    let client = MaestroClient::new(&connection(&double, anonymous)).unwrap();
    let err = client.apply(&work("mc-1", "v2")).await.unwrap_err();
    assert_eq!(actions(&double), [(SpecAction::CreateRequest, 1)], "refused without a certificate: {err:?}");
}

#[tokio::test]
async fn a_token_goes_with_every_call() {
    let double = MaestroDouble::start(None).await.unwrap();
    double.register_consumer("mc-1");
    double.require_token("t0ken");
    let with = MaestroTls { token: Some("t0ken".into()), ..MaestroTls::default() };
    let client = MaestroClient::new(&connection(&double, with)).unwrap();
    assert_eq!(client.apply(&work("mc-1", "v1")).await.unwrap().0, Applied::Created);
    let wrong = MaestroTls { token: Some("guess".into()), ..MaestroTls::default() };
    let client = MaestroClient::new(&connection(&double, wrong)).unwrap();
    let err = client.apply(&work("mc-1", "v2")).await.unwrap_err();
    assert!(matches!(&err, MaestroError::Rejected { message, .. } if message.contains("401")), "{err:?}");
}

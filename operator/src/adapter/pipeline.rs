//! One event through an adapter: fetch -> generation check -> params -> preconditions and
//! dependencies -> act (Job, resources) -> status rules -> report. A short driver over named
//! steps; transient failures surface as a [`HandleError`] whose [`HandleError::is_transient`] is
//! true (the event is redelivered), everything else is reported to the API and the event
//! acknowledged.

use std::{collections::BTreeMap, sync::Arc};

use chrono::Utc;
use serde_json::Value;

use hyperfleet_api_model::{ReconcileEventData, Resource, StatusReport};
use hyperfleet_crds::v1alpha1::Transport;

pub use super::handle_error::HandleError;
use super::{
    api::AdapterApi,
    handle_error::ActError,
    job::{JobState, RememberedJob, job_manifest, job_memory, job_name, job_state},
    lookups::{self, LookupError},
    ownership::{Owner, OwnershipError},
    plan::{AdapterPlan, PlannedResource},
    redact::Redactor,
    report::{Observed, Reason, Verdict, apply_rules, conditions_value, default_conditions, evaluate_data},
    transport::{ObjectTransport, Select, Target},
    variables::{Variables, unmet_dependency},
};

/// What happened to an event.
#[derive(Debug, Clone, PartialEq)]
// Made once per event and matched right away, never stored: boxing would only cost.
#[allow(clippy::large_enum_variant)]
pub enum Handled {
    /// Reported (`stored` false when the API discarded the report as stale).
    Reported {
        /// The report sent.
        report: StatusReport,
        /// Whether the API kept it.
        stored: bool,
        /// What came of the event (what was done, or why nothing was).
        verdict: Verdict,
    },
    /// The event was for an older generation than the resource has; nothing done.
    Stale {
        /// The event's generation.
        event: i64,
        /// The resource's.
        current: i64,
    },
    /// The resource no longer exists.
    Gone,
}

/// The transports an adapter uses: `kubernetes` (Jobs and `transport: kubernetes` resources;
/// the dry-run one in `local` mode) and `dry_run`.
#[derive(Debug, Clone)]
pub struct Transports {
    /// Cluster objects.
    pub kubernetes: Arc<dyn ObjectTransport>,
    /// Simulated objects.
    pub dry_run: Arc<dyn ObjectTransport>,
    /// ManifestWorks, when the AdapterConfig names a Maestro server.
    pub maestro: Option<Arc<dyn ObjectTransport>>,
}

/// An adapter, ready to handle events.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// The compiled config.
    pub plan: Arc<AdapterPlan>,
    api: Arc<dyn AdapterApi>,
    pub(super) transports: Transports,
    api_url: String,
}

impl Adapter {
    /// An adapter over `api` and `transports`; `api_url` is given to Jobs.
    pub fn new(
        plan: AdapterPlan,
        api: Arc<dyn AdapterApi>,
        transports: Transports,
        api_url: impl Into<String>,
    ) -> Self {
        Self { plan: Arc::new(plan), api, transports, api_url: api_url.into() }
    }

    /// Handles the event with data `event`. A resource that goes away while it is handled
    /// (the API answers 404) is done, not a failure.
    #[tracing::instrument(
        name = "adapter.handle",
        skip_all,
        fields(adapter = %self.plan.adapter, resource_id = %event.resource_id, generation = event.generation)
    )]
    pub async fn handle(&self, event: &ReconcileEventData) -> Result<Handled, HandleError> {
        match self.handle_present(event).await {
            Err(HandleError::Api(err)) if err.is_not_found() => Ok(Handled::Gone),
            other => other,
        }
    }

    async fn handle_present(&self, event: &ReconcileEventData) -> Result<Handled, HandleError> {
        let Some((resource, statuses)) = self.api.resource(&event.href).await.map_err(HandleError::Api)?
        else {
            return Ok(Handled::Gone);
        };
        check_identity(event, &resource)?;
        if event.generation < resource.generation {
            return Ok(Handled::Stale { event: event.generation, current: resource.generation });
        }
        let event_json = serde_json::to_value(event).map_err(HandleError::Encode)?;
        let mut variables =
            Variables::new(&self.plan, &resource, &statuses, &event_json).map_err(HandleError::Encode)?;
        let (mut verdict, redactor) = self.decide(&resource, &statuses, &mut variables).await?;
        let mut report = self.report(&resource, &mut variables, &verdict);
        redactor.redact_report(&mut report);
        if let Verdict::NotMet { message, .. } | Verdict::Failed { message, .. } = &mut verdict {
            *message = redactor.redact(message);
        }
        // Already said (still waiting, or done and said so a moment ago): a repeat would change
        // nothing but a timestamp. Done work is still re-reported now and then, as a sign of life.
        let waiting = matches!(verdict, Verdict::NotMet { .. });
        let repeat = super::report::already_reported(&statuses, &report, waiting);
        let stored = repeat || self.api.report(&resource.href, &report).await.map_err(HandleError::Api)?;
        Ok(Handled::Reported { report, stored, verdict })
    }

    /// Lookups, params, preconditions and dependencies, then acting when they allow it; with
    /// the secret values the lookups read.
    async fn decide(
        &self,
        resource: &Resource,
        statuses: &[hyperfleet_api_model::AdapterStatus],
        variables: &mut Variables,
    ) -> Result<(Verdict, Redactor), HandleError> {
        let redactor = match lookups::read(&self.plan, self.transports.kubernetes.as_ref(), variables).await {
            Ok(redactor) => redactor,
            Err(LookupError::Transport { source, .. }) if source.is_transient() => {
                return Err(HandleError::Transport(source));
            }
            Err(err) => {
                let message = hyperfleet_telemetry::error_chain(&err);
                return Ok((Verdict::Failed { reason: Reason::LookupFailed, message }, Redactor::default()));
            }
        };
        // Params first (preconditions may use them), but an unmet precondition explains a
        // failing param better than the param's error does (e.g. both need a missing field).
        let params = variables.compute_params(&self.plan);
        let verdict = match (self.unmet(variables, resource, statuses), params) {
            (Some(verdict), _) => verdict,
            (None, Err(err)) => Verdict::Failed { reason: Reason::ParamsFailed, message: err.to_string() },
            (None, Ok(())) => self.act(resource, variables).await?,
        };
        Ok((verdict, redactor))
    }

    /// The first precondition or dependency that does not hold (none apply while deleting).
    #[tracing::instrument(name = "adapter.preconditions", skip_all)]
    fn unmet(
        &self,
        variables: &Variables,
        resource: &Resource,
        statuses: &[hyperfleet_api_model::AdapterStatus],
    ) -> Option<Verdict> {
        if resource.deleted_time.is_some() {
            return None;
        }
        for (name, expression) in &self.plan.preconditions {
            let message = match expression.evaluate_bool_in(variables.scope()) {
                Ok(true) => continue,
                Ok(false) => format!("precondition {name} not met: {}", expression.source()),
                Err(err) => format!("precondition {name} could not be evaluated: {err}"),
            };
            return Some(Verdict::NotMet { reason: Reason::PreconditionsNotMet, message });
        }
        let message = unmet_dependency(&self.plan.dependencies, statuses, resource.generation)?;
        Some(Verdict::NotMet { reason: Reason::DependenciesNotMet, message })
    }

    /// Creates (or, while deleting, deletes) the Job and resources; reports what exists after.
    #[tracing::instrument(name = "adapter.act", skip_all, fields(deleting = resource.deleted_time.is_some()))]
    async fn act(&self, resource: &Resource, variables: &Variables) -> Result<Verdict, HandleError> {
        let deleting = resource.deleted_time.is_some();
        let context = variables.context();
        let mut observed = Observed { has_job: self.plan.job.is_some(), deleting, ..Observed::default() };
        let outcome = async {
            (observed.job, observed.job_created) =
                self.act_job(resource, variables, &context, deleting).await?;
            observed.job_cannot_start = self.why_job_cannot_start(observed.job.as_ref()).await?;
            if !deleting {
                observed.job_message = self.job_message(variables, resource, observed.job.as_ref()).await?;
            }
            for planned in &self.plan.resources {
                self.act_resource(planned, resource, variables, &context, &mut observed).await?;
            }
            Ok::<(), ActError>(())
        }
        .await;
        match outcome {
            Ok(()) => Ok(Verdict::Acted(observed)),
            Err(ActError::Transport(err)) if err.is_transient() => Err(HandleError::Transport(err)),
            Err(err) => {
                Ok(Verdict::Failed { reason: err.reason(), message: hyperfleet_telemetry::error_chain(&err) })
            }
        }
    }

    async fn act_job(
        &self,
        resource: &Resource,
        variables: &Variables,
        context: &Value,
        deleting: bool,
    ) -> Result<(Option<Value>, bool), ActError> {
        let Some(manifest) = job_manifest(&self.plan, resource, context, &self.api_url)? else {
            return Ok((None, false));
        };
        let transport = &self.transports.kubernetes;
        let owner = self.owner(resource);
        if !deleting {
            // A generation's Job runs once: gone after it finished, it is remembered, not redone.
            let own_report = variables.status_of(&self.plan.adapter);
            let remembered = RememberedJob::of(own_report, resource.generation);
            if let Some(finished) = remembered.map(|memory| memory.job(&manifest))
                && transport.find(&Target::of(&manifest)?).await?.is_none()
            {
                return Ok((Some(finished), false));
            }
            let (job, created) = transport.create(&manifest).await?;
            if !owner.owns(&job) {
                return Err(OwnershipError::NotOwned(owner.not_owned(&Target::of(&manifest)?)).into());
            }
            return Ok((Some(job), created));
        }
        // Every generation's Job of this resource.
        let mut target = Target::of(&manifest)?;
        target.select = Select::Labels(owner.labels());
        transport.delete(&target).await?;
        Ok((transport.find(&target).await?, false))
    }

    /// For a Job that runs without any pod: the Warning events that say why (a pod refused by
    /// admission shows only there, while the Job itself looks like it is running).
    async fn why_job_cannot_start(&self, job: Option<&Value>) -> Result<Option<String>, ActError> {
        let Some(job) = job else { return Ok(None) };
        let pods = ["active", "ready", "succeeded", "failed"]
            .iter()
            .filter_map(|field| job.pointer(&format!("/status/{field}")).and_then(Value::as_i64))
            .sum::<i64>();
        if pods > 0 || job_state(Some(job)) != JobState::Running {
            return Ok(None);
        }
        Ok(self.transports.kubernetes.warnings(&Target::of(job)?).await?.pop())
    }

    /// A finished Job's result as its program wrote it (the pod's termination message), taken
    /// from this adapter's last report of the generation when that remembers the outcome (so
    /// the pods are listed once per Job, not on every event).
    async fn job_message(
        &self,
        variables: &Variables,
        resource: &Resource,
        job: Option<&Value>,
    ) -> Result<Option<String>, ActError> {
        let Some(job) = job.filter(|job| job_state(Some(job)).is_finished()) else { return Ok(None) };
        let own_report = variables.status_of(&self.plan.adapter);
        if let Some(memory) = RememberedJob::of(own_report, resource.generation) {
            return Ok(memory.message);
        }
        Ok(self.transports.kubernetes.termination_message(&Target::of(job)?).await?)
    }

    async fn act_resource(
        &self,
        planned: &PlannedResource,
        resource: &Resource,
        variables: &Variables,
        context: &Value,
        observed: &mut Observed,
    ) -> Result<(), ActError> {
        let mut manifest = self.plan.templates.render_object(&planned.manifest, context)?;
        super::job::stamp(&mut manifest, &self.plan.adapter, resource);
        let owner = self.owner(resource);
        let (manifest, transport) = match (&planned.maestro, planned.transport) {
            (Some(delivery), Transport::Maestro) => {
                let consumer = self.plan.templates.render(&delivery.target_cluster, context)?;
                let name = super::maestro::work_name(&self.plan.adapter, resource, &planned.name);
                let mut work =
                    super::maestro::work_for(manifest, delivery, &consumer, &name, &self.plan.adapter);
                super::job::stamp(&mut work, &self.plan.adapter, resource);
                let none = || {
                    super::transport::TransportError::Manifest(
                        "no Maestro server is configured (spec.maestro)".into(),
                    )
                };
                (work, self.transports.maestro.as_ref().ok_or_else(none)?)
            }
            (_, Transport::DryRun) => (manifest, &self.transports.dry_run),
            _ => (manifest, &self.transports.kubernetes),
        };
        // A work is found by its own name; other objects as their discovery says.
        let target = match planned.maestro {
            Some(_) => Target::of(&manifest)?,
            None => owner.narrow(self.discovery_target(planned, &manifest, context)?),
        };
        let delete_now = match &planned.delete_when {
            Some(expression) => expression.evaluate_bool_in(variables.scope())?,
            None => false,
        };
        let found = if observed.deleting || delete_now {
            // Only what carries our labels is deleted (a label selection is narrowed to them).
            if let Select::Name(_) = target.select {
                owner.check(transport.as_ref(), &target, false).await?;
            }
            transport.delete(&target).await?;
            transport.find(&target).await?
        } else {
            let own = Target::of(&manifest)?;
            owner.check(transport.as_ref(), &own, planned.adopt).await?;
            let applied = transport.apply(&manifest).await?;
            observed.expected += 1;
            // Discovery that names the applied object itself needs no second read.
            if target == own { Some(applied) } else { transport.find(&target).await? }
        };
        if let Some(found) = found {
            let found = if planned.maestro.is_some() { super::maestro::view(&found) } else { found };
            observed.resources.insert(planned.name.clone(), found);
        }
        Ok(())
    }

    fn discovery_target(
        &self,
        planned: &PlannedResource,
        manifest: &Value,
        context: &Value,
    ) -> Result<Target, ActError> {
        let mut target = Target::of(manifest)?;
        if let Some(namespace) = &planned.namespace {
            target.namespace =
                Some(self.plan.templates.render(namespace, context)?).filter(|ns| !ns.is_empty());
        }
        if let Some(select) = planned.select.render(&self.plan.templates, context)? {
            target.select = select;
        }
        Ok(target)
    }

    /// Where the Job is, and how it ended once it has (so a Job removed later is not redone).
    fn report_metadata(&self, resource: &Resource, verdict: &Verdict) -> Option<Value> {
        let job = self.plan.job.as_ref()?;
        let mut metadata = serde_json::Map::from_iter([
            ("job_name".to_owned(), job_name(&self.plan.adapter, resource).into()),
            ("job_namespace".to_owned(), job.spec.namespace.clone().into()),
        ]);
        if let Verdict::Acted(observed) = verdict {
            let memory = job_memory(observed.job.as_ref(), observed.job_message.as_deref());
            metadata.extend(memory.unwrap_or_default());
        }
        Some(Value::Object(metadata))
    }

    fn owner<'a>(&'a self, resource: &Resource) -> Owner<'a> {
        Owner { adapter: &self.plan.adapter, resource: resource.id }
    }

    /// The report for `verdict`: defaults, then the config's status rules.
    fn report(&self, resource: &Resource, variables: &mut Variables, verdict: &Verdict) -> StatusReport {
        let defaults = default_conditions(verdict);
        let (job, resources) = match verdict {
            Verdict::Acted(observed) => (observed.job.clone(), observed.resources.clone()),
            _ => (None, BTreeMap::new()),
        };
        variables.set("job", job.unwrap_or(Value::Null));
        variables.set("resources", Value::Object(resources.into_iter().collect()));
        variables.set("conditions", conditions_value(&defaults));
        // Rules describe what the adapter made; when it made nothing, the defaults say why.
        let evaluated = match verdict {
            Verdict::Acted(_) => apply_rules(&self.plan.status_rules, variables.scope(), defaults)
                .and_then(|conditions| Ok((conditions, evaluate_data(&self.plan.data, variables.scope())?))),
            Verdict::NotMet { .. } | Verdict::Failed { .. } => Ok((defaults, None)),
        };
        let (conditions, data) = evaluated.unwrap_or_else(|err| {
            let failed = Verdict::Failed { reason: Reason::StatusRuleFailed, message: err.to_string() };
            (default_conditions(&failed), None)
        });
        let metadata = self.report_metadata(resource, verdict);
        StatusReport {
            adapter: self.plan.adapter.clone(),
            observed_generation: resource.generation,
            observed_time: Some(Utc::now()),
            conditions,
            data,
            metadata,
        }
    }
}

/// The resource fetched from the event's `href` must be the one the event names (id, kind and
/// owner): a forged or broken `href` must not make the adapter act on another resource.
fn check_identity(event: &ReconcileEventData, resource: &Resource) -> Result<(), HandleError> {
    let owner = |r: Option<&hyperfleet_api_model::ObjectReference>| r.map(|o| o.id);
    let same = resource.id == event.resource_id
        && resource.kind == event.kind
        && owner(event.owner_references.as_ref())
            .is_none_or(|id| owner(resource.owner_references.as_ref()) == Some(id));
    if same {
        return Ok(());
    }
    Err(HandleError::WrongResource { event: event.resource_id, href: event.href.clone(), found: resource.id })
}

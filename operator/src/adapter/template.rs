//! minijinja templates of an AdapterConfig (job command/args/env, `resources[].manifest`,
//! discovery names and labels), compiled once when the config is validated and rendered per
//! event. Undefined variables are errors (strict mode): a typo in a template must not silently
//! render an empty string into a manifest.

use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, value::Serde};

/// A template failure, naming the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse.
    #[error("invalid template {name}: {message}")]
    Compile {
        /// Where the template is in the spec.
        name: String,
        /// What minijinja said.
        message: String,
    },
    /// Rendering failed (undefined variable, bad filter argument).
    #[error("template {name} failed: {message}")]
    Render {
        /// Where the template is in the spec.
        name: String,
        /// What minijinja said.
        message: String,
    },
    /// The rendered manifest is not a YAML object.
    #[error("template {name} did not render a YAML object: {message}")]
    Output {
        /// Where the template is in the spec.
        name: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A template of [`Templates`], by its name (its place in the spec, e.g.
/// `resources.ns.manifest`). Only [`TemplatesBuilder::add`] makes one, and the compiled plan
/// holds them: code renders what the plan names instead of rebuilding names by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId(Arc<str>);

impl TemplateId {
    /// The template's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// Every template of one config.
#[derive(Clone, Default)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("count", &self.env.templates().count()).finish()
    }
}

/// Builds [`Templates`], collecting compile errors.
#[derive(Debug)]
pub struct TemplatesBuilder {
    env: Environment<'static>,
    errors: Vec<String>,
}

impl Default for TemplatesBuilder {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Manifests are YAML, not HTML.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        Self { env, errors: Vec::new() }
    }
}

impl TemplatesBuilder {
    /// Adds `source` as `name` (a compile error is kept for [`Self::build`]).
    pub fn add(&mut self, name: impl Into<String>, source: impl Into<String>) -> TemplateId {
        let (name, source): (String, String) = (name.into(), source.into());
        if source.len() > hyperfleet_crds::MAX_TEMPLATE_LEN {
            let message =
                format!("longer than {} bytes ({} bytes)", hyperfleet_crds::MAX_TEMPLATE_LEN, source.len());
            self.errors.push(TemplateError::Compile { name: name.clone(), message }.to_string());
            return TemplateId(name.into());
        }
        if let Err(err) = self.env.add_template_owned(name.clone(), source) {
            let message = hyperfleet_telemetry::error_chain(&err);
            self.errors.push(TemplateError::Compile { name: name.clone(), message }.to_string());
        }
        TemplateId(name.into())
    }

    /// The templates, or every compile error.
    pub fn build(self) -> Result<Templates, Vec<String>> {
        if self.errors.is_empty() { Ok(Templates { env: Arc::new(self.env) }) } else { Err(self.errors) }
    }
}

impl Templates {
    /// Renders template `id` with `context`.
    pub fn render(&self, id: &TemplateId, context: &serde_json::Value) -> Result<String, TemplateError> {
        let name = id.name();
        let error = |err: minijinja::Error| TemplateError::Render {
            name: name.to_owned(),
            message: hyperfleet_telemetry::error_chain(&err),
        };
        self.env.get_template(name).map_err(error)?.render(Serde(context)).map_err(error)
    }

    /// Renders template `id` and parses the output as one YAML object.
    pub fn render_object(
        &self,
        id: &TemplateId,
        context: &serde_json::Value,
    ) -> Result<serde_json::Value, TemplateError> {
        let text = self.render(id, context)?;
        let output = |message: String| TemplateError::Output { name: id.name().to_owned(), message };
        let value: serde_json::Value =
            serde_saphyr::from_str(&text).map_err(|err| output(err.to_string()))?;
        if value.is_object() { Ok(value) } else { Err(output(format!("got `{}`", text.trim()))) }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn templates(pairs: &[(&str, &str)]) -> Result<(Templates, Vec<TemplateId>), Vec<String>> {
        let mut builder = TemplatesBuilder::default();
        let ids = pairs.iter().map(|(name, source)| builder.add(*name, *source)).collect();
        Ok((builder.build()?, ids))
    }

    #[test]
    fn manifests_render_from_resource_and_params() {
        let (t, ids) = templates(&[(
            "m",
            "kind: Namespace\nmetadata:\n  name: {{ cluster.name }}-{{ params.suffix }}\n",
        )])
        .unwrap();
        let object = t
            .render_object(&ids[0], &json!({"cluster": {"name": "prod"}, "params": {"suffix": "dns"}}))
            .unwrap();
        assert_eq!(object, json!({"kind": "Namespace", "metadata": {"name": "prod-dns"}}));
    }

    #[test]
    fn an_undefined_variable_is_an_error_not_an_empty_string() {
        let (t, ids) = templates(&[("m", "name: {{ cluster.nmae }}")]).unwrap();
        let err = t.render_object(&ids[0], &json!({"cluster": {"name": "prod"}})).unwrap_err();
        assert!(matches!(err, TemplateError::Render { .. }), "{err:?}");
        assert!(err.to_string().contains("template m failed"), "{err}");
    }

    #[test]
    fn syntax_errors_are_reported_at_build_time_for_every_template() {
        let errors = templates(&[("a", "{{ oops"), ("b", "{% if %}"), ("c", "fine")]).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("invalid template a"), "{errors:?}");
    }

    #[test]
    fn output_that_is_not_an_object_is_rejected() {
        let (t, ids) = templates(&[("m", "just text"), ("j", "data: {{ spec | tojson }}")]).unwrap();
        assert!(matches!(t.render_object(&ids[0], &json!({})), Err(TemplateError::Output { .. })));
        let object = t.render_object(&ids[1], &json!({"spec": {"a": [1, 2]}})).unwrap();
        assert_eq!(object, json!({"data": {"a": [1, 2]}}));
    }
}

#[cfg(test)]
mod limits {
    use serde_json::json;

    use super::*;

    /// Templates near minijinja's own nesting limit (150 parser levels; a parenthesis takes two)
    /// compile and render on an async worker's stack; deeper and oversized ones are compile errors.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn deep_and_huge_templates_are_errors_and_the_deepest_accepted_renders_on_a_worker() {
        let outcome = tokio::spawn(async {
            let mut builder = TemplatesBuilder::default();
            let parens = builder.add("parens", format!("{{{{ {}1{} }}}}", "(".repeat(70), ")".repeat(70)));
            let ifs =
                builder.add("ifs", format!("{}x{}", "{% if true %}".repeat(140), "{% endif %}".repeat(140)));
            let templates = builder.build().unwrap();
            (templates.render(&parens, &json!({})).unwrap(), templates.render(&ifs, &json!({})).unwrap())
        });
        assert_eq!(outcome.await.unwrap(), ("1".to_owned(), "x".to_owned()));
        let mut builder = TemplatesBuilder::default();
        builder.add("deep", format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000)));
        builder.add("huge", "x".repeat(hyperfleet_crds::MAX_TEMPLATE_LEN + 1));
        let errors = builder.build().unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[1].contains("longer than"), "{errors:?}");
    }
}

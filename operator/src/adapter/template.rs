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

/// Every template of one config, by name (its place in the spec, e.g. `resources.ns.manifest`).
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
    /// Adds `source` as `name`.
    pub fn add(&mut self, name: impl Into<String>, source: impl Into<String>) {
        let name = name.into();
        if let Err(err) = self.env.add_template_owned(name.clone(), source.into()) {
            self.errors.push(
                TemplateError::Compile { name, message: hyperfleet_telemetry::error_chain(&err) }.to_string(),
            );
        }
    }

    /// The templates, or every compile error.
    pub fn build(self) -> Result<Templates, Vec<String>> {
        if self.errors.is_empty() { Ok(Templates { env: Arc::new(self.env) }) } else { Err(self.errors) }
    }
}

impl Templates {
    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, TemplateError> {
        let error = |err: minijinja::Error| TemplateError::Render {
            name: name.to_owned(),
            message: hyperfleet_telemetry::error_chain(&err),
        };
        self.env.get_template(name).map_err(error)?.render(Serde(context)).map_err(error)
    }

    /// Renders template `name` and parses the output as one YAML object.
    pub fn render_object(
        &self,
        name: &str,
        context: &serde_json::Value,
    ) -> Result<serde_json::Value, TemplateError> {
        let text = self.render(name, context)?;
        let output = |message: String| TemplateError::Output { name: name.to_owned(), message };
        let value: serde_json::Value =
            serde_saphyr::from_str(&text).map_err(|err| output(err.to_string()))?;
        if value.is_object() { Ok(value) } else { Err(output(format!("got `{}`", text.trim()))) }
    }

    /// Whether a template of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn templates(pairs: &[(&str, &str)]) -> Result<Templates, Vec<String>> {
        let mut builder = TemplatesBuilder::default();
        for (name, source) in pairs {
            builder.add(*name, *source);
        }
        builder.build()
    }

    #[test]
    fn manifests_render_from_resource_and_params() {
        let t = templates(&[(
            "m",
            "kind: Namespace\nmetadata:\n  name: {{ cluster.name }}-{{ params.suffix }}\n",
        )])
        .unwrap();
        let object =
            t.render_object("m", &json!({"cluster": {"name": "prod"}, "params": {"suffix": "dns"}})).unwrap();
        assert_eq!(object, json!({"kind": "Namespace", "metadata": {"name": "prod-dns"}}));
    }

    #[test]
    fn an_undefined_variable_is_an_error_not_an_empty_string() {
        let t = templates(&[("m", "name: {{ cluster.nmae }}")]).unwrap();
        let err = t.render_object("m", &json!({"cluster": {"name": "prod"}})).unwrap_err();
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
        let t = templates(&[("m", "just text"), ("j", "data: {{ spec | tojson }}")]).unwrap();
        assert!(matches!(t.render_object("m", &json!({})), Err(TemplateError::Output { .. })));
        let object = t.render_object("j", &json!({"spec": {"a": [1, 2]}})).unwrap();
        assert_eq!(object, json!({"data": {"a": [1, 2]}}));
    }
}

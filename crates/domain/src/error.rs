//! Errors of the domain: a broken rule, named by the parameter that broke it.

/// Input that breaks a domain rule. `param` names the offending field the way the API spells it
/// (`email`, `metadata[plan]`), so the HTTP layer can point the caller at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct ValidationError {
    pub param: String,
    pub code: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            code: "parameter_invalid",
            message: message.into(),
        }
    }

    pub fn missing(param: impl Into<String>) -> Self {
        let param = param.into();
        let message = format!("Missing required parameter: {param}.");
        Self {
            param,
            code: "parameter_missing",
            message,
        }
    }
}

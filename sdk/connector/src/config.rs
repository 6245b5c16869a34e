//! Reads the store's configuration fields that the plugin manifest declares.

use crate::ConnectorError;
use crate::bindings::shopkeeper::connector0_1_0::host;

/// Returns the value of configuration field `name`, or `None` when the store has not set it.
///
/// Secret fields are returned in clear text, so never log the result.
pub fn get(name: &str) -> Option<String> {
    host::config(name)
}

/// Returns the value of configuration field `name`.
///
/// # Errors
///
/// Returns an [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) error naming the
/// field when it is not set or contains only whitespace.
pub fn require(name: &str) -> Result<String, ConnectorError> {
    check_required(name, get(name))
}

fn check_required(name: &str, value: Option<String>) -> Result<String, ConnectorError> {
    match value {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(ConnectorError::invalid_config(format!(
            "configuration field `{name}` is empty; set it in the store's connector settings"
        ))),
        None => Err(ConnectorError::invalid_config(format!(
            "configuration field `{name}` is missing; set it in the store's connector settings"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn required_value_present() {
        let value = check_required("app_key", Some("12345678".to_string()));
        assert_eq!(value, Ok("12345678".to_string()));
    }

    #[test]
    fn required_value_missing_or_blank() {
        for value in [None, Some(String::new()), Some("  ".to_string())] {
            let error = check_required("app_key", value).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidConfig);
            assert!(error.message.contains("`app_key`"), "{}", error.message);
        }
    }
}

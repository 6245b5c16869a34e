//! The store's connector settings, as the manifest `plugin.toml` declares them.

use shopkeeper_connector::ConnectorError;
use shopkeeper_connector::sign::SignMethod;

/// Router URL used when the store leaves `endpoint` unset.
pub const DEFAULT_ENDPOINT: &str = "https://gw.api.taobao.com/router/rest";
/// Page size used when the store leaves `page_size` unset.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Maximum `page_size` that `taobao.trades.sold.increment.get` accepts.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Validated connector settings of one store.
///
/// It deliberately does not implement `Debug`, because `app_secret` and `session` are secrets.
pub struct Settings {
    pub endpoint: String,
    pub app_key: String,
    pub app_secret: String,
    /// The seller's OAuth access token.
    pub session: String,
    pub sign_method: SignMethod,
    /// Trades per page, from 1 to [`MAX_PAGE_SIZE`].
    pub page_size: u32,
}

impl Settings {
    /// Reads and validates the settings, calling `lookup` once for each configuration field.
    ///
    /// Optional fields that are unset or blank take the manifest's default.
    ///
    /// # Errors
    ///
    /// Returns an `invalid-config` error naming the field when a required field is missing or a
    /// value is malformed.
    pub fn load(mut lookup: impl FnMut(&str) -> Option<String>) -> Result<Self, ConnectorError> {
        let mut optional = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let endpoint = optional("endpoint").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
            return Err(invalid_value(
                "endpoint",
                &endpoint,
                "expected an http or https URL",
            ));
        }

        let app_key = optional("app_key").ok_or_else(|| missing("app_key"))?;
        let app_secret = optional("app_secret").ok_or_else(|| missing("app_secret"))?;
        let session = optional("session").ok_or_else(|| missing("session"))?;

        let sign_method = match optional("sign_method") {
            None => SignMethod::HmacSha256,
            Some(name) => name.trim().parse().map_err(|_| {
                invalid_value("sign_method", &name, "expected md5, hmac or hmac-sha256")
            })?,
        };

        let page_size = match optional("page_size") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => size,
                _ => {
                    return Err(invalid_value(
                        "page_size",
                        &text,
                        "expected a whole number from 1 to 100",
                    ));
                }
            },
        };

        Ok(Settings {
            endpoint,
            app_key,
            app_secret,
            session,
            sign_method,
            page_size,
        })
    }
}

fn missing(field: &str) -> ConnectorError {
    ConnectorError::invalid_config(format!(
        "configuration field `{field}` is missing; set it in the store's Taobao settings"
    ))
}

fn invalid_value(field: &str, value: &str, expected: &str) -> ConnectorError {
    ConnectorError::invalid_config(format!(
        "configuration field `{field}` has invalid value {value:?}: {expected}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopkeeper_connector::ErrorKind;

    fn lookup_from(pairs: &[(&str, &str)]) -> impl FnMut(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, value)| value.clone())
        }
    }

    const REQUIRED: [(&str, &str); 3] = [
        ("app_key", "12345678"),
        ("app_secret", "helloworld"),
        ("session", "test"),
    ];

    #[test]
    fn load_applies_defaults() {
        let settings = Settings::load(lookup_from(&REQUIRED)).unwrap();
        assert_eq!(settings.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(settings.app_key, "12345678");
        assert_eq!(settings.app_secret, "helloworld");
        assert_eq!(settings.session, "test");
        assert_eq!(settings.sign_method, SignMethod::HmacSha256);
        assert_eq!(settings.page_size, DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn load_reads_every_field() {
        let mut pairs = REQUIRED.to_vec();
        pairs.push(("endpoint", "http://127.0.0.1:9000/router/rest"));
        pairs.push(("sign_method", "md5"));
        pairs.push(("page_size", "100"));
        let settings = Settings::load(lookup_from(&pairs)).unwrap();
        assert_eq!(settings.endpoint, "http://127.0.0.1:9000/router/rest");
        assert_eq!(settings.sign_method, SignMethod::Md5);
        assert_eq!(settings.page_size, 100);
    }

    #[test]
    fn load_rejects_missing_required_fields() {
        for skipped in ["app_key", "app_secret", "session"] {
            let pairs: Vec<_> = REQUIRED
                .iter()
                .copied()
                .filter(|(name, _)| *name != skipped)
                .collect();
            let error = Settings::load(lookup_from(&pairs)).err().unwrap();
            assert_eq!(error.kind, ErrorKind::InvalidConfig);
            assert!(
                error.message.contains(&format!("`{skipped}`")),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn load_rejects_invalid_values() {
        let cases = [
            ("page_size", "0"),
            ("page_size", "101"),
            ("page_size", "-5"),
            ("page_size", "ten"),
            ("sign_method", "sha1"),
            ("endpoint", "gw.api.taobao.com/router/rest"),
        ];
        for (field, value) in cases {
            let mut pairs = REQUIRED.to_vec();
            pairs.push((field, value));
            let error = Settings::load(lookup_from(&pairs)).err().unwrap();
            assert_eq!(error.kind, ErrorKind::InvalidConfig, "{field}={value}");
            assert!(
                error.message.contains(&format!("`{field}`")),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn invalid_secret_is_not_echoed() {
        let pairs = [("app_key", "k"), ("app_secret", "s3cr3t"), ("session", "")];
        let error = Settings::load(lookup_from(&pairs)).err().unwrap();
        assert!(error.message.contains("`session`"), "{}", error.message);
        assert!(!error.message.contains("s3cr3t"), "{}", error.message);
    }
}

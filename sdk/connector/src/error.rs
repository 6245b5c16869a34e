//! Constructors and formatting for [`ConnectorError`].

use std::fmt;

use crate::{ConnectorError, ErrorKind};

impl ConnectorError {
    /// Creates an error of `kind` with no platform code and no retry delay.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ConnectorError {
            kind,
            message: message.into(),
            platform_code: None,
            retry_after_ms: None,
        }
    }

    /// Creates an [`ErrorKind::Auth`] error.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }

    /// Creates an [`ErrorKind::RateLimited`] error.
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::RateLimited, message)
    }

    /// Creates an [`ErrorKind::Platform`] error.
    pub fn platform(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Platform, message)
    }

    /// Creates an [`ErrorKind::Network`] error.
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Network, message)
    }

    /// Creates an [`ErrorKind::InvalidConfig`] error.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    /// Creates an [`ErrorKind::InvalidResponse`] error.
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidResponse, message)
    }

    /// Creates an [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Sets the platform's own error code.
    pub fn with_platform_code(mut self, code: impl Into<String>) -> Self {
        self.platform_code = Some(code.into());
        self
    }

    /// Sets how long the platform asked the caller to wait, in milliseconds.
    pub fn with_retry_after_ms(mut self, retry_after_ms: u64) -> Self {
        self.retry_after_ms = Some(retry_after_ms);
        self
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Platform => "platform",
            ErrorKind::Network => "network",
            ErrorKind::InvalidConfig => "invalid-config",
            ErrorKind::InvalidResponse => "invalid-response",
            ErrorKind::Internal => "internal",
        };
        f.write_str(name)
    }
}

//! Writes log lines through the host, which tags them with the plugin and the store.
//!
//! Messages are plain text. Never include a secret such as an app secret or a session token.

use crate::bindings::shopkeeper::connector0_1_0::host::{self, LogLevel};

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    host::log(LogLevel::Debug, message);
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    host::log(LogLevel::Info, message);
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    host::log(LogLevel::Warn, message);
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    host::log(LogLevel::Error, message);
}

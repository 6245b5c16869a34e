//! Shopkeeper: one order queue for merchants who sell in many online stores.
//!
//! Orders come in through connector plugins (WebAssembly components, see [`plugin`]), are stored
//! idempotently per store (see [`storage`]), allocated to a warehouse and reviewed by Rhai rules
//! (see [`rules`]), and shown through the HTTP API and web UI (see [`http`]). The [`sync`]
//! scheduler owns all traffic with the outside.

pub mod config;
pub mod demo;
pub mod domain;
pub mod harness;
pub mod http;
pub mod intake;
pub mod plugin;
pub mod rules;
pub mod rules_admin;
pub mod server;
pub mod stock;
pub mod storage;
pub mod sync;

/// Milliseconds since the Unix epoch in UTC, the unit of every stored time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

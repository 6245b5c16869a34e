//! One integration test binary with a module per feature.

mod api;
mod browser;
mod crash;
mod hostile;
mod plugin_lifecycle;
mod rules_at_start;
mod rules_editing;
mod stock;
mod sync;

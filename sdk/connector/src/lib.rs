//! Guest library for Shopkeeper connector plugins.
//!
//! A connector is a `wasm32-wasip2` component that implements the `shopkeeper:connector@0.1.0`
//! world. This crate generates the bindings for that world and wraps the host imports in small
//! helpers, so a plugin only implements [`Connector`] and exports it:
//!
//! ```
//! use shopkeeper_connector::{Connector, ConnectorError, OrderPage, TimeWindow};
//!
//! struct MyConnector;
//!
//! impl Connector for MyConnector {
//!     fn pull_orders(
//!         window: TimeWindow,
//!         page_token: Option<String>,
//!     ) -> Result<OrderPage, ConnectorError> {
//!         let endpoint = shopkeeper_connector::config::require("endpoint")?;
//!         // Call the platform at `endpoint` and convert its orders here.
//!         Ok(OrderPage { orders: Vec::new(), next_page_token: None })
//!     }
//! }
//!
//! shopkeeper_connector::export_connector!(MyConnector);
//! ```
//!
//! The helpers that need no host ([`money`], [`time`], [`sign`]) also work in host-side unit
//! tests. The ones that call the host ([`config`], [`log`], [`http`], [`time::now_ms`]) only
//! work inside a component. In a native test binary the generated import stubs panic inside an
//! `extern "C"` function, which aborts the process.

pub mod config;
mod error;
pub mod http;
pub mod log;
pub mod money;
pub mod sign;
pub mod time;

/// Bindings that `wit-bindgen` generates for the `connector` world.
///
/// Plugins normally use the re-exports at the crate root. [`export_connector!`] refers to this
/// module by its path.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/connector@0.1.0",
        world: "connector",
        pub_export_macro: true,
        export_macro_name: "export_connector_bindings",
        default_bindings_module: "shopkeeper_connector::bindings",
        additional_derives: [Clone, PartialEq, Eq],
    });
}

/// Exports a type that implements [`Connector`] as the component's `pull` interface.
///
/// Write it once in the plugin crate: `shopkeeper_connector::export_connector!(MyConnector);`.
/// It expands to nothing on targets other than `wasm32`, because the component's export names
/// (such as `shopkeeper:connector/pull@0.1.0#pull-orders`) are not valid symbol names for a
/// native shared library. That keeps `cargo test` working on the host for a crate whose types
/// include `cdylib`.
#[macro_export]
macro_rules! export_connector {
    ($connector:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export_connector_bindings!($connector);
    };
}

pub use bindings::exports::shopkeeper::connector::pull::Guest as Connector;
pub use bindings::shopkeeper::connector::types::{
    Address, ConnectorError, ErrorKind, Order, OrderLine, OrderPage, OrderStatus, TimeWindow,
};

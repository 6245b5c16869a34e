//! Guest library for Shopkeeper connector plugins.
//!
//! A connector is a `wasm32-wasip2` component that implements the `shopkeeper:connector@0.2.0`
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
//! `pull_orders` is the one required method. The other capabilities (`pull_products`,
//! `push_stock`, `confirm_shipment`, `update_remark`, `parse_webhook`, `request_waybill`) have
//! default bodies that return "not supported"; override the ones the platform offers and list
//! them under `capabilities` in `plugin.toml`. The host calls only what the manifest declares.
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
/// module by its path. The 0.2 package pulls in 0.1 through its `deps` folder, so module names
/// carry the package version (`connector0_1_0`, `connector0_2_0`).
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/connector@0.2.0",
        world: "shopkeeper:connector/connector@0.2.0",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_connector_bindings",
        default_bindings_module: "shopkeeper_connector::bindings",
        additional_derives: [Clone, PartialEq, Eq],
    });
}

pub use bindings::shopkeeper::connector0_1_0::types::{
    Address, ConnectorError, ErrorKind, Order, OrderLine, OrderPage, OrderStatus, TimeWindow,
};
pub use bindings::shopkeeper::connector0_2_0::catalog::{
    Product, ProductPage, ProductSku, Shipment, StockLevel, Waybill, WaybillRequest, WebhookEvent,
    WebhookRequest,
};

/// The capabilities a connector offers the host. Only [`Connector::pull_orders`] is required.
pub trait Connector {
    /// Fetches one page of orders modified inside `window`. `page_token` is `None` for the
    /// first page and otherwise the token the previous call returned.
    fn pull_orders(
        window: TimeWindow,
        page_token: Option<String>,
    ) -> Result<OrderPage, ConnectorError>;

    /// Fetches one page of the store's listings (capability `pull-products`).
    fn pull_products(page_token: Option<String>) -> Result<ProductPage, ConnectorError> {
        let _ = page_token;
        Err(unsupported("pull-products"))
    }

    /// Sets each SKU's offered quantity (capability `push-stock`). Return one result per level,
    /// in order.
    fn push_stock(levels: Vec<StockLevel>) -> Vec<Result<(), ConnectorError>> {
        levels.iter().map(|_| Err(unsupported("push-stock"))).collect()
    }

    /// Tells the platform a parcel was handed to a carrier (capability `confirm-shipment`).
    fn confirm_shipment(shipment: Shipment) -> Result<(), ConnectorError> {
        let _ = shipment;
        Err(unsupported("confirm-shipment"))
    }

    /// Replaces an order's seller remark (capability `update-remark`).
    fn update_remark(
        platform_order_id: String,
        remark: String,
        flag: Option<u8>,
    ) -> Result<(), ConnectorError> {
        let _ = (platform_order_id, remark, flag);
        Err(unsupported("update-remark"))
    }

    /// Checks and reads a webhook delivery (capability `parse-webhook`).
    fn parse_webhook(request: WebhookRequest) -> Result<Vec<WebhookEvent>, ConnectorError> {
        let _ = request;
        Err(unsupported("parse-webhook"))
    }

    /// Asks the platform's or carrier's service for an e-waybill number (capability
    /// `request-waybill`).
    fn request_waybill(request: WaybillRequest) -> Result<Waybill, ConnectorError> {
        let _ = request;
        Err(unsupported("request-waybill"))
    }
}

/// The error a default [`Connector`] method returns.
pub fn unsupported(capability: &str) -> ConnectorError {
    ConnectorError::internal(format!(
        "this plugin does not implement {capability}; remove it from `capabilities` in plugin.toml \
         or implement it"
    ))
}

/// Exports a type that implements [`Connector`] as the component's interfaces.
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
        const _: () = {
            use $crate::bindings::exports::shopkeeper::connector0_1_0::pull;
            use $crate::bindings::exports::shopkeeper::connector0_2_0::{
                products, remarks, shipping, stock, waybills, webhooks,
            };

            impl pull::Guest for $connector {
                fn pull_orders(
                    window: $crate::TimeWindow,
                    page_token: Option<String>,
                ) -> Result<$crate::OrderPage, $crate::ConnectorError> {
                    <$connector as $crate::Connector>::pull_orders(window, page_token)
                }
            }
            impl products::Guest for $connector {
                fn pull_products(
                    page_token: Option<String>,
                ) -> Result<$crate::ProductPage, $crate::ConnectorError> {
                    <$connector as $crate::Connector>::pull_products(page_token)
                }
            }
            impl stock::Guest for $connector {
                fn push_stock(
                    levels: Vec<$crate::StockLevel>,
                ) -> Vec<Result<(), $crate::ConnectorError>> {
                    <$connector as $crate::Connector>::push_stock(levels)
                }
            }
            impl shipping::Guest for $connector {
                fn confirm_shipment(
                    shipment: $crate::Shipment,
                ) -> Result<(), $crate::ConnectorError> {
                    <$connector as $crate::Connector>::confirm_shipment(shipment)
                }
            }
            impl remarks::Guest for $connector {
                fn update_remark(
                    platform_order_id: String,
                    remark: String,
                    flag: Option<u8>,
                ) -> Result<(), $crate::ConnectorError> {
                    <$connector as $crate::Connector>::update_remark(platform_order_id, remark, flag)
                }
            }
            impl webhooks::Guest for $connector {
                fn parse_webhook(
                    request: $crate::WebhookRequest,
                ) -> Result<Vec<$crate::WebhookEvent>, $crate::ConnectorError> {
                    <$connector as $crate::Connector>::parse_webhook(request)
                }
            }
            impl waybills::Guest for $connector {
                fn request_waybill(
                    request: $crate::WaybillRequest,
                ) -> Result<$crate::Waybill, $crate::ConnectorError> {
                    <$connector as $crate::Connector>::request_waybill(request)
                }
            }

            $crate::bindings::export_connector_bindings!($connector);
        };
    };
}

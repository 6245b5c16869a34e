//! Shopkeeper connector for the Taobao / Tmall Open Platform (TOP).
//!
//! It pulls sold trades with `taobao.trades.sold.increment.get` through the TOP router and turns
//! them into canonical orders, pulls listings, pushes stock, confirms shipments and writes the
//! seller memo. The modules other than this one are pure logic that runs in host-side unit
//! tests. Only [`HostGateway`] talks to the Shopkeeper host.

mod catalog;
mod convert;
mod fulfil;
mod paging;
mod pull;
mod response;
mod settings;
mod top;

use shopkeeper_connector::http::{self, Response};
use shopkeeper_connector::{
    Connector, ConnectorError, OrderPage, ProductPage, Shipment, StockLevel, TimeWindow,
};

use crate::pull::Gateway;
use crate::settings::Settings;

/// The exported connector.
pub struct TaobaoConnector;

impl Connector for TaobaoConnector {
    fn pull_orders(
        window: TimeWindow,
        page_token: Option<String>,
    ) -> Result<OrderPage, ConnectorError> {
        let settings = Settings::load(shopkeeper_connector::config::get)?;
        let mut gateway = HostGateway;
        pull::pull_page(&settings, &mut gateway, window, page_token.as_deref())
    }

    fn pull_products(page_token: Option<String>) -> Result<ProductPage, ConnectorError> {
        let settings = Settings::load(shopkeeper_connector::config::get)?;
        catalog::pull_products(&settings, &mut HostGateway, page_token.as_deref())
    }

    fn push_stock(levels: Vec<StockLevel>) -> Vec<Result<(), ConnectorError>> {
        match Settings::load(shopkeeper_connector::config::get) {
            Ok(settings) => catalog::push_stock(&settings, &mut HostGateway, &levels),
            Err(error) => levels.iter().map(|_| Err(error.clone())).collect(),
        }
    }

    fn confirm_shipment(shipment: Shipment) -> Result<(), ConnectorError> {
        let settings = Settings::load(shopkeeper_connector::config::get)?;
        fulfil::confirm_shipment(&settings, &mut HostGateway, &shipment)
    }

    fn update_remark(
        platform_order_id: String,
        remark: String,
        flag: Option<u8>,
    ) -> Result<(), ConnectorError> {
        let settings = Settings::load(shopkeeper_connector::config::get)?;
        fulfil::update_remark(&settings, &mut HostGateway, &platform_order_id, &remark, flag)
    }
}

shopkeeper_connector::export_connector!(TaobaoConnector);

/// [`Gateway`] that sends requests, reads the clock and logs through the Shopkeeper host.
struct HostGateway;

impl Gateway for HostGateway {
    fn post_form(
        &mut self,
        url: &str,
        fields: &[(String, String)],
    ) -> Result<Response, ConnectorError> {
        http::post_form(url, fields)
    }

    fn now_ms(&mut self) -> i64 {
        shopkeeper_connector::time::now_ms()
    }

    fn debug(&mut self, message: &str) {
        shopkeeper_connector::log::debug(message);
    }
}

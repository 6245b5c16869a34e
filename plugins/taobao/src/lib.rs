//! Shopkeeper connector for the Taobao / Tmall Open Platform (TOP).
//!
//! It pulls sold trades with `taobao.trades.sold.increment.get` through the TOP router and turns
//! them into canonical orders. The modules other than this one are pure logic that runs in
//! host-side unit tests. Only [`HostGateway`] talks to the Shopkeeper host.

mod convert;
mod paging;
mod pull;
mod response;
mod settings;

use shopkeeper_connector::http::{self, Response};
use shopkeeper_connector::{Connector, ConnectorError, OrderPage, TimeWindow};

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

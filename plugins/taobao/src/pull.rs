//! One `pull-orders` call: the TOP requests for one page of a window and their conversion.

use shopkeeper_connector::http::Response;
use shopkeeper_connector::sign::top_sign;
use shopkeeper_connector::time::{floor_to_second, format_utc8};
use shopkeeper_connector::{ConnectorError, OrderPage, TimeWindow};

use crate::convert::convert_trade;
use crate::paging::{page_count, parse_token, token_after};
use crate::response::{SoldTradesPage, parse_sold_trades};
use crate::settings::Settings;

/// TOP method that lists the seller's trades by modified time.
pub const METHOD: &str = "taobao.trades.sold.increment.get";

/// Trade fields that [`convert_trade`] reads. `orders` requests every field of each line.
pub const TRADE_FIELDS: &str = "tid,tid_str,status,type,created,modified,pay_time,payment,\
total_fee,post_fee,buyer_nick,buyer_message,seller_memo,receiver_name,receiver_state,\
receiver_city,receiver_district,receiver_town,receiver_address,receiver_zip,receiver_mobile,\
receiver_phone,orders";

/// Field list of the first request of a window, which only counts the trades.
const COUNT_FIELDS: &str = "tid";

/// Host services of a pull, behind a trait so that the paging logic runs in native tests too.
pub trait Gateway {
    /// Sends a form-encoded POST request.
    fn post_form(
        &mut self,
        url: &str,
        fields: &[(String, String)],
    ) -> Result<Response, ConnectorError>;

    /// Returns the current time in UTC milliseconds.
    fn now_ms(&mut self) -> i64;

    /// Writes a debug log line.
    fn debug(&mut self, message: &str);
}

/// Fetches one page of trades modified inside `window` and converts them.
///
/// Without a token, a first request with `fields=tid` counts the window's trades. A window that
/// fits one page is then fetched in full as page 1 with no next token. A longer window starts at
/// its last page, and each token names the page before, down to page 1. A window with no trades
/// returns an empty page after the counting request alone, and an empty window returns one
/// without any request.
///
/// # Errors
///
/// Returns an `internal` error for a malformed token, and the errors of [`parse_sold_trades`]
/// and [`convert_trade`].
pub fn pull_page(
    settings: &Settings,
    gateway: &mut impl Gateway,
    window: TimeWindow,
    page_token: Option<&str>,
) -> Result<OrderPage, ConnectorError> {
    let requested_page = page_token.map(parse_token).transpose()?;
    if window.end_ms <= window.start_ms {
        return Ok(OrderPage {
            orders: Vec::new(),
            next_page_token: None,
        });
    }
    let bounds = WindowBounds::from_window(window);

    let page_no = match requested_page {
        Some(page_no) => page_no,
        None => {
            let count = fetch(settings, gateway, &bounds, 1, COUNT_FIELDS)?;
            let total = count.total_results.ok_or_else(|| {
                ConnectorError::invalid_response(format!(
                    "TOP response to {METHOD} has no `total_results`"
                ))
            })?;
            if total == 0 {
                return Ok(OrderPage {
                    orders: Vec::new(),
                    next_page_token: None,
                });
            }
            let last_page = page_count(total, settings.page_size);
            gateway.debug(&format!(
                "window {} to {} has {total} trades in {last_page} pages",
                bounds.start_modified, bounds.end_modified
            ));
            last_page
        }
    };

    let page = fetch(settings, gateway, &bounds, page_no, TRADE_FIELDS)?;
    let orders = page
        .trades
        .iter()
        .map(convert_trade)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OrderPage {
        orders,
        next_page_token: token_after(page_no),
    })
}

/// TOP's inclusive, second-precision bounds of an end-exclusive millisecond window.
struct WindowBounds {
    start_modified: String,
    end_modified: String,
}

impl WindowBounds {
    fn from_window(window: TimeWindow) -> Self {
        // The last millisecond inside the window is `end_ms - 1`. Its second is the last one
        // that TOP should include, because TOP treats `end_modified` as inclusive.
        WindowBounds {
            start_modified: format_utc8(floor_to_second(window.start_ms)),
            end_modified: format_utc8(floor_to_second(window.end_ms.saturating_sub(1))),
        }
    }
}

fn fetch(
    settings: &Settings,
    gateway: &mut impl Gateway,
    bounds: &WindowBounds,
    page_no: u64,
    fields: &str,
) -> Result<SoldTradesPage, ConnectorError> {
    let timestamp = format_utc8(gateway.now_ms());
    let params = signed_params(settings, &timestamp, bounds, page_no, fields);
    gateway.debug(&format!("calling {METHOD} page {page_no} fields {fields}"));
    let response = gateway.post_form(&settings.endpoint, &params)?;
    parse_sold_trades(response.status, &response.body)
}

/// Builds the form fields of one request, with `sign` last.
fn signed_params(
    settings: &Settings,
    timestamp: &str,
    bounds: &WindowBounds,
    page_no: u64,
    fields: &str,
) -> Vec<(String, String)> {
    let page_no = page_no.to_string();
    let page_size = settings.page_size.to_string();
    let mut params: Vec<(&str, &str)> = vec![
        ("method", METHOD),
        ("app_key", &settings.app_key),
        ("session", &settings.session),
        ("timestamp", timestamp),
        ("format", "json"),
        ("v", "2.0"),
        ("sign_method", settings.sign_method.as_str()),
        ("fields", fields),
        ("start_modified", &bounds.start_modified),
        ("end_modified", &bounds.end_modified),
        ("page_no", &page_no),
        ("page_size", &page_size),
    ];
    let sign = top_sign(&params, &settings.app_secret, settings.sign_method);
    params.push(("sign", &sign));
    params
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests;

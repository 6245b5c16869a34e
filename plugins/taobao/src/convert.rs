//! Conversion of TOP trade objects into canonical orders.
//!
//! TOP writes times as `yyyy-MM-dd HH:mm:ss` in UTC+8 and money as yuan strings with two
//! decimals. Both are converted exactly, money with integer arithmetic only.

use serde_json::{Map, Value};
use shopkeeper_connector::money::parse_decimal_minor;
use shopkeeper_connector::time::parse_utc8;
use shopkeeper_connector::{Address, ConnectorError, Order, OrderLine, OrderStatus};

use crate::response::json_type;

/// Currency of every Taobao and Tmall trade.
const CURRENCY: &str = "CNY";
/// Decimal places of a yuan amount, so minor units are fen.
const YUAN_SCALE: u32 = 2;
/// Line `refund_status` of a line with no refund.
const NO_REFUND: &str = "NO_REFUND";
/// Line `refund_status` values of a refund that the buyer requested and that is still open.
const OPEN_REFUND_STATUSES: [&str; 3] = [
    "WAIT_SELLER_AGREE",
    "WAIT_BUYER_RETURN_GOODS",
    "WAIT_SELLER_CONFIRM_GOODS",
];

/// Converts one trade object of `taobao.trades.sold.increment.get` into an [`Order`].
///
/// `raw` is the trade object serialised again as JSON, with its keys sorted.
///
/// # Errors
///
/// Returns an `invalid-response` error naming the trade and the field when `tid`, `status`,
/// `modified`, `created` or `payment` is missing, when a line lacks `oid`, `num`, `price` or
/// `payment`, when a value is malformed, or when the status is not in the mapping of [`map_status`].
pub fn convert_trade(trade: &Value) -> Result<Order, ConnectorError> {
    let Some(object) = trade.as_object() else {
        return Err(ConnectorError::invalid_response(format!(
            "TOP trade is {}, expected an object",
            json_type(trade)
        )));
    };
    let tid = trade_id(object)?;
    let fields = Fields {
        object,
        context: format!("trade {tid}"),
    };

    let platform_status = fields.required_text("status")?;
    let line_objects = order_objects(object, &fields)?;
    let lines = line_objects
        .iter()
        .map(|line| convert_line(&tid, line))
        .collect::<Result<Vec<_>, _>>()?;
    let refund_statuses: Vec<&str> = line_objects
        .iter()
        .filter_map(|line| line.get("refund_status").and_then(Value::as_str))
        .collect();
    let status = map_status(&platform_status, &refund_statuses).ok_or_else(|| {
        ConnectorError::invalid_response(format!("trade {tid}: unknown status {platform_status:?}"))
    })?;

    let receiver = Address {
        name: fields.text("receiver_name")?,
        phone: match fields.text("receiver_mobile")? {
            mobile if mobile.is_empty() => fields.text("receiver_phone")?,
            mobile => mobile,
        },
        province: fields.text("receiver_state")?,
        city: fields.text("receiver_city")?,
        district: fields.text("receiver_district")?,
        street: fields.text("receiver_address")?,
        zip: fields.text("receiver_zip")?,
    };

    Ok(Order {
        platform_order_id: tid.clone(),
        status,
        platform_status,
        currency: CURRENCY.to_string(),
        goods_minor: fields.optional_money("total_fee")?,
        shipping_minor: fields.optional_money("post_fee")?,
        paid_minor: fields.required_money("payment")?,
        buyer_nick: fields.text("buyer_nick")?,
        buyer_remark: fields.text("buyer_message")?,
        seller_remark: fields.text("seller_memo")?,
        receiver,
        created_at_ms: fields.required_time("created")?,
        modified_at_ms: fields.required_time("modified")?,
        paid_at_ms: fields.optional_time("pay_time")?,
        lines,
        raw: trade.to_string(),
    })
}

/// Maps a TOP trade `status` to the canonical status, or `None` for an unknown status.
///
/// A paid or shipped trade becomes `refund-requested` while any line has an open refund, that
/// is a `refund_status` of `WAIT_SELLER_AGREE`, `WAIT_BUYER_RETURN_GOODS` or
/// `WAIT_SELLER_CONFIRM_GOODS`. `TRADE_CLOSED` is `refunded`, because TOP closes a paid trade
/// after a full refund, while `TRADE_CLOSED_BY_TAOBAO` closes a trade before payment.
pub fn map_status(status: &str, line_refund_statuses: &[&str]) -> Option<OrderStatus> {
    let mapped = match status {
        "WAIT_BUYER_PAY" | "TRADE_NO_CREATE_PAY" | "PAY_PENDING" | "WAIT_PRE_AUTH_CONFIRM" => {
            OrderStatus::Unpaid
        }
        "WAIT_SELLER_SEND_GOODS" | "PAID_FORBID_CONSIGN" => OrderStatus::Paid,
        "SELLER_CONSIGNED_PART" | "WAIT_BUYER_CONFIRM_GOODS" => OrderStatus::Shipped,
        "TRADE_BUYER_SIGNED" | "TRADE_FINISHED" => OrderStatus::Completed,
        "TRADE_CLOSED" => OrderStatus::Refunded,
        "TRADE_CLOSED_BY_TAOBAO" => OrderStatus::Closed,
        _ => return None,
    };
    let refund_open = line_refund_statuses
        .iter()
        .any(|refund_status| OPEN_REFUND_STATUSES.contains(refund_status));
    match mapped {
        OrderStatus::Paid | OrderStatus::Shipped if refund_open => {
            Some(OrderStatus::RefundRequested)
        }
        other => Some(other),
    }
}

/// Converts one element of the trade's `orders` list.
fn convert_line(tid: &str, line: &Map<String, Value>) -> Result<OrderLine, ConnectorError> {
    let oid = first_text(line, &["oid_str", "oid"], &format!("trade {tid}"))?.ok_or_else(|| {
        ConnectorError::invalid_response(format!("trade {tid}: line without field `oid`"))
    })?;
    let fields = Fields {
        object: line,
        context: format!("trade {tid} line {oid}"),
    };

    let status = fields.text("status")?;
    let refund_status = fields.text("refund_status")?;
    let platform_status = if refund_status.is_empty() || refund_status == NO_REFUND {
        status
    } else {
        format!("{status}/{refund_status}")
    };

    Ok(OrderLine {
        platform_line_id: oid,
        platform_item_id: fields.text("num_iid")?,
        platform_sku_id: fields.text("sku_id")?,
        sku_code: fields.text("outer_sku_id")?,
        title: fields.text("title")?,
        quantity: fields.required_quantity("num")?,
        unit_price_minor: fields.required_money("price")?,
        total_minor: fields.required_money("payment")?,
        platform_status,
    })
}

fn trade_id(trade: &Map<String, Value>) -> Result<String, ConnectorError> {
    first_text(trade, &["tid_str", "tid"], "trade")?.ok_or_else(|| {
        ConnectorError::invalid_response(
            "TOP trade without `tid_str` or `tid`: missing field `tid`".to_string(),
        )
    })
}

/// Returns the first of `names` whose value is a non-empty string or an integer.
fn first_text(
    object: &Map<String, Value>,
    names: &[&str],
    context: &str,
) -> Result<Option<String>, ConnectorError> {
    let fields = Fields {
        object,
        context: context.to_string(),
    };
    for name in names {
        let text = fields.text(name)?;
        if !text.is_empty() {
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// Returns the line objects of `orders`, which the default JSON format nests as
/// `{"order": [...]}` and the simplified format writes as a plain array.
fn order_objects<'a>(
    trade: &'a Map<String, Value>,
    fields: &Fields<'_>,
) -> Result<Vec<&'a Map<String, Value>>, ConnectorError> {
    let list = match trade.get("orders") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(wrapper)) => match wrapper.get("order") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(list) => list,
        },
        Some(list) => list,
    };
    let Value::Array(items) = list else {
        return Err(fields.invalid("orders", list, "expected a list of lines"));
    };
    items
        .iter()
        .map(|item| {
            item.as_object()
                .ok_or_else(|| fields.invalid("orders", item, "expected each line to be an object"))
        })
        .collect()
}

/// Typed access to the fields of one trade or line, with errors that name it.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    /// Names the trade or line in error messages, such as `trade 123 line 456`.
    context: String,
}

impl Fields<'_> {
    /// Returns a string or integer field as text, or an empty string when it is missing or null.
    fn text(&self, name: &str) -> Result<String, ConnectorError> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(text)) => Ok(text.clone()),
            Some(Value::Number(number)) if number.is_i64() || number.is_u64() => {
                Ok(number.to_string())
            }
            Some(other) => Err(self.invalid(name, other, "expected text")),
        }
    }

    fn required_text(&self, name: &str) -> Result<String, ConnectorError> {
        let text = self.text(name)?;
        if text.is_empty() {
            return Err(self.missing(name));
        }
        Ok(text)
    }

    fn required_money(&self, name: &str) -> Result<i64, ConnectorError> {
        let text = self.required_text(name)?;
        parse_decimal_minor(&text, YUAN_SCALE).map_err(|reason| self.invalid_text(name, &reason))
    }

    /// Returns a money field in fen, or 0 when it is missing or empty.
    fn optional_money(&self, name: &str) -> Result<i64, ConnectorError> {
        let text = self.text(name)?;
        if text.is_empty() {
            return Ok(0);
        }
        parse_decimal_minor(&text, YUAN_SCALE).map_err(|reason| self.invalid_text(name, &reason))
    }

    fn required_time(&self, name: &str) -> Result<i64, ConnectorError> {
        self.optional_time(name)?.ok_or_else(|| self.missing(name))
    }

    fn optional_time(&self, name: &str) -> Result<Option<i64>, ConnectorError> {
        let text = self.text(name)?;
        if text.is_empty() {
            return Ok(None);
        }
        parse_utc8(&text)
            .map(Some)
            .map_err(|reason| self.invalid_text(name, &reason))
    }

    fn required_quantity(&self, name: &str) -> Result<i64, ConnectorError> {
        let text = self.required_text(name)?;
        match text.parse::<i64>() {
            Ok(quantity) if quantity >= 0 && text.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(quantity)
            }
            _ => Err(self.invalid_text(name, &format!("invalid quantity {text:?}"))),
        }
    }

    fn missing(&self, name: &str) -> ConnectorError {
        ConnectorError::invalid_response(format!("{}: missing field `{name}`", self.context))
    }

    fn invalid(&self, name: &str, value: &Value, expected: &str) -> ConnectorError {
        ConnectorError::invalid_response(format!(
            "{}: field `{name}` is {}, {expected}",
            self.context,
            json_type(value)
        ))
    }

    fn invalid_text(&self, name: &str, reason: &str) -> ConnectorError {
        ConnectorError::invalid_response(format!("{}: field `{name}`: {reason}", self.context))
    }
}

#[cfg(test)]
mod tests;

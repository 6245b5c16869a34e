//! Typed trade snapshots and their rendering in the TOP JSON shape.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// TOP trade and line status values that the simulator produces.
pub mod status {
    pub const WAIT_BUYER_PAY: &str = "WAIT_BUYER_PAY";
    pub const WAIT_SELLER_SEND_GOODS: &str = "WAIT_SELLER_SEND_GOODS";
    pub const WAIT_BUYER_CONFIRM_GOODS: &str = "WAIT_BUYER_CONFIRM_GOODS";
    pub const TRADE_FINISHED: &str = "TRADE_FINISHED";
    /// Closed after a successful refund.
    pub const TRADE_CLOSED: &str = "TRADE_CLOSED";
    /// Closed before payment. Such a trade must never be shipped.
    pub const TRADE_CLOSED_BY_TAOBAO: &str = "TRADE_CLOSED_BY_TAOBAO";
}

/// TOP line `refund_status` values that the simulator produces.
pub mod refund_status {
    pub const NO_REFUND: &str = "NO_REFUND";
    pub const WAIT_SELLER_AGREE: &str = "WAIT_SELLER_AGREE";
    pub const SUCCESS: &str = "SUCCESS";
}

/// Every trade field that [`TradeSnapshot::to_top_json`] can render. `orders` is the line list.
pub const TRADE_FIELDS: &[&str] = &[
    "tid",
    "tid_str",
    "status",
    "type",
    "created",
    "modified",
    "pay_time",
    "consign_time",
    "end_time",
    "payment",
    "total_fee",
    "post_fee",
    "buyer_nick",
    "buyer_message",
    "seller_memo",
    "seller_flag",
    "receiver_name",
    "receiver_mobile",
    "receiver_state",
    "receiver_city",
    "receiver_district",
    "receiver_address",
    "receiver_zip",
    "orders",
];

/// Every line field that can be rendered, either through `orders` or as `orders.NAME`.
pub const ORDER_FIELDS: &[&str] = &[
    "oid",
    "oid_str",
    "num_iid",
    "sku_id",
    "outer_iid",
    "outer_sku_id",
    "title",
    "sku_properties_name",
    "num",
    "price",
    "total_fee",
    "payment",
    "status",
    "refund_status",
    "logistics_company",
    "invoice_no",
];

/// The `yyyy-MM-dd HH:mm:ss` layout of TOP times, which are in UTC+8.
pub const TOP_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// China Standard Time (UTC+8), the zone of every TOP time.
pub fn china_standard_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Formats an instant as a TOP time string in UTC+8.
pub fn format_top_time(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&china_standard_time())
        .format(TOP_TIME_FORMAT)
        .to_string()
}

/// Parses a TOP time string (`yyyy-MM-dd HH:mm:ss`, UTC+8). Returns `None` when it does not match.
pub fn parse_top_time(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), TOP_TIME_FORMAT).ok()?;
    let local = china_standard_time().from_local_datetime(&naive).single()?;
    Some(local.with_timezone(&Utc))
}

/// Formats an amount in fen as a TOP money string in yuan with two decimals, e.g. `12800` → `"128.00"`.
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let magnitude = fen.unsigned_abs();
    format!("{sign}{}.{:02}", magnitude / 100, magnitude % 100)
}

/// A trade in its state at one instant. Money is in fen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeSnapshot {
    pub tid: u64,
    /// TOP trade status, one of the constants in [`status`].
    pub status: String,
    pub created: DateTime<Utc>,
    /// Time of the latest lifecycle step that has happened, or `created` when none has.
    pub modified: DateTime<Utc>,
    pub pay_time: Option<DateTime<Utc>>,
    pub consign_time: Option<DateTime<Utc>>,
    /// Time the trade finished or closed.
    pub end_time: Option<DateTime<Utc>>,
    /// Amount the buyer paid: the sum of line payments plus `post_fee_fen`.
    pub payment_fen: i64,
    /// Goods total: the sum of line price × num.
    pub total_fee_fen: i64,
    pub post_fee_fen: i64,
    pub buyer_nick: String,
    pub buyer_message: Option<String>,
    pub seller_memo: Option<String>,
    /// TOP `seller_flag`: the colour flag (1 to 5) the seller put on the trade, 0 for none.
    /// The TOP JSON leaves it out when it is 0.
    #[serde(default)]
    pub seller_flag: u8,
    pub receiver_name: String,
    /// Either a full 11-digit number or a masked one such as `138****5678`.
    pub receiver_mobile: String,
    pub receiver_state: String,
    pub receiver_city: String,
    pub receiver_district: String,
    pub receiver_address: String,
    pub receiver_zip: String,
    pub lines: Vec<LineSnapshot>,
}

/// One line item (a TOP "order") of a trade. Money is in fen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSnapshot {
    pub oid: u64,
    pub num_iid: u64,
    /// TOP sends `sku_id` as a string.
    pub sku_id: String,
    pub outer_iid: String,
    pub outer_sku_id: String,
    pub title: String,
    pub sku_properties_name: String,
    pub num: u32,
    pub price_fen: i64,
    /// `price_fen` × `num`.
    pub total_fee_fen: i64,
    /// Amount the buyer paid for the line, below `total_fee_fen` when the line has a discount.
    pub payment_fen: i64,
    /// Mirrors the trade status.
    pub status: String,
    /// One of the constants in [`refund_status`].
    pub refund_status: String,
    /// Carrier code (TOP `logistics_company`) of a shipment sent with `taobao.logistics.offline.send`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logistics_company: Option<String>,
    /// Tracking number (TOP `invoice_no`) of a shipment sent with `taobao.logistics.offline.send`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_no: Option<String>,
}

/// Trade and line fields that a `fields` parameter selects.
struct FieldSelection<'a> {
    /// `None` selects every trade field.
    trade: Option<Vec<&'a str>>,
    /// `None` leaves `orders` out, `Some(None)` selects every line field.
    orders: Option<Option<Vec<&'a str>>>,
}

impl<'a> FieldSelection<'a> {
    fn from_fields(fields: Option<&[&'a str]>) -> Self {
        let Some(fields) = fields else {
            return Self {
                trade: None,
                orders: Some(None),
            };
        };

        let mut trade = Vec::new();
        let mut orders: Option<Option<Vec<&str>>> = None;
        for field in fields.iter().map(|field| field.trim()) {
            if field == "orders" {
                orders = Some(None);
            } else if let Some(line_field) = field.strip_prefix("orders.") {
                match &mut orders {
                    Some(Some(list)) => list.push(line_field),
                    Some(None) => {}
                    None => orders = Some(Some(vec![line_field])),
                }
            } else {
                trade.push(field);
            }
        }
        Self {
            trade: Some(trade),
            orders,
        }
    }

    fn wants_trade(&self, name: &str) -> bool {
        self.trade.as_ref().is_none_or(|list| list.contains(&name))
    }
}

impl TradeSnapshot {
    /// Renders the trade in the TOP JSON shape with only the requested fields, or all with `None`.
    ///
    /// `orders` selects the whole line list and `orders.NAME` single line fields. Unknown names are
    /// ignored, and fields without a value (such as `pay_time` before payment) are left out.
    pub fn to_top_json(&self, fields: Option<&[&str]>) -> Value {
        self.render_top_json(fields, false)
    }

    /// Renders the trade like [`Self::to_top_json`]. With `simplify` the line list is a plain array
    /// as in TOP's `simplify=true` responses, otherwise it is wrapped as `{"order":[...]}`.
    pub fn render_top_json(&self, fields: Option<&[&str]>, simplify: bool) -> Value {
        let selection = FieldSelection::from_fields(fields);
        let mut trade = Map::new();
        for &name in TRADE_FIELDS {
            if name == "orders" || !selection.wants_trade(name) {
                continue;
            }
            if let Some(value) = self.trade_field(name) {
                trade.insert(name.to_owned(), value);
            }
        }

        if let Some(line_fields) = &selection.orders {
            let lines: Vec<Value> = self
                .lines
                .iter()
                .map(|line| line.to_top_json(line_fields.as_deref()))
                .collect();
            let orders = if simplify {
                Value::Array(lines)
            } else {
                json!({ "order": lines })
            };
            trade.insert("orders".to_owned(), orders);
        }
        Value::Object(trade)
    }

    fn trade_field(&self, name: &str) -> Option<Value> {
        let time =
            |instant: &Option<DateTime<Utc>>| instant.map(|t| Value::from(format_top_time(t)));
        let text = |value: &str| Some(Value::from(value));
        match name {
            "tid" => Some(Value::from(self.tid)),
            "tid_str" => Some(Value::from(self.tid.to_string())),
            "status" => text(&self.status),
            "type" => text("fixed"),
            "created" => Some(Value::from(format_top_time(self.created))),
            "modified" => Some(Value::from(format_top_time(self.modified))),
            "pay_time" => time(&self.pay_time),
            "consign_time" => time(&self.consign_time),
            "end_time" => time(&self.end_time),
            "payment" => Some(Value::from(format_yuan(self.payment_fen))),
            "total_fee" => Some(Value::from(format_yuan(self.total_fee_fen))),
            "post_fee" => Some(Value::from(format_yuan(self.post_fee_fen))),
            "buyer_nick" => text(&self.buyer_nick),
            "buyer_message" => self.buyer_message.as_deref().and_then(text),
            "seller_memo" => self.seller_memo.as_deref().and_then(text),
            "seller_flag" => (self.seller_flag != 0).then(|| Value::from(self.seller_flag)),
            "receiver_name" => text(&self.receiver_name),
            "receiver_mobile" => text(&self.receiver_mobile),
            "receiver_state" => text(&self.receiver_state),
            "receiver_city" => text(&self.receiver_city),
            "receiver_district" => text(&self.receiver_district),
            "receiver_address" => text(&self.receiver_address),
            "receiver_zip" => text(&self.receiver_zip),
            _ => None,
        }
    }
}

impl LineSnapshot {
    /// Renders the line in the TOP JSON shape with only the requested fields, or all with `None`.
    /// Fields without a value (`logistics_company` and `invoice_no` before shipping) are left out.
    pub fn to_top_json(&self, fields: Option<&[&str]>) -> Value {
        let mut line = Map::new();
        for &name in ORDER_FIELDS {
            if fields.is_some_and(|list| !list.contains(&name)) {
                continue;
            }
            let value = match name {
                "oid" => Value::from(self.oid),
                "oid_str" => Value::from(self.oid.to_string()),
                "num_iid" => Value::from(self.num_iid),
                "sku_id" => Value::from(self.sku_id.as_str()),
                "outer_iid" => Value::from(self.outer_iid.as_str()),
                "outer_sku_id" => Value::from(self.outer_sku_id.as_str()),
                "title" => Value::from(self.title.as_str()),
                "sku_properties_name" => Value::from(self.sku_properties_name.as_str()),
                "num" => Value::from(self.num),
                "price" => Value::from(format_yuan(self.price_fen)),
                "total_fee" => Value::from(format_yuan(self.total_fee_fen)),
                "payment" => Value::from(format_yuan(self.payment_fen)),
                "status" => Value::from(self.status.as_str()),
                "refund_status" => Value::from(self.refund_status.as_str()),
                "logistics_company" => match &self.logistics_company {
                    Some(company) => Value::from(company.as_str()),
                    None => continue,
                },
                "invoice_no" => match &self.invoice_no {
                    Some(number) => Value::from(number.as_str()),
                    None => continue,
                },
                _ => continue,
            };
            line.insert(name.to_owned(), value);
        }
        Value::Object(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_trade() -> TradeSnapshot {
        let created = parse_top_time("2024-03-01 10:00:00").unwrap();
        let line = LineSnapshot {
            oid: 1_900_000_000_000_000_123,
            num_iid: 600_100_000_001,
            sku_id: "5001000011".to_owned(),
            outer_iid: "TEA-LJ".to_owned(),
            outer_sku_id: "TEA-LJ-250G".to_owned(),
            title: "西湖龙井".to_owned(),
            sku_properties_name: "规格:250g".to_owned(),
            num: 2,
            price_fen: 12_800,
            total_fee_fen: 25_600,
            payment_fen: 25_000,
            status: status::WAIT_SELLER_SEND_GOODS.to_owned(),
            refund_status: refund_status::NO_REFUND.to_owned(),
            logistics_company: None,
            invoice_no: None,
        };
        TradeSnapshot {
            tid: 1_900_000_000_000_000_123,
            status: status::WAIT_SELLER_SEND_GOODS.to_owned(),
            created,
            modified: created + chrono::Duration::seconds(65),
            pay_time: Some(created + chrono::Duration::seconds(65)),
            consign_time: None,
            end_time: None,
            payment_fen: 26_000,
            total_fee_fen: 25_600,
            post_fee_fen: 1_000,
            buyer_nick: "快乐的小猫".to_owned(),
            buyer_message: Some("发顺丰".to_owned()),
            seller_memo: None,
            seller_flag: 0,
            receiver_name: "王伟".to_owned(),
            receiver_mobile: "138****5678".to_owned(),
            receiver_state: "浙江省".to_owned(),
            receiver_city: "杭州市".to_owned(),
            receiver_district: "西湖区".to_owned(),
            receiver_address: "文三路128号".to_owned(),
            receiver_zip: "310013".to_owned(),
            lines: vec![line],
        }
    }

    #[test]
    fn yuan_has_two_decimals() {
        assert_eq!(format_yuan(0), "0.00");
        assert_eq!(format_yuan(5), "0.05");
        assert_eq!(format_yuan(12_800), "128.00");
        assert_eq!(format_yuan(399_990), "3999.90");
        assert_eq!(format_yuan(-250), "-2.50");
    }

    #[test]
    fn top_time_is_utc_plus_eight() {
        let instant = parse_top_time("2016-01-01 12:00:00").unwrap();
        assert_eq!(instant.to_rfc3339(), "2016-01-01T04:00:00+00:00");
        assert_eq!(format_top_time(instant), "2016-01-01 12:00:00");
        assert_eq!(parse_top_time("2016-01-01T12:00:00"), None);
        assert_eq!(parse_top_time("2016-13-01 12:00:00"), None);
    }

    #[test]
    fn full_json_shape() {
        let trade = sample_trade();
        let rendered = trade.to_top_json(None);
        assert_eq!(rendered["tid"], json!(1_900_000_000_000_000_123_u64));
        assert_eq!(rendered["tid_str"], "1900000000000000123");
        assert_eq!(rendered["type"], "fixed");
        assert_eq!(rendered["created"], "2024-03-01 10:00:00");
        assert_eq!(rendered["modified"], "2024-03-01 10:01:05");
        assert_eq!(rendered["pay_time"], "2024-03-01 10:01:05");
        assert!(rendered.get("consign_time").is_none());
        assert!(rendered.get("end_time").is_none());
        assert!(rendered.get("seller_memo").is_none());
        assert_eq!(rendered["payment"], "260.00");
        assert_eq!(rendered["total_fee"], "256.00");
        assert_eq!(rendered["post_fee"], "10.00");
        assert_eq!(rendered["buyer_message"], "发顺丰");

        let line = &rendered["orders"]["order"][0];
        assert_eq!(line["num"], json!(2));
        assert_eq!(line["price"], "128.00");
        assert_eq!(line["total_fee"], "256.00");
        assert_eq!(line["payment"], "250.00");
        assert_eq!(line["sku_id"], "5001000011");
        assert_eq!(line["oid_str"], "1900000000000000123");
        assert_eq!(line["refund_status"], "NO_REFUND");
    }

    #[test]
    fn fields_select_subset() {
        let trade = sample_trade();
        let rendered = trade.to_top_json(Some(&["tid", "status", "orders.oid", "orders.num"]));
        let keys: Vec<&String> = rendered.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{rendered}");
        let line = rendered["orders"]["order"][0].as_object().unwrap();
        assert_eq!(line.len(), 2, "{rendered}");
        assert!(line.contains_key("oid"));
        assert!(line.contains_key("num"));

        let no_lines = trade.to_top_json(Some(&["tid", "payment"]));
        assert!(no_lines.get("orders").is_none());
        assert_eq!(no_lines["payment"], "260.00");
    }

    #[test]
    fn simplify_uses_plain_arrays() {
        let trade = sample_trade();
        let rendered = trade.render_top_json(Some(&["tid", "orders"]), true);
        assert!(rendered["orders"].is_array(), "{rendered}");
        assert_eq!(rendered["orders"][0]["title"], "西湖龙井");
    }
}

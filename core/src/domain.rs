//! Domain vocabulary shared by storage, rules, sync and the API.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Canonical platform status, the same set every connector maps its platform's statuses onto.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformStatus {
    Unpaid,
    Paid,
    Shipped,
    Completed,
    Closed,
    RefundRequested,
    Refunded,
}

impl PlatformStatus {
    pub const ALL: [PlatformStatus; 7] = [
        Self::Unpaid,
        Self::Paid,
        Self::Shipped,
        Self::Completed,
        Self::Closed,
        Self::RefundRequested,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unpaid => "unpaid",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Completed => "completed",
            Self::Closed => "closed",
            Self::RefundRequested => "refund_requested",
            Self::Refunded => "refunded",
        }
    }
}

/// Position of an order in the merchant's own workflow, independent of the platform status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    /// Not paid yet: stored, but neither allocated nor reviewed.
    AwaitingPayment,
    /// The review rule asked for a person to look at the order.
    PendingReview,
    Approved,
    Held,
    /// A rule failed on this order; the error is stored with it.
    Exception,
    /// First seen after the platform had already shipped, completed or closed it, so no rule
    /// ran on it.
    Archived,
}

impl WorkflowState {
    pub const ALL: [WorkflowState; 6] = [
        Self::AwaitingPayment,
        Self::PendingReview,
        Self::Approved,
        Self::Held,
        Self::Exception,
        Self::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::PendingReview => "pending_review",
            Self::Approved => "approved",
            Self::Held => "held",
            Self::Exception => "exception",
            Self::Archived => "archived",
        }
    }
}

/// Error for a status name that is not one of the canonical names.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of: {expected}")]
pub struct UnknownName {
    kind: &'static str,
    value: String,
    expected: String,
}

macro_rules! name_parsing {
    ($type:ty, $kind:literal) => {
        impl FromStr for $type {
            type Err = UnknownName;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::ALL.into_iter().find(|item| item.as_str() == value).ok_or_else(|| {
                    UnknownName {
                        kind: $kind,
                        value: value.to_owned(),
                        expected: Self::ALL.map(|item| item.as_str()).join(", "),
                    }
                })
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

name_parsing!(PlatformStatus, "platform status");
name_parsing!(WorkflowState, "workflow state");

/// An address as the platform hands it over.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub street: String,
    pub zip: String,
}

/// An order line as a connector delivers it, after validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingLine {
    pub platform_line_id: String,
    pub platform_item_id: String,
    pub platform_sku_id: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub total_minor: i64,
    pub platform_status: String,
}

/// An order as a connector delivers it, after validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingOrder {
    pub platform_order_id: String,
    pub status: PlatformStatus,
    pub platform_status: String,
    pub currency: String,
    pub goods_minor: i64,
    pub shipping_minor: i64,
    pub paid_minor: i64,
    pub buyer_nick: String,
    pub buyer_remark: String,
    pub seller_remark: String,
    pub receiver: Address,
    pub created_at_ms: i64,
    pub modified_at_ms: i64,
    pub paid_at_ms: Option<i64>,
    pub lines: Vec<IncomingLine>,
    pub raw: String,
}

/// Upper bounds on what one order from a connector may contain. An order beyond them is
/// rejected with its field named, never truncated.
pub mod limits {
    pub const ID_CHARS: usize = 128;
    pub const TEXT_CHARS: usize = 2_000;
    pub const REMARK_CHARS: usize = 4_000;
    pub const RAW_BYTES: usize = 1_000_000;
    pub const LINES: usize = 500;
    pub const QUANTITY: i64 = 1_000_000;
    /// 10^13 minor units: 100 billion yuan, far beyond any real order.
    pub const MONEY_MINOR: i64 = 10_000_000_000_000;
    /// 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z in milliseconds.
    pub const EARLIEST_MS: i64 = 946_684_800_000;
    pub const LATEST_MS: i64 = 4_102_444_800_000;
}

/// A field of an incoming order that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order_id:?}: field `{field}` {problem}")]
pub struct InvalidOrder {
    pub order_id: String,
    pub field: String,
    pub problem: String,
}

impl IncomingOrder {
    /// Checks everything the core relies on; the connector is not trusted to have done it.
    pub fn validate(&self) -> Result<(), InvalidOrder> {
        let fail = |field: &str, problem: String| InvalidOrder {
            order_id: truncate_for_message(&self.platform_order_id),
            field: field.to_owned(),
            problem,
        };
        check_text(&self.platform_order_id, 1, limits::ID_CHARS)
            .map_err(|p| fail("platform_order_id", p))?;
        let currency_ok = self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase());
        if !currency_ok {
            return Err(fail("currency", format!("is {:?}, expected a 3-letter ISO 4217 code such as CNY", self.currency)));
        }
        for (field, value) in [
            ("goods_minor", self.goods_minor),
            ("shipping_minor", self.shipping_minor),
            ("paid_minor", self.paid_minor),
        ] {
            check_money(value).map_err(|p| fail(field, p))?;
        }
        for (field, value, max) in [
            ("platform_status", &self.platform_status, limits::TEXT_CHARS),
            ("buyer_nick", &self.buyer_nick, limits::TEXT_CHARS),
            ("buyer_remark", &self.buyer_remark, limits::REMARK_CHARS),
            ("seller_remark", &self.seller_remark, limits::REMARK_CHARS),
            ("receiver.name", &self.receiver.name, limits::TEXT_CHARS),
            ("receiver.phone", &self.receiver.phone, limits::TEXT_CHARS),
            ("receiver.province", &self.receiver.province, limits::TEXT_CHARS),
            ("receiver.city", &self.receiver.city, limits::TEXT_CHARS),
            ("receiver.district", &self.receiver.district, limits::TEXT_CHARS),
            ("receiver.street", &self.receiver.street, limits::TEXT_CHARS),
            ("receiver.zip", &self.receiver.zip, limits::TEXT_CHARS),
        ] {
            check_text(value, 0, max).map_err(|p| fail(field, p))?;
        }
        for (field, value) in [("created_at_ms", Some(self.created_at_ms)), ("modified_at_ms", Some(self.modified_at_ms)), ("paid_at_ms", self.paid_at_ms)] {
            if let Some(ms) = value {
                if !(limits::EARLIEST_MS..limits::LATEST_MS).contains(&ms) {
                    return Err(fail(field, format!("is {ms}, which is not a time between 2000 and 2100 in UTC milliseconds")));
                }
            }
        }
        if self.raw.len() > limits::RAW_BYTES {
            return Err(fail("raw", format!("is {} bytes, more than the limit of {}", self.raw.len(), limits::RAW_BYTES)));
        }
        if self.lines.is_empty() {
            return Err(fail("lines", "is empty; an order needs at least one line".to_owned()));
        }
        if self.lines.len() > limits::LINES {
            return Err(fail("lines", format!("has {} lines, more than the limit of {}", self.lines.len(), limits::LINES)));
        }
        let mut seen = std::collections::HashSet::new();
        for (index, line) in self.lines.iter().enumerate() {
            let at = |name: &str| format!("lines[{index}].{name}");
            check_text(&line.platform_line_id, 1, limits::ID_CHARS)
                .map_err(|p| fail(&at("platform_line_id"), p))?;
            if !seen.insert(line.platform_line_id.as_str()) {
                return Err(fail(&at("platform_line_id"), format!("{:?} appears twice in the order", line.platform_line_id)));
            }
            for (name, value, max) in [
                ("platform_item_id", &line.platform_item_id, limits::ID_CHARS),
                ("platform_sku_id", &line.platform_sku_id, limits::ID_CHARS),
                ("sku_code", &line.sku_code, limits::ID_CHARS),
                ("title", &line.title, limits::TEXT_CHARS),
                ("platform_status", &line.platform_status, limits::TEXT_CHARS),
            ] {
                check_text(value, 0, max).map_err(|p| fail(&at(name), p))?;
            }
            if !(1..=limits::QUANTITY).contains(&line.quantity) {
                return Err(fail(&at("quantity"), format!("is {}, expected 1 to {}", line.quantity, limits::QUANTITY)));
            }
            check_money(line.unit_price_minor).map_err(|p| fail(&at("unit_price_minor"), p))?;
            check_money(line.total_minor).map_err(|p| fail(&at("total_minor"), p))?;
        }
        Ok(())
    }
}

fn check_text(value: &str, min_chars: usize, max_chars: usize) -> Result<(), String> {
    let chars = value.chars().count();
    if chars < min_chars {
        return Err("is empty".to_owned());
    }
    if chars > max_chars {
        return Err(format!("is {chars} characters long, more than the limit of {max_chars}"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("contains control characters".to_owned());
    }
    Ok(())
}

fn check_money(value: i64) -> Result<(), String> {
    if !(0..limits::MONEY_MINOR).contains(&value) {
        return Err(format!("is {value}, expected 0 to {} minor units", limits::MONEY_MINOR - 1));
    }
    Ok(())
}

/// Shortens a value for an error message, so that a 10 MB field does not end up in a log line.
pub fn truncate_for_message(value: &str) -> String {
    truncate_chars(value, 80)
}

/// Keeps the first `max` characters of `value`, noting the full size when it cuts.
pub fn truncate_chars(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        return value.to_owned();
    }
    let head: String = value.chars().take(max).collect();
    format!("{head}… ({} bytes)", value.len())
}

/// Formats minor units with two decimals, for messages and the UI: `12345` → `123.45`.
pub fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn sample_order() -> IncomingOrder {
        IncomingOrder {
            platform_order_id: "1001".into(),
            status: PlatformStatus::Paid,
            platform_status: "WAIT_SELLER_SEND_GOODS".into(),
            currency: "CNY".into(),
            goods_minor: 12_800,
            shipping_minor: 0,
            paid_minor: 12_800,
            buyer_nick: "tb_buyer".into(),
            buyer_remark: String::new(),
            seller_remark: String::new(),
            receiver: Address::default(),
            created_at_ms: 1_764_800_000_000,
            modified_at_ms: 1_764_800_000_000,
            paid_at_ms: Some(1_764_800_000_000),
            lines: vec![IncomingLine {
                platform_line_id: "1".into(),
                platform_item_id: "10".into(),
                platform_sku_id: "100".into(),
                sku_code: "TEA-250G".into(),
                title: "龙井 250g".into(),
                quantity: 1,
                unit_price_minor: 12_800,
                total_minor: 12_800,
                platform_status: "WAIT_SELLER_SEND_GOODS".into(),
            }],
            raw: "{}".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample_order;
    use super::*;

    #[test]
    fn valid_order_passes() {
        assert_eq!(sample_order().validate(), Ok(()));
    }

    #[test]
    fn bad_fields_are_named() {
        let cases: Vec<(&str, Box<dyn Fn(&mut IncomingOrder)>)> = vec![
            ("lines[0].quantity", Box::new(|o| o.lines[0].quantity = -1)),
            ("paid_minor", Box::new(|o| o.paid_minor = -5)),
            ("currency", Box::new(|o| o.currency = "yuan".into())),
            ("buyer_remark", Box::new(|o| o.buyer_remark = "x".repeat(10_000_000))),
            ("platform_order_id", Box::new(|o| o.platform_order_id.clear())),
            ("lines", Box::new(|o| o.lines.clear())),
            ("created_at_ms", Box::new(|o| o.created_at_ms = 0)),
            ("lines[1].platform_line_id", Box::new(|o| {
                let copy = o.lines[0].clone();
                o.lines.push(copy);
            })),
        ];
        for (field, mutate) in cases {
            let mut order = sample_order();
            mutate(&mut order);
            let error = order.validate().expect_err(field);
            assert_eq!(error.field, field);
        }
    }

    #[test]
    fn status_names_round_trip() {
        for status in PlatformStatus::ALL {
            assert_eq!(status.as_str().parse::<PlatformStatus>().unwrap(), status);
        }
        let error = "shipped!".parse::<PlatformStatus>().unwrap_err().to_string();
        assert!(error.contains("shipped!"), "{error}");
        assert!(error.contains("refund_requested"), "{error}");
    }

    #[test]
    fn minor_units_format() {
        assert_eq!(format_minor(12_345), "123.45");
        assert_eq!(format_minor(5), "0.05");
        assert_eq!(format_minor(-250), "-2.50");
    }
}

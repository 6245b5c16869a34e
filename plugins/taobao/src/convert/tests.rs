use serde_json::{Value, json};
use shopkeeper_connector::{ErrorKind, OrderStatus};

use super::*;

/// Returns a paid trade with two lines in the default (nested) JSON shape of TOP.
fn paid_trade() -> Value {
    json!({
        "tid": 2_231_958_349_546_523_u64,
        "tid_str": "2231958349546523",
        "status": "WAIT_SELLER_SEND_GOODS",
        "type": "fixed",
        "created": "2024-03-01 09:15:30",
        "modified": "2024-03-01 09:20:05",
        "pay_time": "2024-03-01 09:16:00",
        "payment": "226.10",
        "total_fee": "218.00",
        "post_fee": "8.10",
        "buyer_nick": "t**1",
        "buyer_message": "请尽快发货",
        "seller_memo": "VIP",
        "receiver_name": "张*",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "余杭区",
        "receiver_town": "五常街道",
        "receiver_address": "文一西路***号",
        "receiver_zip": "311121",
        "receiver_mobile": "138****0000",
        "receiver_phone": "0571-****0000",
        "orders": {
            "order": [
                {
                    "oid": 2_231_958_349_546_524_u64,
                    "oid_str": "2231958349546524",
                    "num_iid": 612_345_678_901_u64,
                    "sku_id": "4455667788",
                    "outer_sku_id": "DRESS-RED-M",
                    "title": "连衣裙 红色 M",
                    "num": 2,
                    "price": "99.00",
                    "payment": "188.00",
                    "status": "WAIT_SELLER_SEND_GOODS",
                    "refund_status": "NO_REFUND"
                },
                {
                    "oid": 2_231_958_349_546_525_u64,
                    "num_iid": "612345678902",
                    "sku_id": "",
                    "title": "腰带",
                    "num": "1",
                    "price": "30",
                    "payment": "30.00",
                    "status": "WAIT_SELLER_SEND_GOODS"
                }
            ]
        }
    })
}

fn with_field(mut trade: Value, name: &str, value: Value) -> Value {
    trade[name] = value;
    trade
}

fn without_field(mut trade: Value, name: &str) -> Value {
    trade.as_object_mut().unwrap().remove(name);
    trade
}

fn set_line_refund(mut trade: Value, refund_status: &str) -> Value {
    trade["orders"]["order"][0]["refund_status"] = json!(refund_status);
    trade
}

#[test]
fn paid_trade_header() {
    let order = convert_trade(&paid_trade()).unwrap();
    assert_eq!(order.platform_order_id, "2231958349546523");
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.platform_status, "WAIT_SELLER_SEND_GOODS");
    assert_eq!(order.currency, "CNY");
    assert_eq!(order.goods_minor, 21_800);
    assert_eq!(order.shipping_minor, 810);
    assert_eq!(order.paid_minor, 22_610);
    assert_eq!(order.buyer_nick, "t**1");
    assert_eq!(order.buyer_remark, "请尽快发货");
    assert_eq!(order.seller_remark, "VIP");
}

#[test]
fn paid_trade_times() {
    let order = convert_trade(&paid_trade()).unwrap();
    // 2024-03-01 09:15:30 in UTC+8 is 01:15:30 UTC.
    assert_eq!(order.created_at_ms, 1_709_255_730_000);
    assert_eq!(order.modified_at_ms, 1_709_256_005_000);
    assert_eq!(order.paid_at_ms, Some(1_709_255_760_000));
}

#[test]
fn paid_trade_receiver() {
    let receiver = convert_trade(&paid_trade()).unwrap().receiver;
    assert_eq!(receiver.name, "张*");
    assert_eq!(receiver.phone, "138****0000");
    assert_eq!(receiver.province, "浙江省");
    assert_eq!(receiver.city, "杭州市");
    assert_eq!(receiver.district, "余杭区");
    assert_eq!(receiver.street, "文一西路***号");
    assert_eq!(receiver.zip, "311121");
}

#[test]
fn phone_falls_back_to_landline() {
    let trade = without_field(paid_trade(), "receiver_mobile");
    let receiver = convert_trade(&trade).unwrap().receiver;
    assert_eq!(receiver.phone, "0571-****0000");
}

#[test]
fn paid_trade_lines() {
    let order = convert_trade(&paid_trade()).unwrap();
    assert_eq!(order.lines.len(), 2);

    let dress = &order.lines[0];
    assert_eq!(dress.platform_line_id, "2231958349546524");
    assert_eq!(dress.platform_item_id, "612345678901");
    assert_eq!(dress.platform_sku_id, "4455667788");
    assert_eq!(dress.sku_code, "DRESS-RED-M");
    assert_eq!(dress.title, "连衣裙 红色 M");
    assert_eq!(dress.quantity, 2);
    assert_eq!(dress.unit_price_minor, 9_900);
    assert_eq!(dress.total_minor, 18_800);
    assert_eq!(dress.platform_status, "WAIT_SELLER_SEND_GOODS");

    let belt = &order.lines[1];
    assert_eq!(belt.platform_line_id, "2231958349546525");
    assert_eq!(belt.platform_item_id, "612345678902");
    assert_eq!(belt.platform_sku_id, "");
    assert_eq!(belt.sku_code, "");
    assert_eq!(belt.quantity, 1);
    assert_eq!(belt.unit_price_minor, 3_000);
    assert_eq!(belt.total_minor, 3_000);
}

#[test]
fn raw_is_trade_json() {
    let trade = paid_trade();
    let order = convert_trade(&trade).unwrap();
    let raw: Value = serde_json::from_str(&order.raw).unwrap();
    assert_eq!(raw, trade);
}

#[test]
fn tid_used_without_tid_str() {
    let trade = without_field(paid_trade(), "tid_str");
    let order = convert_trade(&trade).unwrap();
    assert_eq!(order.platform_order_id, "2231958349546523");
}

#[test]
fn lines_as_plain_array() {
    let mut trade = paid_trade();
    let lines = trade["orders"]["order"].clone();
    trade["orders"] = lines;
    let order = convert_trade(&trade).unwrap();
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.lines[0].sku_code, "DRESS-RED-M");
}

#[test]
fn trade_without_orders_has_no_lines() {
    let order = convert_trade(&without_field(paid_trade(), "orders")).unwrap();
    assert!(order.lines.is_empty());
}

#[test]
fn unpaid_trade_has_no_pay_time() {
    let trade = with_field(paid_trade(), "status", json!("WAIT_BUYER_PAY"));
    let trade = with_field(trade, "pay_time", json!(""));
    let order = convert_trade(&trade).unwrap();
    assert_eq!(order.status, OrderStatus::Unpaid);
    assert_eq!(order.paid_at_ms, None);

    let order = convert_trade(&without_field(paid_trade(), "pay_time")).unwrap();
    assert_eq!(order.paid_at_ms, None);
}

#[test]
fn missing_fees_default_to_zero() {
    let trade = without_field(without_field(paid_trade(), "total_fee"), "post_fee");
    let order = convert_trade(&trade).unwrap();
    assert_eq!(order.goods_minor, 0);
    assert_eq!(order.shipping_minor, 0);
}

#[test]
fn every_status_maps() {
    let cases = [
        ("WAIT_BUYER_PAY", OrderStatus::Unpaid),
        ("TRADE_NO_CREATE_PAY", OrderStatus::Unpaid),
        ("PAY_PENDING", OrderStatus::Unpaid),
        ("WAIT_PRE_AUTH_CONFIRM", OrderStatus::Unpaid),
        ("WAIT_SELLER_SEND_GOODS", OrderStatus::Paid),
        ("PAID_FORBID_CONSIGN", OrderStatus::Paid),
        ("SELLER_CONSIGNED_PART", OrderStatus::Shipped),
        ("WAIT_BUYER_CONFIRM_GOODS", OrderStatus::Shipped),
        ("TRADE_BUYER_SIGNED", OrderStatus::Completed),
        ("TRADE_FINISHED", OrderStatus::Completed),
        ("TRADE_CLOSED", OrderStatus::Refunded),
        ("TRADE_CLOSED_BY_TAOBAO", OrderStatus::Closed),
    ];
    for (status, expected) in cases {
        assert_eq!(
            map_status(status, &["NO_REFUND"]),
            Some(expected),
            "{status}"
        );
    }
}

#[test]
fn open_refund_marks_refund_requested() {
    for refund in [
        "WAIT_SELLER_AGREE",
        "WAIT_BUYER_RETURN_GOODS",
        "WAIT_SELLER_CONFIRM_GOODS",
    ] {
        for status in [
            "WAIT_SELLER_SEND_GOODS",
            "PAID_FORBID_CONSIGN",
            "WAIT_BUYER_CONFIRM_GOODS",
        ] {
            let trade = with_field(
                set_line_refund(paid_trade(), refund),
                "status",
                json!(status),
            );
            let order = convert_trade(&trade).unwrap();
            assert_eq!(
                order.status,
                OrderStatus::RefundRequested,
                "{status} with {refund}"
            );
        }
    }
}

#[test]
fn open_refund_keeps_other_statuses() {
    let cases = [
        ("WAIT_BUYER_PAY", OrderStatus::Unpaid),
        ("TRADE_FINISHED", OrderStatus::Completed),
        ("TRADE_CLOSED", OrderStatus::Refunded),
        ("TRADE_CLOSED_BY_TAOBAO", OrderStatus::Closed),
    ];
    for (status, expected) in cases {
        assert_eq!(
            map_status(status, &["WAIT_SELLER_AGREE"]),
            Some(expected),
            "{status}"
        );
    }
}

#[test]
fn settled_refund_keeps_paid() {
    for refund in ["SELLER_REFUSE_BUYER", "CLOSED", "SUCCESS", "NO_REFUND"] {
        let order = convert_trade(&set_line_refund(paid_trade(), refund)).unwrap();
        assert_eq!(order.status, OrderStatus::Paid, "{refund}");
    }
}

#[test]
fn line_status_includes_refund() {
    let order = convert_trade(&set_line_refund(paid_trade(), "WAIT_SELLER_AGREE")).unwrap();
    assert_eq!(
        order.lines[0].platform_status,
        "WAIT_SELLER_SEND_GOODS/WAIT_SELLER_AGREE"
    );
    assert_eq!(order.lines[1].platform_status, "WAIT_SELLER_SEND_GOODS");
}

#[test]
fn unknown_status_rejected() {
    let trade = with_field(paid_trade(), "status", json!("TRADE_ON_THE_MOON"));
    let error = convert_trade(&trade).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidResponse);
    assert!(
        error.message.contains("2231958349546523"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("TRADE_ON_THE_MOON"),
        "{}",
        error.message
    );
}

#[test]
fn missing_required_fields_rejected() {
    for field in ["status", "modified", "created", "payment"] {
        let error = convert_trade(&without_field(paid_trade(), field)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{field}");
        assert!(
            error.message.contains("2231958349546523"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains(&format!("`{field}`")),
            "{}",
            error.message
        );

        let error = convert_trade(&with_field(paid_trade(), field, json!(""))).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "empty {field}");
    }
}

#[test]
fn missing_tid_rejected() {
    let trade = without_field(without_field(paid_trade(), "tid"), "tid_str");
    let error = convert_trade(&trade).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidResponse);
    assert!(error.message.contains("`tid`"), "{}", error.message);
}

#[test]
fn missing_line_fields_rejected() {
    for field in ["num", "price", "payment"] {
        let mut trade = paid_trade();
        trade["orders"]["order"][0]
            .as_object_mut()
            .unwrap()
            .remove(field);
        let error = convert_trade(&trade).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{field}");
        assert!(
            error.message.contains("2231958349546524"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains(&format!("`{field}`")),
            "{}",
            error.message
        );
    }

    let mut trade = paid_trade();
    let line = trade["orders"]["order"][1].as_object_mut().unwrap();
    line.remove("oid");
    let error = convert_trade(&trade).unwrap_err();
    assert!(error.message.contains("`oid`"), "{}", error.message);
}

#[test]
fn malformed_money_rejected() {
    for value in [
        json!("12.345"),
        json!("abc"),
        json!("1,000.00"),
        json!(12.5),
        json!(true),
    ] {
        let trade = with_field(paid_trade(), "payment", value.clone());
        let error = convert_trade(&trade).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{value}");
        assert!(error.message.contains("`payment`"), "{}", error.message);
    }
}

#[test]
fn malformed_time_rejected() {
    for value in ["2024-03-01T09:20:05", "2024-02-30 09:20:05", "yesterday"] {
        let trade = with_field(paid_trade(), "modified", json!(value));
        let error = convert_trade(&trade).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{value}");
        assert!(error.message.contains("`modified`"), "{}", error.message);
    }
}

#[test]
fn malformed_quantity_rejected() {
    for value in [json!(-1), json!("2.5"), json!("two"), json!(1.0)] {
        let mut trade = paid_trade();
        trade["orders"]["order"][0]["num"] = value.clone();
        let error = convert_trade(&trade).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse, "{value}");
    }
}

#[test]
fn trade_not_object_rejected() {
    let error = convert_trade(&json!([1, 2])).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidResponse);
}

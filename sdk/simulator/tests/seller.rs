//! Tests of scripted trades, trade status changes, shipping, memos, periodic faults and the
//! stock admin routes.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shopkeeper_simulator::trade::{refund_status, status};
use shopkeeper_simulator::{
    Fault, ScriptedLine, ScriptedTrade, Simulator, SimulatorConfig, TopError, TradeSnapshot,
    format_top_time, parse_top_time,
};

use common::{ErrorCase, assert_error, call, content, get_json, post_json, send, send_raw};

const INCREMENT_GET: &str = "taobao.trades.sold.increment.get";
const FULLINFO_GET: &str = "taobao.trade.fullinfo.get";
const OFFLINE_SEND: &str = "taobao.logistics.offline.send";
const MEMO_UPDATE: &str = "taobao.trade.memo.update";
const ONSALE_GET: &str = "taobao.items.onsale.get";
const QUANTITY_UPDATE: &str = "taobao.item.quantity.update";

const TRADE_FIELDS: &str = "tid,status,created,modified,pay_time,consign_time,end_time,payment,\
                            total_fee,post_fee,buyer_nick,seller_memo,seller_flag,orders";

/// Creates a shop with no generated orders, only scripted ones.
fn empty_shop() -> Simulator {
    Simulator::new(SimulatorConfig {
        seed: 33,
        history_orders: 0,
        rate_per_minute: 0.0,
        ..SimulatorConfig::default()
    })
}

/// Adds a paid trade of one `TEA-LJ-250G` created `age` ago.
fn paid_trade_created_ago(simulator: &Simulator, age: chrono::Duration) -> u64 {
    simulator.add_trade(ScriptedTrade {
        created: Some(Utc::now() - age),
        ..ScriptedTrade::new([("TEA-LJ-250G", 1)])
    })
}

/// Pulls the trades modified from `from` to one minute from now, newest first.
async fn pull_since(router: &axum::Router, from: DateTime<Utc>) -> Vec<Value> {
    let start = format_top_time(from);
    let end = format_top_time(Utc::now() + chrono::Duration::minutes(1));
    let body = call(
        router,
        INCREMENT_GET,
        &[
            ("fields", TRADE_FIELDS),
            ("start_modified", &start),
            ("end_modified", &end),
        ],
    )
    .await;
    let response = content(&body, "trades_sold_increment_get_response");
    response["trades"]["trade"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn fullinfo(router: &axum::Router, tid: u64) -> Value {
    let tid = tid.to_string();
    let body = call(
        router,
        FULLINFO_GET,
        &[("tid", &tid), ("fields", TRADE_FIELDS)],
    )
    .await;
    content(&body, "trade_fullinfo_get_response")["trade"].clone()
}

fn top_time(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a time"));
    parse_top_time(text).unwrap_or_else(|| panic!("{text} is not a TOP time"))
}

#[tokio::test]
async fn empty_shop_has_only_scripted() {
    let simulator = empty_shop();
    let router = simulator.router();
    let since = Utc::now() - chrono::Duration::hours(1);
    assert!(simulator.trades_now().is_empty());
    assert!(pull_since(&router, since).await.is_empty());

    let tid = simulator.add_trade(ScriptedTrade::new([("TEA-LJ-250G", 1)]));
    let trades = simulator.trades_now();
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].tid, tid);
    let pulled = pull_since(&router, since).await;
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0]["tid"], tid);
}

#[tokio::test]
async fn scripted_trade_in_increment() {
    let simulator = empty_shop();
    let router = simulator.router();
    let before = Utc::now() - chrono::Duration::seconds(1);
    let tid = simulator.add_trade(ScriptedTrade {
        buyer_nick: Some("测试买家".to_owned()),
        ..ScriptedTrade::new([("TEA-LJ-250G", 2), ("BED-CS-6J", 1)])
    });
    assert_eq!(simulator.quantity_of("TEA-LJ-250G"), Some(98));
    assert_eq!(simulator.quantity_of("BED-CS-6J"), Some(99));

    let pulled = pull_since(&router, before).await;
    assert_eq!(pulled.len(), 1, "{pulled:?}");
    let trade = &pulled[0];
    assert_eq!(trade["tid"], tid);
    assert_eq!(trade["status"], status::WAIT_SELLER_SEND_GOODS);
    // 2 × 128.00 + 1 × 2380.00, no postage and no discount.
    assert_eq!(trade["total_fee"], "2636.00");
    assert_eq!(trade["payment"], "2636.00");
    assert_eq!(trade["post_fee"], "0.00");
    assert_eq!(trade["buyer_nick"], "测试买家");
    let created = top_time(&trade["created"]);
    assert!(created >= before, "{created}");
    assert!(created <= Utc::now(), "{created}");
    assert_eq!(top_time(&trade["pay_time"]), created);
    assert_eq!(top_time(&trade["modified"]), created);

    let lines = trade["orders"]["order"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["oid"], tid + 1);
    assert_eq!(lines[0]["outer_sku_id"], "TEA-LJ-250G");
    assert_eq!(lines[0]["sku_id"], "5001000011");
    assert_eq!(lines[0]["num"], 2);
    assert_eq!(lines[0]["price"], "128.00");
    assert_eq!(lines[0]["total_fee"], "256.00");
    assert_eq!(lines[0]["payment"], "256.00");
    assert_eq!(lines[1]["oid"], tid + 2);
    assert_eq!(lines[1]["outer_iid"], "BED-CS");
    assert_eq!(lines[1]["payment"], "2380.00");
    assert_eq!(lines[1]["refund_status"], refund_status::NO_REFUND);

    let snapshot = simulator.trade_at(tid, Utc::now()).unwrap();
    assert_eq!(snapshot.payment_fen, 263_600);
    assert!(!snapshot.receiver_name.is_empty());
}

#[tokio::test]
async fn scripted_trade_options_and_errors() {
    let simulator = empty_shop();
    let created = Utc::now() - chrono::Duration::minutes(30);
    let unpaid = simulator.add_trade(ScriptedTrade {
        paid: false,
        created: Some(created),
        ..ScriptedTrade::new([("TEA-PE-2018", 1)])
    });
    let trade = simulator.trade_at(unpaid, Utc::now()).unwrap();
    assert_eq!(trade.status, status::WAIT_BUYER_PAY);
    assert_eq!(trade.pay_time, None);
    assert_eq!(trade.created.timestamp(), created.timestamp());
    assert_eq!(trade.lines[0].oid, unpaid, "a single line reuses the tid");
    assert!(
        !trade.buyer_nick.is_empty(),
        "a nick is drawn when none is given"
    );
    assert_eq!(
        simulator.quantity_of("TEA-PE-2018"),
        Some(99),
        "unpaid trades take stock too"
    );

    let second = simulator.add_trade(ScriptedTrade::new([("TEA-PE-2018", 1)]));
    assert!(second > unpaid, "scripted tids grow");

    let line = |outer_sku_id: &str, quantity: u32| ScriptedLine {
        outer_sku_id: outer_sku_id.to_owned(),
        quantity,
    };
    let cases = [
        (ScriptedTrade::default(), "no lines"),
        (
            ScriptedTrade {
                lines: vec![line("NOPE-1", 1)],
                ..ScriptedTrade::default()
            },
            "NOPE-1",
        ),
        (
            ScriptedTrade {
                lines: vec![line("TEA-PE-2018", 0)],
                ..ScriptedTrade::default()
            },
            "quantity 0",
        ),
        (
            ScriptedTrade {
                created: Some(Utc::now() + chrono::Duration::hours(1)),
                ..ScriptedTrade::new([("TEA-PE-2018", 1)])
            },
            "future",
        ),
    ];
    for (spec, hint) in cases {
        let error = simulator.try_add_trade(spec).unwrap_err();
        assert!(error.contains(hint), "{error:?} lacks {hint:?}");
    }
    assert_eq!(simulator.trades_now().len(), 2);
}

#[tokio::test]
async fn set_status_moves_modified() {
    let simulator = empty_shop();
    let router = simulator.router();
    let tid = paid_trade_created_ago(&simulator, chrono::Duration::seconds(30));
    let since = Utc::now() - chrono::Duration::seconds(10);
    assert!(
        pull_since(&router, since).await.is_empty(),
        "created before the window"
    );

    simulator
        .set_trade_status(tid, status::WAIT_BUYER_CONFIRM_GOODS)
        .unwrap();
    let pulled = pull_since(&router, since).await;
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0]["status"], status::WAIT_BUYER_CONFIRM_GOODS);
    let modified = top_time(&pulled[0]["modified"]);
    assert!(modified >= since, "{modified}");
    assert_eq!(top_time(&pulled[0]["consign_time"]), modified);

    simulator
        .set_trade_status(tid, status::TRADE_CLOSED)
        .unwrap();
    let trade = fullinfo(&router, tid).await;
    assert_eq!(trade["status"], status::TRADE_CLOSED);
    assert!(trade.get("end_time").is_some());
    assert_eq!(
        trade["orders"]["order"][0]["refund_status"],
        refund_status::SUCCESS
    );
    assert_eq!(trade["orders"]["order"][0]["status"], status::TRADE_CLOSED);

    let error = simulator.set_trade_status(tid, "SHIPPED").unwrap_err();
    assert!(error.contains("SHIPPED"), "{error}");
    let error = simulator
        .set_trade_status(1234, status::TRADE_FINISHED)
        .unwrap_err();
    assert!(error.contains("1234"), "{error}");
}

/// Creates a shop whose 1,000 history orders were created over the last two hours at the real
/// pace, so many of them still have planned steps ahead.
fn busy_shop() -> Simulator {
    Simulator::new(SimulatorConfig {
        seed: 4,
        history_orders: 1_000,
        history_span: Duration::from_secs(2 * 3600),
        rate_per_minute: 0.0,
        time_scale: 1.0,
        ..SimulatorConfig::default()
    })
}

/// Returns the final state of every trade once every planned step has happened.
fn final_states(simulator: &Simulator) -> Vec<TradeSnapshot> {
    simulator.trades_at(Utc::now() + chrono::Duration::hours(48))
}

fn find_waiting(
    simulator: &Simulator,
    finals: &[TradeSnapshot],
    final_status: &str,
    consigned: bool,
) -> u64 {
    let now = simulator.trades_now();
    now.iter()
        .zip(finals)
        .find(|(current, last)| {
            current.status == status::WAIT_SELLER_SEND_GOODS
                && current
                    .lines
                    .iter()
                    .all(|line| line.refund_status == refund_status::NO_REFUND)
                && last.status == final_status
                && last.consign_time.is_some() == consigned
        })
        .map(|(current, _)| current.tid)
        .unwrap_or_else(|| panic!("no waiting trade that ends {final_status}"))
}

#[test]
fn generated_trade_status_set() {
    let simulator = busy_shop();
    let finals = final_states(&simulator);
    let tid = find_waiting(&simulator, &finals, status::TRADE_FINISHED, true);
    simulator
        .set_trade_status(tid, status::TRADE_CLOSED)
        .unwrap();
    let now = simulator.trade_at(tid, Utc::now()).unwrap();
    assert_eq!(now.status, status::TRADE_CLOSED);
    let last = final_states(&simulator)
        .into_iter()
        .find(|trade| trade.tid == tid)
        .unwrap();
    assert_eq!(
        last.status,
        status::TRADE_CLOSED,
        "planned steps no longer happen"
    );
    assert_eq!(last.modified, now.modified);
    assert_eq!(last.consign_time, None);
}

#[tokio::test]
async fn offline_send_ships_waiting_trade() {
    let simulator = empty_shop();
    let router = simulator.router();
    let tid = paid_trade_created_ago(&simulator, chrono::Duration::seconds(30));
    let tid_text = tid.to_string();
    let since = Utc::now() - chrono::Duration::seconds(10);

    let body = call(
        &router,
        OFFLINE_SEND,
        &[
            ("tid", &tid_text),
            ("out_sid", "SF1234567890"),
            ("company_code", "SF"),
        ],
    )
    .await;
    let response = content(&body, "logistics_offline_send_response");
    assert_eq!(response["shipping"]["is_success"], true);

    let trade = fullinfo(&router, tid).await;
    assert_eq!(trade["status"], status::WAIT_BUYER_CONFIRM_GOODS);
    let modified = top_time(&trade["modified"]);
    assert!(modified >= since);
    assert_eq!(top_time(&trade["consign_time"]), modified);
    let line = &trade["orders"]["order"][0];
    assert_eq!(line["invoice_no"], "SF1234567890");
    assert_eq!(line["logistics_company"], "SF");
    assert_eq!(line["status"], status::WAIT_BUYER_CONFIRM_GOODS);

    let pulled = pull_since(&router, since).await;
    assert_eq!(
        pulled.len(),
        1,
        "the shipment moved modified into the window"
    );
    assert_eq!(pulled[0]["status"], status::WAIT_BUYER_CONFIRM_GOODS);

    let body = call(
        &router,
        OFFLINE_SEND,
        &[
            ("tid", &tid_text),
            ("out_sid", "SF999"),
            ("company_code", "SF"),
        ],
    )
    .await;
    assert_error(
        &body,
        15,
        "isv.logistics-offline-service-error:B04",
        status::WAIT_BUYER_CONFIRM_GOODS,
    );
    let line = &fullinfo(&router, tid).await["orders"]["order"][0];
    assert_eq!(
        line["invoice_no"], "SF1234567890",
        "a rejected call changes nothing"
    );
}

#[tokio::test]
async fn offline_send_rejects_others() {
    let simulator = empty_shop();
    let router = simulator.router();
    let unpaid = simulator
        .add_trade(ScriptedTrade {
            paid: false,
            ..ScriptedTrade::new([("TEA-LJ-250G", 1)])
        })
        .to_string();
    let closed = paid_trade_created_ago(&simulator, chrono::Duration::seconds(5));
    simulator
        .set_trade_status(closed, status::TRADE_CLOSED)
        .unwrap();
    let closed = closed.to_string();

    let cases: [ErrorCase; 6] = [
        (
            &[
                ("tid", &unpaid),
                ("out_sid", "YT1"),
                ("company_code", "YTO"),
            ],
            15,
            "isv.logistics-offline-service-error:B04",
            status::WAIT_BUYER_PAY,
        ),
        (
            &[
                ("tid", &closed),
                ("out_sid", "YT1"),
                ("company_code", "YTO"),
            ],
            15,
            "isv.logistics-offline-service-error:B04",
            status::TRADE_CLOSED,
        ),
        (
            &[("tid", "1234"), ("out_sid", "YT1"), ("company_code", "YTO")],
            15,
            "isv.trade-not-exist",
            "1234",
        ),
        (
            &[("tid", &unpaid), ("company_code", "YTO")],
            40,
            "isv.missing-parameter",
            "out_sid",
        ),
        (
            &[("tid", &unpaid), ("out_sid", "YT1")],
            40,
            "isv.missing-parameter",
            "company_code",
        ),
        (
            &[("tid", "abc"), ("out_sid", "YT1"), ("company_code", "YTO")],
            41,
            "isv.invalid-parameter",
            "tid",
        ),
    ];
    for (params, code, sub_code, hint) in cases {
        let body = call(&router, OFFLINE_SEND, params).await;
        assert_error(&body, code, sub_code, hint);
    }
}

#[tokio::test]
async fn manual_ship_replaces_planned_steps() {
    let simulator = busy_shop();
    let router = simulator.router();
    let finals = final_states(&simulator);
    // A planned refund before shipping, and a planned ship then finish.
    let refunded = find_waiting(&simulator, &finals, status::TRADE_CLOSED, false);
    let finished = find_waiting(&simulator, &finals, status::TRADE_FINISHED, true);
    let planned_finish = finals
        .iter()
        .find(|trade| trade.tid == finished)
        .unwrap()
        .end_time;

    for tid in [refunded, finished] {
        let tid = tid.to_string();
        let body = call(
            &router,
            OFFLINE_SEND,
            &[
                ("tid", &tid),
                ("out_sid", "ZT000001"),
                ("company_code", "ZTO"),
            ],
        )
        .await;
        content(&body, "logistics_offline_send_response");
    }
    let now = Utc::now();
    let after = final_states(&simulator);
    let by_tid = |tid: u64| after.iter().find(|trade| trade.tid == tid).unwrap();

    let trade = by_tid(refunded);
    assert_eq!(
        trade.status,
        status::WAIT_BUYER_CONFIRM_GOODS,
        "the planned refund is dropped"
    );
    assert!(
        trade
            .lines
            .iter()
            .all(|line| line.refund_status == refund_status::NO_REFUND)
    );
    assert!(trade.consign_time.unwrap() <= now);

    let trade = by_tid(finished);
    assert_eq!(
        trade.status,
        status::TRADE_FINISHED,
        "the planned finish still happens"
    );
    assert_eq!(trade.end_time, planned_finish);
    assert!(
        trade.consign_time.unwrap() <= now,
        "the manual ship replaces the planned one"
    );
    assert_eq!(trade.lines[0].invoice_no.as_deref(), Some("ZT000001"));
    assert_eq!(trade.lines[0].logistics_company.as_deref(), Some("ZTO"));
}

#[tokio::test]
async fn memo_update_sets_memo_and_flag() {
    let simulator = empty_shop();
    let router = simulator.router();
    let tid = paid_trade_created_ago(&simulator, chrono::Duration::seconds(30));
    let tid_text = tid.to_string();
    let since = Utc::now() - chrono::Duration::seconds(10);

    let body = call(
        &router,
        MEMO_UPDATE,
        &[("tid", &tid_text), ("memo", "加急，顺丰"), ("flag", "2")],
    )
    .await;
    let response = content(&body, "trade_memo_update_response");
    assert_eq!(response["trade"]["tid"], tid);
    let modified = top_time(&response["trade"]["modified"]);
    assert!(modified >= since);

    let trade = fullinfo(&router, tid).await;
    assert_eq!(trade["seller_memo"], "加急，顺丰");
    assert_eq!(trade["seller_flag"], 2);
    assert_eq!(top_time(&trade["modified"]), modified);
    assert_eq!(
        trade["status"],
        status::WAIT_SELLER_SEND_GOODS,
        "a memo keeps the status"
    );
    assert_eq!(pull_since(&router, since).await.len(), 1);

    let body = call(
        &router,
        MEMO_UPDATE,
        &[("tid", &tid_text), ("memo", "改发中通")],
    )
    .await;
    content(&body, "trade_memo_update_response");
    let trade = fullinfo(&router, tid).await;
    assert_eq!(trade["seller_memo"], "改发中通");
    assert_eq!(trade["seller_flag"], 2, "a missing flag keeps its value");

    let long_memo = "长".repeat(1_001);
    let cases: [ErrorCase; 5] = [
        (
            &[("tid", &tid_text), ("flag", "6")],
            41,
            "isv.invalid-parameter",
            "flag",
        ),
        (
            &[("tid", &tid_text), ("flag", "red")],
            41,
            "isv.invalid-parameter",
            "flag",
        ),
        (
            &[("tid", &tid_text)],
            40,
            "isv.missing-parameter",
            "memo or flag",
        ),
        (
            &[("tid", &tid_text), ("memo", &long_memo)],
            41,
            "isv.invalid-parameter",
            "memo",
        ),
        (
            &[("tid", "1234"), ("memo", "x")],
            15,
            "isv.trade-not-exist",
            "1234",
        ),
    ];
    for (params, code, sub_code, hint) in cases {
        let body = call(&router, MEMO_UPDATE, params).await;
        assert_error(&body, code, sub_code, hint);
    }
}

#[tokio::test]
async fn periodic_fault_every_third_call() {
    let simulator = empty_shop();
    let router = simulator.router();
    simulator.inject_periodic_fault(
        Fault {
            api_method: Some(ONSALE_GET.to_owned()),
            count: 3,
            error: TopError::call_limited(2),
        },
        3,
    );
    // Another method neither fires nor advances the count.
    let body = call(
        &router,
        QUANTITY_UPDATE,
        &[("num_iid", "600100000104"), ("quantity", "5")],
    )
    .await;
    content(&body, "item_quantity_update_response");

    let mut failed = Vec::new();
    for number in 1..=12 {
        let body = call(&router, ONSALE_GET, &[("fields", "num_iid")]).await;
        if let Some(error) = body.get("error_response") {
            assert_eq!(error["code"], 7);
            assert_eq!(error["msg"], "App Call Limited");
            assert_eq!(
                error["sub_code"],
                "accesscontrol.limited-by-api-access-count"
            );
            assert_eq!(error["sub_msg"], "This ban will last for 2 more seconds");
            failed.push(number);
        }
    }
    assert_eq!(failed, [3, 6, 9]);
    assert!(
        simulator.faults().is_empty(),
        "the fault ends after 3 firings"
    );
    let logged: Vec<Option<i64>> = simulator
        .requests()
        .iter()
        .filter(|record| record.api_method.as_deref() == Some(ONSALE_GET))
        .map(|record| record.error_code)
        .collect();
    assert_eq!(logged.iter().filter(|code| **code == Some(7)).count(), 3);

    simulator.inject_periodic_fault(
        Fault {
            api_method: None,
            count: 1,
            error: TopError::call_limited(1),
        },
        0,
    );
    assert!(simulator.faults().is_empty(), "every_nth 0 is ignored");
}

#[tokio::test]
async fn periodic_fault_from_json() {
    let simulator = empty_shop();
    let router = simulator.router();
    let fault = json!({
        "api_method": ONSALE_GET,
        "count": 2,
        "every_nth": 2,
        "error": { "code": 7, "msg": "App Call Limited", "sub_msg": "This ban will last for 1 more seconds" }
    });
    let (status_code, _) = post_json(&router, "/_sim/faults", &fault).await;
    assert_eq!(status_code, StatusCode::OK);
    let (_, listed) = get_json(&router, "/_sim/faults").await;
    assert_eq!(listed[0]["every_nth"], 2);
    assert_eq!(listed[0]["count"], 2);

    let mut failed = Vec::new();
    for number in 1..=6 {
        let body = call(&router, ONSALE_GET, &[("fields", "num_iid")]).await;
        if body.get("error_response").is_some() {
            failed.push(number);
        }
    }
    assert_eq!(failed, [2, 4]);
}

#[tokio::test]
async fn stock_admin_routes() {
    let simulator = empty_shop();
    let router = simulator.router();

    let (status_code, stock) = get_json(&router, "/_sim/stock").await;
    assert_eq!(status_code, StatusCode::OK);
    assert_eq!(stock["oversold_units"], 0);
    let skus = stock["skus"].as_array().unwrap();
    assert_eq!(skus.len(), simulator.sku_quantities().len());
    let tea = skus
        .iter()
        .find(|sku| sku["outer_sku_id"] == "TEA-LJ-250G")
        .unwrap();
    assert_eq!(tea["num_iid"], 600_100_000_001_u64);
    assert_eq!(tea["sku_id"], 5_001_000_011_u64);
    assert_eq!(tea["quantity"], 100);
    assert!(tea["title"].as_str().unwrap().contains("龙井"));
    assert!(tea["last_update"].is_null());

    let body = call(
        &router,
        QUANTITY_UPDATE,
        &[
            ("num_iid", "600100000001"),
            ("sku_id", "5001000011"),
            ("quantity", "40"),
        ],
    )
    .await;
    content(&body, "item_quantity_update_response");
    let (_, stock) = get_json(&router, "/_sim/stock").await;
    let tea = stock["skus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sku| sku["outer_sku_id"] == "TEA-LJ-250G")
        .unwrap()
        .clone();
    assert_eq!(tea["quantity"], 40);
    assert_eq!(tea["last_update"]["mode"], "full");
    assert_eq!(tea["last_update"]["value"], 40);
    assert_eq!(tea["last_update"]["resulting_quantity"], 40);
    assert!(tea["last_update"]["at"].is_string());

    let (status_code, _) = post_json(
        &router,
        "/_sim/stock",
        &json!({ "outer_sku_id": "TEA-LJ-500G", "quantity": 5 }),
    )
    .await;
    assert_eq!(status_code, StatusCode::OK);
    assert_eq!(simulator.quantity_of("TEA-LJ-500G"), Some(5));
    let (status_code, body) = post_json(
        &router,
        "/_sim/stock",
        &json!({ "outer_sku_id": "NOPE", "quantity": 5 }),
    )
    .await;
    assert_eq!(status_code, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("NOPE"));

    let (status_code, created) = post_json(
        &router,
        "/_sim/trades",
        &json!({ "lines": [{ "outer_sku_id": "TEA-LJ-500G", "quantity": 2 }], "paid": true }),
    )
    .await;
    assert_eq!(status_code, StatusCode::CREATED, "{created}");
    assert_eq!(created["trade"]["status"], status::WAIT_SELLER_SEND_GOODS);
    assert_eq!(
        created["tid_str"],
        created["tid"].as_u64().unwrap().to_string()
    );
    assert_eq!(simulator.quantity_of("TEA-LJ-500G"), Some(3));

    let (status_code, body) = post_json(
        &router,
        "/_sim/trades",
        &json!({ "lines": [{ "outer_sku_id": "NOPE", "quantity": 1 }] }),
    )
    .await;
    assert_eq!(status_code, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("NOPE"), "{body}");
    let request = Request::post("/_sim/trades")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (status_code, body) = send(&router, request).await;
    assert_eq!(status_code, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());

    let request = Request::post("/_sim/sell")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("outer_sku_id=TEA-LJ-500G"))
        .unwrap();
    let response = tower::ServiceExt::oneshot(router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/_sim/");
    assert_eq!(simulator.quantity_of("TEA-LJ-500G"), Some(2));
    assert_eq!(simulator.trades_now().len(), 2);

    // A buyer cannot buy more than the shop shows.
    let request = Request::post("/_sim/sell")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("outer_sku_id=TEA-LJ-500G&quantity=3"))
        .unwrap();
    let response = tower::ServiceExt::oneshot(router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(simulator.quantity_of("TEA-LJ-500G"), Some(2));
    assert_eq!(simulator.trades_now().len(), 2);
    assert_eq!(simulator.oversold_units(), 0);

    let (status_code, page) =
        send_raw(&router, Request::get("/_sim/").body(Body::empty()).unwrap()).await;
    assert_eq!(status_code, StatusCode::OK);
    assert!(page.contains("<table>"));
    assert!(page.contains("TEA-LJ-250G"));
    assert!(page.contains("set to 40"), "the seller's push is shown");
    assert!(page.contains("Sell one"));
    assert!(page.contains("action=\"/_sim/sell\""));
}

//! Stock tests: the item methods, quantity updates, and how generated and scripted orders take
//! platform stock.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use shopkeeper_simulator::catalog::{self, EVERYDAY_PRODUCTS, EXPENSIVE_PRODUCTS};
use shopkeeper_simulator::{
    QuantityMode, ScriptedTrade, Simulator, SimulatorConfig, SkuQuantity, TradeSnapshot,
    parse_top_time,
};

use common::{ErrorCase, assert_error, call, content};

const ONSALE_GET: &str = "taobao.items.onsale.get";
const SELLER_GET: &str = "taobao.item.seller.get";
const QUANTITY_UPDATE: &str = "taobao.item.quantity.update";

/// Two SKUs: `TEA-LJ-250G` (5001000011) and `TEA-LJ-500G` (5001000012).
const TEA_NUM_IID: &str = "600100000001";
/// One SKU: `BED-CS-6J` (5001001041).
const QUILT_NUM_IID: &str = "600100000104";

/// Creates a shop with no orders at all.
fn empty_shop(initial_stock: i64) -> Simulator {
    Simulator::new(SimulatorConfig {
        seed: 21,
        history_orders: 0,
        rate_per_minute: 0.0,
        initial_stock,
        ..SimulatorConfig::default()
    })
}

fn sku_count() -> usize {
    catalog::skus().count()
}

fn total_quantity(simulator: &Simulator) -> i64 {
    simulator
        .sku_quantities()
        .iter()
        .map(|sku| sku.quantity)
        .sum()
}

fn units_sold(trades: &[TradeSnapshot]) -> i64 {
    trades
        .iter()
        .flat_map(|trade| &trade.lines)
        .map(|line| i64::from(line.num))
        .sum()
}

/// Returns the trades and the SKU quantities at one moment: live orders keep arriving, so it
/// reads again until no order arrived between the two reads.
fn trades_and_stock(simulator: &Simulator) -> (Vec<TradeSnapshot>, Vec<SkuQuantity>) {
    for _ in 0..50 {
        let trades = simulator.trades_now();
        let quantities = simulator.sku_quantities();
        let again = simulator.trades_now();
        if again.len() == trades.len() {
            return (trades, quantities);
        }
    }
    panic!("orders kept arriving between two reads");
}

fn items(response: &Value) -> &Vec<Value> {
    response["items"]["item"]
        .as_array()
        .unwrap_or_else(|| panic!("no items.item in {response}"))
}

#[tokio::test]
async fn onsale_get_lists_catalog() {
    let simulator = empty_shop(7);
    let router = simulator.router();
    let product_count = EVERYDAY_PRODUCTS.len() + EXPENSIVE_PRODUCTS.len();

    let body = call(
        &router,
        ONSALE_GET,
        &[(
            "fields",
            "num_iid,title,outer_id,num,price,approve_status,modified",
        )],
    )
    .await;
    let response = content(&body, "items_onsale_get_response");
    assert_eq!(response["total_results"], product_count);
    let listed = items(response);
    assert_eq!(
        listed.len(),
        product_count,
        "the default page of 40 holds them all"
    );

    let tea = listed
        .iter()
        .find(|item| item["outer_id"] == "TEA-LJ")
        .expect("TEA-LJ is listed");
    assert_eq!(tea["num_iid"], 600_100_000_001_u64);
    assert_eq!(tea["num"], 14, "two SKUs of 7 units");
    assert_eq!(tea["price"], "128.00", "the lowest SKU price");
    assert_eq!(tea["approve_status"], "onsale");
    let modified = tea["modified"].as_str().unwrap();
    assert_eq!(
        parse_top_time(modified),
        Some(simulator.start_time()),
        "{modified}"
    );
    assert!(tea.get("skus").is_none(), "onsale.get has no SKU list");

    let mut previous = 0;
    for item in listed {
        let num_iid = item["num_iid"].as_u64().unwrap();
        assert!(num_iid > previous, "items are in num_iid order");
        previous = num_iid;
    }
}

#[tokio::test]
async fn onsale_get_pages_and_fields() {
    let simulator = empty_shop(5);
    let router = simulator.router();
    let product_count = EVERYDAY_PRODUCTS.len() + EXPENSIVE_PRODUCTS.len();

    let body = call(&router, ONSALE_GET, &[("fields", "num_iid,num")]).await;
    let first = &items(content(&body, "items_onsale_get_response"))[0];
    let mut keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["num", "num_iid"]);

    let pages = product_count.div_ceil(5);
    let mut seen = Vec::new();
    for page_no in 1..=pages {
        let page_no = page_no.to_string();
        let body = call(
            &router,
            ONSALE_GET,
            &[
                ("fields", "num_iid"),
                ("page_size", "5"),
                ("page_no", &page_no),
            ],
        )
        .await;
        let response = content(&body, "items_onsale_get_response");
        assert_eq!(response["total_results"], product_count);
        for item in items(response) {
            seen.push(item["num_iid"].as_u64().unwrap());
        }
    }
    assert_eq!(seen.len(), product_count);
    seen.dedup();
    assert_eq!(seen.len(), product_count, "no item on two pages");

    let after_last = (pages + 1).to_string();
    let body = call(
        &router,
        ONSALE_GET,
        &[
            ("fields", "num_iid"),
            ("page_size", "5"),
            ("page_no", &after_last),
        ],
    )
    .await;
    let response = content(&body, "items_onsale_get_response");
    assert!(
        response.get("items").is_none(),
        "an empty page has no items"
    );

    let body = call(
        &router,
        ONSALE_GET,
        &[("fields", "num_iid"), ("page_size", "200")],
    )
    .await;
    assert_eq!(
        items(content(&body, "items_onsale_get_response")).len(),
        product_count
    );
    let body = call(
        &router,
        ONSALE_GET,
        &[("fields", "num_iid"), ("page_size", "201")],
    )
    .await;
    assert_error(&body, 41, "isv.invalid-parameter", "page_size");
    let body = call(&router, ONSALE_GET, &[]).await;
    assert_error(&body, 40, "isv.missing-parameter", "fields");

    let body = call(
        &router,
        ONSALE_GET,
        &[("fields", "num_iid"), ("simplify", "true")],
    )
    .await;
    let response = content(&body, "items_onsale_get_response");
    assert!(
        response["items"].is_array(),
        "simplify gives a plain array: {response}"
    );
}

#[tokio::test]
async fn seller_get_returns_skus() {
    let simulator = empty_shop(9);
    simulator.set_initial_quantity("TEA-LJ-500G", 3).unwrap();
    let router = simulator.router();

    let body = call(
        &router,
        SELLER_GET,
        &[
            ("num_iid", TEA_NUM_IID),
            ("fields", "num_iid,title,outer_id,num,price,sku"),
        ],
    )
    .await;
    let item = &content(&body, "item_seller_get_response")["item"];
    assert_eq!(item["num_iid"], 600_100_000_001_u64);
    assert_eq!(item["outer_id"], "TEA-LJ");
    assert_eq!(item["num"], 12, "9 + 3 units");
    assert_eq!(item["price"], "128.00");
    assert!(item["title"].as_str().unwrap().contains("龙井"));
    let skus = item["skus"]["sku"].as_array().expect("skus.sku");
    assert_eq!(skus.len(), 2);
    assert_eq!(skus[0]["sku_id"], 5_001_000_011_u64);
    assert_eq!(skus[0]["outer_id"], "TEA-LJ-250G");
    assert_eq!(skus[0]["properties_name"], "规格:250g");
    assert_eq!(skus[0]["quantity"], 9);
    assert_eq!(skus[0]["price"], "128.00");
    assert_eq!(skus[1]["outer_id"], "TEA-LJ-500G");
    assert_eq!(skus[1]["quantity"], 3);
    assert_eq!(skus[1]["price"], "238.00");

    // Without `fields` every field comes back; `skus.NAME` picks SKU fields.
    let body = call(&router, SELLER_GET, &[("num_iid", QUILT_NUM_IID)]).await;
    let item = &content(&body, "item_seller_get_response")["item"];
    assert_eq!(item["approve_status"], "onsale");
    assert_eq!(item["skus"]["sku"].as_array().unwrap().len(), 1);
    let body = call(
        &router,
        SELLER_GET,
        &[
            ("num_iid", TEA_NUM_IID),
            ("fields", "num_iid,skus.quantity"),
        ],
    )
    .await;
    let item = &content(&body, "item_seller_get_response")["item"];
    let sku_keys: Vec<&String> = item["skus"]["sku"][0].as_object().unwrap().keys().collect();
    assert_eq!(sku_keys, ["quantity"]);
    assert!(item.get("title").is_none());

    let body = call(
        &router,
        SELLER_GET,
        &[("num_iid", "600100999999"), ("fields", "num_iid")],
    )
    .await;
    assert_error(
        &body,
        15,
        "isv.item-is-delete:invalid-numIid-or-iid",
        "600100999999",
    );
    let body = call(&router, SELLER_GET, &[("fields", "num_iid")]).await;
    assert_error(&body, 40, "isv.missing-parameter", "num_iid");
    let body = call(
        &router,
        SELLER_GET,
        &[("num_iid", "tea"), ("fields", "num_iid")],
    )
    .await;
    assert_error(&body, 41, "isv.invalid-parameter", "num_iid");
}

#[tokio::test]
async fn quantity_update_full_and_delta() {
    let simulator = empty_shop(100);
    let router = simulator.router();

    let body = call(
        &router,
        QUANTITY_UPDATE,
        &[
            ("num_iid", TEA_NUM_IID),
            ("sku_id", "5001000011"),
            ("quantity", "12"),
        ],
    )
    .await;
    let item = &content(&body, "item_quantity_update_response")["item"];
    assert_eq!(item["num_iid"], 600_100_000_001_u64);
    assert_eq!(item["num"], 112, "12 + 100 units");
    assert!(parse_top_time(item["modified"].as_str().unwrap()).is_some());
    let sku = &item["skus"]["sku"][0];
    assert_eq!(sku["sku_id"], 5_001_000_011_u64);
    assert_eq!(sku["outer_id"], "TEA-LJ-250G");
    assert_eq!(sku["quantity"], 12);
    assert_eq!(simulator.quantity_of("TEA-LJ-250G"), Some(12));

    let body = call(
        &router,
        QUANTITY_UPDATE,
        &[
            ("num_iid", TEA_NUM_IID),
            ("outer_id", "TEA-LJ-250G"),
            ("quantity", "-5"),
            ("type", "2"),
        ],
    )
    .await;
    let item = &content(&body, "item_quantity_update_response")["item"];
    assert_eq!(item["skus"]["sku"][0]["quantity"], 7);
    assert_eq!(simulator.quantity_of("TEA-LJ-250G"), Some(7));

    // A change that would go below 0 is rejected and changes nothing.
    let body = call(
        &router,
        QUANTITY_UPDATE,
        &[
            ("num_iid", TEA_NUM_IID),
            ("sku_id", "5001000011"),
            ("quantity", "-8"),
            ("type", "2"),
        ],
    )
    .await;
    assert_error(&body, 15, "isv.invalid-parameter", "quantity");
    assert_eq!(simulator.quantity_of("TEA-LJ-250G"), Some(7));
    let body = call(
        &router,
        QUANTITY_UPDATE,
        &[
            ("num_iid", TEA_NUM_IID),
            ("sku_id", "5001000011"),
            ("quantity", "-1"),
        ],
    )
    .await;
    assert_error(&body, 15, "isv.invalid-parameter", "below 0");

    // `sku_id` wins over `outer_id`.
    let body = call(
        &router,
        QUANTITY_UPDATE,
        &[
            ("num_iid", TEA_NUM_IID),
            ("sku_id", "5001000012"),
            ("outer_id", "TEA-LJ-250G"),
            ("quantity", "0"),
        ],
    )
    .await;
    content(&body, "item_quantity_update_response");
    assert_eq!(simulator.quantity_of("TEA-LJ-500G"), Some(0));
    assert_eq!(simulator.quantity_of("TEA-LJ-250G"), Some(7));

    // An item with one SKU needs no SKU parameter.
    let body = call(
        &router,
        QUANTITY_UPDATE,
        &[("num_iid", QUILT_NUM_IID), ("quantity", "4")],
    )
    .await;
    let item = &content(&body, "item_quantity_update_response")["item"];
    assert_eq!(item["num"], 4);
    assert_eq!(simulator.quantity_of("BED-CS-6J"), Some(4));

    let updates = simulator.quantity_updates();
    let summary: Vec<(&str, QuantityMode, i64, i64)> = updates
        .iter()
        .map(|update| {
            (
                update.outer_sku_id.as_str(),
                update.mode,
                update.value,
                update.resulting_quantity,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("TEA-LJ-250G", QuantityMode::Full, 12, 12),
            ("TEA-LJ-250G", QuantityMode::Delta, -5, 7),
            ("TEA-LJ-500G", QuantityMode::Full, 0, 0),
            ("BED-CS-6J", QuantityMode::Full, 4, 4),
        ]
    );
    assert_eq!(updates[0].num_iid, 600_100_000_001);
    assert_eq!(updates[0].sku_id, 5_001_000_011);
    assert!(updates[0].at <= Utc::now());
}

#[tokio::test]
async fn quantity_update_bad_params() {
    let simulator = empty_shop(100);
    let router = simulator.router();
    let cases: [ErrorCase; 8] = [
        (&[("quantity", "1")], 40, "isv.missing-parameter", "num_iid"),
        (
            &[("num_iid", TEA_NUM_IID), ("sku_id", "5001000011")],
            40,
            "isv.missing-parameter",
            "quantity",
        ),
        (
            &[
                ("num_iid", TEA_NUM_IID),
                ("sku_id", "5001000011"),
                ("quantity", "many"),
            ],
            41,
            "isv.invalid-parameter",
            "quantity",
        ),
        (
            &[
                ("num_iid", TEA_NUM_IID),
                ("sku_id", "5001000011"),
                ("quantity", "1"),
                ("type", "3"),
            ],
            41,
            "isv.invalid-parameter",
            "type",
        ),
        (
            &[("num_iid", "600100999999"), ("quantity", "1")],
            15,
            "isv.item-is-delete:invalid-numIid-or-iid",
            "600100999999",
        ),
        (
            &[("num_iid", TEA_NUM_IID), ("quantity", "1")],
            15,
            "isv.item-quantity-item-update-service-error",
            "2 SKUs",
        ),
        (
            &[
                ("num_iid", TEA_NUM_IID),
                ("sku_id", "5001001041"),
                ("quantity", "1"),
            ],
            15,
            "isv.item-quantity-item-update-service-error",
            "sku_id 5001001041",
        ),
        (
            &[
                ("num_iid", TEA_NUM_IID),
                ("outer_id", "TEA-PE-2018"),
                ("quantity", "1"),
            ],
            15,
            "isv.item-quantity-item-update-service-error",
            "TEA-PE-2018",
        ),
    ];
    for (params, code, sub_code, hint) in cases {
        let body = call(&router, QUANTITY_UPDATE, params).await;
        assert_error(&body, code, sub_code, hint);
    }
    assert!(simulator.quantity_updates().is_empty());
    assert_eq!(total_quantity(&simulator), 100 * sku_count() as i64);
}

#[test]
fn live_orders_take_stock() {
    // 600 orders a minute since two minutes ago: about 1,200 live orders.
    let config = SimulatorConfig {
        seed: 5,
        history_orders: 0,
        rate_per_minute: 600.0,
        initial_stock: 100,
        ..SimulatorConfig::default()
    };
    let simulator = Simulator::new_at(config, Utc::now() - chrono::Duration::minutes(2));
    let (trades, quantities) = trades_and_stock(&simulator);
    assert!(trades.len() > 1_000, "only {} trades", trades.len());
    let initial = 100 * sku_count() as i64;
    let remaining: i64 = quantities.iter().map(|sku| sku.quantity).sum();
    assert!(remaining < initial);
    assert_eq!(initial - remaining, units_sold(&trades));
    assert_eq!(simulator.oversold_units(), 0);

    let mut sold: HashMap<String, i64> = HashMap::new();
    for line in trades.iter().flat_map(|trade| &trade.lines) {
        *sold.entry(line.outer_sku_id.clone()).or_default() += i64::from(line.num);
    }
    for sku in quantities {
        let sold = sold.get(&sku.outer_sku_id).copied().unwrap_or(0);
        assert_eq!(sku.quantity, 100 - sold, "{}", sku.outer_sku_id);
    }
}

#[test]
fn small_stock_never_negative() {
    let config = SimulatorConfig {
        seed: 8,
        history_orders: 30,
        rate_per_minute: 600.0,
        initial_stock: 2,
        ..SimulatorConfig::default()
    };
    let start = Utc::now() - chrono::Duration::minutes(10);
    let simulator = Simulator::new_at(config.clone(), start);
    let (trades, quantities) = trades_and_stock(&simulator);
    let live: Vec<TradeSnapshot> = trades
        .iter()
        .filter(|trade| trade.created >= simulator.start_time())
        .cloned()
        .collect();
    // 6,000 slots but only 2 units of each SKU, so most slots have no order.
    assert!(!live.is_empty());
    assert!(
        live.len() < 200,
        "{} live orders from 2 units per SKU",
        live.len()
    );
    for sku in &quantities {
        assert!(
            sku.quantity >= 0,
            "{} is at {}",
            sku.outer_sku_id,
            sku.quantity
        );
    }
    let remaining: i64 = quantities.iter().map(|sku| sku.quantity).sum();
    assert_eq!(
        2 * sku_count() as i64 - remaining,
        units_sold(&live),
        "history orders take no stock"
    );
    assert_eq!(simulator.oversold_units(), 0);
    for trade in &live {
        assert!(!trade.lines.is_empty(), "tid {}", trade.tid);
        let goods: i64 = trade.lines.iter().map(|line| line.total_fee_fen).sum();
        assert_eq!(trade.total_fee_fen, goods, "tid {}", trade.tid);
        for line in &trade.lines {
            let (_, sku) = catalog::sku_by_outer_id(&line.outer_sku_id).unwrap();
            assert_eq!(line.price_fen, sku.price_fen, "tid {}", trade.tid);
            assert_eq!(line.sku_id, sku.sku_id.to_string());
            assert!(line.payment_fen > 0, "tid {}", trade.tid);
            assert!(line.payment_fen <= line.total_fee_fen, "tid {}", trade.tid);
        }
        if trade.lines.len() == 1 {
            assert_eq!(trade.lines[0].oid, trade.tid);
        }
    }

    // The same config, start and calls give the same orders and stock.
    let again = Simulator::new_at(config, start);
    let at = Utc::now() - chrono::Duration::seconds(5);
    assert_eq!(simulator.trades_at(at), again.trades_at(at));
}

#[test]
fn stock_push_then_orders_sell_it() {
    let config = SimulatorConfig {
        seed: 8,
        history_orders: 0,
        rate_per_minute: 600.0,
        initial_stock: 0,
        ..SimulatorConfig::default()
    };
    let simulator = Simulator::new_at(config, Utc::now() - chrono::Duration::minutes(1));
    assert!(simulator.trades_now().is_empty(), "no stock, no orders");
    assert_eq!(total_quantity(&simulator), 0);

    // One unit of every SKU except the 500 g tea.
    for (_, sku) in catalog::skus() {
        if sku.outer_sku_id != "TEA-LJ-500G" {
            simulator.set_initial_quantity(sku.outer_sku_id, 1).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(1_500));
    let (trades, quantities) = trades_and_stock(&simulator);
    assert!(!trades.is_empty(), "orders resume once there is stock");
    let remaining: i64 = quantities.iter().map(|sku| sku.quantity).sum();
    assert_eq!(units_sold(&trades), sku_count() as i64 - 1 - remaining);
    let mut seen = HashMap::new();
    for line in trades.iter().flat_map(|trade| &trade.lines) {
        assert_ne!(
            line.outer_sku_id, "TEA-LJ-500G",
            "a SKU without stock was sold"
        );
        let units = seen.entry(line.outer_sku_id.clone()).or_insert(0);
        *units += line.num;
        assert!(*units <= 1, "{} sold {units} units of 1", line.outer_sku_id);
    }
    assert_eq!(simulator.oversold_units(), 0);
}

#[test]
fn scripted_trade_oversells() {
    let simulator = empty_shop(100);
    simulator.set_initial_quantity("TEA-LJ-500G", 1).unwrap();
    simulator.add_trade(ScriptedTrade::new([("TEA-LJ-250G", 2), ("TEA-LJ-500G", 3)]));
    assert_eq!(simulator.quantity_of("TEA-LJ-250G"), Some(98));
    assert_eq!(simulator.quantity_of("TEA-LJ-500G"), Some(0));
    assert_eq!(simulator.oversold_units(), 2);

    assert!(simulator.set_initial_quantity("TEA-XX", 1).is_err());
    assert!(simulator.set_initial_quantity("TEA-LJ-500G", -1).is_err());
    assert_eq!(simulator.quantity_of("TEA-XX"), None);
}

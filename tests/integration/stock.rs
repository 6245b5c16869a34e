//! Stock: reservations at intake, the ledger, offers and pushes to the simulated shops.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use shopkeeper::domain::{Address, IncomingLine, IncomingOrder, PlatformStatus, WorkflowState};
use shopkeeper::intake::{PagePosition, store_page};
use shopkeeper::plugin::Page;
use shopkeeper::server::App;
use shopkeeper::stock::StockChange;
use shopkeeper::storage::stores::Store;
use shopkeeper_tests::{DbKind, install_plugin, on_both_databases, test_config};

/// An app without background tasks, with the Taobao plugin, warehouse MAIN and two stores
/// whose plugin is never called (the tests hand pages to intake themselves).
async fn quiet_app(kind: DbKind, label: &str) -> Option<(App, Vec<Store>)> {
    let config = test_config(kind, label).await?;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let app = App::open(config, shutdown).await.expect("app opens");
    install_plugin(&app, "taobao").await;
    app.db.ensure_warehouse("MAIN", "Main warehouse", "浙江省", "杭州市").await.unwrap();
    let mut stores = Vec::new();
    for name in ["Store A", "Store B"] {
        let mut store = shopkeeper_tests::taobao_store_at(name, unused_endpoint(), 3600, 3600);
        store.approved_origins.clear();
        stores.push(app.add_store(&store).await.expect("store is added"));
    }
    Some((app, stores))
}

/// A stand-in endpoint for stores whose plugin the test never calls (no scheduler runs).
fn unused_endpoint() -> std::net::SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

/// Lists SKU `code` in every store as item `I-code` and counts `on_hand` units into MAIN.
async fn stock_sku(app: &App, stores: &[Store], code: &str, on_hand: i64) {
    let mut write = app.db.begin_write().await.unwrap();
    for store in stores {
        write.upsert_listing(store.id, &format!("I-{code}"), &format!("S-{code}"), code, "test goods", "", 0).await.unwrap();
    }
    write.commit().await.unwrap();
    if on_hand > 0 {
        let change = StockChange::Stocktake { sku: code.into(), warehouse: "MAIN".into(), counted: on_hand, reason: String::new() };
        shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await.unwrap();
    }
}

fn order(id: &str, status: PlatformStatus, lines: &[(&str, i64)], modified_at_ms: i64) -> IncomingOrder {
    let lines: Vec<IncomingLine> = lines
        .iter()
        .enumerate()
        .map(|(index, (code, quantity))| IncomingLine {
            platform_line_id: format!("{id}-{index}"),
            platform_item_id: format!("I-{code}"),
            platform_sku_id: format!("S-{code}"),
            sku_code: (*code).to_owned(),
            title: "test goods".into(),
            quantity: *quantity,
            unit_price_minor: 1000,
            total_minor: 1000 * quantity,
            platform_status: "WAIT_SELLER_SEND_GOODS".into(),
        })
        .collect();
    let goods: i64 = lines.iter().map(|line| line.total_minor).sum();
    IncomingOrder {
        platform_order_id: id.to_owned(),
        status,
        platform_status: format!("{status:?}"),
        currency: "CNY".into(),
        goods_minor: goods,
        shipping_minor: 0,
        paid_minor: goods,
        buyer_nick: format!("buyer-{id}"),
        buyer_remark: String::new(),
        seller_remark: String::new(),
        receiver: Address {
            name: "张三".into(),
            phone: "138****0000".into(),
            province: "浙江省".into(),
            city: "杭州市".into(),
            district: "西湖区".into(),
            street: "文三路 1 号".into(),
            zip: "310000".into(),
        },
        created_at_ms: 1_700_000_000_000,
        modified_at_ms,
        paid_at_ms: (status != PlatformStatus::Unpaid).then_some(1_700_000_000_000),
        lines,
        raw: "{}".into(),
    }
}

async fn deliver(app: &App, store: &Store, orders: Vec<IncomingOrder>) {
    let page = Page { orders, next_page_token: None };
    let position = PagePosition { run_id: 0, window: (0, 1) };
    store_page(&app.db, &app.rules, store, "0.2.0", &position, &page).await.expect("page is stored");
}

async fn available(app: &App, code: &str) -> (i64, i64) {
    let rows = app.db.stock_rows().await.unwrap();
    let row = rows.iter().find(|row| row.sku_code == code).expect("SKU has a level");
    (row.on_hand, row.reserved)
}

async fn workflow(app: &App, store: &Store, platform_order_id: &str) -> (WorkflowState, Option<String>) {
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT workflow_state, exception_reason FROM orders WHERE store_id = $1 AND platform_order_id = $2")
            .bind(store.id)
            .bind(platform_order_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    (row.0.parse().unwrap(), row.1)
}

async fn offered_sum(app: &App, code: &str) -> i64 {
    app.db.offer_rows().await.unwrap().iter().filter(|offer| offer.sku_code == code).map(|offer| offer.offered).sum()
}

/// The last unit, sold in two stores at the same moment, hundreds of times: each time exactly
/// one order reserves it and the other goes to the exception list as out of stock.
async fn last_unit_race(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "last-unit").await else { return };
    let app = Arc::new(app);
    const ROUNDS: usize = 200;
    for round in 0..ROUNDS {
        let code = format!("LAST-{round}");
        stock_sku(&app, &stores, &code, 1).await;
        assert_eq!(offered_sum(&app, &code).await, 1, "round {round}: the one unit is offered once in all");
        let tasks: Vec<_> = stores
            .iter()
            .map(|store| {
                let (app, store, code) = (app.clone(), store.clone(), code.clone());
                tokio::spawn(async move {
                    let id = format!("{}-{round}", store.id);
                    deliver(&app, &store, vec![order(&id, PlatformStatus::Paid, &[(&code, 1)], 1_700_000_000_000)]).await;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let mut reserved = 0;
        let mut out_of_stock = 0;
        for store in &stores {
            match workflow(&app, store, &format!("{}-{round}", store.id)).await {
                (WorkflowState::Exception, Some(reason)) if reason.starts_with("out of stock") => {
                    assert!(reason.contains(&code) && reason.contains("short by 1"), "round {round}: {reason}");
                    out_of_stock += 1;
                }
                (WorkflowState::Exception, reason) => panic!("round {round}: unexpected exception {reason:?}"),
                _ => reserved += 1,
            }
        }
        assert_eq!((reserved, out_of_stock), (1, 1), "round {round}");
        assert_eq!(available(&app, &code).await, (1, 1), "round {round}: one on hand, one reserved");
        assert_eq!(offered_sum(&app, &code).await, 0, "round {round}: nothing left to offer");
    }
    assert!(app.db.ledger_disagreements().await.unwrap().is_empty());
}
on_both_databases!(last_unit_race);

/// The same paid order delivered twice 50 ms apart, and again a minute later as a newer version
/// of itself, reserves once; closing it releases once, and a repeated close changes nothing.
async fn repeated_delivery_reserves_once(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "repeat").await else { return };
    stock_sku(&app, &stores, "TWICE", 5).await;
    let store = &stores[0];
    let paid = order("T1", PlatformStatus::Paid, &[("TWICE", 2)], 1_700_000_000_000);
    deliver(&app, store, vec![paid.clone()]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    deliver(&app, store, vec![paid.clone()]).await;
    let mut later = paid.clone();
    later.modified_at_ms += 60_000;
    later.seller_remark = "gift wrap".into();
    deliver(&app, store, vec![later.clone()]).await;
    assert_eq!(available(&app, "TWICE").await, (5, 2));
    let movements = app.db.movement_rows(Some("TWICE"), 100).await.unwrap();
    assert_eq!(movements.iter().filter(|m| m.kind == "reserved").count(), 1, "{movements:?}");

    let mut closed = later.clone();
    closed.status = PlatformStatus::Closed;
    closed.modified_at_ms += 60_000;
    deliver(&app, store, vec![closed.clone()]).await;
    deliver(&app, store, vec![closed.clone()]).await;
    assert_eq!(available(&app, "TWICE").await, (5, 0));
    let movements = app.db.movement_rows(Some("TWICE"), 100).await.unwrap();
    assert_eq!(movements.iter().filter(|m| m.kind == "released").count(), 1, "{movements:?}");
    assert!(app.db.ledger_disagreements().await.unwrap().is_empty());
}
on_both_databases!(repeated_delivery_reserves_once);

/// An order for a listing that maps to no SKU goes to the exception list naming the line; after
/// the listing is mapped, a retry reserves it.
async fn unmapped_sku_then_mapped(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "unmapped").await else { return };
    stock_sku(&app, &stores, "KNOWN", 3).await;
    let store = &stores[0];
    let mut unknown = order("U1", PlatformStatus::Paid, &[("NOPE", 1)], 1_700_000_000_000);
    unknown.lines[0].sku_code.clear();
    deliver(&app, store, vec![unknown]).await;
    let (state, reason) = workflow(&app, store, "U1").await;
    assert_eq!(state, WorkflowState::Exception);
    let reason = reason.unwrap();
    assert!(reason.starts_with("unmapped SKU") && reason.contains("I-NOPE") && reason.contains("Store A"), "{reason}");

    let mut write = app.db.begin_write().await.unwrap();
    let sku = write.sku_by_code("KNOWN").await.unwrap().unwrap();
    write.map_listing(store.id, "I-NOPE", "S-NOPE", sku).await.unwrap();
    write.commit().await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM orders WHERE platform_order_id = 'U1'").fetch_one(app.db.pool()).await.unwrap();
    let state = shopkeeper::intake::retry_order(&app.db, &app.rules, id).await.unwrap();
    assert_ne!(state, WorkflowState::Exception);
    assert_eq!(available(&app, "KNOWN").await, (3, 1));
}
on_both_databases!(unmapped_sku_then_mapped);

/// Stock operations the property test applies, against the model below.
#[derive(Clone, Debug)]
enum Op {
    Paid { store: usize, sku: usize, quantity: i64 },
    Close { order: usize },
    Refund { order: usize },
    Ship { order: usize },
    Redeliver { order: usize },
    Adjust { sku: usize, delta: i64 },
    Receipt { sku: usize, quantity: i64 },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..3usize, 1..4i64).prop_map(|(store, sku, quantity)| Op::Paid { store, sku, quantity }),
        1 => (0..40usize).prop_map(|order| Op::Close { order }),
        1 => (0..40usize).prop_map(|order| Op::Refund { order }),
        2 => (0..40usize).prop_map(|order| Op::Ship { order }),
        1 => (0..40usize).prop_map(|order| Op::Redeliver { order }),
        1 => (0..3usize, -4..5i64).prop_map(|(sku, delta)| Op::Adjust { sku, delta }),
        1 => (0..3usize, 1..6i64).prop_map(|(sku, quantity)| Op::Receipt { sku, quantity }),
        1 => Just(Op::Restart),
    ]
}

#[derive(Clone, Debug)]
struct ModelOrder {
    store: usize,
    sku: usize,
    quantity: i64,
    reserved: bool,
    open: bool,
    version: i64,
    /// Decided while its SKU had no stock records, so it reserved nothing and waits for the
    /// SKU's first count.
    waiting: bool,
}

/// The model of a SKU's first movement: open orders decided before it are reserved in order
/// while the stock lasts.
fn model_first_count(orders: &mut [ModelOrder], sku: usize, on_hand: i64) {
    let mut reserved: i64 = orders.iter().filter(|o| o.sku == sku && o.reserved).map(|o| o.quantity).sum();
    for order in orders.iter_mut().filter(|o| o.sku == sku && o.waiting) {
        order.waiting = false;
        if order.open && on_hand - reserved >= order.quantity {
            order.reserved = true;
            reserved += order.quantity;
        }
    }
}

/// Runs `ops` against a fresh database and checks after every step that the ledger agrees with
/// the levels, that the levels equal a simple model of what should have happened, and that the
/// offers never add up to more than is free.
async fn run_ops(kind: DbKind, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let Some(config) = test_config(kind, "ledger-prop").await else { return Ok(()) };
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let mut app = App::open(config.clone(), shutdown.clone()).await.unwrap();
    install_plugin(&app, "taobao").await;
    app.db.ensure_warehouse("MAIN", "Main warehouse", "", "").await.unwrap();
    let mut stores = Vec::new();
    for name in ["Store A", "Store B"] {
        let mut store = shopkeeper_tests::taobao_store_at(name, unused_endpoint(), 3600, 3600);
        store.approved_origins.clear();
        stores.push(app.add_store(&store).await.unwrap());
    }
    let codes = ["P0", "P1", "P2"];
    let mut on_hand = [4i64, 2, 0];
    // P2 has no stock records until its first receipt or adjustment.
    let mut managed = [true, true, false];
    for (code, units) in codes.iter().zip(on_hand) {
        stock_sku(&app, &stores, code, units).await;
    }
    let mut orders: Vec<ModelOrder> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op.clone() {
            Op::Paid { store, sku, quantity } => {
                let reserved_now: i64 = orders.iter().filter(|o| o.sku == sku && o.reserved).map(|o| o.quantity).sum();
                let fits = managed[sku] && on_hand[sku] - reserved_now >= quantity;
                let id = format!("O{}", orders.len());
                deliver(&app, &stores[store], vec![order(&id, PlatformStatus::Paid, &[(codes[sku], quantity)], 1_000)]).await;
                orders.push(ModelOrder { store, sku, quantity, reserved: fits, open: true, version: 1_000, waiting: !managed[sku] });
            }
            Op::Close { order: index } | Op::Refund { order: index } | Op::Ship { order: index } | Op::Redeliver { order: index } => {
                let Some(model) = orders.get_mut(index) else { continue };
                let status = match op {
                    Op::Close { .. } => PlatformStatus::Closed,
                    Op::Refund { .. } => PlatformStatus::Refunded,
                    Op::Ship { .. } => PlatformStatus::Shipped,
                    _ => PlatformStatus::Paid,
                };
                if !model.open && status != PlatformStatus::Paid {
                    continue;
                }
                if status == PlatformStatus::Paid {
                    if !model.open {
                        continue;
                    }
                } else {
                    model.version += 1;
                    if model.reserved {
                        if status == PlatformStatus::Shipped {
                            on_hand[model.sku] -= model.quantity;
                        }
                        model.reserved = false;
                    }
                    model.open = false;
                    model.waiting = false;
                }
                let id = format!("O{index}");
                let delivered = order(&id, status, &[(codes[model.sku], model.quantity)], model.version);
                deliver(&app, &stores[model.store], vec![delivered]).await;
            }
            Op::Adjust { sku, delta } => {
                let reserved_now: i64 = orders.iter().filter(|o| o.sku == sku && o.reserved).map(|o| o.quantity).sum();
                let change = StockChange::Adjustment { sku: codes[sku].into(), warehouse: "MAIN".into(), quantity: delta, reason: "test".into() };
                let result = shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await;
                let allowed = delta != 0 && on_hand[sku] + delta >= reserved_now;
                prop_assert_eq!(result.is_ok(), allowed, "step {}: {:?} gave {:?}", step, op, result.err().map(|e| e.to_string()));
                if allowed {
                    on_hand[sku] += delta;
                    if !std::mem::replace(&mut managed[sku], true) {
                        model_first_count(&mut orders, sku, on_hand[sku]);
                    }
                }
            }
            Op::Receipt { sku, quantity } => {
                let change = StockChange::Receipt { sku: codes[sku].into(), warehouse: "MAIN".into(), quantity, reason: String::new() };
                shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await.unwrap();
                on_hand[sku] += quantity;
                if !std::mem::replace(&mut managed[sku], true) {
                    model_first_count(&mut orders, sku, on_hand[sku]);
                }
            }
            Op::Restart => {
                app.db.close().await;
                app = App::open(config.clone(), shutdown.clone()).await.unwrap();
            }
        }
        let problems = app.db.ledger_disagreements().await.unwrap();
        prop_assert!(problems.is_empty(), "step {}: {:?}: {:?}", step, op, problems);
        let levels = app.db.stock_rows().await.unwrap();
        for (sku, code) in codes.iter().enumerate() {
            let reserved_model: i64 = orders.iter().filter(|o| o.sku == sku && o.reserved).map(|o| o.quantity).sum();
            let level = levels.iter().find(|row| row.sku_code == *code).map_or((0, 0), |row| (row.on_hand, row.reserved));
            prop_assert_eq!(level, (on_hand[sku], reserved_model), "step {}: {:?}: SKU {}", step, op, code);
            prop_assert!(level.1 >= 0 && level.0 >= level.1);
            let offered = offered_sum(&app, code).await;
            prop_assert!(offered <= level.0 - level.1, "step {}: SKU {} offered {} with {} free", step, code, offered, level.0 - level.1);
        }
    }
    app.db.close().await;
    Ok(())
}

fn ledger_property(kind: DbKind) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cases = if kind == DbKind::Sqlite { 24 } else { 12 };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases, max_shrink_iters: 64, ..ProptestConfig::default() });
    runner
        .run(&proptest::collection::vec(op(), 5..30), |ops| runtime.block_on(run_ops(kind, ops)))
        .unwrap_or_else(|failure| panic!("{failure}"));
}

mod ledger_property {
    #[test]
    fn sqlite() {
        super::ledger_property(shopkeeper_tests::DbKind::Sqlite);
    }

    #[test]
    fn postgres() {
        super::ledger_property(shopkeeper_tests::DbKind::Postgres);
    }
}

/// Two simulated shops, both listing the catalog, synced every second by a running server.
async fn two_shops(kind: DbKind, label: &str) -> Option<(shopkeeper::server::Server, Vec<shopkeeper_simulator::RunningSimulator>, Vec<Store>)> {
    let config = test_config(kind, label).await?;
    let mut simulators = Vec::new();
    for seed in [11, 12] {
        let sim_config = shopkeeper_simulator::SimulatorConfig { seed, rate_per_minute: 0.0, history_orders: 0, ..Default::default() };
        simulators.push(shopkeeper_simulator::Simulator::start(sim_config, "127.0.0.1:0".parse().unwrap()).await.unwrap());
    }
    let server = shopkeeper_tests::start_server(config).await;
    let app = &server.app;
    install_plugin(app, "taobao").await;
    app.db.ensure_warehouse("MAIN", "Main warehouse", "浙江省", "杭州市").await.unwrap();
    let mut stores = Vec::new();
    for (name, simulator) in ["Store A", "Store B"].into_iter().zip(&simulators) {
        stores.push(shopkeeper_tests::add_taobao_store(app, name, simulator, 1, 3600).await);
    }
    let db = app.db.clone();
    shopkeeper_tests::wait_until(Duration::from_secs(30), "both stores' listings", || {
        let db = db.clone();
        async move {
            let listings = db.listing_rows().await.map_err(|e| e.to_string())?;
            let stores: std::collections::HashSet<i64> = listings.iter().map(|l| l.store_id).collect();
            if stores.len() == 2 { Ok(()) } else { Err(format!("listings from {} stores", stores.len())) }
        }
    })
    .await;
    Some((server, simulators, stores))
}

/// Waits until every shop was told its current offer of `code`, and returns what each shop
/// now shows.
async fn wait_pushed(app: &App, simulators: &[shopkeeper_simulator::RunningSimulator], stores: &[Store], code: &str) -> Vec<i64> {
    shopkeeper_tests::wait_until(Duration::from_secs(30), &format!("offers of {code} pushed"), || async {
        let offers = app.db.offer_rows().await.map_err(|e| e.to_string())?;
        let mut shown = Vec::new();
        for (store, simulator) in stores.iter().zip(simulators) {
            let offer = offers.iter().find(|o| o.store_id == store.id && o.sku_code == code).ok_or("no offer yet")?;
            let quantity = simulator.simulator.quantity_of(code).ok_or("unknown SKU")?;
            if offer.pending || quantity != offer.offered {
                return Err(format!("{}: offered {}, shop shows {quantity}, pending {}", store.name, offer.offered, offer.pending));
            }
            shown.push(quantity);
        }
        Ok(shown)
    })
    .await
}

/// What the shops are told always subtracts every open order, approved but not yet shipped
/// ones included, and a sale in one shop lowers what the other offers.
async fn push_subtracts_open_orders(kind: DbKind) {
    let Some((server, simulators, stores)) = two_shops(kind, "push-open").await else { return };
    let app = &server.app;
    let code = "TEA-LJ-250G";
    let change = StockChange::Stocktake { sku: code.into(), warehouse: "MAIN".into(), counted: 10, reason: String::new() };
    shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await.unwrap();
    let shown = wait_pushed(app, &simulators, &stores, code).await;
    assert_eq!(shown.iter().sum::<i64>(), 10, "{shown:?}");
    assert!(shown.iter().all(|&q| q > 0), "both shops sell it: {shown:?}");
    // Only the counted SKU is managed; the shops' other listings were never overwritten.
    for simulator in &simulators {
        assert!(simulator.simulator.quantity_updates().iter().all(|u| u.outer_sku_id == code));
    }

    // A buyer takes 3 units in shop A; the order is reserved but not picked or shipped.
    let tid = simulators[0].simulator.add_trade(shopkeeper_simulator::ScriptedTrade::new([(code, 3)]));
    let shown = shopkeeper_tests::wait_until(Duration::from_secs(30), "the sale reserved and pushed", || async {
        let (on_hand, reserved) = available(app, code).await;
        if (on_hand, reserved) != (10, 3) {
            return Err(format!("level {on_hand}/{reserved}"));
        }
        Ok(wait_pushed(app, &simulators, &stores, code).await)
    })
    .await;
    assert_eq!(shown.iter().sum::<i64>(), 7, "the 3 open units are offered nowhere: {shown:?}");
    let told_b: Vec<i64> = simulators[1].simulator.quantity_updates().iter().map(|u| u.value).collect();
    assert!(told_b.len() >= 2 && told_b.last() < told_b.first(), "shop B was told less after the sale in A: {told_b:?}");

    // Shipping consumes the reservation; the offers stay at what is left.
    simulators[0].simulator.set_trade_status(tid, "WAIT_BUYER_CONFIRM_GOODS").unwrap();
    shopkeeper_tests::wait_until(Duration::from_secs(30), "the shipment consumed the reservation", || async {
        match available(app, code).await {
            (7, 0) => Ok(()),
            other => Err(format!("level {other:?}")),
        }
    })
    .await;
    let shown = wait_pushed(app, &simulators, &stores, code).await;
    assert_eq!(shown.iter().sum::<i64>(), 7);
    assert!(app.db.ledger_disagreements().await.unwrap().is_empty());
    for simulator in &simulators {
        assert_eq!(simulator.simulator.oversold_units(), 0);
    }

    // Bins through the API: a known warehouse takes it, an unknown one is named in the error.
    let client = reqwest::Client::new();
    let url = format!("{}/api/stock/bins", server.url());
    let response = client.put(&url).json(&serde_json::json!({ "sku": code, "warehouse": "MAIN", "bin": "A-03-2" })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let rows = app.db.stock_rows().await.unwrap();
    assert_eq!(rows.iter().find(|r| r.sku_code == code).unwrap().bin, "A-03-2");
    let response = client.put(&url).json(&serde_json::json!({ "sku": code, "warehouse": "NOPE", "bin": "A-1" })).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("\"NOPE\""), "{body}");
    let changes = format!("{}/api/stock/changes", server.url());
    for (payload, expected) in [
        (serde_json::json!({ "kind": "receipt", "sku": code, "warehouse": "MAIN", "quantity": 1.5 }), "expected a whole number"),
        (serde_json::json!({ "kind": "adjustment", "sku": code, "warehouse": "MAIN", "quantity": 2 }), "no field `reason`"),
    ] {
        let response = client.post(&changes).json(&payload).send().await.unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(expected), "{payload}: {body}");
    }
    assert!(app.db.ledger_disagreements().await.unwrap().is_empty());
}
on_both_databases!(push_subtracts_open_orders);

/// A push that meets Taobao's call-limit error on every third call still delivers every SKU,
/// waiting as long as each ban says.
async fn push_waits_on_rate_limit(kind: DbKind) {
    let Some((server, simulators, stores)) = two_shops(kind, "push-limit").await else { return };
    let app = &server.app;
    for simulator in &simulators {
        let fault = shopkeeper_simulator::Fault {
            api_method: Some("taobao.item.quantity.update".into()),
            count: 6,
            error: shopkeeper_simulator::TopError::call_limited(1),
        };
        simulator.simulator.inject_periodic_fault(fault, 3);
    }
    let codes: Vec<&str> = shopkeeper_simulator::catalog::skus().map(|(_, sku)| sku.outer_sku_id).take(10).collect();
    for (index, code) in codes.iter().enumerate() {
        let change = StockChange::Receipt { sku: (*code).into(), warehouse: "MAIN".into(), quantity: 4 + index as i64, reason: String::new() };
        shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await.unwrap();
    }
    for code in &codes {
        let shown = wait_pushed(app, &simulators, &stores, code).await;
        let free = available(app, code).await.0;
        assert_eq!(shown.iter().sum::<i64>(), free, "{code}: {shown:?}");
    }
    for simulator in &simulators {
        let calls: Vec<_> = simulator.simulator.requests().into_iter().filter(|r| r.api_method.as_deref() == Some("taobao.item.quantity.update")).collect();
        let limited: Vec<usize> = calls.iter().enumerate().filter(|(_, r)| r.error_code == Some(7)).map(|(i, _)| i).collect();
        assert!(limited.len() >= 3, "the platform limited some pushes: {limited:?}");
        for index in limited {
            if let Some(next) = calls.get(index + 1) {
                let waited = next.at - calls[index].at;
                assert!(waited >= chrono::Duration::milliseconds(1_900), "after a 1 s ban (wait N + 1 s) the next push came {waited:?} later");
            }
        }
    }
}
on_both_databases!(push_waits_on_rate_limit);

/// The split rule's parcels are stored with the order: two heavy lines from one warehouse make
/// two parcels under the default 20 kg limit.
async fn split_parcels_stored_with_order(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "split").await else { return };
    stock_sku(&app, &stores, "HEAVY", 5).await;
    stock_sku(&app, &stores, "LIGHT", 5).await;
    sqlx::query("UPDATE skus SET weight_grams = 15000 WHERE code = 'HEAVY'").execute(app.db.pool()).await.unwrap();
    sqlx::query("UPDATE skus SET weight_grams = 300 WHERE code = 'LIGHT'").execute(app.db.pool()).await.unwrap();
    let store = &stores[0];
    deliver(&app, store, vec![order("P1", PlatformStatus::Paid, &[("HEAVY", 1), ("LIGHT", 2), ("HEAVY", 1)], 1_700_000_000_000)]).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM orders WHERE platform_order_id = 'P1'").fetch_one(app.db.pool()).await.unwrap();
    let detail = app.db.order_detail(id).await.unwrap().unwrap();
    assert_eq!(detail.split_rule_version, Some(1));
    let parcels: Vec<Vec<usize>> = detail.shipments.iter().map(|s| s.line_positions.clone()).collect();
    assert_eq!(parcels, vec![vec![0, 1], vec![2]], "{:?}", detail.shipments);
    assert!(detail.shipments.iter().all(|s| s.warehouse_code == "MAIN"));
}
on_both_databases!(split_parcels_stored_with_order);

/// Orders paid before a SKU's first count reserve nothing then; the count reserves them, so the
/// offers leave their goods out.
async fn first_count_reserves_open_orders(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "first-count").await else { return };
    stock_sku(&app, &stores, "LATE", 0).await;
    deliver(&app, &stores[0], vec![order("E1", PlatformStatus::Paid, &[("LATE", 2)], 1_700_000_000_000)]).await;
    deliver(&app, &stores[1], vec![order("E2", PlatformStatus::Paid, &[("LATE", 1)], 1_700_000_000_000)]).await;
    assert_ne!(workflow(&app, &stores[0], "E1").await.0, WorkflowState::Exception);
    let change = StockChange::Stocktake { sku: "LATE".into(), warehouse: "MAIN".into(), counted: 5, reason: String::new() };
    shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await.unwrap();
    assert_eq!(available(&app, "LATE").await, (5, 3), "both open orders reserved at the first count");
    assert_eq!(offered_sum(&app, "LATE").await, 2);
    // A second count does not reserve them again.
    let change = StockChange::Stocktake { sku: "LATE".into(), warehouse: "MAIN".into(), counted: 6, reason: String::new() };
    shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await.unwrap();
    assert_eq!(available(&app, "LATE").await, (6, 3));
    // Shipping one of them now consumes its reservation.
    let mut shipped = order("E1", PlatformStatus::Shipped, &[("LATE", 2)], 1_700_000_060_000);
    shipped.platform_status = "WAIT_BUYER_CONFIRM_GOODS".into();
    deliver(&app, &stores[0], vec![shipped]).await;
    assert_eq!(available(&app, "LATE").await, (4, 1));
    assert!(app.db.ledger_disagreements().await.unwrap().is_empty());
}
on_both_databases!(first_count_reserves_open_orders);

/// A newer version of a reserved order with other lines releases its stock and goes to the
/// exception list; a retry reserves what it sells now.
async fn changed_lines_release_reservation(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "changed-lines").await else { return };
    stock_sku(&app, &stores, "OLD", 5).await;
    stock_sku(&app, &stores, "NEW", 5).await;
    let store = &stores[0];
    deliver(&app, store, vec![order("C1", PlatformStatus::Paid, &[("OLD", 2)], 1_700_000_000_000)]).await;
    assert_eq!(available(&app, "OLD").await, (5, 2));
    let mut changed = order("C1", PlatformStatus::Paid, &[("NEW", 3)], 1_700_000_060_000);
    changed.lines[0].platform_line_id = "C1-other".into();
    deliver(&app, store, vec![changed]).await;
    let (state, reason) = workflow(&app, store, "C1").await;
    assert_eq!(state, WorkflowState::Exception);
    assert!(reason.as_deref().unwrap().contains("changed this order's lines"), "{reason:?}");
    assert_eq!(available(&app, "OLD").await, (5, 0), "the old line's stock is released");
    let id: i64 = sqlx::query_scalar("SELECT id FROM orders WHERE platform_order_id = 'C1'").fetch_one(app.db.pool()).await.unwrap();
    assert_ne!(shopkeeper::intake::retry_order(&app.db, &app.rules, id).await.unwrap(), WorkflowState::Exception);
    assert_eq!(available(&app, "NEW").await, (5, 3));
    assert_eq!(available(&app, "OLD").await, (5, 0), "the dropped line does not reserve again");
    assert!(app.db.ledger_disagreements().await.unwrap().is_empty());
}
on_both_databases!(changed_lines_release_reservation);

/// Out-of-range changes, over-long reasons, transfers beyond free stock and mappings of
/// listings nobody sells are rejected with a message and change nothing.
async fn bad_stock_changes_rejected(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "bad-changes").await else { return };
    stock_sku(&app, &stores, "BAD", 5).await;
    app.db.ensure_warehouse("SH", "Shanghai", "上海市", "上海市").await.unwrap();
    let cases = [
        (StockChange::Stocktake { sku: "BAD".into(), warehouse: "MAIN".into(), counted: i64::MAX, reason: String::new() }, "out of range"),
        (StockChange::Receipt { sku: "BAD".into(), warehouse: "MAIN".into(), quantity: 5_000_000_000_000, reason: String::new() }, "out of range"),
        (StockChange::Adjustment { sku: "BAD".into(), warehouse: "MAIN".into(), quantity: i64::MIN, reason: "x".into() }, "out of range"),
        (StockChange::Receipt { sku: "BAD".into(), warehouse: "MAIN".into(), quantity: 1, reason: "r".repeat(501) }, "keep it to 500"),
        (StockChange::Transfer { sku: "BAD".into(), from: "MAIN".into(), to: "SH".into(), quantity: 6, reason: String::new() }, "only 5 free"),
    ];
    for (change, expected) in cases {
        let error = shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await.unwrap_err().to_string();
        assert!(error.contains(expected), "{change:?}: {error}");
    }
    assert_eq!(available(&app, "BAD").await, (5, 0));
    assert_eq!(app.db.movement_rows(Some("BAD"), 10).await.unwrap().len(), 1, "only the opening count");
    let mut write = app.db.begin_write().await.unwrap();
    let sku = write.sku_by_code("BAD").await.unwrap().unwrap();
    assert!(!write.map_listing(stores[0].id, "nope", "nope", sku).await.unwrap(), "no listing and no order sold it");
}
on_both_databases!(bad_stock_changes_rejected);

/// A share rule that fails on a real SKU offers 0 to every store, adjustments included, and the
/// offer shows the rule's error.
async fn failing_share_rule_offers_nothing(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "share-fails").await else { return };
    stock_sku(&app, &stores, "BOOM-1", 10).await;
    shopkeeper::stock::set_adjustment(&app.db, &app.rules, stores[0].id, "BOOM-1", 3).await.unwrap();
    assert!(offered_sum(&app, "BOOM-1").await > 0);
    let source = "fn share(sku) { if sku.code.starts_with(\"BOOM\") { throw \"no share for \" + sku.code; } let r = #{}; for s in sku.stores { r[s.name] = #{ percent: 50 }; } r }";
    let saved = app.db.insert_rule_version("stock_share", source, "test", "test").await.unwrap();
    shopkeeper::rules_admin::activate(&app, shopkeeper::rules::RuleKind::StockShare, saved.version).await.unwrap();
    let offers = app.db.offer_rows().await.unwrap();
    let boom: Vec<_> = offers.iter().filter(|o| o.sku_code == "BOOM-1").collect();
    assert_eq!(boom.len(), 2);
    for offer in boom {
        assert_eq!(offer.offered, 0, "{offer:?}");
        assert!(offer.rule_error.as_deref().is_some_and(|e| e.contains("no share for BOOM-1")), "{offer:?}");
    }
}
on_both_databases!(failing_share_rule_offers_nothing);

/// A count below what open orders reserved stands: the newest orders give their stock back and
/// go to the exception list, the older ones keep theirs.
async fn count_below_reserved_releases_newest(kind: DbKind) {
    let Some((app, stores)) = quiet_app(kind, "short-count").await else { return };
    stock_sku(&app, &stores, "SHORT", 5).await;
    let store = &stores[0];
    let mut older = order("S1", PlatformStatus::Paid, &[("SHORT", 2)], 1_700_000_000_000);
    older.paid_at_ms = Some(1_700_000_000_000);
    let mut newer = order("S2", PlatformStatus::Paid, &[("SHORT", 2)], 1_700_000_000_000);
    newer.paid_at_ms = Some(1_700_000_100_000);
    deliver(&app, store, vec![older, newer]).await;
    assert_eq!(available(&app, "SHORT").await, (5, 4));
    let change = StockChange::Stocktake { sku: "SHORT".into(), warehouse: "MAIN".into(), counted: 3, reason: "shelf count".into() };
    shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "test").await.unwrap();
    assert_eq!(available(&app, "SHORT").await, (3, 2), "the count stands and one order's 2 units are released");
    assert_ne!(workflow(&app, store, "S1").await.0, WorkflowState::Exception, "the older order keeps its stock");
    let (state, reason) = workflow(&app, store, "S2").await;
    assert_eq!(state, WorkflowState::Exception);
    assert!(reason.unwrap().contains("a count of SKU \"SHORT\""));
    assert_eq!(offered_sum(&app, "SHORT").await, 1);
    assert!(app.db.ledger_disagreements().await.unwrap().is_empty());
}
on_both_databases!(count_below_reserved_releases_newest);

//! Orders synced from the simulator through the Taobao plugin match the simulator's trades.

use std::collections::HashMap;
use std::time::Duration;

use shopkeeper::storage::Db;
use shopkeeper::storage::orders::OrderFilter;
use shopkeeper_simulator::{Simulator, SimulatorConfig, TradeSnapshot};
use shopkeeper_tests::*;

pub use shopkeeper::harness::expected_status;

/// Checks that the store contains each trade exactly once with its lines, money and times, and
/// nothing else; returns the first difference.
pub async fn compare_with_trades(db: &Db, store_id: i64, trades: &[TradeSnapshot]) -> Result<(), String> {
    let mut stored = Vec::new();
    let mut before = None;
    loop {
        let page = db
            .list_orders(&OrderFilter { store_id: Some(store_id), before_id: before, limit: 500, ..OrderFilter::default() })
            .await
            .map_err(|e| e.to_string())?;
        let done = page.len() < 500;
        before = page.last().map(|o| o.id);
        stored.extend(page);
        if done {
            break;
        }
    }
    let by_id: HashMap<&str, &shopkeeper::storage::orders::OrderSummary> =
        stored.iter().map(|order| (order.platform_order_id.as_str(), order)).collect();
    if by_id.len() != stored.len() {
        return Err(format!("{} orders stored but only {} distinct ids", stored.len(), by_id.len()));
    }
    if stored.len() != trades.len() {
        return Err(format!("{} orders stored, the simulator has {}", stored.len(), trades.len()));
    }
    for trade in trades {
        let tid = trade.tid.to_string();
        let order = by_id.get(tid.as_str()).ok_or_else(|| format!("trade {tid} is missing"))?;
        let differences = [
            ("platform_status", order.platform_status.clone(), expected_status(trade).to_owned()),
            ("platform_status_raw", order.platform_status_raw.clone(), trade.status.clone()),
            ("paid_minor", order.paid_minor.to_string(), trade.payment_fen.to_string()),
            ("goods_minor", order.goods_minor.to_string(), trade.total_fee_fen.to_string()),
            ("shipping_minor", order.shipping_minor.to_string(), trade.post_fee_fen.to_string()),
            ("currency", order.currency.clone(), "CNY".to_owned()),
            ("created_at", order.created_at.to_string(), trade.created.timestamp_millis().to_string()),
            ("modified_at", order.modified_at.to_string(), trade.modified.timestamp_millis().to_string()),
            ("paid_at", format!("{:?}", order.paid_at), format!("{:?}", trade.pay_time.map(|t| t.timestamp_millis()))),
            ("buyer_nick", order.buyer_nick.clone(), trade.buyer_nick.clone()),
            ("buyer_remark", order.buyer_remark.clone(), trade.buyer_message.clone().unwrap_or_default()),
            ("receiver_province", order.receiver_province.clone(), trade.receiver_state.clone()),
            ("receiver_city", order.receiver_city.clone(), trade.receiver_city.clone()),
            ("line_count", order.line_count.to_string(), trade.lines.len().to_string()),
        ];
        for (field, got, want) in differences {
            if got != want {
                return Err(format!("trade {tid}: {field} is {got:?}, expected {want:?}"));
            }
        }
        let lines = db.order_lines(order.id).await.map_err(|e| e.to_string())?;
        for (line, want) in lines.iter().zip(&trade.lines) {
            let line_differences = [
                ("platform_line_id", line.platform_line_id.clone(), want.oid.to_string()),
                ("sku_code", line.sku_code.clone(), want.outer_sku_id.clone()),
                ("quantity", line.quantity.to_string(), want.num.to_string()),
                ("unit_price_minor", line.unit_price_minor.to_string(), want.price_fen.to_string()),
                ("total_minor", line.total_minor.to_string(), want.payment_fen.to_string()),
                ("title", line.title.clone(), want.title.clone()),
            ];
            for (field, got, want) in line_differences {
                if got != want {
                    return Err(format!("trade {tid} line {}: {field} is {got:?}, expected {want:?}", line.line_no));
                }
            }
        }
    }
    Ok(())
}

/// Simulated orders created over the last 40 s whose lifecycle (scaled down 500 times) ends
/// within about 15 s, so several change status while the server syncs.
pub fn changing_shop(seed: u64) -> SimulatorConfig {
    SimulatorConfig {
        seed,
        rate_per_minute: 0.0,
        history_orders: 120,
        history_span: Duration::from_secs(40),
        time_scale: 0.002,
        ..SimulatorConfig::default()
    }
}

/// Returns the state every trade ends in, once its lifecycle is over.
pub fn final_trades(simulator: &Simulator) -> Vec<TradeSnapshot> {
    simulator.trades_at(chrono::Utc::now() + chrono::Duration::hours(48))
}

async fn orders_match_simulator(kind: DbKind) {
    init_logging();
    let simulator = Simulator::start(changing_shop(7), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let Some(config) = test_config(kind, "sync").await else { return };
    let server = start_server(config).await;
    let app = &server.app;
    install_plugin(app, "taobao").await;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let store = add_taobao_store(app, "taobao-main", &simulator, 1, 3600).await;

    let target = final_trades(&simulator.simulator);
    assert!(target.len() >= 100, "the simulator should have produced the history orders");
    wait_until(Duration::from_secs(60), "the stored orders to match the simulator", || {
        compare_with_trades(&app.db, store.id, &target)
    })
    .await;

    let runs = app.db.list_sync_runs(Some(store.id), 500).await.unwrap();
    let updated: i64 = runs.iter().map(|run| run.orders_updated).sum();
    assert!(updated > 0, "some orders should have changed status between pulls");
    assert!(runs.iter().all(|run| run.error.is_none()), "no run should fail: {:?}", runs.iter().find(|r| r.error.is_some()));

    // Every order that is paid now was allocated and reviewed by version 1 of both rules.
    let orders = app.db.list_orders(&OrderFilter { store_id: Some(store.id), limit: 500, ..OrderFilter::default() }).await.unwrap();
    let paid: Vec<_> = orders.iter().filter(|o| o.platform_status == "paid").collect();
    assert!(!paid.is_empty());
    for order in paid {
        assert!(matches!(order.workflow_state.as_str(), "approved" | "held"), "{order:?}");
        assert_eq!(order.review_rule_version, Some(1), "{order:?}");
        assert_eq!(order.allocation_rule_version, Some(1), "{order:?}");
        assert_eq!(order.warehouse_code.as_deref(), Some("WH-HZ"));
        if order.workflow_state == "held" {
            assert!(order.review_reason.as_deref().is_some_and(|r| !r.is_empty()), "{order:?}");
        }
        if !order.buyer_remark.is_empty() {
            assert_eq!(order.workflow_state, "held", "an order with a buyer remark is held: {order:?}");
        }
    }
    let unpaid = orders.iter().filter(|o| o.platform_status == "unpaid");
    for order in unpaid {
        assert_eq!(order.workflow_state, "awaiting_payment", "{order:?}");
        assert_eq!(order.review_decision, None);
    }
    server.shutdown().await;
}
on_both_databases!(orders_match_simulator);

async fn bad_credentials_then_recovery(kind: DbKind) {
    init_logging();
    let simulator = Simulator::start(
        SimulatorConfig { seed: 11, rate_per_minute: 0.0, history_orders: 60, time_scale: 0.0, ..SimulatorConfig::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let Some(config) = test_config(kind, "credentials").await else { return };
    let server = start_server(config).await;
    let app = &server.app;
    install_plugin(app, "taobao").await;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();

    let mut wrong_secret = taobao_store("wrong-secret", &simulator, 1, 4 * 3600);
    wrong_secret.config.insert("app_secret".into(), "not-the-secret".into());
    let mut wrong_session = taobao_store("wrong-session", &simulator, 1, 4 * 3600);
    wrong_session.config.insert("session".into(), "expired-session".into());
    let cases = [(wrong_secret, "Invalid signature", "25"), (wrong_session, "Invalid session", "27")];
    for (new_store, message, code) in cases {
        let store = app.add_store(&new_store).await.unwrap();
        let failed = wait_until(Duration::from_secs(30), "a failed run", || async {
            let runs = app.db.list_sync_runs(Some(store.id), 5).await.map_err(|e| e.to_string())?;
            runs.into_iter().find(|run| run.status == "failed").ok_or_else(|| "no failed run yet".to_owned())
        })
        .await;
        let error = failed.error.unwrap();
        assert!(error.contains(message), "{error}");
        assert!(error.contains(code), "{error}");
        let version = app.db.current_plugin("taobao").await.unwrap().unwrap().version;
        assert!(error.contains(&format!("taobao@{version}")) && error.contains(&new_store.name), "the error names plugin and store: {error}");
        assert_eq!(app.db.list_orders(&OrderFilter { store_id: Some(store.id), limit: 10, ..OrderFilter::default() }).await.unwrap().len(), 0);

        // The admin fixes the configuration; the next run catches up with every order.
        let good = taobao_store("fixed", &simulator, 1, 4 * 3600);
        app.db.update_store_connection(store.id, &good.config, &good.approved_origins).await.unwrap();
        let target = simulator.simulator.trades_now();
        wait_until(Duration::from_secs(30), "the fixed store to catch up", || compare_with_trades(&app.db, store.id, &target)).await;
    }
    server.shutdown().await;
}
on_both_databases!(bad_credentials_then_recovery);

/// A rate-limited pull waits as long as the platform asked before the next run, then catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limit_waits_as_told() {
    init_logging();
    let simulator = Simulator::start(
        SimulatorConfig { seed: 19, rate_per_minute: 0.0, history_orders: 30, time_scale: 0.0, ..SimulatorConfig::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    simulator.simulator.inject_fault(shopkeeper_simulator::Fault {
        api_method: Some("taobao.trades.sold.increment.get".into()),
        count: 1,
        error: shopkeeper_simulator::TopError::with_sub_code(
            7,
            "App Call Limited",
            "accesscontrol.limited-by-api-access-count",
            "This ban will last for 3 more seconds",
        ),
    });
    let config = test_config(DbKind::Sqlite, "rate-limit").await.unwrap();
    let server = start_server(config).await;
    let app = &server.app;
    install_plugin(app, "taobao").await;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let store = add_taobao_store(app, "rate-limited", &simulator, 1, 4 * 3600).await;
    let target = simulator.simulator.trades_now();
    wait_until(Duration::from_secs(30), "the store to catch up after the ban", || compare_with_trades(&app.db, store.id, &target)).await;
    let mut runs = app.db.list_sync_runs(Some(store.id), 10).await.unwrap();
    runs.reverse();
    let failed = runs.iter().position(|run| run.status == "failed").expect("the banned call fails its run");
    assert!(runs[failed].error.as_deref().unwrap().contains("App Call Limited"), "{:?}", runs[failed]);
    let next = &runs[failed + 1];
    let waited = next.started_at - runs[failed].finished_at.unwrap();
    assert!(waited >= 3_500, "the next run started {waited} ms after the ban, the platform asked for 4 s");
    server.shutdown().await;
}

/// Two servers on one PostgreSQL database sync the same store: the lease lets one run at a
/// time, every order is stored once and no run fails on the other's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_share_store_lease() {
    init_logging();
    let simulator = Simulator::start(
        SimulatorConfig {
            seed: 29,
            rate_per_minute: 120.0,
            history_orders: 400,
            history_span: Duration::from_secs(3 * 3600),
            time_scale: 0.0,
            response_delay: Duration::from_millis(20),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let Some(first_config) = test_config(DbKind::Postgres, "lease-a").await else { return };
    let mut second_config = first_config.clone();
    second_config.data_dir = temp_dir("lease-b");
    let first = start_server(first_config).await;
    let second = start_server(second_config).await;
    install_plugin(&first.app, "taobao").await;
    first.app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let store = add_taobao_store(&first.app, "shared", &simulator, 1, 4 * 3600).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    first.shutdown().await;
    second.app.scheduler.run_once(store.id).await.unwrap();
    let target = simulator.simulator.trades_at(chrono::Utc::now() - chrono::Duration::seconds(2));
    let stored = second.app.db.list_orders(&OrderFilter { store_id: Some(store.id), limit: 500, ..OrderFilter::default() }).await.unwrap();
    assert!(stored.len() >= target.len(), "{} stored, {} trades", stored.len(), target.len());
    let mut runs = second.app.db.list_sync_runs(Some(store.id), 500).await.unwrap();
    assert!(runs.iter().all(|run| run.error.is_none()), "{:?}", runs.iter().find(|run| run.error.is_some()));
    runs.sort_by_key(|run| run.started_at);
    for pair in runs.windows(2) {
        assert!(pair[1].started_at >= pair[0].finished_at.unwrap(), "runs {} and {} overlap", pair[0].id, pair[1].id);
    }
    second.shutdown().await;
}

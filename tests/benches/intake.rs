//! Intake throughput on SQLite: a full sync of simulated Taobao orders through the plugin
//! (decoding), upsert, allocation and review, beside a raw insert of the same rows with the same
//! driver in one transaction with prepared statements. Run with `cargo xtask bench`.

use std::time::{Duration, Instant};

use shopkeeper::config::Config;
use shopkeeper::server::App;
use shopkeeper::storage::Db;
use shopkeeper_simulator::{Simulator, SimulatorConfig, TradeSnapshot};
use shopkeeper_tests::{plugins_dir, taobao_store, temp_dir};
use sqlx::Executor;

const ORDERS: usize = 10_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let simulator = Simulator::start(
        SimulatorConfig {
            seed: 99,
            rate_per_minute: 0.0,
            history_orders: ORDERS,
            history_span: Duration::from_secs(5 * 3600),
            time_scale: 0.0,
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let trades = simulator.simulator.trades_now();
    let lines: usize = trades.iter().map(|t| t.lines.len()).sum();
    println!("intake benchmark: {} orders, {lines} lines, SQLite, release build", trades.len());

    let mut pipeline = Vec::new();
    let mut raw = Vec::new();
    for round in 0..3 {
        pipeline.push(full_sync(&simulator, round).await);
        raw.push(raw_insert(&trades).await);
    }
    let best = |samples: &[Duration]| samples.iter().min().copied().unwrap();
    let rate = |elapsed: Duration| trades.len() as f64 / elapsed.as_secs_f64();
    let pipeline_rate = rate(best(&pipeline));
    let raw_rate = rate(best(&raw));
    println!();
    println!("| path | best of 3 | orders/s | ratio to raw |");
    println!("|---|---|---|---|");
    println!("| raw insert (orders, lines, raw payload; one transaction) | {:?} | {raw_rate:.0} | 1.00 |", best(&raw));
    println!(
        "| sync: simulator HTTP + plugin decoding + upsert + allocation + review | {:?} | {pipeline_rate:.0} | {:.2} |",
        best(&pipeline),
        pipeline_rate / raw_rate
    );
    println!();
    println!("goal: at least 5000 orders/s and at least 0.30 of the raw rate");
}

/// Syncs every simulated order into a fresh server and returns the time taken.
async fn full_sync(simulator: &shopkeeper_simulator::RunningSimulator, round: usize) -> Duration {
    let mut config = Config { data_dir: temp_dir(&format!("bench-sync-{round}")), ..Config::default() };
    config.sync.max_windows_per_run = 1_000;
    config.sync.lag = Duration::from_secs(1);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let app = App::open(config, shutdown).await.unwrap();
    app.plugins.install_from_dir(&app.db, &plugins_dir().join("taobao"), true).await.unwrap();
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let mut store = taobao_store("bench", simulator, 3600, 6 * 3600);
    store.config.insert("page_size".into(), "100".into());
    let store = app.add_store(&store).await.unwrap();
    let started = Instant::now();
    let summary = app.scheduler.run_once(store.id).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(summary.created as usize, ORDERS, "every order is stored by one run");
    elapsed
}

/// Inserts the same orders, lines and raw payloads directly, in one transaction.
async fn raw_insert(trades: &[TradeSnapshot]) -> Duration {
    let dir = temp_dir("bench-raw");
    let db = Db::open_sqlite(&dir).await.unwrap();
    let payloads: Vec<String> = trades.iter().map(|t| t.to_top_json(None).to_string()).collect();
    db.pool().execute("INSERT INTO stores (id, name, platform, plugin_id, config, created_at) VALUES (1, 'raw', 'taobao', 'taobao', '{}', 0)").await.unwrap();
    let started = Instant::now();
    let mut tx = db.pool().begin().await.unwrap();
    for (trade, raw) in trades.iter().zip(&payloads) {
        let row: (i64,) = sqlx::query_as(
            "INSERT INTO orders (store_id, platform_order_id, platform_status, platform_status_raw, workflow_state, \
             currency, goods_minor, shipping_minor, paid_minor, buyer_nick, buyer_remark, seller_remark, receiver_name, \
             receiver_phone, receiver_province, receiver_city, receiver_district, receiver_street, receiver_zip, \
             created_at, modified_at, paid_at, raw_payload, plugin_id, plugin_version, first_seen_at, updated_at) \
             VALUES (1, $1, 'paid', $2, 'approved', 'CNY', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, 'taobao', '0.1.0', $20, $20) RETURNING id",
        )
        .bind(trade.tid.to_string())
        .bind(&trade.status)
        .bind(trade.total_fee_fen)
        .bind(trade.post_fee_fen)
        .bind(trade.payment_fen)
        .bind(&trade.buyer_nick)
        .bind(trade.buyer_message.clone().unwrap_or_default())
        .bind(trade.seller_memo.clone().unwrap_or_default())
        .bind(&trade.receiver_name)
        .bind(&trade.receiver_mobile)
        .bind(&trade.receiver_state)
        .bind(&trade.receiver_city)
        .bind(&trade.receiver_district)
        .bind(&trade.receiver_address)
        .bind(&trade.receiver_zip)
        .bind(trade.created.timestamp_millis())
        .bind(trade.modified.timestamp_millis())
        .bind(trade.pay_time.map(|t| t.timestamp_millis()))
        .bind(raw)
        .bind(0_i64)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        for (index, line) in trade.lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, platform_line_id, platform_item_id, platform_sku_id, \
                 sku_code, title, quantity, unit_price_minor, total_minor, platform_status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(row.0)
            .bind(index as i64 + 1)
            .bind(line.oid.to_string())
            .bind(line.num_iid.to_string())
            .bind(&line.sku_id)
            .bind(&line.outer_sku_id)
            .bind(&line.title)
            .bind(i64::from(line.num))
            .bind(line.price_fen)
            .bind(line.payment_fen)
            .bind(&line.status)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    started.elapsed()
}

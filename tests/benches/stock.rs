//! Stock benchmarks on SQLite, each beside the same SQL without the rule and plugin layers, in
//! the same run. Run with `cargo xtask bench`.
//!
//! 1. Offers after a bulk stock import: 10,000 SKUs listed in 10 stores. Shopkeeper recomputes
//!    every offer with the stock-share rule and pushes each through the Taobao plugin (WASM,
//!    HTTP gate, TOP signing). The baseline runs the same queries and writes with a native
//!    even split, and sends the same signed TOP requests with a native HTTP client.
//!    Both push to one loopback endpoint that answers every `taobao.item.quantity.update`
//!    with success, because the simulator's catalog has only a few dozen SKUs.
//! 2. A burst of 2,000 paid orders on one hot SKU with 1,500 units, one page per order:
//!    Shopkeeper's intake (allocation, reservation, review, offers) beside the same inserts,
//!    lock, conditional update, reservation, movement and offer writes issued directly.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::routing::post;
use shopkeeper::config::Config;
use shopkeeper::domain::{Address, IncomingLine, IncomingOrder, PlatformStatus};
use shopkeeper::intake::{PagePosition, store_page};
use shopkeeper::plugin::Page;
use shopkeeper::server::App;
use shopkeeper::storage::orders::{Decisions, Provenance};
use shopkeeper::storage::stock::{Movement, MovementKind};
use shopkeeper::storage::stores::Store;
use shopkeeper_tests::{plugins_dir, taobao_store_at, temp_dir};

const SKUS: usize = 10_000;
const STORES: usize = 10;
const BURST: usize = 2_000;
const HOT_STOCK: i64 = 1_500;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let sink = start_sink().await;
    println!("stock benchmark: SQLite, release build");
    println!();
    println!("| step | baseline | Shopkeeper | ratio |");
    println!("|---|---|---|---|");

    let (app, stores) = open_app("bench-offers", STORES, sink).await;
    let import = time(bulk_import(&app, &stores)).await;
    eprintln!("bulk import of {SKUS} SKUs with {} listings took {import:.2?}", SKUS * STORES);
    let baseline_recompute = time(native_recompute(&app)).await;
    reset_offers(&app).await;
    let shopkeeper_recompute = time(async {
        shopkeeper::stock::recompute_all(&app.db, &app.rules).await.unwrap();
    })
    .await;
    row(&format!("recompute offers, {SKUS} SKUs × {STORES} stores"), baseline_recompute, shopkeeper_recompute);

    let baseline_push = time(native_push(&app, &stores, sink)).await;
    mark_pending(&app).await;
    let pusher = shopkeeper::stock::Pusher::new(app.db.clone(), app.plugins.clone(), "bench".into());
    let shopkeeper_push = time(async {
        while pusher.push_due().await.unwrap() > 0 {}
    })
    .await;
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stock_offers WHERE pending = 1").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(pending, 0, "every offer was pushed");
    row(&format!("push {} offers through the plugin", SKUS * STORES), baseline_push, shopkeeper_push);
    app.db.close().await;

    let (app, stores) = open_app("bench-burst-native", 2, sink).await;
    hot_sku(&app, &stores).await;
    let baseline_burst = time(native_burst(&app, &stores[0])).await;
    check_burst(&app).await;
    app.db.close().await;
    let (app, stores) = open_app("bench-burst", 2, sink).await;
    hot_sku(&app, &stores).await;
    let shopkeeper_burst = time(async {
        for index in 0..BURST {
            let page = Page { orders: vec![hot_order(index)], next_page_token: None };
            store_page(&app.db, &app.rules, &stores[0], "0.2.0", &PagePosition { run_id: 0, window: (0, 1) }, &page).await.unwrap();
        }
    })
    .await;
    check_burst(&app).await;
    row(&format!("reserve a burst of {BURST} orders on one SKU ({HOT_STOCK} units)"), baseline_burst, shopkeeper_burst);
    println!();
    println!("goal: every ratio at most 3");
}

fn row(step: &str, baseline: Duration, shopkeeper: Duration) {
    println!("| {step} | {baseline:.2?} | {shopkeeper:.2?} | {:.2} |", shopkeeper.as_secs_f64() / baseline.as_secs_f64());
}

async fn time(work: impl std::future::Future<Output = ()>) -> Duration {
    let started = Instant::now();
    work.await;
    started.elapsed()
}

/// A loopback endpoint that answers every TOP call as a successful quantity update.
async fn start_sink() -> std::net::SocketAddr {
    async fn answer(axum::Form(fields): axum::Form<BTreeMap<String, String>>) -> axum::Json<serde_json::Value> {
        let num_iid = fields.get("num_iid").cloned().unwrap_or_default();
        let quantity = fields.get("quantity").cloned().unwrap_or_default();
        axum::Json(serde_json::json!({
            "item_quantity_update_response": { "item": { "num_iid": num_iid, "num": quantity, "modified": "2026-12-04 12:00:00" } }
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/router/rest", post(answer))).await.unwrap() });
    addr
}

async fn open_app(label: &str, stores: usize, sink: std::net::SocketAddr) -> (App, Vec<Store>) {
    let data_dir = temp_dir(label);
    let config = Config { data_dir: data_dir.clone(), database_url: Some(format!("sqlite://{}?mode=rwc", data_dir.join("shopkeeper.db").display())), ..Config::default() };
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let app = App::open(config, shutdown).await.unwrap();
    app.plugins.install_from_dir(&app.db, &plugins_dir().join("taobao"), true).await.unwrap();
    app.db.ensure_warehouse("MAIN", "Main", "浙江省", "杭州市").await.unwrap();
    let mut list = Vec::new();
    for index in 0..stores {
        list.push(app.add_store(&taobao_store_at(&format!("Store {index}"), sink, 3600, 3600)).await.unwrap());
    }
    (app, list)
}

/// SKUs, listings in every store and a receipt for each SKU, written in bulk.
async fn bulk_import(app: &App, stores: &[Store]) {
    let warehouse: i64 = sqlx::query_scalar("SELECT id FROM warehouses WHERE code = 'MAIN'").fetch_one(app.db.pool()).await.unwrap();
    let mut write = app.db.begin_write().await.unwrap();
    for index in 0..SKUS {
        let code = format!("BULK-{index:05}");
        for store in stores {
            write.upsert_listing(store.id, &format!("{}", 100_000 + index), &format!("{}", 900_000 + index), &code, "bulk goods", "", 0).await.unwrap();
        }
        let sku: i64 = write.sku_by_code(&code).await.unwrap().unwrap();
        let movement = Movement {
            sku_id: sku,
            warehouse_id: warehouse,
            kind: MovementKind::Receipt,
            on_hand_delta: 20 + (index % 50) as i64,
            reserved_delta: 0,
            order_id: None,
            order_line_id: None,
            reason: "bulk import",
            actor: "bench",
        };
        assert!(write.apply_movement(&movement).await.unwrap());
    }
    write.commit().await.unwrap();
}

/// The recomputation's queries and writes with an even split instead of the rule.
async fn native_recompute(app: &App) {
    let ids = app.db.offered_sku_ids().await.unwrap();
    let since = shopkeeper::now_ms() - 7 * 24 * 3600 * 1000;
    for chunk in ids.chunks(500) {
        let mut write = app.db.begin_write().await.unwrap();
        write.lock_skus(chunk).await.unwrap();
        for &sku in chunk {
            let _tracked: Option<(String, String, i64)> = sqlx::query_as("SELECT code, name, stock_tracked FROM skus WHERE id = $1")
                .bind(sku)
                .fetch_optional(&mut *write.tx)
                .await
                .unwrap();
            let targets = write.offer_targets(sku, since).await.unwrap();
            let free: i64 = write.sku_levels(sku).await.unwrap().iter().map(|l| l.available()).sum();
            let count = targets.len() as i64;
            for (index, target) in targets.iter().enumerate() {
                let offered = free / count + i64::from((index as i64) < free % count);
                write.set_offer(target.store_id, sku, offered).await.unwrap();
            }
        }
        write.commit().await.unwrap();
    }
}

async fn reset_offers(app: &App) {
    sqlx::query("DELETE FROM stock_offers").execute(app.db.pool()).await.unwrap();
}

async fn mark_pending(app: &App) {
    sqlx::query("UPDATE stock_offers SET pending = 1, pushed_quantity = NULL, next_attempt_at = 0").execute(app.db.pool()).await.unwrap();
}

/// The pusher's queries and writes, with each update sent as the same signed TOP request by a
/// native client.
async fn native_push(app: &App, stores: &[Store], sink: std::net::SocketAddr) {
    let client = reqwest::Client::new();
    let url = format!("http://{sink}/router/rest");
    loop {
        let mut pushed = 0;
        for store in stores {
            let due = app.db.due_offers(store.id, shopkeeper::now_ms(), 100).await.unwrap();
            for offer in &due {
                for (item, sku) in &offer.listings {
                    let quantity = offer.offered.to_string();
                    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
                    let mut params: Vec<(&str, &str)> = vec![
                        ("method", "taobao.item.quantity.update"),
                        ("app_key", shopkeeper_simulator::DEMO_APP_KEY),
                        ("session", shopkeeper_simulator::DEMO_SESSION),
                        ("timestamp", &timestamp),
                        ("format", "json"),
                        ("v", "2.0"),
                        ("sign_method", "hmac-sha256"),
                        ("num_iid", item),
                        ("quantity", &quantity),
                        ("type", "1"),
                        ("sku_id", sku),
                    ];
                    let sign = shopkeeper_simulator::top_sign(params.iter().copied(), shopkeeper_simulator::DEMO_APP_SECRET, shopkeeper_simulator::SignMethod::HmacSha256);
                    params.push(("sign", &sign));
                    let response = client.post(&url).form(&params).send().await.unwrap();
                    let body: serde_json::Value = response.json().await.unwrap();
                    assert!(body["item_quantity_update_response"]["item"].is_object());
                }
                app.db.offer_pushed(store.id, offer.sku_id, offer.revision, offer.offered).await.unwrap();
                pushed += 1;
            }
        }
        if pushed == 0 {
            break;
        }
    }
}

async fn hot_sku(app: &App, stores: &[Store]) {
    let mut write = app.db.begin_write().await.unwrap();
    for store in stores {
        write.upsert_listing(store.id, "I-HOT", "S-HOT", "HOT", "hot goods", "", 0).await.unwrap();
    }
    write.commit().await.unwrap();
    let change = shopkeeper::stock::StockChange::Receipt { sku: "HOT".into(), warehouse: "MAIN".into(), quantity: HOT_STOCK, reason: String::new() };
    shopkeeper::stock::apply_change(&app.db, &app.rules, &change, "bench").await.unwrap();
}

fn hot_order(index: usize) -> IncomingOrder {
    IncomingOrder {
        platform_order_id: format!("HOT-{index}"),
        status: PlatformStatus::Paid,
        platform_status: "WAIT_SELLER_SEND_GOODS".into(),
        currency: "CNY".into(),
        goods_minor: 990,
        shipping_minor: 0,
        paid_minor: 990,
        buyer_nick: format!("buyer{index}"),
        buyer_remark: String::new(),
        seller_remark: String::new(),
        receiver: Address {
            name: "李四".into(),
            phone: "139****0000".into(),
            province: "浙江省".into(),
            city: "杭州市".into(),
            district: "西湖区".into(),
            street: "文三路 2 号".into(),
            zip: "310000".into(),
        },
        created_at_ms: 1_700_000_000_000 + index as i64,
        modified_at_ms: 1_700_000_000_000 + index as i64,
        paid_at_ms: Some(1_700_000_000_000 + index as i64),
        lines: vec![IncomingLine {
            platform_line_id: format!("HOT-{index}-1"),
            platform_item_id: "I-HOT".into(),
            platform_sku_id: "S-HOT".into(),
            sku_code: "HOT".into(),
            title: "hot goods".into(),
            quantity: 1,
            unit_price_minor: 990,
            total_minor: 990,
            platform_status: "WAIT_SELLER_SEND_GOODS".into(),
        }],
        raw: "{}".into(),
    }
}

/// Per order, in one transaction: the order and its line, the SKU lock, the level check and
/// conditional update, the reservation, the movement and both stores' offers.
async fn native_burst(app: &App, store: &Store) {
    let from = Provenance { store_id: store.id, plugin_id: "taobao", plugin_version: "0.2.0" };
    let warehouse: i64 = sqlx::query_scalar("SELECT id FROM warehouses WHERE code = 'MAIN'").fetch_one(app.db.pool()).await.unwrap();
    for index in 0..BURST {
        let order = hot_order(index);
        let mut write = app.db.begin_write().await.unwrap();
        let line = &order.lines[0];
        let sku = write.resolve_line_sku(store.id, &line.platform_item_id, &line.platform_sku_id, &line.sku_code).await.unwrap().unwrap();
        write.lock_skus(&[sku.id]).await.unwrap();
        let free: i64 = write.sku_levels(sku.id).await.unwrap().iter().map(|l| l.available()).sum();
        let reserve = free >= 1;
        let workflow = if reserve { shopkeeper::domain::WorkflowState::Approved } else { shopkeeper::domain::WorkflowState::Exception };
        let id = write.insert_order(&order, &from, workflow, &Decisions::default()).await.unwrap();
        if reserve {
            let (line_id, _) = write.order_line_ids(id).await.unwrap()[0].clone();
            write.insert_reservation(line_id, id, store.id, sku.id, warehouse, 1).await.unwrap();
            let movement = Movement {
                sku_id: sku.id,
                warehouse_id: warehouse,
                kind: MovementKind::Reserved,
                on_hand_delta: 0,
                reserved_delta: 1,
                order_id: Some(id),
                order_line_id: Some(line_id),
                reason: "paid order",
                actor: "intake",
            };
            assert!(write.apply_movement(&movement).await.unwrap());
            let free = free - 1;
            let targets = write.offer_targets(sku.id, 0).await.unwrap();
            let count = targets.len() as i64;
            for (position, target) in targets.iter().enumerate() {
                write.set_offer(target.store_id, sku.id, free / count + i64::from((position as i64) < free % count)).await.unwrap();
            }
        }
        write.commit().await.unwrap();
    }
}

async fn check_burst(app: &App) {
    let rows = app.db.stock_rows().await.unwrap();
    let hot = rows.iter().find(|row| row.sku_code == "HOT").unwrap();
    assert_eq!((hot.on_hand, hot.reserved), (HOT_STOCK, HOT_STOCK), "every unit reserved once, none beyond");
    let offered: i64 = app.db.offer_rows().await.unwrap().iter().filter(|o| o.sku_code == "HOT").map(|o| o.offered).sum();
    assert_eq!(offered, 0);
}

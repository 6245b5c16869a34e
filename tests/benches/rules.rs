//! Per-order cost of each default rule script beside the same logic as a native Rust function,
//! in the same run. Run with `cargo xtask bench`.

use std::time::{Duration, Instant};

use shopkeeper::domain::{Address, IncomingLine, IncomingOrder, PlatformStatus, format_minor};
use shopkeeper::rules::{RuleBook, ScriptLimits, order_map};
use shopkeeper::storage::Db;
use shopkeeper::storage::stores::Warehouse;
use shopkeeper_tests::temp_dir;

fn order(n: usize) -> IncomingOrder {
    IncomingOrder {
        platform_order_id: format!("bench-{n}"),
        status: PlatformStatus::Paid,
        platform_status: "WAIT_SELLER_SEND_GOODS".into(),
        currency: "CNY".into(),
        goods_minor: 12_800 + n as i64,
        shipping_minor: 1_000,
        paid_minor: if n % 10 == 0 { 250_000 } else { 13_800 },
        buyer_nick: "tb_bench".into(),
        buyer_remark: if n % 5 == 0 { "请尽快发货".into() } else { String::new() },
        seller_remark: String::new(),
        receiver: Address { name: "张三".into(), phone: "138****0000".into(), province: "广东省".into(), city: "深圳市".into(), district: "南山区".into(), street: "科技园".into(), zip: "518000".into() },
        created_at_ms: 1_764_800_000_000,
        modified_at_ms: 1_764_800_000_000,
        paid_at_ms: Some(1_764_800_000_000),
        lines: (0..2)
            .map(|line| IncomingLine {
                platform_line_id: line.to_string(),
                platform_item_id: "1".into(),
                platform_sku_id: "2".into(),
                sku_code: format!("SKU-{line}"),
                title: "商品".into(),
                quantity: 1,
                unit_price_minor: 6_400,
                total_minor: 6_400,
                platform_status: "WAIT_SELLER_SEND_GOODS".into(),
            })
            .collect(),
        raw: String::new(),
    }
}

/// Runs the built-in review rule, written in Rust.
fn native_review(order: &IncomingOrder) -> (&'static str, String) {
    if order.status == PlatformStatus::RefundRequested {
        return ("hold", "the buyer asked for a refund".into());
    }
    if !order.buyer_remark.is_empty() {
        return ("hold", format!("buyer left a remark: {}", order.buyer_remark));
    }
    let hold_over_fen = 200_000;
    if order.paid_minor > hold_over_fen {
        return ("hold", format!("amount {} yuan is over {} yuan", format_minor(order.paid_minor), format_minor(hold_over_fen)));
    }
    ("approve", String::new())
}

/// Runs the built-in allocation rule, written in Rust. `stock[i]` holds the free units of the
/// order's stock-managed SKUs in `warehouses[i]`; the benchmark's orders have none, as the
/// script's input then has none either.
fn native_allocate(order: &IncomingOrder, warehouses: &[Warehouse]) -> (String, String) {
    let stock: Vec<std::collections::HashMap<&str, i64>> = warehouses.iter().map(|_| Default::default()).collect();
    let managed = |_line: &shopkeeper::domain::IncomingLine| false;
    let has_stock = |index: usize| {
        order.lines.iter().filter(|line| managed(line)).all(|line| stock[index].get(line.sku_code.as_str()).copied().unwrap_or(0) >= line.quantity)
    };
    for (index, warehouse) in warehouses.iter().enumerate() {
        if !warehouse.province.is_empty() && warehouse.province == order.receiver.province && has_stock(index) {
            return (warehouse.code.clone(), format!("same province as the receiver ({})", warehouse.province));
        }
    }
    for (index, warehouse) in warehouses.iter().enumerate() {
        if has_stock(index) {
            return (warehouse.code.clone(), format!("first warehouse with stock: {}", warehouse.name));
        }
    }
    (warehouses[0].code.clone(), format!("main warehouse {}; no warehouse has every line in stock", warehouses[0].name))
}

fn per_order(orders: &[IncomingOrder], mut work: impl FnMut(&IncomingOrder)) -> Duration {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for order in orders {
                work(order);
            }
            started.elapsed() / orders.len() as u32
        })
        .min()
        .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let rules = runtime.block_on(async {
        let db = Db::open_sqlite(&temp_dir("bench-rules")).await.unwrap();
        RuleBook::load(&db, None, ScriptLimits::default()).await.unwrap()
    });
    let set = rules.current();
    let warehouses = vec![
        Warehouse { id: 1, code: "WH-HZ".into(), name: "杭州总仓".into(), province: "浙江省".into(), city: "杭州市".into() },
        Warehouse { id: 2, code: "WH-SZ".into(), name: "深圳仓".into(), province: "广东省".into(), city: "深圳市".into() },
    ];
    let orders: Vec<IncomingOrder> = (0..5_000).map(order).collect();

    let script_review = per_order(&orders, |order| {
        let map = order_map(order, "bench", "taobao");
        std::hint::black_box(rules.review(&set, &map).unwrap());
    });
    let native_review_time = per_order(&orders, |order| {
        std::hint::black_box(native_review(order));
    });
    let script_allocation = per_order(&orders, |order| {
        let map = order_map(order, "bench", "taobao");
        std::hint::black_box(rules.allocate(&set, &map, &warehouses, &[], order.lines.len()).unwrap());
    });
    let native_allocation_time = per_order(&orders, |order| {
        std::hint::black_box(native_allocate(order, &warehouses));
    });

    println!("rule benchmark: 5000 orders of 2 lines, release build, best of 5 rounds");
    println!("the script times include building the order map the script receives");
    println!();
    println!("| rule | script per order | native per order | ratio |");
    println!("|---|---|---|---|");
    for (name, script, native) in [("review", script_review, native_review_time), ("allocation", script_allocation, native_allocation_time)] {
        println!("| {name} | {script:?} | {native:?} | {:.1} |", script.as_secs_f64() / native.as_secs_f64());
    }
    println!();
    println!("goal: at most 20 times the native cost and under 30 µs per order");
}

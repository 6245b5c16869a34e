//! Rule versions edited through the API: compile errors with their position, dry runs, refused
//! and accepted activations, and the next synced orders decided by the new version.

use std::time::Duration;

use serde_json::{Value, json};
use shopkeeper::storage::orders::OrderFilter;
use shopkeeper_simulator::{Simulator, SimulatorConfig};
use shopkeeper_tests::*;

/// The built-in review rule plus one more check: orders of three items or more go to a person.
/// The check also reads `buyer_previous_orders`: Rhai compares a missing field as false, so an
/// order sent to a person proves intake supplied the field.
fn review_with_item_check() -> String {
    shopkeeper::rules::RuleKind::Review.built_in_source().replacen(
        "fn review(order) {\n",
        "fn review(order) {\n    if order.item_count >= 3 && order.buyer_previous_orders >= 0 {\n        return #{ decision: \"review\", reason: \"three items or more\" };\n    }\n",
        1,
    )
}

async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn edited_rule_decides_next_orders(kind: DbKind) {
    init_logging();
    let simulator = Simulator::start(
        SimulatorConfig { seed: 17, rate_per_minute: 240.0, history_orders: 40, time_scale: 0.002, ..SimulatorConfig::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let Some(config) = test_config(kind, "rules-edit").await else { return };
    let server = start_server(config).await;
    let app = &server.app;
    let base = server.url();
    install_plugin(app, "taobao").await;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let store = add_taobao_store(app, "rules-store", &simulator, 1, 3600).await;
    wait_until(Duration::from_secs(30), "decided orders", || async {
        let n = app.db.recent_decided_orders(5).await.map_err(|e| e.to_string())?.len();
        if n >= 5 { Ok(()) } else { Err(format!("{n} decided")) }
    })
    .await;

    // A syntax error is refused with its line and column, and nothing is stored.
    let broken = "fn review(order) {\n    let x = ;\n}\n";
    let (status, body) = post_json(&format!("{base}/api/rules/review/versions"), &json!({ "source": broken })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["line"], 2, "{body}");
    assert!(body["column"].as_u64().is_some(), "{body}");
    assert_eq!(app.db.rule_versions("review").await.unwrap().len(), 1);

    // A version that fails its samples (it sends everything to a person) is not activated.
    let (status, body) = post_json(
        &format!("{base}/api/rules/review/versions"),
        &json!({ "source": "fn review(order) { #{ decision: \"review\", reason: \"all by hand\" } }", "author": "test" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 2);
    let (status, body) = post_json(&format!("{base}/api/rules/review/versions/2/activate"), &json!({})).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("plain.json"), "names the failing sample: {body}");
    assert_eq!(app.rules.current().review.version, 1, "the old version keeps serving");

    // A good version: dry run, activate, and the next orders follow it.
    let (status, body) = post_json(&format!("{base}/api/rules/review/versions"), &json!({ "source": review_with_item_check() })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"], 3);
    let (status, run) = post_json(&format!("{base}/api/rules/review/versions/3/dry-run"), &json!({})).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["active_version"], 1);
    assert!(run["sample_failures"].as_array().unwrap().is_empty(), "{run}");
    let rows = run["rows"].as_array().unwrap();
    assert!(rows.iter().filter(|row| row["source"] == "sample").count() >= 4);
    assert!(rows.iter().any(|row| row["source"] == "rules-store"), "recent real orders are replayed");
    let counted = rows.iter().filter(|row| row["differs"] == true).count();
    assert_eq!(run["differences"].as_u64().unwrap() as usize, counted);

    let activated_at = shopkeeper::now_ms();
    let (status, body) = post_json(&format!("{base}/api/rules/review/versions/3/activate"), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.rules.current().review.version, 3);
    // Orders keep arriving: each is decided by exactly one version, and the ones first decided
    // after the activation by version 3.
    wait_until(Duration::from_secs(60), "an order of three items or more decided by version 3", || async {
        let orders = app.db.list_orders(&OrderFilter { store_id: Some(store.id), limit: 500, ..OrderFilter::default() }).await.map_err(|e| e.to_string())?;
        let found = orders.iter().any(|o| o.review_rule_version == Some(3) && o.workflow_state == "pending_review");
        if found { Ok(()) } else { Err("none yet".into()) }
    })
    .await;
    let orders = app.db.list_orders(&OrderFilter { store_id: Some(store.id), limit: 500, ..OrderFilter::default() }).await.unwrap();
    for order in orders.iter().filter(|o| o.review_decision.is_some()) {
        assert!(matches!(order.review_rule_version, Some(1) | Some(3)), "{order:?}");
        if order.decided_at.unwrap() > activated_at + 1_000 {
            assert_eq!(order.review_rule_version, Some(3), "decided after activation: {order:?}");
        }
        if order.review_rule_version == Some(1) {
            assert_ne!(order.workflow_state, "pending_review", "version 1 never asks for a person: {order:?}");
        }
    }

    // Re-activating an earlier version works the same way.
    let (status, _) = post_json(&format!("{base}/api/rules/review/versions/1/activate"), &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(app.rules.current().review.version, 1);
    server.shutdown().await;
}
on_both_databases!(edited_rule_decides_next_orders);

/// Two servers on one PostgreSQL database: a version activated on one decides on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn activation_reaches_other_server() {
    init_logging();
    let Some(first_config) = test_config(DbKind::Postgres, "rules-node-a").await else { return };
    let mut second_config = first_config.clone();
    second_config.data_dir = temp_dir("rules-node-b");
    let first = start_server(first_config).await;
    let second = start_server(second_config).await;
    first.app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    assert_eq!(second.app.rules.current().review.version, 1);

    let (status, body) = post_json(&format!("{}/api/rules/review/versions", first.url()), &json!({ "source": review_with_item_check() })).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post_json(&format!("{}/api/rules/review/versions/2/activate", first.url()), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let started = std::time::Instant::now();
    wait_until(Duration::from_secs(10), "the second server to load version 2", || async {
        let version = second.app.rules.current().review.version;
        if version == 2 { Ok(()) } else { Err(format!("still version {version}")) }
    })
    .await;
    eprintln!("the second server switched after {:?}", started.elapsed());

    // The second server's next decision uses version 2.
    let mut order = shopkeeper::rules::order_map(&sample_order(), "node-b", "taobao");
    order.insert("item_count".into(), 3_i64.into());
    order.insert("buyer_previous_orders".into(), 0_i64.into());
    order.insert("warehouse".into(), "WH-HZ".into());
    let review = second.app.rules.review(&second.app.rules.current(), &order).unwrap();
    assert_eq!(review.rule_version, 2);
    assert!(matches!(review.decision, shopkeeper::rules::ReviewDecision::Manual(_)), "{review:?}");
    first.shutdown().await;
    second.shutdown().await;
}

fn sample_order() -> shopkeeper::domain::IncomingOrder {
    shopkeeper::domain::IncomingOrder {
        platform_order_id: "node-b-1".into(),
        status: shopkeeper::domain::PlatformStatus::Paid,
        platform_status: "WAIT_SELLER_SEND_GOODS".into(),
        currency: "CNY".into(),
        goods_minor: 3_000,
        shipping_minor: 0,
        paid_minor: 3_000,
        buyer_nick: "buyer".into(),
        buyer_remark: String::new(),
        seller_remark: String::new(),
        receiver: Default::default(),
        created_at_ms: 1_764_800_000_000,
        modified_at_ms: 1_764_800_000_000,
        paid_at_ms: Some(1_764_800_000_000),
        lines: vec![],
        raw: "{}".into(),
    }
}

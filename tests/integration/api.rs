//! The JSON API: order filters, keyset pagination, secrets kept out of store listings, and
//! clear errors for bad input.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use shopkeeper_simulator::{Simulator, SimulatorConfig};
use shopkeeper_tests::*;

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_filter_and_page() {
    init_logging();
    let simulator = Simulator::start(
        SimulatorConfig { seed: 3, rate_per_minute: 0.0, history_orders: 90, time_scale: 0.0, ..SimulatorConfig::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let config = test_config(DbKind::Sqlite, "api").await.unwrap();
    let server = start_server(config).await;
    let app = &server.app;
    install_plugin(app, "taobao").await;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let store = add_taobao_store(app, "api-store", &simulator, 1, 4 * 3600).await;
    let base = server.url();
    let total = simulator.simulator.trades_now().len();
    wait_until(Duration::from_secs(30), "all orders", || async {
        let (_, body) = get(&format!("{base}/api/orders?limit=500")).await;
        let n = body["orders"].as_array().unwrap().len();
        if n == total { Ok(()) } else { Err(format!("{n} of {total}")) }
    })
    .await;

    // Keyset pages of 7 add up to the whole list, newest first, with no order twice.
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let url = match before {
            Some(id) => format!("{base}/api/orders?limit=7&before={id}"),
            None => format!("{base}/api/orders?limit=7"),
        };
        let (status, body) = get(&url).await;
        assert_eq!(status, 200);
        let ids: Vec<i64> = body["orders"].as_array().unwrap().iter().map(|o| o["id"].as_i64().unwrap()).collect();
        assert!(ids.len() <= 7);
        seen.extend(ids);
        match body["next_before"].as_i64() {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), total);
    assert!(seen.windows(2).all(|pair| pair[0] > pair[1]), "newest first");

    // Each filter returns only matching orders, and together they cover every order.
    let mut by_state = 0;
    for state in ["awaiting_payment", "pending_review", "approved", "held", "exception", "archived"] {
        let (status, body) = get(&format!("{base}/api/orders?limit=500&workflow_state={state}&store_id={}", store.id)).await;
        assert_eq!(status, 200);
        let orders = body["orders"].as_array().unwrap();
        assert!(orders.iter().all(|o| o["workflow_state"] == state));
        by_state += orders.len();
    }
    assert_eq!(by_state, total);
    let (_, held) = get(&format!("{base}/api/orders?limit=500&workflow_state=held")).await;
    assert!(!held["orders"].as_array().unwrap().is_empty(), "the default review rule holds some simulated orders");
    let (_, paid) = get(&format!("{base}/api/orders?limit=500&platform_status=paid")).await;
    assert!(paid["orders"].as_array().unwrap().iter().all(|o| o["platform_status"] == "paid"));

    // One order in full, with its lines and the raw trade.
    let first = seen[0];
    let (status, detail) = get(&format!("{base}/api/orders/{first}")).await;
    assert_eq!(status, 200);
    assert!(!detail["lines"].as_array().unwrap().is_empty());
    assert!(detail["raw_payload"]["tid"].is_number(), "the raw Taobao trade is kept: {}", detail["raw_payload"]);

    // Bad input gets a 400 that names the value.
    let (status, body) = get(&format!("{base}/api/orders?workflow_state=shipped-ish")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("shipped-ish"), "{body}");
    let (status, body) = get(&format!("{base}/api/orders?limit=0")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("limit 0"), "{body}");
    let (status, _) = get(&format!("{base}/api/orders/999999")).await;
    assert_eq!(status, 404);

    // Secrets never come back from the API.
    let (_, stores) = get(&format!("{base}/api/stores")).await;
    let listed = &stores.as_array().unwrap()[0];
    assert!(listed["config"].get("app_secret").is_none(), "{listed}");
    assert!(listed["config"].get("session").is_none(), "{listed}");
    assert!(listed["secrets_set"].as_array().unwrap().iter().any(|s| s == "app_secret"));
    let raw = stores.to_string();
    assert!(!raw.contains(shopkeeper_simulator::DEMO_APP_SECRET));

    // Adding a store with a bad configuration is refused with the field named.
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/api/stores"))
        .json(&serde_json::json!({ "name": "broken", "platform": "taobao", "plugin_id": "taobao", "config": { "app_key": "k" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("app_secret"), "{body}");

    // Out-of-range store settings are refused with the field named, before they reach the sync.
    for (field, value) in [("initial_lookback_secs", 0_i64), ("initial_lookback_secs", i64::MAX), ("sync_interval_secs", 0)] {
        let mut new_store = taobao_store(&format!("range-{field}-{value}"), &simulator, 1, 3600);
        match field {
            "initial_lookback_secs" => new_store.initial_lookback_secs = value,
            _ => new_store.sync_interval_secs = value,
        }
        let response = client.post(format!("{base}/api/stores")).json(&new_store).send().await.unwrap();
        assert_eq!(response.status(), 400, "{field} = {value}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(field), "{body}");
    }

    // An existing store can be changed: a bad origin is refused, disabling pauses it.
    let response = client.patch(format!("{base}/api/stores/{}", store.id)).json(&serde_json::json!({ "approved_origins": ["ftp://x"] })).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("ftp://x"), "{body}");
    let response = client.patch(format!("{base}/api/stores/{}", store.id)).json(&serde_json::json!({ "enabled": false })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sync_paused"], "the store is disabled", "{body}");
    assert!(body["config"].get("app_secret").is_none(), "secrets stay hidden in the answer: {body}");
    let kept = app.db.store(store.id).await.unwrap().unwrap();
    assert_eq!(kept.config.get("app_secret").map(String::as_str), Some(shopkeeper_simulator::DEMO_APP_SECRET), "a change without secrets keeps them");

    // The platform name defaults to the plugin id, as on the command line.
    let mut new_store = serde_json::to_value(taobao_store("no-platform", &simulator, 60, 3600)).unwrap();
    new_store.as_object_mut().unwrap().remove("platform");
    let response = client.post(format!("{base}/api/stores")).json(&new_store).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["platform"], "taobao", "{body}");

    // Malformed input gets the same JSON error shape as every other API error.
    let response = client.post(format!("{base}/api/stores")).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = get(&format!("{base}/api/orders/not-a-number")).await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string(), "{body}");

    // Another site can neither read the API through a rebound name nor post to it.
    let response = client.get(format!("{base}/api/orders")).header("host", "evil.example").send().await.unwrap();
    assert_eq!(response.status(), 421);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("evil.example"), "{body}");
    let response = client
        .post(format!("{base}/api/stores/{}/sync", store.id))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = client.post(format!("{base}/api/stores/{}/sync", store.id)).header("origin", base.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 202, "the server's own page may post");
    server.shutdown().await;
}

/// The page's editor script is served from the binary with a JavaScript type and a cache
/// lifetime, and the page loads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn editor_script_served() {
    init_logging();
    let config = test_config(DbKind::Sqlite, "api-assets").await.unwrap();
    let server = start_server(config).await;
    let base = server.url();

    let response = reqwest::get(format!("{base}/assets/editor.js")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("content-type"), "text/javascript; charset=utf-8");
    assert!(header("cache-control").contains("max-age="), "{}", header("cache-control"));
    let script = response.text().await.unwrap();
    let built = std::fs::read_to_string(workspace_root().join("core/src/http/assets/editor.js")).unwrap();
    assert!(script == built, "the served script is the checked-in build");
    assert!(script.contains("ShopkeeperEditor"));
    assert!(script.len() < 500 * 1024, "the bundle is {} bytes", script.len());

    let page = reqwest::get(&base).await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<script src="/assets/editor.js"></script>"#));
    server.shutdown().await;
}

//! Misbehaving plugins fail their own store's sync run with an error that names the plugin,
//! the store and the limit, while a well-behaved store on the same server keeps syncing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shopkeeper::storage::stores::NewStore;
use shopkeeper_simulator::{Simulator, SimulatorConfig};
use shopkeeper_tests::*;

use crate::sync::compare_with_trades;

/// A loopback listener that counts connections; it stands for a host no plugin may reach.
async fn forbidden_listener() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, connections)
}

fn hostile_store(mode: &str, target: Option<String>) -> NewStore {
    let mut config = std::collections::BTreeMap::from([("mode".to_owned(), mode.to_owned())]);
    if let Some(target) = target {
        config.insert("target".into(), target);
    }
    NewStore {
        name: format!("hostile-{mode}"),
        platform: "test".into(),
        plugin_id: "hostile".into(),
        config,
        approved_origins: vec![],
        sync_interval_secs: 1,
        initial_lookback_secs: 600,
    }
}

async fn hostile_plugins_fail_alone(kind: DbKind) {
    init_logging();
    let simulator = Simulator::start(
        SimulatorConfig { seed: 5, rate_per_minute: 0.0, history_orders: 80, time_scale: 0.0, ..SimulatorConfig::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let (forbidden, connections) = forbidden_listener().await;
    let Some(mut config) = test_config(kind, "hostile").await else { return };
    config.sandbox.cpu_time_per_call = Duration::from_millis(300);
    config.sandbox.max_memory_bytes = 64 * 1024 * 1024;
    let server = start_server(config).await;
    let app = &server.app;
    install_plugin(app, "taobao").await;
    install_plugin(app, "hostile").await;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();
    let good = add_taobao_store(app, "well-behaved", &simulator, 1, 4 * 3600).await;

    let cases = [
        ("trap", None, "trapped"),
        ("loop", None, "CPU time limit of 300 ms"),
        ("forbidden-host", Some(format!("http://{forbidden}/steal")), "not in the plugin's allowed_hosts"),
        ("memory-bomb", None, "memory limit"),
        ("recursion", None, "overflowed its call stack"),
        ("huge-output", None, "limit"),
    ];
    let mut stores = Vec::new();
    for (mode, target, _) in &cases {
        stores.push(app.add_store(&hostile_store(mode, target.clone())).await.unwrap());
    }
    for ((mode, _, expected), store) in cases.iter().zip(&stores) {
        let run = wait_until(Duration::from_secs(60), &format!("a failed run of hostile mode {mode}"), || async {
            let runs = app.db.list_sync_runs(Some(store.id), 5).await.map_err(|e| e.to_string())?;
            runs.into_iter().find(|run| run.status == "failed").ok_or_else(|| "no failed run yet".to_owned())
        })
        .await;
        let error = run.error.unwrap();
        assert!(error.contains("hostile@0.1.0"), "{mode}: names the plugin: {error}");
        assert!(error.contains(&store.name), "{mode}: names the store: {error}");
        assert!(error.contains(expected), "{mode}: names the limit ({expected}): {error}");
        assert_eq!(run.pages, 0, "{mode}: no partial page is stored");
    }
    // The well-behaved store synced everything while the others failed.
    let target = simulator.simulator.trades_now();
    wait_until(Duration::from_secs(60), "the well-behaved store to sync", || compare_with_trades(&app.db, good.id, &target)).await;
    // The failing stores keep being retried and keep failing cleanly; the server still serves.
    let trap_store = &stores[0];
    wait_until(Duration::from_secs(30), "a second failed run of the trapping plugin", || async {
        let runs = app.db.list_sync_runs(Some(trap_store.id), 10).await.map_err(|e| e.to_string())?;
        let failed = runs.iter().filter(|run| run.status == "failed").count();
        if failed >= 2 { Ok(()) } else { Err(format!("{failed} failed runs")) }
    })
    .await;
    let health = reqwest::get(format!("{}/api/health", server.url())).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the forbidden host received no connection");
    server.shutdown().await;
}
on_both_databases!(hostile_plugins_fail_alone);

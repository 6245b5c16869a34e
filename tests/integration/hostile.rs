//! Misbehaving plugins fail their own store's sync run with an error that names the plugin,
//! the store and the limit, while a well-behaved store on the same server keeps syncing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use shopkeeper::storage::stores::NewStore;
use shopkeeper_simulator::{Simulator, SimulatorConfig};
use shopkeeper_tests::*;

use crate::sync::compare_with_trades;

/// Starts a loopback listener that counts connections, standing in for a host no plugin may reach.
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

/// Starts a loopback listener that accepts connections and never responds.
async fn silent_listener() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    addr
}

async fn failed_run(app: &shopkeeper::server::App, store_id: i64, what: &str) -> shopkeeper::storage::sync_state::SyncRun {
    wait_until(Duration::from_secs(60), what, || async {
        let runs = app.db.list_sync_runs(Some(store_id), 5).await.map_err(|e| e.to_string())?;
        runs.into_iter().find(|run| run.status == "failed").ok_or_else(|| "no failed run yet".to_owned())
    })
    .await
}

async fn stored_ids(app: &shopkeeper::server::App, store_id: i64) -> Vec<String> {
    let filter = shopkeeper::storage::orders::OrderFilter { store_id: Some(store_id), limit: 100, ..Default::default() };
    app.db.list_orders(&filter).await.unwrap().into_iter().map(|o| o.platform_order_id).collect()
}

async fn bad_pages_store_nothing(kind: DbKind) {
    init_logging();
    let silent = silent_listener().await;
    let Some(mut config) = test_config(kind, "bad-pages").await else { return };
    config.sandbox.http.timeout = Duration::from_secs(1);
    let server = start_server(config).await;
    let app = &server.app;
    install_plugin(app, "hostile").await;
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();

    let broken = [
        ("negative-quantity", "lines[0].quantity"),
        ("missing-id", "platform_order_id"),
        ("negative-price", "lines[0].unit_price_minor"),
        ("huge-remark", "buyer_remark"),
    ];
    for (mode, field) in broken {
        let store = app.add_store(&hostile_store(mode, None)).await.unwrap();
        let run = failed_run(app, store.id, mode).await;
        let error = run.error.unwrap();
        assert!(error.contains("hostile@0.1.0") && error.contains(&store.name), "{mode}: {error}");
        assert!(error.contains(&format!("`{field}`")), "{mode}: names the field {field}: {error}");
        assert!(error.len() < 2_000, "{mode}: the message stays short: {} bytes", error.len());
        assert_eq!(run.pages, 0);
        assert!(stored_ids(app, store.id).await.is_empty(), "{mode}: the valid orders of the rejected page are not stored either");
    }

    // A trap on the second page keeps the first page and nothing of the second.
    let store = app.add_store(&hostile_store("trap-mid-page", None)).await.unwrap();
    let run = failed_run(app, store.id, "trap-mid-page").await;
    assert!(run.error.as_deref().unwrap().contains("trapped"), "{run:?}");
    let mut ids = stored_ids(app, store.id).await;
    ids.sort();
    assert_eq!(ids, ["mid-page-1", "mid-page-2", "mid-page-3"]);
    let cursor = app.db.cursor(store.id, "pull_orders").await.unwrap();
    assert_eq!(cursor.open_window.map(|w| w.page_token).as_deref(), Some("2"), "the next run resumes at the trapping page");

    // A host call that never returns is cut off by the HTTP timeout.
    let mut hang = hostile_store("hang", Some(format!("http://{silent}/never")));
    hang.approved_origins = vec![format!("http://{silent}")];
    let store = app.add_store(&hang).await.unwrap();
    let run = failed_run(app, store.id, "hang").await;
    let error = run.error.unwrap();
    assert!(error.contains("did not answer within 1 s"), "{error}");
    let health = reqwest::get(format!("{}/api/health", server.url())).await.unwrap();
    assert_eq!(health.status(), 200);
    server.shutdown().await;
}
on_both_databases!(bad_pages_store_nothing);

/// Starts a loopback listener that responds to every request with a redirect to `location`.
async fn redirecting_listener(location: String) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let location = location.clone();
            tokio::spawn(async move {
                let mut buffer = [0_u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let answer = format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// A redirect from an approved origin to one that is not approved is not followed by the host,
/// and when the plugin follows it itself, the second request is refused before it connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redirect_to_forbidden_host_refused() {
    init_logging();
    let (forbidden, connections) = forbidden_listener().await;
    let redirector = redirecting_listener(format!("http://{forbidden}/steal")).await;
    let config = test_config(DbKind::Sqlite, "redirect").await.unwrap();
    let server = start_server(config).await;
    let app = &server.app;
    install_plugin(app, "hostile").await;
    let mut new_store = hostile_store("follow-redirect", Some(format!("http://{redirector}/start")));
    new_store.approved_origins = vec![format!("http://{redirector}")];
    let store = app.add_store(&new_store).await.unwrap();
    let run = failed_run(app, store.id, "follow-redirect").await;
    let error = run.error.unwrap();
    assert!(error.contains(&format!("http://{forbidden}")) && error.contains("not in the plugin's allowed_hosts"), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the forbidden host received no connection");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tampered_and_foreign_components_rejected() {
    init_logging();
    let config = test_config(DbKind::Sqlite, "tampered").await.unwrap();
    let data_dir = config.data_dir.clone();
    let server = start_server(config).await;
    let app = &server.app;

    // A manifest for another world version is refused at install, naming both versions.
    let bundle_dir = temp_dir("foreign-world");
    let source = plugins_dir().join("hostile");
    std::fs::copy(source.join("plugin.wasm"), bundle_dir.join("plugin.wasm")).unwrap();
    let manifest = std::fs::read_to_string(source.join("plugin.toml")).unwrap();
    std::fs::write(bundle_dir.join("plugin.toml"), shopkeeper_tests::with_manifest_value(&manifest, "world", "shopkeeper:connector@0.9.0")).unwrap();
    let error = format!("{:#}", app.plugins.install_from_dir(&app.db, &bundle_dir, true).await.unwrap_err());
    assert!(error.contains("shopkeeper:connector@0.9.0"), "{error}");
    assert!(error.contains("shopkeeper:connector@0.1.0"), "{error}");

    // A file that is not a component is refused at install.
    std::fs::write(bundle_dir.join("plugin.toml"), &manifest).unwrap();
    std::fs::write(bundle_dir.join("plugin.wasm"), b"\0asm not really").unwrap();
    let error = format!("{:#}", app.plugins.install_from_dir(&app.db, &bundle_dir, true).await.unwrap_err());
    assert!(error.contains("not a valid WebAssembly component"), "{error}");

    // A component whose file changed after install is rejected at load, with the reason.
    install_plugin(app, "hostile").await;
    let installed = app.db.enabled_plugin("hostile").await.unwrap().unwrap();
    let mut bytes = std::fs::read(&installed.component_path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&installed.component_path, bytes).unwrap();
    // A fresh host on the same data folder has nothing cached in memory for this server...
    let host = shopkeeper::plugin::PluginHost::new(&data_dir, Default::default(), false).unwrap();
    let error = host.load(&installed).err().expect("a tampered component must not load").to_string();
    assert!(error.contains(&installed.sha256) && error.contains("reinstall"), "{error}");
    server.shutdown().await;
}

/// The Python example connector (componentize-py) passes the same harness as the Rust one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_connector_passes_harness() {
    init_logging();
    let dir = plugins_dir().join("taobao-python");
    if std::env::var_os("SHOPKEEPER_TEST_NO_PYTHON").is_some() || !dir.join("plugin.wasm").exists() {
        assert!(!on_ci(), "CI=true but the Python connector was not built");
        note_skip("Python connector harness (python3 or the built component missing)");
        return;
    }
    let scenario = shopkeeper::harness::Scenario { seed: 4, orders: 120, settings: Default::default() };
    let report = shopkeeper::harness::try_plugin(&dir, &scenario).await.expect("the harness runs");
    assert!(report.passed(), "{report}");
    assert_eq!(report.pulled, 120);
    let rust = shopkeeper::harness::try_plugin(&plugins_dir().join("taobao"), &scenario).await.unwrap();
    assert!(rust.passed(), "{rust}");
}

/// A plugin built for world 0.1 loads beside 0.2 plugins and exports only `pull`; the host
/// refuses to install it under a manifest that claims a capability it does not export, naming
/// the capability and the missing interface.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declared_capability_must_be_exported() {
    init_logging();
    let dir = plugins_dir().join("taobao-python");
    if std::env::var_os("SHOPKEEPER_TEST_NO_PYTHON").is_some() || !dir.join("plugin.wasm").exists() {
        assert!(!on_ci(), "CI=true but the Python connector was not built");
        note_skip("capability export check (the 0.1 Python component is missing)");
        return;
    }
    let Some(config) = shopkeeper_tests::test_config(shopkeeper_tests::DbKind::Sqlite, "capabilities").await else { return };
    let server = start_server(config).await;
    let app = &server.app;
    let installed = app.plugins.install_from_dir(&app.db, &dir, true).await.expect("a 0.1 plugin installs");
    assert_eq!(installed.world, "shopkeeper:connector@0.1.0");

    let bundle_dir = temp_dir("missing-export");
    std::fs::copy(dir.join("plugin.wasm"), bundle_dir.join("plugin.wasm")).unwrap();
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    let manifest = shopkeeper_tests::with_manifest_value(&manifest, "world", "shopkeeper:connector@0.2.0");
    let manifest = shopkeeper_tests::with_manifest_value(&manifest, "version", "0.1.1");
    let manifest = manifest.replace("capabilities = [\"pull-orders\"]", "capabilities = [\"pull-orders\", \"push-stock\"]");
    std::fs::write(bundle_dir.join("plugin.toml"), manifest).unwrap();
    let error = format!("{:#}", app.plugins.install_from_dir(&app.db, &bundle_dir, true).await.unwrap_err());
    assert!(error.contains("push-stock") && error.contains("shopkeeper:connector/stock@0.2.0"), "{error}");
    assert_eq!(app.db.current_plugin("taobao-python").await.unwrap().unwrap().version, "0.1.0", "the refused upload changed nothing");

    // A 0.1 world cannot claim a 0.2 capability at all.
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap().replace("capabilities = [\"pull-orders\"]", "capabilities = [\"pull-orders\", \"push-stock\"]");
    std::fs::write(bundle_dir.join("plugin.toml"), manifest).unwrap();
    let error = format!("{:#}", app.plugins.install_from_dir(&app.db, &bundle_dir, true).await.unwrap_err());
    assert!(error.contains("push-stock") && error.contains("shopkeeper:connector@0.1.0"), "{error}");
    server.shutdown().await;
}

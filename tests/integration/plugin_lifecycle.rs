//! Plugins installed, upgraded, rolled back and disabled through the API while the server runs,
//! and signed bundles checked against trusted publisher keys.

use std::time::Duration;

use serde_json::Value;
use shopkeeper_simulator::{Simulator, SimulatorConfig};
use shopkeeper_tests::*;

/// The built Taobao plugin's files, with the manifest's version replaced.
fn taobao_bundle(version: &str) -> (String, Vec<u8>) {
    let dir = plugins_dir().join("taobao");
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    let manifest = shopkeeper_tests::with_manifest_value(&manifest, "version", version);
    (manifest, std::fs::read(dir.join("plugin.wasm")).unwrap())
}

async fn upload(base: &str, manifest: &str, component: &[u8], signature: Option<&str>) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new()
        .part("manifest", reqwest::multipart::Part::text(manifest.to_owned()).file_name("plugin.toml"))
        .part("component", reqwest::multipart::Part::bytes(component.to_vec()).file_name("plugin.wasm"));
    if let Some(signature) = signature {
        form = form.part("signature", reqwest::multipart::Part::text(signature.to_owned()).file_name("plugin.sig"));
    }
    let response = reqwest::Client::new().post(format!("{base}/api/plugins")).multipart(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(url: &str) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits for a successful run made by `version` that started after `after_run`.
async fn run_by_version(app: &shopkeeper::server::App, store_id: i64, version: &str, after_run: i64) -> i64 {
    wait_until(Duration::from_secs(30), &format!("a run by plugin version {version}"), || async {
        let runs = app.db.list_sync_runs(Some(store_id), 20).await.map_err(|e| e.to_string())?;
        runs.iter()
            .find(|run| run.id > after_run && run.status == "succeeded" && run.plugin_version.as_deref() == Some(version))
            .map(|run| run.id)
            .ok_or_else(|| format!("latest runs: {:?}", runs.iter().take(3).map(|r| (&r.status, &r.plugin_version, &r.error)).collect::<Vec<_>>()))
    })
    .await
}

async fn upgrade_and_rollback_without_restart(kind: DbKind) {
    init_logging();
    let simulator = Simulator::start(
        SimulatorConfig { seed: 31, rate_per_minute: 120.0, history_orders: 30, time_scale: 0.01, ..SimulatorConfig::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let Some(config) = test_config(kind, "lifecycle").await else { return };
    let server = start_server(config).await;
    let app = &server.app;
    let base = server.url();
    app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await.unwrap();

    // Upload: the version waits for approval and shows the hosts it requests.
    let (manifest, component) = taobao_bundle("0.1.0");
    let (status, body) = upload(&base, &manifest, &component, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "pending");
    assert_eq!(body["parsed"]["allowed_hosts"][0], "https://gw.api.taobao.com");
    let store = add_taobao_store(app, "lifecycle", &simulator, 1, 3600).await;
    let failed = wait_until(Duration::from_secs(20), "a run refused while the plugin waits", || async {
        let runs = app.db.list_sync_runs(Some(store.id), 5).await.map_err(|e| e.to_string())?;
        runs.into_iter().find(|run| run.status == "failed").ok_or_else(|| "no run yet".to_owned())
    })
    .await;
    assert!(failed.error.as_deref().unwrap().contains("waiting for approval"), "{failed:?}");

    // Approve: the store syncs with 0.1.0.
    let (status, body) = post(&format!("{base}/api/plugins/taobao/versions/0.1.0/approve")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "active");
    let first = run_by_version(app, store.id, "0.1.0", 0).await;

    // Upgrade to 0.1.1 while the server runs: the next jobs use it.
    let (manifest, component) = taobao_bundle("0.1.1");
    let (status, body) = upload(&base, &manifest, &component, None).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = post(&format!("{base}/api/plugins/taobao/versions/0.1.1/approve")).await;
    assert_eq!(status, 200);
    let upgraded = run_by_version(app, store.id, "0.1.1", first).await;

    // Roll back in one call: 0.1.0 again.
    let (status, body) = post(&format!("{base}/api/plugins/taobao/rollback")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "0.1.0");
    let rolled_back = run_by_version(app, store.id, "0.1.0", upgraded).await;
    let (status, body) = post(&format!("{base}/api/plugins/taobao/rollback")).await;
    assert_eq!((status, body["version"].as_str()), (200, Some("0.1.1")), "rolling back again returns to 0.1.1");
    let (status, _) = post(&format!("{base}/api/plugins/taobao/versions/0.1.0/approve")).await;
    assert_eq!(status, 200);

    // Disable pauses the store and the API reports it. Enable resumes it.
    let (status, body) = post(&format!("{base}/api/plugins/taobao/disable")).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let last_before = app.db.list_sync_runs(Some(store.id), 1).await.unwrap()[0].id;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let last_after = app.db.list_sync_runs(Some(store.id), 1).await.unwrap()[0].id;
    assert_eq!(last_before, last_after, "no run while the plugin is disabled");
    let stores: Value = reqwest::get(format!("{base}/api/stores")).await.unwrap().json().await.unwrap();
    let paused = stores[0]["sync_paused"].as_str().unwrap_or_default();
    assert!(paused.contains("disabled"), "{stores}");
    let (status, _) = post(&format!("{base}/api/plugins/taobao/enable")).await;
    assert_eq!(status, 200);
    run_by_version(app, store.id, "0.1.0", last_after.max(rolled_back)).await;

    // Errors name the value.
    let (status, body) = post(&format!("{base}/api/plugins/taobao/versions/9.9.9/approve")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("9.9.9"), "{body}");
    let (status, body) = upload(&base, "id = \"x\"", &component, None).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("plugin.toml"), "{body}");
    let (status, body) = upload(&base, &manifest, b"not a component", None).await;
    assert_eq!(status, 400, "{body}");
    server.shutdown().await;
}
on_both_databases!(upgrade_and_rollback_without_restart);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signatures_checked_against_trusted_keys() {
    init_logging();
    let mut config = test_config(DbKind::Sqlite, "signed").await.unwrap();
    config.require_signed_plugins = true;
    let server = start_server(config).await;
    let base = server.url();
    let (manifest, component) = taobao_bundle("0.1.0");

    let (status, body) = upload(&base, &manifest, &component, None).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("no plugin.sig"), "{body}");

    let (secret, public) = shopkeeper::plugin::signing::generate_key();
    let signature = shopkeeper::plugin::signing::sign(&secret, &component, &manifest).unwrap().to_toml();
    let (status, body) = upload(&base, &manifest, &component, Some(&signature)).await;
    assert_eq!(status, 400);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains(&public) && error.contains("not trusted"), "{error}");

    let response = reqwest::Client::new()
        .post(format!("{base}/api/publishers"))
        .json(&serde_json::json!({ "name": "Shopkeeper test publisher", "public_key": public }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (status, body) = upload(&base, &manifest, &component, Some(&signature)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["publisher_key"], public.as_str());

    // A manifest changed after signing (here: more allowed hosts) no longer matches.
    let widened = manifest.replace("allowed_hosts = [", "allowed_hosts = [\"https://evil.example\", ");
    let (status, body) = upload(&base, &widened.replacen("version = \"0.1.0\"", "version = \"0.1.2\"", 1), &component, Some(&signature)).await;
    assert_eq!(status, 400);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("does not match publisher key") && error.contains(&public), "{error}");
    server.shutdown().await;
}

//! The server is killed with SIGKILL in the middle of a sync and started again: no order is
//! lost and none is stored twice.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use shopkeeper::storage::Db;
use shopkeeper_simulator::{Simulator, SimulatorConfig};
use shopkeeper_tests::*;
use sqlx::Row;

use crate::sync::compare_with_trades;

fn shopkeeper(data_dir: &std::path::Path, database_url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(shopkeeper_bin());
    command.args(args).arg("--data-dir").arg(data_dir).arg("--database-url").arg(database_url);
    command.env("RUST_LOG", "warn");
    command
}

fn run_ok(mut command: Command) {
    let output = command.output().expect("run shopkeeper");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn serve(data_dir: &std::path::Path, database_url: &str) -> Child {
    let mut command = shopkeeper(data_dir, database_url, &["serve", "--listen", "127.0.0.1:0"]);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command.spawn().expect("start shopkeeper serve")
}

async fn stored_pages(db: &Db) -> i64 {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM orders").fetch_one(db.pool()).await.unwrap();
    row.try_get::<i64, _>("n").unwrap()
}

async fn killed_mid_sync_loses_nothing(kind: DbKind) {
    init_logging();
    // A day of orders in 30-minute windows with a slow platform: the first sync takes several
    // seconds, long enough to kill it part-way.
    let simulator = Simulator::start(
        SimulatorConfig {
            seed: 23,
            rate_per_minute: 0.0,
            history_orders: 1500,
            history_span: Duration::from_secs(20 * 3600),
            time_scale: 0.0,
            response_delay: Duration::from_millis(40),
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let data_dir = temp_dir("crash");
    let Some(database_url) = fresh_database(kind, &data_dir).await else { return };
    let plugin_dir = plugins_dir().join("taobao");
    run_ok(shopkeeper(&data_dir, &database_url, &["plugin", "install", plugin_dir.to_str().unwrap()]));
    run_ok(shopkeeper(&data_dir, &database_url, &["warehouse", "add", "--code", "WH-HZ", "--name", "杭州总仓"]));
    let endpoint = format!("endpoint={}", simulator.router_url());
    let origin = format!("http://{}", simulator.addr);
    run_ok(shopkeeper(
        &data_dir,
        &database_url,
        &[
            "store", "add", "--name", "crash-store", "--plugin", "taobao", "--set", &endpoint,
            "--set", "app_key=sim-app-key", "--set", "app_secret=sim-app-secret", "--set", "session=sim-session",
            "--approve-origin", &origin, "--interval", "1", "--lookback", "79200",
        ],
    ));
    let db = Db::connect(&database_url).await.unwrap();
    let target = simulator.simulator.trades_now();

    let mut kills = 0;
    for threshold in [100, 500, 900] {
        let mut child = serve(&data_dir, &database_url);
        let reached = wait_until(Duration::from_secs(60), "orders to arrive before the kill", || async {
            let stored = stored_pages(&db).await;
            if stored >= threshold { Ok(stored) } else { Err(format!("{stored} orders stored")) }
        })
        .await;
        child.kill().expect("SIGKILL the server");
        child.wait().unwrap();
        let after_kill = stored_pages(&db).await;
        if after_kill < target.len() as i64 {
            kills += 1;
        }
        assert!(after_kill >= reached);
    }
    assert!(kills >= 1, "at least one kill should have landed before the sync finished");

    let mut child = serve(&data_dir, &database_url);
    let store_id = sqlx::query("SELECT id FROM stores WHERE name = 'crash-store'").fetch_one(db.pool()).await.unwrap().try_get::<i64, _>("id").unwrap();
    wait_until(Duration::from_secs(90), "the restarted server to store every order exactly once", || {
        compare_with_trades(&db, store_id, &target)
    })
    .await;
    let lines: i64 = sqlx::query("SELECT COUNT(*) AS n FROM order_lines").fetch_one(db.pool()).await.unwrap().try_get("n").unwrap();
    assert_eq!(lines, target.iter().map(|t| t.lines.len() as i64).sum::<i64>());
    let runs = db.list_sync_runs(Some(store_id), 500).await.unwrap();
    assert!(runs.iter().any(|run| run.status == "interrupted"), "killed runs are marked interrupted on restart");

    // SIGTERM: the server finishes the page it is storing, records the run and exits cleanly.
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let exited = wait_until(Duration::from_secs(30), "the server to exit after SIGTERM", || {
        let exited = child.try_wait().unwrap();
        async move { exited.ok_or_else(|| "still running".to_owned()) }
    })
    .await;
    assert!(exited.success(), "exit status after SIGTERM: {exited}");
    let runs = db.list_sync_runs(Some(store_id), 500).await.unwrap();
    assert!(runs.iter().all(|run| run.status != "running"), "no run is left running after a clean stop");
}
on_both_databases!(killed_mid_sync_loses_nothing);

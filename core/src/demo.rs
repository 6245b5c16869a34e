//! `shopkeeper demo`: a server with one Taobao store syncing from the built-in simulator.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use shopkeeper_simulator::{RunningSimulator, Simulator, SimulatorConfig};

use crate::config::{Config, Overrides};
use crate::server::Server;
use crate::storage::stores::NewStore;

pub const DEMO_STORE: &str = "Demo Taobao store";

pub struct DemoOptions {
    pub overrides: Overrides,
    /// Folder with one sub-folder per built plugin (`taobao/plugin.toml`, `taobao/plugin.wasm`).
    pub plugins_dir: PathBuf,
    pub seed: u64,
    pub orders_per_minute: f64,
    pub simulator_listen: SocketAddr,
}

/// A demo whose server and simulator run in this process.
pub struct Demo {
    pub server: Server,
    pub simulator: RunningSimulator,
    pub data_dir: PathBuf,
}

impl Demo {
    pub async fn start(options: DemoOptions) -> anyhow::Result<Demo> {
        let mut overrides = options.overrides.clone();
        let data_dir = match &overrides.data_dir {
            Some(dir) => dir.clone(),
            None => {
                let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
                std::env::temp_dir().join(format!("shopkeeper-demo-{stamp}-{}", std::process::id()))
            }
        };
        overrides.data_dir = Some(data_dir.clone());
        let mut config = Config::load(&overrides)?;
        // Short windows keep the demo's orders within seconds of the simulator.
        config.sync.lag = Duration::from_secs(1);
        config.sync.overlap = Duration::from_secs(20);

        let simulator = Simulator::start(
            SimulatorConfig {
                seed: options.seed,
                rate_per_minute: options.orders_per_minute,
                // Half an hour of history at half the real pace: most recent orders are paid
                // and waiting to ship, older ones show the later statuses.
                history_orders: 60,
                history_span: Duration::from_secs(30 * 60),
                time_scale: 0.5,
                ..SimulatorConfig::default()
            },
            options.simulator_listen,
        )
        .await
        .context("failed to start the marketplace simulator")?;

        let server = Server::start(config).await?;
        let app = &server.app;
        let plugin_dir = options.plugins_dir.join("taobao");
        app.plugins.install_from_dir(&app.db, &plugin_dir, true).await.with_context(|| {
            format!("failed to install the Taobao plugin from {}; `cargo xtask demo` builds it", plugin_dir.display())
        })?;
        app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await?;

        let router_url = simulator.router_url();
        let origin = format!("http://{}", simulator.addr);
        let config: BTreeMap<String, String> = [
            ("endpoint", router_url.as_str()),
            ("app_key", shopkeeper_simulator::DEMO_APP_KEY),
            ("app_secret", shopkeeper_simulator::DEMO_APP_SECRET),
            ("session", shopkeeper_simulator::DEMO_SESSION),
            ("sign_method", "hmac-sha256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let store = match app.db.store_by_name(DEMO_STORE).await? {
            Some(existing) => {
                // A reused data folder: point the store at this run's simulator.
                app.db.update_store_connection(existing.id, &config, std::slice::from_ref(&origin)).await?;
                existing
            }
            None => {
                app.add_store(&NewStore {
                    name: DEMO_STORE.to_owned(),
                    platform: "taobao".to_owned(),
                    plugin_id: "taobao".to_owned(),
                    config,
                    approved_origins: vec![origin],
                    sync_interval_secs: 3,
                    initial_lookback_secs: 3 * 3600,
                })
                .await?
            }
        };
        app.scheduler.trigger(store.id);
        Ok(Demo { server, simulator, data_dir })
    }
}

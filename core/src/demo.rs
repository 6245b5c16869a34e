//! `shopkeeper demo`: a server with two Taobao stores syncing from built-in simulators and
//! sharing one warehouse's stock.

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
pub const DEMO_OUTLET: &str = "Demo Taobao outlet";

/// Units of each catalog SKU the demo counts into its warehouse on first start.
pub const DEMO_STOCK_PER_SKU: i64 = 30;

pub struct DemoOptions {
    pub overrides: Overrides,
    /// Folder with one sub-folder per built plugin (`taobao/plugin.toml`, `taobao/plugin.wasm`).
    pub plugins_dir: PathBuf,
    pub seed: u64,
    pub orders_per_minute: f64,
    /// Address of the first simulated shop; the second listens on the next port (or on a free
    /// one when this port is 0).
    pub simulator_listen: SocketAddr,
}

/// A demo whose server and two simulated shops run in this process. Both shops list the same
/// catalog and share the warehouse's stock.
pub struct Demo {
    pub server: Server,
    /// The main store's shop, then the outlet's.
    pub simulators: Vec<RunningSimulator>,
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

        // A reused data folder gets new simulated shops: real platforms never reuse an order id,
        // and the same seed would hand out the earlier run's ids for other orders.
        let reused = data_dir.join("shopkeeper.db").exists();
        let seed = if reused { options.seed.wrapping_add(chrono::Utc::now().timestamp() as u64) } else { options.seed };
        let mut simulators = Vec::new();
        for (index, share) in [(0u16, 1.0), (1, 0.5)] {
            let mut listen = options.simulator_listen;
            if listen.port() != 0 {
                listen.set_port(listen.port() + index);
            }
            let simulator = Simulator::start(
                SimulatorConfig {
                    seed: seed.wrapping_add(u64::from(index)),
                    // The outlet sells at half the main store's pace.
                    rate_per_minute: options.orders_per_minute * share,
                    // Half an hour of history at half the real pace: most recent orders are
                    // paid and waiting to ship, older ones show the later statuses.
                    history_orders: 60,
                    history_span: Duration::from_secs(30 * 60),
                    time_scale: 0.5,
                    ..SimulatorConfig::default()
                },
                listen,
            )
            .await
            .with_context(|| format!("failed to start marketplace simulator {} on {listen}", index + 1))?;
            simulators.push(simulator);
        }

        let server = Server::start(config).await?;
        let app = &server.app;
        let plugin_dir = options.plugins_dir.join("taobao");
        app.plugins.install_from_dir(&app.db, &plugin_dir, true).await.with_context(|| {
            format!("failed to install the Taobao plugin from {}; `cargo xtask demo` builds it", plugin_dir.display())
        })?;
        app.db.ensure_warehouse("WH-HZ", "杭州总仓", "浙江省", "杭州市").await?;
        stock_catalog(app).await?;

        for (name, simulator) in [DEMO_STORE, DEMO_OUTLET].into_iter().zip(&simulators) {
            let store = connect_store(app, name, simulator).await?;
            app.scheduler.trigger(store.id);
        }
        Ok(Demo { server, simulators, data_dir })
    }
}

/// Counts [`DEMO_STOCK_PER_SKU`] units of every catalog SKU into the warehouse, once: a SKU
/// already stock-managed (a reused data folder) keeps its stock.
async fn stock_catalog(app: &crate::server::App) -> anyhow::Result<()> {
    for (product, sku) in shopkeeper_simulator::catalog::skus() {
        let tracked: Option<i64> = sqlx::query_scalar("SELECT stock_tracked FROM skus WHERE code = $1")
            .bind(sku.outer_sku_id)
            .fetch_optional(app.db.pool())
            .await?;
        if tracked == Some(1) {
            continue;
        }
        let mut write = app.db.begin_write().await?;
        write.create_sku(sku.outer_sku_id, &format!("{} {}", product.title, sku.properties_name)).await?;
        write.commit().await?;
        let change = crate::stock::StockChange::Stocktake {
            sku: sku.outer_sku_id.to_owned(),
            warehouse: "WH-HZ".to_owned(),
            counted: DEMO_STOCK_PER_SKU,
            reason: "demo opening stock".to_owned(),
        };
        crate::stock::apply_change(&app.db, &app.rules, &change, "demo").await?;
    }
    Ok(())
}

async fn connect_store(app: &crate::server::App, name: &str, simulator: &RunningSimulator) -> anyhow::Result<crate::storage::stores::Store> {
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
    Ok(match app.db.store_by_name(name).await? {
        Some(existing) => {
            // A reused data folder: point the store at this run's simulator.
            app.db.update_store_connection(existing.id, &config, std::slice::from_ref(&origin)).await?;
            existing
        }
        None => {
            app.add_store(&NewStore {
                name: name.to_owned(),
                platform: "taobao".to_owned(),
                plugin_id: "taobao".to_owned(),
                config,
                approved_origins: vec![origin],
                sync_interval_secs: 3,
                initial_lookback_secs: 3 * 3600,
            })
            .await?
        }
    })
}

//! Plugin harness: runs a connector against a simulator scenario and reports what it pulled,
//! compared with what the simulator holds. Plugin authors run it with `shopkeeper plugin try`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use shopkeeper_simulator::{Simulator, SimulatorConfig, TradeSnapshot};

use crate::config::Config;
use crate::server::App;
use crate::storage::orders::OrderFilter;
use crate::storage::stores::NewStore;

/// Returns the canonical status a correct connector gives a simulated Taobao trade.
pub fn expected_status(trade: &TradeSnapshot) -> &'static str {
    let refund_pending = trade
        .lines
        .iter()
        .any(|line| matches!(line.refund_status.as_str(), "WAIT_SELLER_AGREE" | "WAIT_BUYER_RETURN_GOODS" | "WAIT_SELLER_CONFIRM_GOODS"));
    match trade.status.as_str() {
        "WAIT_BUYER_PAY" | "TRADE_NO_CREATE_PAY" | "PAY_PENDING" | "WAIT_PRE_AUTH_CONFIRM" => "unpaid",
        "WAIT_SELLER_SEND_GOODS" | "WAIT_BUYER_CONFIRM_GOODS" | "SELLER_CONSIGNED_PART" if refund_pending => "refund_requested",
        "WAIT_SELLER_SEND_GOODS" | "PAID_FORBID_CONSIGN" => "paid",
        "WAIT_BUYER_CONFIRM_GOODS" | "SELLER_CONSIGNED_PART" => "shipped",
        "TRADE_FINISHED" | "TRADE_BUYER_SIGNED" => "completed",
        "TRADE_CLOSED" => "refunded",
        "TRADE_CLOSED_BY_TAOBAO" => "closed",
        _ => "unknown",
    }
}

/// A scenario: how many simulated orders, from which seed.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub orders: usize,
    /// Extra configuration values for the store, beside the simulator's endpoint and credentials.
    pub settings: BTreeMap<String, String>,
}

/// Result of one harness run.
#[derive(Debug)]
pub struct Report {
    pub plugin: String,
    pub simulated: usize,
    pub pulled: usize,
    pub pages: i64,
    pub elapsed: Duration,
    /// Trades the plugin did not deliver, or delivered with different money or status.
    pub problems: Vec<String>,
    pub sample: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.pulled == self.simulated
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "plugin {}: pulled {} of {} simulated orders in {} pages, {:?}", self.plugin, self.pulled, self.simulated, self.pages, self.elapsed)?;
        for line in &self.sample {
            writeln!(f, "  {line}")?;
        }
        if self.problems.is_empty() {
            writeln!(f, "result: passed")
        } else {
            writeln!(f, "result: {} problems", self.problems.len())?;
            for problem in self.problems.iter().take(20) {
                writeln!(f, "  - {problem}")?;
            }
            Ok(())
        }
    }
}

/// Installs the plugin in `plugin_dir` into a throw-away server, points a store at a fresh
/// simulator (endpoint, app_key, app_secret and session set to the simulator's), pulls once and
/// compares the stored orders with the simulator's trades.
pub async fn try_plugin(plugin_dir: &Path, scenario: &Scenario) -> anyhow::Result<Report> {
    let simulator = Simulator::start(
        SimulatorConfig {
            seed: scenario.seed,
            rate_per_minute: 0.0,
            history_orders: scenario.orders,
            history_span: Duration::from_secs(3 * 3600),
            time_scale: 0.0,
            ..SimulatorConfig::default()
        },
        "127.0.0.1:0".parse().expect("valid address"),
    )
    .await?;
    let data_dir = std::env::temp_dir().join(format!("shopkeeper-harness-{}-{}", std::process::id(), crate::now_ms()));
    let mut config = Config { data_dir: data_dir.clone(), ..Config::default() };
    config.sync.max_windows_per_run = 1_000;
    config.sync.lag = Duration::from_secs(1);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let app = App::open(config, shutdown).await?;
    let installed = app.plugins.install_from_dir(&app.db, plugin_dir, true).await?;
    app.db.ensure_warehouse("WH-TEST", "Harness warehouse", "", "").await?;
    let mut settings: BTreeMap<String, String> = [
        ("endpoint", simulator.router_url()),
        ("app_key", shopkeeper_simulator::DEMO_APP_KEY.to_owned()),
        ("app_secret", shopkeeper_simulator::DEMO_APP_SECRET.to_owned()),
        ("session", shopkeeper_simulator::DEMO_SESSION.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    settings.extend(scenario.settings.clone());
    let store = app
        .add_store(&NewStore {
            name: "harness".to_owned(),
            platform: installed.id.clone(),
            plugin_id: installed.id.clone(),
            config: settings,
            approved_origins: vec![format!("http://{}", simulator.addr)],
            sync_interval_secs: 3600,
            initial_lookback_secs: 4 * 3600,
        })
        .await?;
    let started = std::time::Instant::now();
    let summary = app.scheduler.run_once(store.id).await?;
    let elapsed = started.elapsed();
    let trades = simulator.simulator.trades_now();
    let stored = app.db.list_orders(&OrderFilter { store_id: Some(store.id), limit: 100_000, ..OrderFilter::default() }).await?;
    let by_id: HashMap<&str, _> = stored.iter().map(|order| (order.platform_order_id.as_str(), order)).collect();
    let mut problems = Vec::new();
    for trade in &trades {
        let tid = trade.tid.to_string();
        match by_id.get(tid.as_str()) {
            None => problems.push(format!("trade {tid} ({}) was not pulled", trade.status)),
            Some(order) => {
                if order.paid_minor != trade.payment_fen {
                    problems.push(format!("trade {tid}: paid {} fen, the simulator says {}", order.paid_minor, trade.payment_fen));
                }
                if order.platform_status_raw != trade.status {
                    problems.push(format!("trade {tid}: platform status {:?}, the simulator says {:?}", order.platform_status_raw, trade.status));
                }
                if order.platform_status != expected_status(trade) {
                    problems.push(format!(
                        "trade {tid}: canonical status {:?}, expected {:?} for {}",
                        order.platform_status,
                        expected_status(trade),
                        trade.status
                    ));
                }
                if order.created_at != trade.created.timestamp_millis() || order.modified_at != trade.modified.timestamp_millis() {
                    problems.push(format!(
                        "trade {tid}: created/modified {}/{} ms, the simulator says {}/{} (UTC milliseconds)",
                        order.created_at,
                        order.modified_at,
                        trade.created.timestamp_millis(),
                        trade.modified.timestamp_millis()
                    ));
                }
                if order.goods_minor != trade.total_fee_fen || order.shipping_minor != trade.post_fee_fen {
                    problems.push(format!(
                        "trade {tid}: goods/shipping {}/{} fen, the simulator says {}/{}",
                        order.goods_minor, order.shipping_minor, trade.total_fee_fen, trade.post_fee_fen
                    ));
                }
                if order.line_count != trade.lines.len() as i64 {
                    problems.push(format!("trade {tid}: {} lines, the simulator has {}", order.line_count, trade.lines.len()));
                }
            }
        }
    }
    let sample = stored
        .iter()
        .take(5)
        .map(|o| format!("{} {} {} {} yuan, {} lines, {}", o.platform_order_id, o.platform_status, o.buyer_nick, crate::domain::format_minor(o.paid_minor), o.line_count, o.workflow_state))
        .collect();
    let report = Report {
        plugin: format!("{}@{}", installed.id, installed.version),
        simulated: trades.len(),
        pulled: stored.len(),
        pages: summary.pages,
        elapsed,
        problems,
        sample,
    };
    app.db.close().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(report)
}

//! A marketplace simulator on loopback that behaves like the Taobao Open Platform (TOP) router.
//!
//! [`Simulator`] generates a reproducible stream of orders from a seed: history orders created
//! before the start, then live orders at a fixed rate, each moving through the TOP lifecycle
//! (paid, shipped, finished, refunded or closed) at seeded delays. Every catalog SKU has a
//! platform stock that live and scripted orders take from and the seller pushes back.
//! [`Simulator::router`] serves the shop at `/router/rest` with TOP's common parameters,
//! signing, errors and paging (trades, items, stock updates, shipping and memos), plus admin
//! routes under `/_sim/` for the demo and tests.

mod admin;
pub mod catalog;
mod changes;
mod scripted;
mod shop;
pub mod sign;
mod stock;
mod stream;
mod top;
mod top_items;
mod top_trades;
pub mod trade;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

pub use changes::SETTABLE_STATUSES;
pub use scripted::{MAX_SCRIPTED_LINES, MAX_SCRIPTED_QUANTITY, ScriptedLine, ScriptedTrade};
pub use sign::{SignMethod, top_sign};
pub use stock::{QuantityMode, QuantityUpdate, SkuQuantity};
pub use trade::{LineSnapshot, TradeSnapshot, format_top_time, format_yuan, parse_top_time};

use shop::Shop;
use stream::OrderPlan;

pub const DEMO_APP_KEY: &str = "sim-app-key";
pub const DEMO_APP_SECRET: &str = "sim-app-secret";
pub const DEMO_SESSION: &str = "sim-session";

/// Number of router calls that [`Simulator::requests`] keeps. Older calls are dropped.
const REQUEST_LOG_CAPACITY: usize = 10_000;

/// Settings of one simulated shop.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    pub seed: u64,
    /// Live orders created per minute after start (0 = none).
    pub rate_per_minute: f64,
    /// Orders created before start, spread evenly-ish over `history_span` before start.
    pub history_orders: usize,
    pub history_span: Duration,
    /// Factor applied to every lifecycle delay (pay, ship, finish, refund, close), e.g. 0.01 in tests.
    /// A scale of 0 puts every step at the creation time.
    pub time_scale: f64,
    pub app_key: String,
    pub app_secret: String,
    /// The seller session (OAuth access token) that calls must carry.
    pub session: String,
    /// Allowed clock skew of the `timestamp` parameter (TOP: 10 minutes).
    pub timestamp_tolerance: Duration,
    /// Delay before every router answer, to imitate a slow platform (tests use it to kill a
    /// server in the middle of a sync).
    pub response_delay: Duration,
    /// Platform quantity of every catalog SKU at the start instant (a negative value counts as 0).
    pub initial_stock: i64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            rate_per_minute: 30.0,
            history_orders: 200,
            history_span: Duration::from_secs(2 * 3600),
            time_scale: 1.0,
            app_key: DEMO_APP_KEY.to_owned(),
            app_secret: DEMO_APP_SECRET.to_owned(),
            session: DEMO_SESSION.to_owned(),
            timestamp_tolerance: Duration::from_secs(10 * 60),
            response_delay: Duration::ZERO,
            initial_stock: 100,
        }
    }
}

/// A TOP error as sent in `error_response`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopError {
    pub code: i64,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_msg: Option<String>,
}

impl TopError {
    /// Builds TOP's call-limit error: code 7 `App Call Limited` with the frequency sub_code and
    /// the sub_msg "This ban will last for N more seconds", from which clients read the wait.
    pub fn call_limited(ban_seconds: u64) -> Self {
        Self::with_sub_code(
            7,
            "App Call Limited",
            "accesscontrol.limited-by-api-access-count",
            format!("This ban will last for {ban_seconds} more seconds"),
        )
    }

    /// Builds an error with a `sub_msg` and no `sub_code`.
    pub fn new(code: i64, msg: &str, sub_msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.to_owned(),
            sub_code: None,
            sub_msg: Some(sub_msg.into()),
        }
    }

    /// Builds an error with both a `sub_code` and a `sub_msg`.
    pub fn with_sub_code(code: i64, msg: &str, sub_code: &str, sub_msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.to_owned(),
            sub_code: Some(sub_code.to_owned()),
            sub_msg: Some(sub_msg.into()),
        }
    }
}

/// An error that the router returns for the next `count` calls of a method, in place of the result.
///
/// It applies after the common checks pass, so only well-formed, correctly signed calls hit it.
/// [`Simulator::inject_periodic_fault`] makes it fire on every n-th call instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// TOP method name such as `taobao.trades.sold.increment.get`. `None` matches every method.
    #[serde(default)]
    pub api_method: Option<String>,
    /// Number of calls to fail; the fault is removed when it reaches 0.
    #[serde(default = "default_fault_count")]
    pub count: u32,
    pub error: TopError,
}

fn default_fault_count() -> u32 {
    1
}

/// A fault as `POST /_sim/faults` takes it and `GET /_sim/faults` lists it: the fields of
/// [`Fault`] plus an optional `every_nth`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub fault: Fault,
    /// When set, the fault fires on matching calls n, 2n, 3n… counted from its injection, and
    /// `count` is the number of times it fires in all. See [`Simulator::inject_periodic_fault`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_nth: Option<u32>,
}

/// A pending fault with its progress.
#[derive(Clone, Debug)]
struct PendingFault {
    fault: Fault,
    every_nth: Option<u32>,
    /// Matching calls seen since injection. Only a periodic fault counts them.
    matching_calls: u64,
}

impl PendingFault {
    fn matches(&self, api_method: &str) -> bool {
        self.fault
            .api_method
            .as_deref()
            .is_none_or(|method| method == api_method)
    }

    fn is_due(&self) -> bool {
        self.every_nth
            .is_none_or(|n| self.matching_calls.is_multiple_of(u64::from(n)))
    }
}

/// One router call as seen by the simulator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub at: DateTime<Utc>,
    /// The `method` parameter, if the call had one.
    pub api_method: Option<String>,
    /// `None` when the call succeeded.
    pub error_code: Option<i64>,
    pub error_sub_code: Option<String>,
}

impl RequestRecord {
    pub fn is_ok(&self) -> bool {
        self.error_code.is_none()
    }
}

/// The simulated shop. Cloning it is cheap and every clone shares the same state.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimulatorConfig,
    start: DateTime<Utc>,
    /// Trades and stock. Live orders are added lazily, when a call needs them.
    shop: Mutex<Shop>,
    faults: Mutex<Vec<PendingFault>>,
    requests: Mutex<VecDeque<RequestRecord>>,
    request_counter: AtomicU64,
}

impl Simulator {
    /// Creates a simulator whose start instant is now, rounded down to a whole second.
    pub fn new(config: SimulatorConfig) -> Self {
        Self::new_at(config, Utc::now())
    }

    /// Creates a simulator with a chosen start instant (rounded down to a whole second).
    ///
    /// Two simulators with the same config and start produce identical trades, which tests use.
    pub fn new_at(config: SimulatorConfig, start: DateTime<Utc>) -> Self {
        let start = start.trunc_subsecs(0);
        let shop = Shop::new(&config, start);
        Self {
            inner: Arc::new(Inner {
                config,
                start,
                shop: Mutex::new(shop),
                faults: Mutex::new(Vec::new()),
                requests: Mutex::new(VecDeque::new()),
                request_counter: AtomicU64::new(0),
            }),
        }
    }

    /// Binds `listen`, serves [`Self::router`] on a spawned task and returns once it accepts calls.
    pub async fn start(
        config: SimulatorConfig,
        listen: SocketAddr,
    ) -> anyhow::Result<RunningSimulator> {
        let simulator = Self::new(config);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|error| anyhow::anyhow!("failed to bind simulator on {listen}: {error}"))?;
        let addr = listener.local_addr()?;
        let (shutdown_sender, shutdown_receiver) = tokio::sync::oneshot::channel::<()>();
        let app = simulator.router();
        let task = tokio::spawn(async move {
            let shutdown = async {
                // A dropped sender also ends the server, so dropping RunningSimulator stops it.
                let _ = shutdown_receiver.await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%addr, %error, "simulator server failed");
            }
            tracing::info!(%addr, "simulator server stopped");
        });
        tracing::info!(%addr, "simulator server started");
        Ok(RunningSimulator {
            addr,
            simulator,
            shutdown: Some(shutdown_sender),
            task: Some(task),
        })
    }

    /// Builds the HTTP routes: `/router/rest` (TOP) and the `/_sim/` admin routes.
    pub fn router(&self) -> axum::Router {
        top::router(self.clone())
    }

    pub fn config(&self) -> &SimulatorConfig {
        &self.inner.config
    }

    /// Returns the start instant. History orders lie before it and live orders after it.
    pub fn start_time(&self) -> DateTime<Utc> {
        self.inner.start
    }

    /// Returns every trade created up to now, in its current state, sorted by tid.
    pub fn trades_now(&self) -> Vec<TradeSnapshot> {
        self.trades_at(Utc::now())
    }

    /// Returns every trade created up to `at`, in its state at `at`, sorted by tid.
    ///
    /// What a live order contains depends on the stock when it is created, so live orders are
    /// generated only up to the current time. For a future `at` the result contains the trades
    /// created so far, in their planned state at `at`, and not the live orders still to come.
    /// Manual changes made after `at` are not applied.
    pub fn trades_at(&self, at: DateTime<Utc>) -> Vec<TradeSnapshot> {
        let shop = self.shop_until(at);
        shop.plans
            .values()
            .filter_map(|plan| plan.snapshot_at(at))
            .collect()
    }

    /// Returns the trade `tid` in its state at `at`, or `None` if no such trade exists yet.
    pub fn trade_at(&self, tid: u64, at: DateTime<Utc>) -> Option<TradeSnapshot> {
        let shop = self.shop_until(at);
        shop.plans.get(&tid)?.snapshot_at(at)
    }

    /// Returns one page of the trades modified in `[from, to]` as of `at`, newest first (then by
    /// tid, descending), and how many there are in all. Only the page's trades are rendered.
    fn page_modified_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        at: DateTime<Utc>,
        keep: Option<&dyn Fn(&TradeSnapshot) -> bool>,
        skip: usize,
        take: usize,
    ) -> (Vec<TradeSnapshot>, usize) {
        let shop = self.shop_until(at);
        let mut matching: Vec<(DateTime<Utc>, u64, &OrderPlan)> = shop
            .plans
            .values()
            .filter_map(|plan| {
                let modified = plan.modified_at(at)?;
                (from <= modified && modified <= to).then_some((modified, plan.initial.tid, plan))
            })
            .collect();
        matching.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let Some(keep) = keep else {
            // Without a filter only the page's trades need a snapshot.
            let total = matching.len();
            let page = matching
                .iter()
                .skip(skip)
                .take(take)
                .filter_map(|(_, _, plan)| plan.snapshot_at(at))
                .collect();
            return (page, total);
        };
        let mut total = 0;
        let mut page = Vec::new();
        for (_, _, plan) in matching {
            let Some(trade) = plan.snapshot_at(at) else {
                continue;
            };
            if !keep(&trade) {
                continue;
            }
            if total >= skip && page.len() < take {
                page.push(trade);
            }
            total += 1;
        }
        (page, total)
    }

    /// Adds a fault that the router returns for matching calls. Faults apply in the order added.
    /// A fault with a `count` of 0 is ignored.
    pub fn inject_fault(&self, fault: Fault) {
        self.inject_fault_spec(FaultSpec {
            fault,
            every_nth: None,
        });
    }

    /// Adds a fault that fires on every `every_nth`-th matching call (calls n, 2n, 3n… after
    /// injection), `fault.count` times in all. A call matches when it names the fault's method
    /// (or any method for `None`) and passes the common checks. Every matching call counts,
    /// including one that gets an earlier fault's error. A fault with a `count` or `every_nth`
    /// of 0 is ignored, so a periodic fault always ends after `count` firings.
    ///
    /// Faults apply in the order added: on each call the first fault that is due fires. A
    /// periodic fault that was also due on that call does not fire and keeps its count.
    pub fn inject_periodic_fault(&self, fault: Fault, every_nth: u32) {
        self.inject_fault_spec(FaultSpec {
            fault,
            every_nth: Some(every_nth),
        });
    }

    /// Adds a fault as [`Self::inject_fault`] or [`Self::inject_periodic_fault`] do, by its spec.
    pub fn inject_fault_spec(&self, spec: FaultSpec) {
        let FaultSpec { fault, every_nth } = spec;
        if fault.count == 0 || every_nth == Some(0) {
            tracing::warn!(
                count = fault.count,
                every_nth,
                "fault ignored: count and every_nth must be at least 1"
            );
            return;
        }
        tracing::info!(
            api_method = fault.api_method.as_deref().unwrap_or("*"),
            count = fault.count,
            every_nth,
            code = fault.error.code,
            "fault injected"
        );
        lock(&self.inner.faults).push(PendingFault {
            fault,
            every_nth,
            matching_calls: 0,
        });
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Returns the pending faults with their remaining counts (periodic ones included).
    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.inner.faults)
            .iter()
            .map(|pending| pending.fault.clone())
            .collect()
    }

    /// Returns the pending faults with their remaining counts and periods.
    pub fn fault_specs(&self) -> Vec<FaultSpec> {
        lock(&self.inner.faults)
            .iter()
            .map(|pending| FaultSpec {
                fault: pending.fault.clone(),
                every_nth: pending.every_nth,
            })
            .collect()
    }

    /// Returns the log of router calls, oldest first (at most the latest 10,000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.requests).iter().cloned().collect()
    }

    /// Counts the call for every periodic fault that matches `api_method`, then takes one use of
    /// the first matching fault that is due, removing it when used up.
    fn take_fault(&self, api_method: &str) -> Option<TopError> {
        let mut faults = lock(&self.inner.faults);
        for pending in faults.iter_mut() {
            if pending.every_nth.is_some() && pending.matches(api_method) {
                pending.matching_calls += 1;
            }
        }
        let position = faults
            .iter()
            .position(|pending| pending.matches(api_method) && pending.is_due())?;
        let fault = &mut faults[position].fault;
        fault.count -= 1;
        let error = fault.error.clone();
        if fault.count == 0 {
            faults.remove(position);
        }
        Some(error)
    }

    fn record_request(&self, record: RequestRecord) {
        let mut requests = lock(&self.inner.requests);
        if requests.len() == REQUEST_LOG_CAPACITY {
            requests.pop_front();
        }
        requests.push_back(record);
    }

    fn next_request_id(&self) -> String {
        let number = self.inner.request_counter.fetch_add(1, Ordering::Relaxed);
        format!("sim{:x}{number:06x}", self.inner.start.timestamp())
    }

    /// Locks the shop after generating every live order created up to `at`, or up to now when
    /// `at` is later (see [`Self::trades_at`]).
    fn shop_until(&self, at: DateTime<Utc>) -> MutexGuard<'_, Shop> {
        let mut shop = lock(&self.inner.shop);
        let until = at.min(Utc::now());
        shop.generate_until(&self.inner.config, self.inner.start, until);
        shop
    }
}

/// Locks a mutex and recovers the data if a panicking thread poisoned it. That is safe because
/// every update the simulator makes under a lock leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A simulator serving on a loopback socket. Dropping it or calling [`Self::stop`] ends the server.
pub struct RunningSimulator {
    pub addr: SocketAddr,
    pub simulator: Simulator,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSimulator {
    /// Returns the TOP router URL, `http://ADDR/router/rest`.
    pub fn router_url(&self) -> String {
        format!("{}/router/rest", self.base_url())
    }

    /// Returns the server's base URL, `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting calls and waits up to 5 seconds for open connections to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            tracing::warn!(addr = %self.addr, "simulator server did not stop within 5 s, aborting it");
            task.abort();
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

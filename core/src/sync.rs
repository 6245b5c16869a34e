//! Sync scheduler: a pull job per store on its interval, or at once when triggered.
//!
//! The core owns each window: it starts `overlap` before the store's cursor (so late writes on
//! the platform are not missed), ends `lag` before now, and is at most as wide as the plugin's
//! manifest allows. Every page is stored in its own transaction, and the cursor reaches the
//! window's end only with the last page. On shutdown a run stops between pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::intake::{PagePosition, store_page};
use crate::plugin::PluginHost;
use crate::rules::RuleBook;
use crate::storage::Db;
use crate::storage::stores::Store;
use crate::storage::sync_state::PULL_ORDERS;

#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// How far behind the cursor each window starts.
    pub overlap: Duration,
    /// How far before now each window ends, for writes the platform has not made visible yet.
    pub lag: Duration,
    /// Windows one run may pull while catching up; the next run continues.
    pub max_windows_per_run: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self { overlap: Duration::from_secs(60), lag: Duration::from_secs(5), max_windows_per_run: 48 }
    }
}

/// Result of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub run_id: i64,
    pub pages: i64,
    pub seen: i64,
    pub created: i64,
    pub updated: i64,
    pub stopped_early: bool,
    /// Another server holds the store's lease, so this one did not run.
    pub leased_elsewhere: bool,
}

/// How often a store's listings are pulled again.
const PRODUCTS_INTERVAL_MS: i64 = 30 * 60 * 1000;

/// How long a sync lease lasts without renewal; each page renews it.
const LEASE_TTL_MS: i64 = 5 * 60 * 1000;

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|name| name.trim().to_owned()).unwrap_or_else(|_| "node".to_owned())
}

/// Returns the wait the platform requested when a run failed on a rate limit, capped at
/// one hour.
fn requested_wait(error: &anyhow::Error) -> Option<Duration> {
    let plugin_error = error.downcast_ref::<crate::plugin::PluginError>()?;
    match &plugin_error.kind {
        crate::plugin::PluginErrorKind::Connector { retry_after_ms: Some(ms), .. } => {
            Some(Duration::from_millis((*ms).min(3_600_000)))
        }
        _ => None,
    }
}

pub struct Scheduler {
    db: Db,
    plugins: Arc<PluginHost>,
    rules: Arc<RuleBook>,
    settings: SyncSettings,
    shutdown: watch::Receiver<bool>,
    triggers: Mutex<HashMap<i64, Arc<Notify>>>,
    /// This server's name in sync leases: the host and data folder, so a server restarted on
    /// the same folder takes its own leases back at once after a crash.
    holder: String,
    /// Serialises runs of one store between the loop and on-demand callers.
    running: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Scheduler {
    pub fn new(
        db: Db,
        plugins: Arc<PluginHost>,
        rules: Arc<RuleBook>,
        settings: SyncSettings,
        data_dir: &std::path::Path,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            db,
            plugins,
            rules,
            settings,
            shutdown,
            triggers: Mutex::default(),
            holder: format!("{}:{}", hostname(), data_dir.display()),
            running: Mutex::default(),
        })
    }

    /// This server's name in leases.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Asks the store's loop to run now instead of waiting for its interval.
    pub fn trigger(&self, store_id: i64) {
        self.trigger_handle(store_id).notify_one();
    }

    fn trigger_handle(&self, store_id: i64) -> Arc<Notify> {
        self.triggers.lock().expect("trigger lock").entry(store_id).or_default().clone()
    }

    fn run_lock(&self, store_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.running.lock().expect("run lock").entry(store_id).or_default().clone()
    }

    /// Runs every store's loop until shutdown; picks up stores added while running.
    pub async fn run(self: Arc<Self>) {
        let mut shutdown = self.shutdown.clone();
        let mut loops = JoinSet::new();
        let mut started = std::collections::HashSet::new();
        loop {
            match self.db.list_stores().await {
                Ok(stores) => {
                    for store in stores.into_iter().filter(|s| s.enabled) {
                        if started.insert(store.id) {
                            let scheduler = self.clone();
                            loops.spawn(async move { scheduler.store_loop(store.id).await });
                        }
                    }
                }
                Err(error) => tracing::error!(error = %format!("{error:#}"), "failed to list stores for sync"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        tracing::info!("sync scheduler stopping; waiting for running pages to be stored");
        while loops.join_next().await.is_some() {}
        tracing::info!("sync scheduler stopped");
    }

    async fn store_loop(self: Arc<Self>, store_id: i64) {
        let mut shutdown = self.shutdown.clone();
        let trigger = self.trigger_handle(store_id);
        let mut backoff: Option<Duration> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let interval = match self.db.store(store_id).await {
                Ok(Some(store)) if !store.enabled => {
                    tracing::debug!(store = %store.name, "sync paused: store disabled");
                    Duration::from_secs(store.sync_interval_secs.max(1) as u64)
                }
                Ok(Some(store)) => {
                    match self.db.current_plugin(&store.plugin_id).await {
                        // A disabled plugin pauses its stores: no run, no failure recorded.
                        Ok(Some(plugin)) if plugin.state == crate::storage::plugins::VersionState::Disabled => {
                            tracing::debug!(store = %store.name, plugin = %plugin.id, "sync paused: plugin disabled");
                        }
                        _ => {
                            if let Err(error) = self.run_once(store_id).await {
                                if let Some(wait) = requested_wait(&error) {
                                    tracing::info!(store = %store.name, wait_ms = wait.as_millis() as u64, "platform asked to slow down; waiting before the next run");
                                    backoff = Some(wait);
                                }
                            }
                        }
                    }
                    let interval = Duration::from_secs(store.sync_interval_secs.max(1) as u64);
                    backoff.take().map_or(interval, |wait| wait.max(interval))
                }
                Ok(None) => return,
                Err(error) => {
                    tracing::error!(store_id, error = %format!("{error:#}"), "failed to load store");
                    Duration::from_secs(10)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = trigger.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Pulls the store's orders once and records the run, successful or not.
    pub async fn run_once(&self, store_id: i64) -> anyhow::Result<RunSummary> {
        let lock = self.run_lock(store_id);
        let _running = lock.lock().await;
        let store = self.db.store(store_id).await?.with_context(|| format!("store {store_id} not found"))?;
        if !self.db.try_lease(store.id, PULL_ORDERS, &self.holder, LEASE_TTL_MS).await? {
            tracing::debug!(store = %store.name, "sync lease taken by another server; skipping this run");
            return Ok(RunSummary { leased_elsewhere: true, ..RunSummary::default() });
        }
        let result = self.run_leased(&store).await;
        if let Err(error) = self.db.release_lease(store.id, PULL_ORDERS, &self.holder).await {
            tracing::warn!(store = %store.name, error = %format!("{error:#}"), "failed to release sync lease");
        }
        result
    }

    async fn run_leased(&self, store: &Store) -> anyhow::Result<RunSummary> {
        let store = store.clone();
        let installed = self.db.enabled_plugin(&store.plugin_id).await?;
        let version = installed.as_ref().map(|p| p.version.clone()).unwrap_or_default();
        let run_id = self.db.start_sync_run(store.id, PULL_ORDERS, &version).await?;
        let started = Instant::now();
        let result = match installed {
            Some(installed) => self.pull(&store, &installed, run_id).await,
            None => Err(anyhow::anyhow!(
                "plugin {:?} has no active version (not installed, waiting for approval, or disabled); \
                 install, approve or enable it, then the store syncs again",
                store.plugin_id
            )),
        };
        let error = result.as_ref().err().map(|error| format!("{error:#}"));
        self.db.finish_sync_run(run_id, error.as_deref()).await?;
        match &result {
            Ok(summary) => tracing::info!(
                store = %store.name, run_id, pages = summary.pages, seen = summary.seen,
                created = summary.created, updated = summary.updated,
                elapsed_ms = started.elapsed().as_millis() as u64, "sync run finished"
            ),
            Err(_) => tracing::warn!(store = %store.name, run_id, error = error.as_deref().unwrap_or(""), "sync run failed"),
        }
        result.map(|summary| RunSummary { run_id, ..summary })
    }

    async fn pull(
        &self,
        store: &Store,
        installed: &crate::storage::plugins::InstalledPlugin,
        run_id: i64,
    ) -> anyhow::Result<RunSummary> {
        let plugins = self.plugins.clone();
        let installed = installed.clone();
        let loaded = tokio::task::spawn_blocking(move || plugins.load(&installed)).await??;
        anyhow::ensure!(
            loaded.manifest.has_capability(crate::plugin::manifest::Capability::PullOrders),
            "plugin {} does not declare the pull-orders capability",
            loaded.label()
        );
        let max_window_ms = loaded.manifest.pull_orders.as_ref().map_or(1_800, |p| p.max_window_secs) as i64 * 1000;
        let plugin_version = loaded.manifest.version.clone();
        let mut session = {
            let plugins = self.plugins.clone();
            let shop = store.clone();
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let _entered = runtime.enter();
                plugins.open_session(loaded, &shop)
            })
            .await??
        };
        if session.plugin().manifest.has_capability(crate::plugin::manifest::Capability::PullProducts) {
            let last = self.db.products_pulled_at(store.id).await?;
            if last.is_none_or(|at| crate::now_ms() - at >= PRODUCTS_INTERVAL_MS) {
                let (returned, result) = crate::stock::pull_products(&self.db, &self.rules, session, store.id).await;
                session = returned.context("the plugin session was lost while pulling products")?;
                match result {
                    Ok(count) => tracing::info!(store = %store.name, listings = count, "products pulled"),
                    // Orders still come in; the next run tries the products again.
                    Err(error) => tracing::warn!(store = %store.name, error = %format!("{error:#}"), "product pull failed"),
                }
            }
        }
        let mut summary = RunSummary::default();
        let overlap = self.settings.overlap.as_millis() as i64;
        let lag = self.settings.lag.as_millis() as i64;
        for _ in 0..self.settings.max_windows_per_run {
            let cursor = self.db.cursor(store.id, PULL_ORDERS).await?;
            let end_limit = crate::now_ms() - lag;
            let (window, mut token) = match cursor.open_window {
                Some(open) => ((open.start_ms, open.end_ms), Some(open.page_token)),
                None => {
                    let start = match cursor.cursor_ms {
                        Some(cursor) => cursor - overlap,
                        None => end_limit.saturating_sub(store.initial_lookback_secs.saturating_mul(1000)),
                    };
                    ((start, start.saturating_add(max_window_ms).min(end_limit)), None)
                }
            };
            if window.0 >= window.1 {
                break;
            }
            loop {
                if *self.shutdown.borrow() {
                    summary.stopped_early = true;
                    return Ok(summary);
                }
                if !self.db.try_lease(store.id, PULL_ORDERS, &self.holder, LEASE_TTL_MS).await? {
                    tracing::warn!(store = %store.name, "sync lease lost to another server; stopping this run");
                    summary.stopped_early = true;
                    return Ok(summary);
                }
                let page_token = token.clone();
                let (returned, result) = tokio::task::spawn_blocking(move || {
                    let result = session.pull_orders(window, page_token.as_deref());
                    (session, result)
                })
                .await?;
                session = returned;
                let page = result?;
                let position = PagePosition { run_id, window };
                let counts = store_page(&self.db, &self.rules, store, &plugin_version, &position, &page).await?;
                summary.pages += 1;
                summary.seen += counts.seen;
                summary.created += counts.created;
                summary.updated += counts.updated;
                match page.next_page_token {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
            if window.1 >= end_limit {
                break;
            }
        }
        Ok(summary)
    }
}

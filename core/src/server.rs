//! Wiring: opens storage, loads rules and plugins, starts the scheduler and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::Config;
use crate::plugin::PluginHost;
use crate::plugin::manifest::Manifest;
use crate::plugin::net::Origin;
use crate::storage::stores::{NewStore, Store, StoreChanges};
use crate::rules::{RuleBook, ScriptLimits};
use crate::storage::Db;
use crate::sync::Scheduler;

/// Everything a request handler or a job needs.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub plugins: Arc<PluginHost>,
    pub rules: Arc<RuleBook>,
    pub scheduler: Arc<Scheduler>,
    pub pusher: Arc<crate::stock::Pusher>,
    pub config: Arc<Config>,
}

/// A started server; stop it with [`Server::shutdown`] or by dropping the stop sender.
pub struct Server {
    pub app: App,
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl App {
    /// Opens storage and loads everything except the background tasks.
    pub async fn open(mut config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<App> {
        // Installed plugins are recorded by path, so the folder must not depend on where the
        // server is started from.
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("failed to create data folder {}", config.data_dir.display()))?;
        config.data_dir = std::path::absolute(&config.data_dir)
            .with_context(|| format!("failed to resolve data folder {}", config.data_dir.display()))?;
        let db = match &config.database_url {
            Some(url) => Db::connect(url).await?,
            None => Db::open_sqlite(&config.data_dir).await?,
        };
        let rules = Arc::new(RuleBook::load(&db, config.rules_dir.as_deref(), ScriptLimits::default()).await?);
        let plugins = Arc::new(PluginHost::new(&config.data_dir, config.sandbox.clone(), config.require_signed_plugins)?);
        let scheduler = Scheduler::new(db.clone(), plugins.clone(), rules.clone(), config.sync.clone(), &config.data_dir, shutdown);
        let pusher = crate::stock::Pusher::new(db.clone(), plugins.clone(), scheduler.holder().to_owned());
        Ok(App { db, plugins, rules, scheduler, pusher, config: Arc::new(config) })
    }
}

/// How far back a store's first pull may reach: 90 days, about what marketplaces keep
/// available for incremental pulls (Taobao: three months).
const MAX_LOOKBACK_SECS: i64 = 90 * 86_400;

impl App {
    /// Adds a store after checking its plugin, configuration and approved origins.
    pub async fn add_store(&self, new_store: &NewStore) -> anyhow::Result<Store> {
        let name = new_store.name.trim();
        anyhow::ensure!(!name.is_empty(), "store name is empty; give the store a name");
        anyhow::ensure!(
            name.chars().count() <= 100 && !name.chars().any(char::is_control),
            "store name {:?} is invalid: use at most 100 characters and no control characters",
            crate::domain::truncate_for_message(name)
        );
        anyhow::ensure!(
            (1..=86_400).contains(&new_store.sync_interval_secs),
            "sync_interval_secs {} is out of range; use 1 to 86400 seconds",
            new_store.sync_interval_secs
        );
        anyhow::ensure!(
            (60..=MAX_LOOKBACK_SECS).contains(&new_store.initial_lookback_secs),
            "initial_lookback_secs {} is out of range; use 60 to {MAX_LOOKBACK_SECS} seconds (90 days)",
            new_store.initial_lookback_secs
        );
        // The store's configuration is checked against the version it will use: the active or
        // disabled one, else the newest upload still waiting for approval.
        let plugin = match self.db.current_plugin(&new_store.plugin_id).await? {
            Some(plugin) => plugin,
            None => self
                .db
                .list_plugins()
                .await?
                .into_iter()
                .find(|plugin| plugin.id == new_store.plugin_id)
                .with_context(|| {
                    format!("plugin {:?} is not installed; install it first (shopkeeper plugin install DIR)", new_store.plugin_id)
                })?,
        };
        let manifest = Manifest::parse(&plugin.manifest)?;
        manifest.check_store_config(&new_store.config)?;
        for origin in &new_store.approved_origins {
            Origin::parse(origin).map_err(|problem| anyhow::anyhow!("approved origin {origin:?} is invalid: {problem}"))?;
        }
        let mut new_store = new_store.clone();
        if new_store.platform.trim().is_empty() {
            new_store.platform = new_store.plugin_id.clone();
        }
        self.db.insert_store(&new_store).await
    }
}

impl App {
    /// Applies an admin's changes to a store, with the same checks as adding one.
    pub async fn update_store(&self, id: i64, changes: &StoreChanges) -> anyhow::Result<Store> {
        let mut store = self.db.store(id).await?.with_context(|| format!("store {id} not found"))?;
        for (name, value) in &changes.config {
            if value.is_empty() {
                store.config.remove(name);
            } else {
                store.config.insert(name.clone(), value.clone());
            }
        }
        if let Some(origins) = &changes.approved_origins {
            for origin in origins {
                Origin::parse(origin).map_err(|problem| anyhow::anyhow!("approved origin {origin:?} is invalid: {problem}"))?;
            }
            store.approved_origins = origins.clone();
        }
        if let Some(interval) = changes.sync_interval_secs {
            anyhow::ensure!((1..=86_400).contains(&interval), "sync_interval_secs {interval} is out of range; use 1 to 86400 seconds");
            store.sync_interval_secs = interval;
        }
        if let Some(enabled) = changes.enabled {
            store.enabled = enabled;
        }
        if let Some(plugin) = self.db.current_plugin(&store.plugin_id).await? {
            Manifest::parse(&plugin.manifest)?.check_store_config(&store.config)?;
        }
        self.db.update_store(&store).await?;
        tracing::info!(store = %store.name, enabled = store.enabled, origins = ?store.approved_origins, "store updated");
        self.scheduler.trigger(store.id);
        Ok(store)
    }
}

impl Server {
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let (stop, shutdown) = watch::channel(false);
        let listen = config.listen;
        let app = App::open(config, shutdown.clone()).await?;
        // Only a starting server may close runs left `running`; a CLI command opening the same
        // database while a server syncs must not.
        let interrupted = app.db.mark_interrupted_runs().await?;
        if interrupted > 0 {
            tracing::warn!(runs = interrupted, "found sync runs interrupted by an earlier stop");
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("failed to listen on {listen}; pick another address with --listen"))?;
        let addr = listener.local_addr()?;
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(app.scheduler.clone().run());
        tasks.spawn(app.pusher.clone().run(std::time::Duration::from_millis(250), shutdown.clone()));
        tasks.spawn(crate::rules_admin::watch(app.clone(), app.config.database_url.clone(), shutdown.clone()));
        let policy = crate::http::guard::HostPolicy { port: addr.port(), public_hosts: app.config.public_hosts.clone() };
        let router = crate::http::router(app.clone(), policy);
        let mut http_shutdown = shutdown.clone();
        tasks.spawn(async move {
            let stopped = async move {
                let _ = http_shutdown.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
                tracing::error!(%error, "HTTP server failed");
            }
        });
        tracing::info!(%addr, "shopkeeper listening");
        Ok(Server { app, addr, stop, tasks })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets running sync pages finish, then returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.app.db.close().await;
    }

    /// Runs until SIGTERM or Ctrl-C, then shuts down cleanly.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal().await;
        tracing::info!("stop signal received; finishing the current transaction");
        self.shutdown().await;
        Ok(())
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("failed to install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

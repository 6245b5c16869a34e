//! Plugin host: loads connector components with wasmtime and runs them in a sandbox.
//!
//! A plugin has no ambient authority. Its WASI context has no files, environment or sockets;
//! its only way out is the `http` import, filtered by [`net::HttpGate`]. Each call is bounded in
//! CPU time (epoch interruption, counting only time spent in WebAssembly), linear memory and
//! table size, and the size of what it returns. A plugin that traps fails its own sync run and
//! its instance is dropped.

pub mod manifest;
pub mod net;
pub mod signing;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::domain::{Address, IncomingLine, IncomingOrder, PlatformStatus};
use crate::storage::Db;
use crate::storage::plugins::{InstalledPlugin, VersionState};
use crate::storage::stores::Store as ShopStore;
use manifest::Manifest;
use net::{HttpGate, HttpLimits, Origin};
use signing::PluginSignature;

/// An uploaded plugin: manifest text, component bytes and the optional `plugin.sig` text.
pub struct Bundle {
    pub manifest: String,
    pub component: Vec<u8>,
    pub signature: Option<String>,
}

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit/connector@0.1.0",
        world: "connector",
    });
}

use bindings::shopkeeper::connector::types as wit;
use bindings::{Connector, ConnectorPre};

/// Sandbox limits, each with a default that suits a connector pulling a page of orders.
#[derive(Clone, Debug)]
pub struct SandboxLimits {
    /// Time a single call may spend executing WebAssembly (host calls do not count).
    pub cpu_time_per_call: Duration,
    pub max_memory_bytes: usize,
    pub max_table_elements: usize,
    pub max_instances: usize,
    /// Size of everything one call returns (strings and lists summed).
    pub max_output_bytes: usize,
    pub http: HttpLimits,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            cpu_time_per_call: Duration::from_secs(5),
            max_memory_bytes: 128 * 1024 * 1024,
            max_table_elements: 100_000,
            max_instances: 20,
            max_output_bytes: 32 * 1024 * 1024,
            http: HttpLimits::default(),
        }
    }
}

/// Failure of a plugin call. Every message names the plugin and the store.
#[derive(Debug, thiserror::Error)]
#[error("plugin {plugin} (store {store:?}): {message}")]
pub struct PluginError {
    pub plugin: String,
    pub store: String,
    pub kind: PluginErrorKind,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginErrorKind {
    /// The plugin returned an error of its own, such as a platform error.
    Connector { kind: String, retry_after_ms: Option<u64> },
    CpuTimeLimit,
    MemoryLimit,
    StackOverflow,
    OutputTooLarge,
    Trap,
    InvalidOutput,
    Load,
}

/// Wasmtime state of one plugin session.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    config: BTreeMap<String, String>,
    http: HttpGate,
    clock: CallClock,
    plugin: String,
    store_name: String,
    log_lines: u32,
}

struct CallClock {
    started: Instant,
    in_host: Duration,
    limit: Duration,
    exceeded: bool,
}

struct Limiter {
    max_memory: usize,
    max_table_elements: usize,
    max_instances: usize,
    exceeded: Option<String>,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.exceeded = Some(format!("linear memory of {desired} bytes requested, limit {} bytes", self.max_memory));
            return Err(wasmtime::Error::msg("memory limit exceeded"));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            self.exceeded = Some(format!("table of {desired} elements requested, limit {}", self.max_table_elements));
            return Err(wasmtime::Error::msg("table limit exceeded"));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.max_instances
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl PluginState {
    /// Runs a host import, keeping its time out of the plugin's CPU budget.
    fn in_host<R>(&mut self, work: impl FnOnce(&mut Self) -> R) -> R {
        let started = Instant::now();
        let result = work(self);
        self.clock.in_host += started.elapsed();
        result
    }
}

impl bindings::shopkeeper::connector::types::Host for PluginState {}

impl bindings::shopkeeper::connector::http::Host for PluginState {
    fn send(
        &mut self,
        request: bindings::shopkeeper::connector::http::Request,
    ) -> Result<bindings::shopkeeper::connector::http::Response, bindings::shopkeeper::connector::http::HttpError> {
        self.in_host(|state| {
            let url = request.url.clone();
            let result = state.http.send(request);
            if let Err(error) = &result {
                tracing::warn!(plugin = %state.plugin, store = %state.store_name, %url, ?error, "plugin HTTP request failed");
            }
            result
        })
    }
}

impl bindings::shopkeeper::connector::host::Host for PluginState {
    fn log(&mut self, level: bindings::shopkeeper::connector::host::LogLevel, message: String) {
        use bindings::shopkeeper::connector::host::LogLevel;
        const MAX_LINES_PER_SESSION: u32 = 1_000;
        self.log_lines += 1;
        if self.log_lines > MAX_LINES_PER_SESSION {
            if self.log_lines == MAX_LINES_PER_SESSION + 1 {
                tracing::warn!(plugin = %self.plugin, store = %self.store_name, "plugin log limit reached; further lines are dropped");
            }
            return;
        }
        let message = crate::domain::truncate_for_message(&message);
        let (plugin, store) = (&self.plugin, &self.store_name);
        match level {
            LogLevel::Trace => tracing::trace!(%plugin, %store, "{message}"),
            LogLevel::Debug => tracing::debug!(%plugin, %store, "{message}"),
            LogLevel::Info => tracing::info!(%plugin, %store, "{message}"),
            LogLevel::Warn => tracing::warn!(%plugin, %store, "{message}"),
            LogLevel::Error => tracing::error!(%plugin, %store, "{message}"),
        }
    }

    fn config(&mut self, name: String) -> Option<String> {
        self.config.get(&name).cloned()
    }

    fn now_ms(&mut self) -> i64 {
        crate::now_ms()
    }
}

/// Returns the process-wide engine. Epoch interruption needs a ticker thread per engine, so
/// all hosts in a process share one engine and one ticker.
fn shared_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(512 * 1024);
        let engine = Engine::new(&config).expect("wasmtime engine configuration is valid");
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .expect("failed to start the epoch thread");
        engine
    })
}

const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Compiled components by SHA-256, shared by every host in the process.
fn compiled_components() -> &'static Mutex<HashMap<String, Component>> {
    static COMPILED: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    COMPILED.get_or_init(Default::default)
}

/// A plugin version ready to instantiate.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    pub sha256: String,
    pre: ConnectorPre<PluginState>,
}

impl LoadedPlugin {
    pub fn label(&self) -> String {
        format!("{}@{}", self.manifest.id, self.manifest.version)
    }
}

pub struct PluginHost {
    engine: Engine,
    linker: Linker<PluginState>,
    plugins_dir: PathBuf,
    cache_dir: PathBuf,
    limits: SandboxLimits,
    require_signature: bool,
    loaded: Mutex<HashMap<(String, String), Arc<LoadedPlugin>>>,
}

impl PluginHost {
    /// Creates the host; with `require_signature` only plugins signed by a trusted publisher
    /// install.
    pub fn new(data_dir: &Path, limits: SandboxLimits, require_signature: bool) -> anyhow::Result<PluginHost> {
        let engine = shared_engine().clone();
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Connector::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |state| state)?;
        let plugins_dir = data_dir.join("plugins");
        let cache_dir = data_dir.join("cache").join("components");
        for dir in [&plugins_dir, &cache_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
        }
        Ok(PluginHost { engine, linker, plugins_dir, cache_dir, limits, require_signature, loaded: Mutex::new(HashMap::new()) })
    }

    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// Installs the plugin in `dir`: its `plugin.toml`, one `.wasm` component and, if present,
    /// the publisher's `plugin.sig`. See [`PluginHost::install_bundle`].
    pub async fn install_from_dir(&self, db: &Db, dir: &Path, approve: bool) -> anyhow::Result<InstalledPlugin> {
        let manifest_path = dir.join("plugin.toml");
        let manifest = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("failed to read plugin manifest {}", manifest_path.display()))?;
        let component_path = find_component(dir)?;
        let component = std::fs::read(&component_path).with_context(|| format!("failed to read {}", component_path.display()))?;
        let signature_path = dir.join("plugin.sig");
        let signature = match std::fs::read_to_string(&signature_path) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error).with_context(|| format!("failed to read {}", signature_path.display())),
        };
        self.install_bundle(db, &Bundle { manifest, component, signature }, approve)
            .await
            .with_context(|| format!("plugin in {} rejected", dir.display()))
    }

    /// Validates and stores an uploaded plugin version: the manifest, the signature (required
    /// when the server is configured so, and always checked when present), and that the
    /// component implements the manifest's world. The version starts `pending` until an admin
    /// approves the hosts it requests, unless `approve` is set.
    pub async fn install_bundle(&self, db: &Db, bundle: &Bundle, approve: bool) -> anyhow::Result<InstalledPlugin> {
        let manifest = Manifest::parse(&bundle.manifest)?;
        let publisher_key = match &bundle.signature {
            Some(text) => {
                let signature = PluginSignature::parse(text)?;
                signature.verify(&bundle.component, &bundle.manifest)?;
                let trusted = db.trusted_publishers().await?;
                anyhow::ensure!(
                    trusted.iter().any(|publisher| publisher.public_key == signature.publisher_key),
                    "plugin {} is signed by publisher key {}, which is not trusted; an admin can trust it with \
                     `shopkeeper publisher trust --name NAME --key {}`",
                    manifest.id,
                    signature.publisher_key,
                    signature.publisher_key
                );
                Some(signature.publisher_key)
            }
            None if self.require_signature => anyhow::bail!(
                "plugin {} has no plugin.sig, and this server accepts only plugins signed by a trusted publisher",
                manifest.id
            ),
            None => None,
        };
        let sha256 = hex::encode(Sha256::digest(&bundle.component));
        self.instantiate_pre(&manifest, &sha256, &bundle.component)
            .with_context(|| format!("plugin {} {} rejected", manifest.id, manifest.version))?;
        let target_dir = self.plugins_dir.join(&manifest.id).join(&manifest.version);
        std::fs::create_dir_all(&target_dir).with_context(|| format!("failed to create {}", target_dir.display()))?;
        let installed_component = target_dir.join("plugin.wasm");
        std::fs::write(&installed_component, &bundle.component)
            .with_context(|| format!("failed to write {}", installed_component.display()))?;
        std::fs::write(target_dir.join("plugin.toml"), &bundle.manifest)
            .with_context(|| format!("failed to write manifest into {}", target_dir.display()))?;
        if let Some(signature) = &bundle.signature {
            std::fs::write(target_dir.join("plugin.sig"), signature)
                .with_context(|| format!("failed to write signature into {}", target_dir.display()))?;
        }
        let installed = InstalledPlugin {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            name: manifest.name.clone(),
            world: manifest.world.clone(),
            sha256,
            component_path: installed_component.display().to_string(),
            manifest: bundle.manifest.clone(),
            state: VersionState::Pending,
            installed_at: crate::now_ms(),
            activated_at: None,
            publisher_key,
        };
        let recorded = db.record_plugin(&installed, approve).await?;
        tracing::info!(
            plugin = %recorded.id, version = %recorded.version, sha256 = %recorded.sha256,
            state = recorded.state.as_str(), hosts = ?manifest.allowed_hosts, "plugin installed"
        );
        Ok(recorded)
    }

    /// Loads an installed version, checking that the file still has the recorded SHA-256.
    pub fn load(&self, installed: &InstalledPlugin) -> anyhow::Result<Arc<LoadedPlugin>> {
        let key = (installed.id.clone(), installed.version.clone());
        if let Some(loaded) = self.loaded.lock().expect("plugin cache lock").get(&key) {
            if loaded.sha256 == installed.sha256 {
                return Ok(loaded.clone());
            }
        }
        let bytes = std::fs::read(&installed.component_path)
            .with_context(|| format!("failed to read plugin component {}", installed.component_path))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        anyhow::ensure!(
            sha256 == installed.sha256,
            "plugin {}@{}: component {} has SHA-256 {sha256}, but {} was recorded at install; reinstall the plugin",
            installed.id,
            installed.version,
            installed.component_path,
            installed.sha256
        );
        let manifest = Manifest::parse(&installed.manifest)?;
        let pre = self.instantiate_pre(&manifest, &sha256, &bytes)?;
        let loaded = Arc::new(LoadedPlugin { manifest, sha256, pre });
        self.loaded.lock().expect("plugin cache lock").insert(key, loaded.clone());
        Ok(loaded)
    }

    fn instantiate_pre(&self, manifest: &Manifest, sha256: &str, bytes: &[u8]) -> anyhow::Result<ConnectorPre<PluginState>> {
        let component = self.compile(sha256, bytes)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|error| {
            anyhow::anyhow!(
                "the component does not fit world {} (it imports something this host does not offer): {error}",
                manifest.world
            )
        })?;
        ConnectorPre::new(pre).map_err(|error| {
            anyhow::anyhow!("the component does not export what world {} requires: {error}", manifest.world)
        })
    }

    /// Compiles a component, reusing the in-process copy or the on-disk cache. A cache entry
    /// that fails to load counts as a miss.
    fn compile(&self, sha256: &str, bytes: &[u8]) -> anyhow::Result<Component> {
        if let Some(component) = compiled_components().lock().expect("component cache lock").get(sha256) {
            return Ok(component.clone());
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        let cache_file = self.cache_dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));
        let cached = if cache_file.exists() {
            // SAFETY: the file was written by `Component::serialize` of this host into its own
            // data folder; plugin-supplied precompiled code is never loaded.
            match unsafe { Component::deserialize_file(&self.engine, &cache_file) } {
                Ok(component) => Some(component),
                Err(error) => {
                    tracing::warn!(file = %cache_file.display(), %error, "component cache entry unusable; recompiling");
                    None
                }
            }
        } else {
            None
        };
        let component = match cached {
            Some(component) => component,
            None => {
                let component = Component::from_binary(&self.engine, bytes)
                    .map_err(|error| anyhow::anyhow!("not a valid WebAssembly component: {error}"))?;
                match component.serialize() {
                    Ok(serialized) => {
                        let temporary = cache_file.with_extension("tmp");
                        if let Err(error) = std::fs::write(&temporary, serialized).and_then(|_| std::fs::rename(&temporary, &cache_file)) {
                            tracing::warn!(file = %cache_file.display(), %error, "failed to write component cache");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "failed to serialise component for the cache"),
                }
                component
            }
        };
        compiled_components().lock().expect("component cache lock").insert(sha256.to_owned(), component.clone());
        Ok(component)
    }

    /// Starts a session: a fresh instance for one store's sync run.
    pub fn open_session(&self, plugin: Arc<LoadedPlugin>, shop: &ShopStore) -> Result<PluginSession, PluginError> {
        let label = plugin.label();
        let fail = |kind, message: String| PluginError { plugin: label.clone(), store: shop.name.clone(), kind, message };
        let mut config: BTreeMap<String, String> = plugin
            .manifest
            .config
            .iter()
            .filter_map(|field| field.default.clone().map(|value| (field.name.clone(), value)))
            .collect();
        config.extend(shop.config.clone());
        let approved = shop
            .approved_origins
            .iter()
            .map(|text| Origin::parse(text).map_err(|problem| fail(PluginErrorKind::Load, format!("approved origin {text:?} {problem}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| fail(PluginErrorKind::Load, "plugin sessions need a Tokio runtime".into()))?;
        let state = PluginState {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                max_memory: self.limits.max_memory_bytes,
                max_table_elements: self.limits.max_table_elements,
                max_instances: self.limits.max_instances,
                exceeded: None,
            },
            config,
            http: HttpGate::new(plugin.manifest.allowed_origins(), approved, self.limits.http.clone(), runtime),
            clock: CallClock { started: Instant::now(), in_host: Duration::ZERO, limit: self.limits.cpu_time_per_call, exceeded: false },
            plugin: label.clone(),
            store_name: shop.name.clone(),
            log_lines: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(check_cpu_budget);
        let instance = plugin.pre.instantiate(&mut store).map_err(|error| classify(&store, &label, &shop.name, error))?;
        Ok(PluginSession {
            store,
            instance: Some(instance),
            plugin: plugin.clone(),
            store_name: shop.name.clone(),
            max_output_bytes: self.limits.max_output_bytes,
        })
    }
}

fn check_cpu_budget(mut context: StoreContextMut<'_, PluginState>) -> wasmtime::Result<UpdateDeadline> {
    let clock = &mut context.data_mut().clock;
    let in_wasm = clock.started.elapsed().saturating_sub(clock.in_host);
    if in_wasm > clock.limit {
        clock.exceeded = true;
        return Err(wasmtime::Error::msg("CPU time limit exceeded"));
    }
    Ok(UpdateDeadline::Continue(1))
}

fn classify(store: &Store<PluginState>, plugin: &str, shop: &str, error: wasmtime::Error) -> PluginError {
    let state = store.data();
    let trap = error.downcast_ref::<wasmtime::Trap>().or_else(|| error.root_cause().downcast_ref::<wasmtime::Trap>()).copied();
    let (kind, message) = if state.clock.exceeded {
        (PluginErrorKind::CpuTimeLimit, format!("exceeded the CPU time limit of {} ms per call", state.clock.limit.as_millis()))
    } else if let Some(detail) = &state.limiter.exceeded {
        (PluginErrorKind::MemoryLimit, format!("exceeded its memory limit: {detail}"))
    } else if trap == Some(wasmtime::Trap::StackOverflow) {
        (PluginErrorKind::StackOverflow, "overflowed its call stack (limit 512 KiB)".to_owned())
    } else if let Some(trap) = trap {
        (PluginErrorKind::Trap, format!("trapped: {trap}"))
    } else {
        (PluginErrorKind::Trap, format!("trapped: {}", first_line(&error.root_cause().to_string())))
    };
    PluginError { plugin: plugin.to_owned(), store: shop.to_owned(), kind, message }
}

fn first_line(text: &str) -> String {
    crate::domain::truncate_for_message(text.lines().next().unwrap_or(text))
}

fn find_component(dir: &Path) -> anyhow::Result<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("failed to read plugin folder {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "wasm") {
            found.push(path);
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one component")),
        0 => anyhow::bail!("plugin folder {} has no .wasm component", dir.display()),
        _ => anyhow::bail!("plugin folder {} has several .wasm files; keep exactly one", dir.display()),
    }
}

/// One page as the core receives it, validated.
#[derive(Debug)]
pub struct Page {
    pub orders: Vec<IncomingOrder>,
    pub next_page_token: Option<String>,
}

/// A live instance for one sync run. After a trap the instance is gone and every later call
/// fails, so a broken instance is never reused.
pub struct PluginSession {
    store: Store<PluginState>,
    instance: Option<Connector>,
    plugin: Arc<LoadedPlugin>,
    store_name: String,
    max_output_bytes: usize,
}

impl PluginSession {
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    fn error(&self, kind: PluginErrorKind, message: String) -> PluginError {
        PluginError { plugin: self.plugin.label(), store: self.store_name.clone(), kind, message }
    }

    /// Pulls one page. Blocks the thread: run it on a blocking-task thread.
    pub fn pull_orders(&mut self, window: (i64, i64), page_token: Option<&str>) -> Result<Page, PluginError> {
        let Some(instance) = &self.instance else {
            return Err(self.error(PluginErrorKind::Trap, "the plugin instance trapped earlier in this run".into()));
        };
        let clock = &mut self.store.data_mut().clock;
        clock.started = Instant::now();
        clock.in_host = Duration::ZERO;
        self.store.set_epoch_deadline(1);
        let window = wit::TimeWindow { start_ms: window.0, end_ms: window.1 };
        let result = instance.shopkeeper_connector_pull().call_pull_orders(&mut self.store, window, page_token);
        let page = match result {
            Ok(Ok(page)) => page,
            Ok(Err(error)) => {
                let kind = error_kind_name(error.kind);
                return Err(self.error(
                    PluginErrorKind::Connector { kind: kind.to_owned(), retry_after_ms: error.retry_after_ms },
                    format!(
                        "{kind} error{}: {}",
                        error.platform_code.map(|code| format!(" (platform code {code})")).unwrap_or_default(),
                        crate::domain::truncate_chars(&error.message, 1_000)
                    ),
                ));
            }
            Err(error) => {
                self.instance = None;
                return Err(classify(&self.store, &self.plugin.label(), &self.store_name, error));
            }
        };
        let size = page_size_bytes(&page);
        if size > self.max_output_bytes {
            return Err(self.error(
                PluginErrorKind::OutputTooLarge,
                format!("returned a page of {size} bytes, more than the output limit of {} bytes", self.max_output_bytes),
            ));
        }
        let orders: Vec<IncomingOrder> = page.orders.into_iter().map(convert_order).collect();
        for order in &orders {
            order.validate().map_err(|error| self.error(PluginErrorKind::InvalidOutput, format!("returned an invalid {error}")))?;
        }
        Ok(Page { orders, next_page_token: page.next_page_token })
    }
}

fn error_kind_name(kind: wit::ErrorKind) -> &'static str {
    match kind {
        wit::ErrorKind::Auth => "authentication",
        wit::ErrorKind::RateLimited => "rate limit",
        wit::ErrorKind::Platform => "platform",
        wit::ErrorKind::Network => "network",
        wit::ErrorKind::InvalidConfig => "configuration",
        wit::ErrorKind::InvalidResponse => "invalid response",
        wit::ErrorKind::Internal => "internal plugin",
    }
}

fn page_size_bytes(page: &wit::OrderPage) -> usize {
    page.orders
        .iter()
        .map(|order| {
            let receiver = &order.receiver;
            let lines: usize = order
                .lines
                .iter()
                .map(|l| 32 + l.platform_line_id.len() + l.platform_item_id.len() + l.platform_sku_id.len() + l.sku_code.len() + l.title.len() + l.platform_status.len())
                .sum();
            64 + order.platform_order_id.len()
                + order.platform_status.len()
                + order.currency.len()
                + order.buyer_nick.len()
                + order.buyer_remark.len()
                + order.seller_remark.len()
                + receiver.name.len()
                + receiver.phone.len()
                + receiver.province.len()
                + receiver.city.len()
                + receiver.district.len()
                + receiver.street.len()
                + receiver.zip.len()
                + order.raw.len()
                + lines
        })
        .sum::<usize>()
        + page.next_page_token.as_ref().map_or(0, String::len)
}

fn convert_order(order: wit::Order) -> IncomingOrder {
    IncomingOrder {
        platform_order_id: order.platform_order_id,
        status: match order.status {
            wit::OrderStatus::Unpaid => PlatformStatus::Unpaid,
            wit::OrderStatus::Paid => PlatformStatus::Paid,
            wit::OrderStatus::Shipped => PlatformStatus::Shipped,
            wit::OrderStatus::Completed => PlatformStatus::Completed,
            wit::OrderStatus::Closed => PlatformStatus::Closed,
            wit::OrderStatus::RefundRequested => PlatformStatus::RefundRequested,
            wit::OrderStatus::Refunded => PlatformStatus::Refunded,
        },
        platform_status: order.platform_status,
        currency: order.currency,
        goods_minor: order.goods_minor,
        shipping_minor: order.shipping_minor,
        paid_minor: order.paid_minor,
        buyer_nick: order.buyer_nick,
        buyer_remark: order.buyer_remark,
        seller_remark: order.seller_remark,
        receiver: Address {
            name: order.receiver.name,
            phone: order.receiver.phone,
            province: order.receiver.province,
            city: order.receiver.city,
            district: order.receiver.district,
            street: order.receiver.street,
            zip: order.receiver.zip,
        },
        created_at_ms: order.created_at_ms,
        modified_at_ms: order.modified_at_ms,
        paid_at_ms: order.paid_at_ms,
        lines: order
            .lines
            .into_iter()
            .map(|line| IncomingLine {
                platform_line_id: line.platform_line_id,
                platform_item_id: line.platform_item_id,
                platform_sku_id: line.platform_sku_id,
                sku_code: line.sku_code,
                title: line.title,
                quantity: line.quantity,
                unit_price_minor: line.unit_price_minor,
                total_minor: line.total_minor,
                platform_status: line.platform_status,
            })
            .collect(),
        raw: order.raw,
    }
}

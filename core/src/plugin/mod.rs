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
use wasmtime::component::{Component, HasSelf, Instance, InstancePre, Linker, ResourceTable};
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

/// Host bindings for every supported world. The 0.2 package includes 0.1 through its `deps`
/// folder, so one set of bindings covers both: the imports are 0.1 interfaces in either world,
/// and each capability is looked up as its own export.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit/connector@0.2.0",
        world: "shopkeeper:connector/connector@0.2.0",
    });
}

use bindings::exports::shopkeeper::connector0_1_0::pull;
use bindings::exports::shopkeeper::connector0_2_0::{products, remarks, shipping, stock, waybills, webhooks};
use bindings::shopkeeper::connector0_1_0::{host as wit_host, http as wit_http, types as wit};
use bindings::shopkeeper::connector0_2_0::catalog;
use manifest::Capability;

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
    /// The core asked for a capability the manifest does not declare.
    NotDeclared,
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

impl wit::Host for PluginState {}

impl catalog::Host for PluginState {}

impl wit_http::Host for PluginState {
    fn send(&mut self, request: wit_http::Request) -> Result<wit_http::Response, wit_http::HttpError> {
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

impl wit_host::Host for PluginState {
    fn log(&mut self, level: wit_host::LogLevel, message: String) {
        use wit_host::LogLevel;
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
    pre: InstancePre<PluginState>,
    exports: Exports,
}

/// Export indices of each declared capability in the component. A capability the manifest does
/// not declare stays `None` and is never called, even when the component exports it.
#[derive(Default)]
struct Exports {
    pull: Option<pull::GuestIndices>,
    products: Option<products::GuestIndices>,
    stock: Option<stock::GuestIndices>,
    shipping: Option<shipping::GuestIndices>,
    remarks: Option<remarks::GuestIndices>,
    webhooks: Option<webhooks::GuestIndices>,
    waybills: Option<waybills::GuestIndices>,
}

impl Exports {
    /// Finds every capability the manifest declares, failing with the first one missing.
    fn find(manifest: &Manifest, pre: &InstancePre<PluginState>) -> anyhow::Result<Exports> {
        let mut exports = Exports::default();
        for capability in manifest.declared_capabilities() {
            let missing = |error: wasmtime::Error| {
                anyhow::anyhow!(
                    "plugin {} declares capability {}, but its component does not export {}: {error}",
                    manifest.id,
                    capability.name(),
                    capability.interface()
                )
            };
            match capability {
                Capability::PullOrders => exports.pull = Some(pull::GuestIndices::new(pre).map_err(missing)?),
                Capability::PullProducts => exports.products = Some(products::GuestIndices::new(pre).map_err(missing)?),
                Capability::PushStock => exports.stock = Some(stock::GuestIndices::new(pre).map_err(missing)?),
                Capability::ConfirmShipment => exports.shipping = Some(shipping::GuestIndices::new(pre).map_err(missing)?),
                Capability::UpdateRemark => exports.remarks = Some(remarks::GuestIndices::new(pre).map_err(missing)?),
                Capability::ParseWebhook => exports.webhooks = Some(webhooks::GuestIndices::new(pre).map_err(missing)?),
                Capability::RequestWaybill => exports.waybills = Some(waybills::GuestIndices::new(pre).map_err(missing)?),
            }
        }
        Ok(exports)
    }
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
        bindings::Connector::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |state| state)?;
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
        let (pre, exports) = self.instantiate_pre(&manifest, &sha256, &bytes)?;
        let loaded = Arc::new(LoadedPlugin { manifest, sha256, pre, exports });
        self.loaded.lock().expect("plugin cache lock").insert(key, loaded.clone());
        Ok(loaded)
    }

    /// Compiles a component and checks it against the manifest: it imports only what the host
    /// offers, and it exports every declared capability.
    fn instantiate_pre(&self, manifest: &Manifest, sha256: &str, bytes: &[u8]) -> anyhow::Result<(InstancePre<PluginState>, Exports)> {
        let component = self.compile(sha256, bytes)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|error| {
            anyhow::anyhow!(
                "the component does not fit world {} (it imports something this host does not offer): {error}",
                manifest.world
            )
        })?;
        let exports = Exports::find(manifest, &pre)?;
        Ok((pre, exports))
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
            pull: None,
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

/// A live instance for one job (a sync run, a stock push). After a trap the instance is gone
/// and every later call fails, so a broken instance is never reused.
pub struct PluginSession {
    store: Store<PluginState>,
    instance: Option<Instance>,
    /// The `pull` export, looked up on the first call of the session and reused after.
    pull: Option<pull::Guest>,
    plugin: Arc<LoadedPlugin>,
    store_name: String,
    max_output_bytes: usize,
}

/// A product page as the core receives it, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductPage {
    pub products: Vec<Product>,
    pub next_page_token: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub platform_item_id: String,
    pub item_code: String,
    pub title: String,
    pub currency: String,
    pub skus: Vec<ProductSku>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProductSku {
    pub platform_sku_id: String,
    pub sku_code: String,
    pub name: String,
    pub price_minor: i64,
    pub quantity: i64,
}

/// The quantity one platform SKU should offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockLevel {
    pub platform_item_id: String,
    pub platform_sku_id: String,
    pub sku_code: String,
    pub quantity: i64,
}

/// Error for one rejected entry of a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryError {
    /// `rate limit`, `authentication`, `platform` and so on.
    pub kind: String,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

impl EntryError {
    pub fn is_rate_limit(&self) -> bool {
        self.kind == "rate limit"
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shipment {
    pub platform_order_id: String,
    pub platform_line_ids: Vec<String>,
    pub carrier_code: String,
    pub tracking_number: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    OrderChanged(String),
    ProductChanged(String),
    Ignored,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaybillRequest {
    pub platform_order_id: String,
    pub carrier_code: String,
    pub sender: Address,
    pub receiver: Address,
    pub weight_grams: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waybill {
    pub tracking_number: String,
    pub routing_code: String,
    pub print_data: String,
}

/// Largest number of entries the host sends in one `push-stock` call.
pub const MAX_PUSH_BATCH: usize = 200;

impl PluginSession {
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    fn error(&self, kind: PluginErrorKind, message: String) -> PluginError {
        PluginError { plugin: self.plugin.label(), store: self.store_name.clone(), kind, message }
    }

    fn connector_error(&self, error: wit::ConnectorError) -> PluginError {
        let failure = entry_error(error);
        self.error(
            PluginErrorKind::Connector { kind: failure.kind.clone(), retry_after_ms: failure.retry_after_ms },
            failure.message,
        )
    }

    /// Runs one export call with a fresh CPU budget. A trap drops the instance.
    fn call<R>(
        &mut self,
        capability: Capability,
        work: impl FnOnce(&Exports, &mut Store<PluginState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        if !self.plugin.manifest.has_capability(capability) {
            return Err(self.error(
                PluginErrorKind::NotDeclared,
                format!("does not declare the {} capability in its plugin.toml", capability.name()),
            ));
        }
        let Some(instance) = self.instance else {
            return Err(self.error(PluginErrorKind::Trap, "the plugin instance trapped earlier in this job".into()));
        };
        let clock = &mut self.store.data_mut().clock;
        clock.started = Instant::now();
        clock.in_host = Duration::ZERO;
        self.store.set_epoch_deadline(1);
        let plugin = self.plugin.clone();
        match work(&plugin.exports, &mut self.store, &instance) {
            Ok(value) => Ok(value),
            Err(error) => {
                self.instance = None;
                Err(classify(&self.store, &self.plugin.label(), &self.store_name, error))
            }
        }
    }

    fn check_size(&self, what: &str, size: usize) -> Result<(), PluginError> {
        if size > self.max_output_bytes {
            return Err(self.error(
                PluginErrorKind::OutputTooLarge,
                format!("returned {what} of {size} bytes, more than the output limit of {} bytes", self.max_output_bytes),
            ));
        }
        Ok(())
    }

    /// Pulls one page of orders. Blocks the thread: run it on a blocking-task thread.
    pub fn pull_orders(&mut self, window: (i64, i64), page_token: Option<&str>) -> Result<Page, PluginError> {
        let window = wit::TimeWindow { start_ms: window.0, end_ms: window.1 };
        let mut cached = self.pull.take();
        let result = self.call(Capability::PullOrders, |exports, store, instance| {
            let guest = match cached.take() {
                Some(guest) => guest,
                None => exports.pull.as_ref().expect("declared capability has its export").load(&mut *store, instance)?,
            };
            let result = guest.call_pull_orders(&mut *store, window, page_token);
            cached = Some(guest);
            result
        });
        if self.instance.is_some() {
            self.pull = cached;
        }
        let result = result?;
        let page = result.map_err(|error| self.connector_error(error))?;
        self.check_size("a page", page_size_bytes(&page))?;
        let orders: Vec<IncomingOrder> = page.orders.into_iter().map(convert_order).collect();
        for order in &orders {
            order.validate().map_err(|error| self.error(PluginErrorKind::InvalidOutput, format!("returned an invalid {error}")))?;
        }
        Ok(Page { orders, next_page_token: page.next_page_token })
    }

    /// Pulls one page of the store's listings.
    pub fn pull_products(&mut self, page_token: Option<&str>) -> Result<ProductPage, PluginError> {
        let result = self.call(Capability::PullProducts, |exports, store, instance| {
            let guest = exports.products.as_ref().expect("declared capability has its export").load(&mut *store, instance)?;
            guest.call_pull_products(&mut *store, page_token)
        })?;
        let page = result.map_err(|error| self.connector_error(error))?;
        let size: usize = page
            .products
            .iter()
            .map(|p| {
                64 + p.platform_item_id.len() + p.item_code.len() + p.title.len() + p.currency.len()
                    + p.skus.iter().map(|s| 32 + s.platform_sku_id.len() + s.sku_code.len() + s.name.len()).sum::<usize>()
            })
            .sum::<usize>()
            + page.next_page_token.as_ref().map_or(0, String::len);
        self.check_size("a product page", size)?;
        let products: Vec<Product> = page.products.into_iter().map(convert_product).collect();
        for product in &products {
            validate_product(product).map_err(|problem| {
                self.error(PluginErrorKind::InvalidOutput, format!("returned an invalid product {:?}: {problem}", product.platform_item_id))
            })?;
        }
        Ok(ProductPage { products, next_page_token: page.next_page_token })
    }

    /// Sets offered quantities; the result has one entry per level, in order. At most
    /// [`MAX_PUSH_BATCH`] levels per call.
    pub fn push_stock(&mut self, levels: &[StockLevel]) -> Result<Vec<Result<(), EntryError>>, PluginError> {
        if levels.len() > MAX_PUSH_BATCH {
            return Err(self.error(PluginErrorKind::Load, format!("push of {} entries exceeds the batch limit of {MAX_PUSH_BATCH}", levels.len())));
        }
        let input: Vec<catalog::StockLevel> = levels
            .iter()
            .map(|level| catalog::StockLevel {
                platform_item_id: level.platform_item_id.clone(),
                platform_sku_id: level.platform_sku_id.clone(),
                sku_code: level.sku_code.clone(),
                quantity: level.quantity,
            })
            .collect();
        let results = self.call(Capability::PushStock, |exports, store, instance| {
            let guest = exports.stock.as_ref().expect("declared capability has its export").load(&mut *store, instance)?;
            guest.call_push_stock(&mut *store, &input)
        })?;
        if results.len() != levels.len() {
            return Err(self.error(
                PluginErrorKind::InvalidOutput,
                format!("answered a push of {} entries with {} results; push-stock must return one result per entry", levels.len(), results.len()),
            ));
        }
        let size: usize = results.iter().map(|r| r.as_ref().err().map_or(8, |e| 32 + e.message.len())).sum();
        self.check_size("push results", size)?;
        Ok(results.into_iter().map(|result| result.map_err(entry_error)).collect())
    }

    pub fn confirm_shipment(&mut self, shipment: &Shipment) -> Result<(), PluginError> {
        let input = catalog::Shipment {
            platform_order_id: shipment.platform_order_id.clone(),
            platform_line_ids: shipment.platform_line_ids.clone(),
            carrier_code: shipment.carrier_code.clone(),
            tracking_number: shipment.tracking_number.clone(),
        };
        let result = self.call(Capability::ConfirmShipment, |exports, store, instance| {
            let guest = exports.shipping.as_ref().expect("declared capability has its export").load(&mut *store, instance)?;
            guest.call_confirm_shipment(&mut *store, &input)
        })?;
        result.map_err(|error| self.connector_error(error))
    }

    pub fn update_remark(&mut self, platform_order_id: &str, remark: &str, flag: Option<u8>) -> Result<(), PluginError> {
        let result = self.call(Capability::UpdateRemark, |exports, store, instance| {
            let guest = exports.remarks.as_ref().expect("declared capability has its export").load(&mut *store, instance)?;
            guest.call_update_remark(&mut *store, platform_order_id, remark, flag)
        })?;
        result.map_err(|error| self.connector_error(error))
    }

    pub fn parse_webhook(&mut self, headers: &[(String, String)], body: &[u8]) -> Result<Vec<WebhookEvent>, PluginError> {
        let request = catalog::WebhookRequest { headers: headers.to_vec(), body: body.to_vec() };
        let result = self.call(Capability::ParseWebhook, |exports, store, instance| {
            let guest = exports.webhooks.as_ref().expect("declared capability has its export").load(&mut *store, instance)?;
            guest.call_parse_webhook(&mut *store, &request)
        })?;
        let events = result.map_err(|error| self.connector_error(error))?;
        let size: usize = events
            .iter()
            .map(|event| match event {
                catalog::WebhookEvent::OrderChanged(id) | catalog::WebhookEvent::ProductChanged(id) => 8 + id.len(),
                catalog::WebhookEvent::Ignored => 8,
            })
            .sum();
        self.check_size("webhook events", size)?;
        Ok(events
            .into_iter()
            .map(|event| match event {
                catalog::WebhookEvent::OrderChanged(id) => WebhookEvent::OrderChanged(id),
                catalog::WebhookEvent::ProductChanged(id) => WebhookEvent::ProductChanged(id),
                catalog::WebhookEvent::Ignored => WebhookEvent::Ignored,
            })
            .collect())
    }

    pub fn request_waybill(&mut self, request: &WaybillRequest) -> Result<Waybill, PluginError> {
        let input = catalog::WaybillRequest {
            platform_order_id: request.platform_order_id.clone(),
            carrier_code: request.carrier_code.clone(),
            sender: wit_address(&request.sender),
            receiver: wit_address(&request.receiver),
            weight_grams: request.weight_grams,
        };
        let result = self.call(Capability::RequestWaybill, |exports, store, instance| {
            let guest = exports.waybills.as_ref().expect("declared capability has its export").load(&mut *store, instance)?;
            guest.call_request_waybill(&mut *store, &input)
        })?;
        let waybill = result.map_err(|error| self.connector_error(error))?;
        self.check_size("a waybill", waybill.tracking_number.len() + waybill.routing_code.len() + waybill.print_data.len())?;
        if waybill.tracking_number.trim().is_empty() || waybill.tracking_number.len() > 64 {
            return Err(self.error(
                PluginErrorKind::InvalidOutput,
                format!("returned a waybill with tracking number {:?}; it must be 1-64 characters", waybill.tracking_number),
            ));
        }
        Ok(Waybill { tracking_number: waybill.tracking_number, routing_code: waybill.routing_code, print_data: waybill.print_data })
    }
}

fn wit_address(address: &Address) -> wit::Address {
    wit::Address {
        name: address.name.clone(),
        phone: address.phone.clone(),
        province: address.province.clone(),
        city: address.city.clone(),
        district: address.district.clone(),
        street: address.street.clone(),
        zip: address.zip.clone(),
    }
}

fn entry_error(error: wit::ConnectorError) -> EntryError {
    let kind = error_kind_name(error.kind);
    EntryError {
        kind: kind.to_owned(),
        message: format!(
            "{kind} error{}: {}",
            error.platform_code.map(|code| format!(" (platform code {code})")).unwrap_or_default(),
            crate::domain::truncate_chars(&error.message, 1_000)
        ),
        retry_after_ms: error.retry_after_ms,
    }
}

fn convert_product(product: catalog::Product) -> Product {
    Product {
        platform_item_id: product.platform_item_id,
        item_code: product.item_code,
        title: product.title,
        currency: product.currency,
        skus: product
            .skus
            .into_iter()
            .map(|sku| ProductSku {
                platform_sku_id: sku.platform_sku_id,
                sku_code: sku.sku_code,
                name: sku.name,
                price_minor: sku.price_minor,
                quantity: sku.quantity,
            })
            .collect(),
    }
}

/// Checks what the core stores of a product: ids present, sizes bounded, numbers in range.
fn validate_product(product: &Product) -> Result<(), String> {
    let text = |field: &str, value: &str, max: usize, required: bool| -> Result<(), String> {
        if required && value.trim().is_empty() {
            return Err(format!("{field} is empty"));
        }
        if value.chars().count() > max {
            return Err(format!("{field} is longer than {max} characters"));
        }
        Ok(())
    };
    text("platform-item-id", &product.platform_item_id, 64, true)?;
    text("item-code", &product.item_code, 128, false)?;
    text("title", &product.title, 512, false)?;
    if product.skus.is_empty() {
        return Err("has no SKUs; a listing without variants has one SKU with an empty platform-sku-id".into());
    }
    if product.skus.len() > 1_000 {
        return Err(format!("has {} SKUs, more than 1000", product.skus.len()));
    }
    for sku in &product.skus {
        text("platform-sku-id", &sku.platform_sku_id, 64, false)?;
        text("sku-code", &sku.sku_code, 128, false)?;
        text("sku name", &sku.name, 512, false)?;
        if !(0..=1_000_000_000).contains(&sku.quantity) {
            return Err(format!("SKU {:?} has quantity {}, outside 0..=1000000000", sku.platform_sku_id, sku.quantity));
        }
        if !(0..=crate::domain::limits::MONEY_MINOR).contains(&sku.price_minor) {
            return Err(format!("SKU {:?} has price {} minor units, outside the accepted range", sku.platform_sku_id, sku.price_minor));
        }
    }
    Ok(())
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

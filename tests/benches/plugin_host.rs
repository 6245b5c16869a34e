//! Cost of Shopkeeper's plugin host (limits, HTTP filter, conversion and validation) beside the
//! same component called through bare wasmtime bindings, in the same run. Run with
//! `cargo xtask bench`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use shopkeeper::plugin::{PluginHost, SandboxLimits};
use shopkeeper::storage::Db;
use shopkeeper::storage::stores::Store;
use shopkeeper_tests::{plugins_dir, temp_dir};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store as WasmStore};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod bare {
    wasmtime::component::bindgen!({ path: "../sdk/wit/connector@0.1.0", world: "connector" });
}

use bare::shopkeeper::connector::{host, http, types};

/// Host state of the bare path: the configuration and nothing else.
struct BareState {
    wasi: WasiCtx,
    table: ResourceTable,
    mode: String,
}

impl WasiView for BareState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for BareState {}

impl http::Host for BareState {
    fn send(&mut self, _request: http::Request) -> Result<http::Response, http::HttpError> {
        Err(http::HttpError::Denied("no network in the benchmark".into()))
    }
}

impl host::Host for BareState {
    fn log(&mut self, _level: host::LogLevel, _message: String) {}

    fn config(&mut self, name: String) -> Option<String> {
        (name == "mode").then(|| self.mode.clone())
    }

    fn now_ms(&mut self) -> i64 {
        0
    }
}

struct Bare {
    pre: bare::ConnectorPre<BareState>,
    engine: Engine,
}

impl Bare {
    fn new(wasm: &[u8]) -> Bare {
        let engine = Engine::default();
        let component = Component::from_binary(&engine, wasm).unwrap();
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
        bare::Connector::add_to_linker::<BareState, HasSelf<BareState>>(&mut linker, |state| state).unwrap();
        let pre = bare::ConnectorPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        Bare { pre, engine }
    }

    fn instantiate(&self, mode: &str) -> (WasmStore<BareState>, bare::Connector) {
        let state = BareState { wasi: WasiCtxBuilder::new().build(), table: ResourceTable::new(), mode: mode.to_owned() };
        let mut store = WasmStore::new(&self.engine, state);
        let instance = self.pre.instantiate(&mut store).unwrap();
        (store, instance)
    }
}

fn store(mode: &str) -> Store {
    Store {
        id: 1,
        name: "bench".into(),
        platform: "test".into(),
        plugin_id: "hostile".into(),
        config: BTreeMap::from([("mode".to_owned(), mode.to_owned())]),
        approved_origins: vec![],
        sync_interval_secs: 60,
        initial_lookback_secs: 60,
        enabled: true,
        created_at: 0,
    }
}

/// Runs `work` `n` times, five rounds, and returns the best time per call.
fn per_call(n: u32, mut work: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..n {
                work();
            }
            started.elapsed() / n
        })
        .min()
        .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _entered = runtime.enter();
    let dir = plugins_dir().join("hostile");
    let wasm = std::fs::read(dir.join("plugin.wasm")).unwrap();
    let data_dir = temp_dir("bench-host");
    let host = PluginHost::new(&data_dir, SandboxLimits::default(), false).unwrap();
    let installed = runtime.block_on(async {
        let db = Db::open_sqlite(&data_dir).await.unwrap();
        host.install_from_dir(&db, &dir, true).await.unwrap()
    });
    let loaded = host.load(&installed).unwrap();
    let bare = Bare::new(&wasm);
    let window = (1_764_800_000_000, 1_764_800_060_000);
    let bare_window = types::TimeWindow { start_ms: window.0, end_ms: window.1 };

    let mut rows = Vec::new();
    for (label, mode, calls) in [("call, empty page", "ok", 20_000), ("call, 100-order page", "hundred-orders", 500)] {
        let mut session = host.open_session(loaded.clone(), &store(mode)).unwrap();
        let ours = per_call(calls, || {
            let page = session.pull_orders(window, None).unwrap();
            std::hint::black_box(page);
        });
        let (mut wasm_store, instance) = bare.instantiate(mode);
        let theirs = per_call(calls, || {
            let page = instance.shopkeeper_connector_pull().call_pull_orders(&mut wasm_store, bare_window, None).unwrap().unwrap();
            std::hint::black_box(page);
        });
        rows.push((label, ours, theirs));
    }
    let ours = per_call(2_000, || {
        std::hint::black_box(host.open_session(loaded.clone(), &store("ok")).unwrap());
    });
    let theirs = per_call(2_000, || {
        std::hint::black_box(bare.instantiate("ok"));
    });
    rows.push(("instantiation", ours, theirs));

    println!("plugin host benchmark: hostile test component ({} bytes), release build, best of 5 rounds", wasm.len());
    println!();
    println!("| operation | Shopkeeper host | bare wasmtime | ratio |");
    println!("|---|---|---|---|");
    for (label, ours, theirs) in rows {
        println!("| {label} | {ours:?} | {theirs:?} | {:.2} |", ours.as_secs_f64() / theirs.as_secs_f64());
    }
    println!();
    println!("goal: ratio at most 1.50 for each row; instantiation under 20 µs");
    println!("the Shopkeeper host's 100-order call includes converting and validating every order");
}

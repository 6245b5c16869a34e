//! Rule engine: merchant-editable Rhai scripts that allocate and review orders.
//!
//! Every rule kind has one entry function that receives plain maps (money in integer fen) and
//! returns a decision map. Scripts run in an engine without file, module or `eval` access and
//! with explicit limits, so a hostile or broken script fails on its order and nothing else.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use rhai::packages::{Package, StandardPackage};
use rhai::{AST, Dynamic, Engine, EvalAltResult, Map, Scope};

use crate::domain::{IncomingOrder, format_minor};
use crate::storage::Db;
use crate::storage::stores::Warehouse;

/// A rule kind: the file it lives in, its entry function and the built-in default text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Allocation,
    Review,
    StockShare,
    Split,
}

impl RuleKind {
    pub const ALL: [RuleKind; 4] = [RuleKind::Allocation, RuleKind::Review, RuleKind::StockShare, RuleKind::Split];

    pub fn name(self) -> &'static str {
        match self {
            Self::Allocation => "allocation",
            Self::Review => "review",
            Self::StockShare => "stock_share",
            Self::Split => "split",
        }
    }

    pub fn entry_function(self) -> &'static str {
        match self {
            Self::Allocation => "allocate",
            Self::Review => "review",
            Self::StockShare => "share",
            Self::Split => "split",
        }
    }

    /// Name of the entry function's argument, as the documentation writes it.
    pub fn argument(self) -> &'static str {
        match self {
            Self::StockShare => "sku",
            _ => "order",
        }
    }

    /// A return value of the right shape, for error messages.
    pub fn example_return(self) -> &'static str {
        match self {
            Self::Allocation => "#{ warehouse: \"WH-HZ\", reason: \"...\" }",
            Self::Review => "#{ decision: \"approve\" }",
            Self::StockShare => "#{ \"Store A\": #{ percent: 50 } }",
            Self::Split => "[#{ lines: [0, 1] }]",
        }
    }

    pub fn file_name(self) -> String {
        format!("{}.rhai", self.name())
    }

    pub fn parse(name: &str) -> Option<RuleKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn built_in_source(self) -> &'static str {
        match self {
            Self::Allocation => include_str!("../../rules/allocation.rhai"),
            Self::Review => include_str!("../../rules/review.rhai"),
            Self::StockShare => include_str!("../../rules/stock_share.rhai"),
            Self::Split => include_str!("../../rules/split.rhai"),
        }
    }
}

/// Limits every script runs under. Rhai's own depth defaults differ between debug and release
/// builds, so each one is set here explicitly.
#[derive(Clone, Debug)]
pub struct ScriptLimits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    pub max_string_bytes: usize,
    pub max_array_len: usize,
    pub max_map_len: usize,
    pub max_variables: usize,
    pub max_functions: usize,
    pub max_wall_time: Duration,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            max_operations: 500_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_bytes: 256 * 1024,
            max_array_len: 10_000,
            max_map_len: 10_000,
            max_variables: 1_000,
            max_functions: 256,
            max_wall_time: Duration::from_millis(250),
        }
    }
}

/// Provinces most Chinese couriers treat as remote (偏远地区): longer delivery, extra fees.
pub const REMOTE_PROVINCES: &[&str] = &["新疆", "西藏", "青海", "内蒙古", "宁夏", "甘肃"];

/// Parses a yuan amount such as `"12.30"` into fen, exactly: at most two decimals, no sign.
fn parse_yuan(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) || fraction.len() > 2 {
        return Err("expected an amount such as \"12.30\" with at most two decimals".to_owned());
    }
    let whole: i64 = whole.parse().map_err(|_| "the amount is too large".to_owned())?;
    let fraction: i64 = format!("{fraction:0<2}").parse().expect("two digits");
    whole.checked_mul(100).and_then(|fen| fen.checked_add(fraction)).ok_or_else(|| "the amount is too large".to_owned())
}

thread_local! {
    /// Deadline of the script running on this thread; the progress callback enforces it.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Stock and sales that the `stock` and `sales` helpers read while a script runs.
    static FACTS: std::cell::RefCell<Facts> = std::cell::RefCell::new(Facts::default());
}

/// Read-only facts for the script helpers, gathered before a rule runs (scripts cannot reach the
/// database). A SKU or store the caller did not gather reads as no stock and no sales.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Free units per SKU code, by warehouse code.
    pub stock: std::collections::HashMap<String, Vec<(String, i64)>>,
    /// Units sold in the last 7 days, by store name and SKU code.
    pub sales: std::collections::HashMap<(String, String), i64>,
}

/// Runs `work` with `facts` visible to the `stock` and `sales` helpers.
pub fn with_facts<R>(facts: &Facts, work: impl FnOnce() -> R) -> R {
    FACTS.with(|slot| *slot.borrow_mut() = facts.clone());
    let result = work();
    FACTS.with(|slot| *slot.borrow_mut() = Facts::default());
    result
}

/// Builds the sandboxed engine shared by all rules.
pub fn build_engine(limits: &ScriptLimits) -> Engine {
    let mut engine = Engine::new_raw();
    StandardPackage::new().register_into_engine(&mut engine);
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("eval");
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
    engine.set_max_string_size(limits.max_string_bytes);
    engine.set_max_array_size(limits.max_array_len);
    engine.set_max_map_size(limits.max_map_len);
    engine.set_max_variables(limits.max_variables);
    engine.set_max_functions(limits.max_functions);
    engine.set_max_modules(0);
    engine.on_progress(|operations| {
        if operations % 1_000 != 0 {
            return None;
        }
        let expired = DEADLINE.with(|deadline| deadline.get().is_some_and(|at| Instant::now() > at));
        expired.then(|| Dynamic::from("the script ran longer than its time limit"))
    });
    engine.on_print(|text| tracing::debug!(target: "shopkeeper::rules::print", "{text}"));
    engine.on_debug(|text, _, position| tracing::debug!(target: "shopkeeper::rules::debug", ?position, "{text}"));
    engine.register_fn("yuan", |fen: i64| format_minor(fen));
    engine.register_fn("fen", |yuan: &str| -> Result<i64, Box<EvalAltResult>> {
        parse_yuan(yuan).map_err(|problem| format!("fen({yuan:?}): {problem}").into())
    });
    engine.register_fn("is_remote", |province: &str| REMOTE_PROVINCES.iter().any(|remote| province.starts_with(remote)));
    engine.register_fn("stock", |sku: &str| -> Map {
        FACTS.with(|facts| {
            let facts = facts.borrow();
            let mut map = Map::new();
            for (warehouse, free) in facts.stock.get(sku).into_iter().flatten() {
                map.insert(warehouse.as_str().into(), (*free).into());
            }
            map
        })
    });
    engine.register_fn("sales", |store: &str, sku: &str| -> i64 {
        FACTS.with(|facts| facts.borrow().sales.get(&(store.to_owned(), sku.to_owned())).copied().unwrap_or(0))
    });
    engine
}

/// A compiled script with the version it came from.
#[derive(Clone)]
pub struct CompiledRule {
    pub kind: RuleKind,
    pub version: i64,
    ast: Arc<AST>,
}

/// Error from compiling or running a rule; the message names the rule, version and line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

/// Compiles `source` and checks that it defines the kind's entry function with one parameter.
/// `label` names the script in errors (a file path or `review v3`).
pub fn compile(engine: &Engine, kind: RuleKind, source: &str, label: &str) -> Result<AST, RuleError> {
    let ast = engine.compile(source).map_err(|error| {
        let position = error.position();
        match (position.line(), position.position()) {
            (Some(line), Some(column)) => RuleError(format!("{label}: line {line}, column {column}: {}", error.err_type())),
            (Some(line), None) => RuleError(format!("{label}: line {line}: {}", error.err_type())),
            _ => RuleError(format!("{label}: {}", error.err_type())),
        }
    })?;
    let entry = kind.entry_function();
    let found = ast.iter_functions().any(|function| function.name == entry && function.params.len() == 1);
    if !found {
        return Err(RuleError(format!(
            "{label}: the script must define `fn {entry}({})`, the entry point of the {} rule",
            kind.argument(),
            kind.name()
        )));
    }
    Ok(ast)
}

/// The active version of each rule kind, swapped atomically when a new version is activated.
pub struct RuleBook {
    engine: Engine,
    limits: ScriptLimits,
    active: ArcSwap<RuleSet>,
}

/// One consistent set of rule versions; a page of orders is decided by a single set.
#[derive(Clone)]
pub struct RuleSet {
    pub allocation: CompiledRule,
    pub review: CompiledRule,
    pub stock_share: CompiledRule,
    pub split: CompiledRule,
}

impl RuleSet {
    pub fn get(&self, kind: RuleKind) -> &CompiledRule {
        match kind {
            RuleKind::Allocation => &self.allocation,
            RuleKind::Review => &self.review,
            RuleKind::StockShare => &self.stock_share,
            RuleKind::Split => &self.split,
        }
    }

    fn slot(&mut self, kind: RuleKind) -> &mut CompiledRule {
        match kind {
            RuleKind::Allocation => &mut self.allocation,
            RuleKind::Review => &mut self.review,
            RuleKind::StockShare => &mut self.stock_share,
            RuleKind::Split => &mut self.split,
        }
    }
}

/// One parcel of an order, as the split rule planned it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlannedShipment {
    /// Positions of the order's lines in this parcel, from 0.
    pub lines: Vec<usize>,
    pub warehouse_code: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub shipments: Vec<PlannedShipment>,
    pub rule_version: i64,
}

/// Units of a SKU that the stock-share rule requests for one store.
#[derive(Clone, Debug, PartialEq)]
pub enum ShareRequest {
    /// A percentage of the stock in the store's warehouses.
    Percent(f64),
    /// A fixed number of units.
    Quantity(i64),
}

/// A warehouse choice for an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The warehouse of the order, and of every line without one of its own.
    pub warehouse_code: String,
    /// A warehouse per line, when the rule returned `lines`; empty otherwise.
    pub line_warehouses: Vec<String>,
    pub reason: String,
    pub rule_version: i64,
}

/// Decision of the review rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewDecision {
    Approve,
    Hold(String),
    /// A person has to look at the order.
    Manual(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    pub decision: ReviewDecision,
    pub rule_version: i64,
}

impl RuleBook {
    /// Loads the active version of each rule from the database. On first start the built-in
    /// scripts become version 1; a rules folder replaces them with its scripts, each of which
    /// must compile or start-up fails with the file, line and message.
    pub async fn load(db: &Db, rules_dir: Option<&Path>, limits: ScriptLimits) -> anyhow::Result<RuleBook> {
        let engine = build_engine(&limits);
        for kind in RuleKind::ALL {
            if db.active_rule(kind.name()).await?.is_none() {
                let source = kind.built_in_source();
                compile(&engine, kind, source, &format!("built-in {}", kind.file_name()))?;
                db.activate_rule_source(kind.name(), source, "shopkeeper", "built-in").await?;
            }
        }
        if let Some(dir) = rules_dir {
            anyhow::ensure!(dir.is_dir(), "rules folder {} does not exist; create it or drop --rules-dir", dir.display());
            let expected: Vec<String> = RuleKind::ALL.iter().map(|kind| kind.file_name()).collect();
            let present = expected.iter().filter(|name| dir.join(name).exists()).count();
            anyhow::ensure!(
                present > 0,
                "rules folder {} has none of the rule files {}; name the scripts after their rule",
                dir.display(),
                expected.join(", ")
            );
            for entry in std::fs::read_dir(dir).with_context(|| format!("failed to read rules folder {}", dir.display()))? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if name.ends_with(".rhai") && !expected.contains(&name) {
                    tracing::warn!(file = %name, folder = %dir.display(), "ignoring a script that is not one of the rule files");
                }
            }
            for kind in RuleKind::ALL {
                let path = dir.join(kind.file_name());
                let source = match std::fs::read_to_string(&path) {
                    Ok(source) => source,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(error) => {
                        return Err(error).with_context(|| format!("failed to read rule file {}", path.display()));
                    }
                };
                let label = path.display().to_string();
                compile(&engine, kind, &source, &label)
                    .map_err(|error| anyhow::anyhow!("rule file rejected: {error}"))?;
                db.activate_rule_source(kind.name(), &source, "rules folder", &label).await?;
            }
        }
        let mut loaded = Vec::new();
        for kind in RuleKind::ALL {
            let stored = db.active_rule(kind.name()).await?.context("no active rule version")?;
            let label = format!("{} v{}", kind.name(), stored.version);
            let ast = compile(&engine, kind, &stored.source, &label)?;
            loaded.push(CompiledRule { kind, version: stored.version, ast: Arc::new(ast) });
        }
        let split = loaded.pop().expect("split rule loaded");
        let stock_share = loaded.pop().expect("stock share rule loaded");
        let review = loaded.pop().expect("review rule loaded");
        let allocation = loaded.pop().expect("allocation rule loaded");
        Ok(RuleBook { engine, limits, active: ArcSwap::from_pointee(RuleSet { allocation, review, stock_share, split }) })
    }

    /// Compiles a stored version into a rule that can run.
    pub fn compile_version(&self, kind: RuleKind, version: i64, source: &str) -> Result<CompiledRule, RuleError> {
        let label = format!("{} v{version}", kind.name());
        let ast = compile(&self.engine, kind, source, &label)?;
        Ok(CompiledRule { kind, version, ast: Arc::new(ast) })
    }

    /// Checks a draft without storing it; the error names the line and column.
    pub fn check_source(&self, kind: RuleKind, source: &str) -> Result<(), RuleError> {
        compile(&self.engine, kind, source, &format!("{} draft", kind.name())).map(|_| ())
    }

    /// Returns the line and column of the first syntax error in `source`, if any.
    pub fn syntax_error_position(&self, source: &str) -> Option<(usize, usize)> {
        let error = self.engine.compile(source).err()?;
        let position = error.position();
        Some((position.line()?, position.position().unwrap_or(1)))
    }

    /// Parses a JSON object into a script map (used for sample orders).
    pub fn parse_json(&self, text: &str) -> Result<Map, RuleError> {
        self.engine.parse_json(text, true).map_err(|error| RuleError(format!("invalid JSON: {error}")))
    }

    /// Returns `base` with one rule replaced, for dry runs of a draft version.
    pub fn with_rule(base: &RuleSet, rule: CompiledRule) -> RuleSet {
        let mut set = base.clone();
        let kind = rule.kind;
        *set.slot(kind) = rule;
        set
    }

    /// Loads the versions the database marks active, if they differ from the running ones, and
    /// swaps them in atomically. Returns whether anything changed. A version that no longer
    /// compiles is reported and the running one keeps serving.
    pub async fn reload(&self, db: &Db) -> anyhow::Result<bool> {
        let mut next = RuleSet::clone(&self.current());
        let mut changed = false;
        for (name, version) in db.active_rule_versions().await? {
            let Some(kind) = RuleKind::parse(&name) else { continue };
            if next.get(kind).version == version {
                continue;
            }
            let stored = db.rule_version(&name, version).await?.context("active rule version vanished")?;
            *next.slot(kind) = self.compile_version(kind, version, &stored.source)?;
            tracing::info!(rule = %name, version, "rule version activated");
            changed = true;
        }
        if changed {
            self.active.store(Arc::new(next));
        }
        Ok(changed)
    }

    /// Returns the active set; hold on to it for a whole page so that every order of the page
    /// is decided by the same versions.
    pub fn current(&self) -> Arc<RuleSet> {
        self.active.load_full()
    }

    /// Runs the allocation rule. `stock[i]` maps each stock-managed SKU code of the order to its
    /// free units in `warehouses[i]`; scripts see it as `warehouse.stock`.
    pub fn allocate(&self, rules: &RuleSet, order: &Map, warehouses: &[Warehouse], stock: &[Map], line_count: usize) -> Result<Allocation, RuleError> {
        let rule = &rules.allocation;
        let label = format!("allocation v{}", rule.version);
        let mut input = order.clone();
        let list: rhai::Array = warehouses
            .iter()
            .enumerate()
            .map(|(index, w)| {
                let mut map = warehouse_map(w);
                map.insert("stock".into(), Dynamic::from_map(stock.get(index).cloned().unwrap_or_default()));
                Dynamic::from_map(map)
            })
            .collect();
        input.insert("warehouses".into(), Dynamic::from_array(list));
        let output = self.call(rule, input, &label)?;
        let known = |code: &str| -> Result<(), RuleError> {
            if warehouses.iter().any(|w| w.code == code) {
                return Ok(());
            }
            let known: Vec<&str> = warehouses.iter().map(|w| w.code.as_str()).collect();
            Err(RuleError(format!(
                "{label}: returned warehouse {code:?}, which is not one of the enabled warehouses [{}]",
                known.join(", ")
            )))
        };
        let warehouse_code = required_string(&output, "warehouse", &label)?;
        known(&warehouse_code)?;
        let line_warehouses = match output.get("lines") {
            None => Vec::new(),
            Some(value) if value.is_unit() => Vec::new(),
            Some(value) => {
                let list = value.clone().into_array().map_err(|type_name| {
                    RuleError(format!("{label}: field `lines` is a {type_name}; expected an array with one warehouse code per line"))
                })?;
                if list.len() != line_count {
                    return Err(RuleError(format!(
                        "{label}: field `lines` has {} entries but the order has {line_count} lines; give one warehouse code per line",
                        list.len()
                    )));
                }
                let mut codes = Vec::with_capacity(list.len());
                for (index, entry) in list.into_iter().enumerate() {
                    let code = entry.into_string().map_err(|type_name| {
                        RuleError(format!("{label}: `lines[{index}]` is a {type_name}; expected a warehouse code"))
                    })?;
                    known(&code)?;
                    codes.push(code);
                }
                codes
            }
        };
        let reason = optional_string(&output, "reason", &label)?.unwrap_or_default();
        Ok(Allocation { warehouse_code, line_warehouses, reason, rule_version: rule.version })
    }

    pub fn review(&self, rules: &RuleSet, order: &Map) -> Result<Review, RuleError> {
        let rule = &rules.review;
        let label = format!("review v{}", rule.version);
        let output = self.call(rule, order.clone(), &label)?;
        let decision = required_string(&output, "decision", &label)?;
        let reason = optional_string(&output, "reason", &label)?;
        let decision = match decision.as_str() {
            "approve" => ReviewDecision::Approve,
            "hold" | "review" => {
                let Some(reason) = reason.filter(|r| !r.trim().is_empty()) else {
                    return Err(RuleError(format!("{label}: decision {decision:?} needs a non-empty `reason`")));
                };
                if decision == "hold" { ReviewDecision::Hold(reason) } else { ReviewDecision::Manual(reason) }
            }
            other => {
                return Err(RuleError(format!(
                    "{label}: field `decision` is {other:?}; expected \"approve\", \"hold\" or \"review\""
                )));
            }
        };
        Ok(Review { decision, rule_version: rule.version })
    }

    /// Runs the split rule. `order` is the map review saw, whose lines carry their `warehouse`.
    /// Every line must be in exactly one parcel, and a parcel's lines share one warehouse.
    pub fn split(&self, rules: &RuleSet, order: &Map) -> Result<Split, RuleError> {
        let rule = &rules.split;
        let label = format!("split v{}", rule.version);
        let lines: Vec<Map> = order
            .get("lines")
            .and_then(|lines| lines.clone().into_array().ok())
            .unwrap_or_default()
            .into_iter()
            .map(|line| line.try_cast::<Map>().unwrap_or_default())
            .collect();
        let output = self.call_value(rule, order.clone(), &label)?;
        let type_name = output.type_name();
        let parcels = output.into_array().map_err(|_| {
            RuleError(format!("{label}: `split` returned a {type_name}; it must return an array of parcels such as [#{{ lines: [0, 1] }}]"))
        })?;
        if parcels.is_empty() && !lines.is_empty() {
            return Err(RuleError(format!("{label}: returned no parcels for an order with {} lines", lines.len())));
        }
        let mut seen = vec![false; lines.len()];
        let mut shipments = Vec::with_capacity(parcels.len());
        for (number, parcel) in parcels.into_iter().enumerate() {
            let parcel_type = parcel.type_name();
            let parcel = parcel.try_cast::<Map>().ok_or_else(|| {
                RuleError(format!("{label}: parcel {number} is a {parcel_type}; expected a map such as #{{ lines: [0], reason: \"...\" }}"))
            })?;
            let indexes = parcel
                .get("lines")
                .ok_or_else(|| RuleError(format!("{label}: parcel {number} has no `lines` field")))?
                .clone()
                .into_array()
                .map_err(|type_name| RuleError(format!("{label}: `lines` of parcel {number} is a {type_name}; expected an array of line positions")))?;
            if indexes.is_empty() {
                return Err(RuleError(format!("{label}: parcel {number} has no lines")));
            }
            let mut positions = Vec::with_capacity(indexes.len());
            let mut warehouse: Option<String> = None;
            for index in indexes {
                let position = index.as_int().ok().and_then(|n| usize::try_from(n).ok()).filter(|n| *n < lines.len()).ok_or_else(|| {
                    RuleError(format!("{label}: parcel {number} names line {index}, but the order has lines 0 to {}", lines.len().saturating_sub(1)))
                })?;
                if std::mem::replace(&mut seen[position], true) {
                    return Err(RuleError(format!("{label}: line {position} is in more than one parcel")));
                }
                let line_warehouse = lines[position].get("warehouse").and_then(|w| w.clone().into_string().ok()).unwrap_or_default();
                match &warehouse {
                    None => warehouse = Some(line_warehouse),
                    Some(first) if *first != line_warehouse => {
                        return Err(RuleError(format!(
                            "{label}: parcel {number} mixes warehouses {first:?} and {line_warehouse:?}; a parcel ships from one warehouse"
                        )));
                    }
                    Some(_) => {}
                }
                positions.push(position);
            }
            let reason = optional_string(&parcel, "reason", &label)?.unwrap_or_default();
            shipments.push(PlannedShipment { lines: positions, warehouse_code: warehouse.unwrap_or_default(), reason });
        }
        if let Some(missing) = seen.iter().position(|seen| !seen) {
            return Err(RuleError(format!("{label}: line {missing} is in no parcel; every line must be in exactly one")));
        }
        Ok(Split { shipments, rule_version: rule.version })
    }

    /// Runs the stock-share rule on one SKU (see `rules/stock_share.rhai` for the input) and
    /// returns the request for each store named in `stores`, in that order. A store the rule
    /// leaves out is offered nothing.
    pub fn share(&self, rules: &RuleSet, input: Map, stores: &[String]) -> Result<Vec<ShareRequest>, RuleError> {
        let rule = &rules.stock_share;
        let label = format!("stock_share v{}", rule.version);
        let output = self.call(rule, input, &label)?;
        for name in output.keys() {
            if !stores.iter().any(|store| store.as_str() == name.as_str()) {
                return Err(RuleError(format!(
                    "{label}: returned a share for {name:?}, which is not one of the stores listing this SKU [{}]",
                    stores.join(", ")
                )));
            }
        }
        stores
            .iter()
            .map(|store| {
                let Some(value) = output.get(store.as_str()) else { return Ok(ShareRequest::Quantity(0)) };
                let Some(entry) = value.clone().try_cast::<Map>() else {
                    return Err(RuleError(format!(
                        "{label}: the share of {store:?} is a {}; expected a map such as #{{ percent: 50 }} or #{{ quantity: 3 }}",
                        value.type_name()
                    )));
                };
                match (entry.get("percent"), entry.get("quantity")) {
                    (Some(percent), None) => {
                        let percent = percent.as_float().or_else(|_| percent.as_int().map(|n| n as f64)).map_err(|type_name| {
                            RuleError(format!("{label}: `percent` of {store:?} is a {type_name}; expected a number"))
                        })?;
                        if !(0.0..=100.0).contains(&percent) {
                            return Err(RuleError(format!("{label}: `percent` of {store:?} is {percent}; it must be from 0 to 100")));
                        }
                        Ok(ShareRequest::Percent(percent))
                    }
                    (None, Some(quantity)) => {
                        let quantity = quantity.as_int().map_err(|type_name| {
                            RuleError(format!("{label}: `quantity` of {store:?} is a {type_name}; expected an integer"))
                        })?;
                        if quantity < 0 {
                            return Err(RuleError(format!("{label}: `quantity` of {store:?} is {quantity}; it must not be negative")));
                        }
                        Ok(ShareRequest::Quantity(quantity))
                    }
                    _ => Err(RuleError(format!("{label}: the share of {store:?} needs exactly one of `percent` or `quantity`"))),
                }
            })
            .collect()
    }

    fn call(&self, rule: &CompiledRule, input: Map, label: &str) -> Result<Map, RuleError> {
        let entry = rule.kind.entry_function();
        let value = self.call_value(rule, input, label)?;
        let type_name = value.type_name();
        value.try_cast::<Map>().ok_or_else(|| {
            RuleError(format!("{label}: `{entry}` returned a value of type {type_name}; it must return a map such as {}", rule.kind.example_return()))
        })
    }

    fn call_value(&self, rule: &CompiledRule, input: Map, label: &str) -> Result<Dynamic, RuleError> {
        DEADLINE.with(|deadline| deadline.set(Some(Instant::now() + self.limits.max_wall_time)));
        let entry = rule.kind.entry_function();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.engine.call_fn::<Dynamic>(&mut Scope::new(), &rule.ast, entry, (Dynamic::from_map(input),))
        }));
        DEADLINE.with(|deadline| deadline.set(None));
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(RuleError(describe_eval_error(label, &error, &self.limits))),
            Err(_) => Err(RuleError(format!("{label}: the script engine panicked"))),
        }
    }
}

fn describe_eval_error(label: &str, error: &EvalAltResult, limits: &ScriptLimits) -> String {
    let position = error.position();
    let message = match error {
        EvalAltResult::ErrorTerminated(reason, _) => reason.to_string(),
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            "the script ran more than {} operations (an endless loop, or too much work per order)",
            limits.max_operations
        ),
        EvalAltResult::ErrorStackOverflow(_) => {
            format!("the script called functions more than {} levels deep (endless recursion?)", limits.max_call_levels)
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => format!(
            "{what} grew past the limit (strings {} bytes, arrays {} and maps {} entries)",
            limits.max_string_bytes, limits.max_array_len, limits.max_map_len
        ),
        // Rhai's message already contains the position, which is added once in front below.
        EvalAltResult::ErrorRuntime(value, _) => format!("runtime error: {value}"),
        other => other.to_string(),
    };
    match position.line() {
        Some(line) => format!("{label}: line {line}: {message}"),
        None => format!("{label}: {message}"),
    }
}

fn required_string(output: &Map, field: &str, label: &str) -> Result<String, RuleError> {
    match optional_string(output, field, label)? {
        Some(value) => Ok(value),
        None => Err(RuleError(format!("{label}: the returned map has no `{field}` field"))),
    }
}

fn optional_string(output: &Map, field: &str, label: &str) -> Result<Option<String>, RuleError> {
    let Some(value) = output.get(field) else { return Ok(None) };
    if value.is_unit() {
        return Ok(None);
    }
    value
        .clone()
        .into_string()
        .map(Some)
        .map_err(|type_name| RuleError(format!("{label}: field `{field}` is a {type_name}; expected a string")))
}

fn warehouse_map(warehouse: &Warehouse) -> Map {
    let mut map = Map::new();
    map.insert("code".into(), warehouse.code.clone().into());
    map.insert("name".into(), warehouse.name.clone().into());
    map.insert("province".into(), warehouse.province.clone().into());
    map.insert("city".into(), warehouse.city.clone().into());
    map
}

/// Builds the order as scripts see it: plain maps, money in integer fen.
pub fn order_map(order: &IncomingOrder, store_name: &str, platform: &str) -> Map {
    let mut receiver = Map::new();
    receiver.insert("name".into(), order.receiver.name.clone().into());
    receiver.insert("phone".into(), order.receiver.phone.clone().into());
    receiver.insert("province".into(), order.receiver.province.clone().into());
    receiver.insert("city".into(), order.receiver.city.clone().into());
    receiver.insert("district".into(), order.receiver.district.clone().into());
    receiver.insert("street".into(), order.receiver.street.clone().into());
    let lines: rhai::Array = order
        .lines
        .iter()
        .map(|line| {
            let mut map = Map::new();
            map.insert("sku_code".into(), line.sku_code.clone().into());
            map.insert("title".into(), line.title.clone().into());
            map.insert("quantity".into(), line.quantity.into());
            map.insert("unit_price_fen".into(), line.unit_price_minor.into());
            map.insert("total_fen".into(), line.total_minor.into());
            Dynamic::from_map(map)
        })
        .collect();
    let mut map = Map::new();
    map.insert("store".into(), store_name.to_owned().into());
    map.insert("platform".into(), platform.to_owned().into());
    map.insert("platform_order_id".into(), order.platform_order_id.clone().into());
    map.insert("status".into(), order.status.as_str().into());
    map.insert("currency".into(), order.currency.clone().into());
    map.insert("goods_fen".into(), order.goods_minor.into());
    map.insert("shipping_fen".into(), order.shipping_minor.into());
    map.insert("paid_fen".into(), order.paid_minor.into());
    map.insert("buyer_nick".into(), order.buyer_nick.clone().into());
    map.insert("buyer_remark".into(), order.buyer_remark.clone().into());
    map.insert("seller_remark".into(), order.seller_remark.clone().into());
    map.insert("item_count".into(), order.lines.iter().map(|l| l.quantity).sum::<i64>().into());
    map.insert("receiver".into(), Dynamic::from_map(receiver));
    map.insert("lines".into(), Dynamic::from_array(lines));
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: RuleKind, source: &str) -> (RuleBook, Arc<RuleSet>) {
        let limits = ScriptLimits::default();
        let engine = build_engine(&limits);
        let compiled = |kind: RuleKind, source: &str| CompiledRule {
            kind,
            version: 7,
            ast: Arc::new(compile(&engine, kind, source, "test").unwrap()),
        };
        let pick = |slot: RuleKind| if slot == kind { compiled(slot, source) } else { compiled(slot, slot.built_in_source()) };
        let set = Arc::new(RuleSet {
            allocation: pick(RuleKind::Allocation),
            review: pick(RuleKind::Review),
            stock_share: pick(RuleKind::StockShare),
            split: pick(RuleKind::Split),
        });
        let book = RuleBook { engine, limits, active: ArcSwap::new(set.clone()) };
        (book, set)
    }

    fn order(paid_fen: i64, remark: &str) -> Map {
        let mut order = crate::domain::tests_support::sample_order();
        order.paid_minor = paid_fen;
        order.buyer_remark = remark.to_owned();
        order_map(&order, "demo", "taobao")
    }

    fn warehouses() -> Vec<Warehouse> {
        vec![Warehouse { id: 1, code: "WH-HZ".into(), name: "杭州仓".into(), province: "浙江省".into(), city: "杭州市".into() }]
    }

    #[test]
    fn default_review_holds_remark_and_large_amount() {
        let (book, set) = rule(RuleKind::Review, RuleKind::Review.built_in_source());
        assert_eq!(book.review(&set, &order(10_000, "")).unwrap().decision, ReviewDecision::Approve);
        let held = book.review(&set, &order(10_000, "请尽快发货")).unwrap().decision;
        assert!(matches!(&held, ReviewDecision::Hold(reason) if reason.contains("请尽快发货")), "{held:?}");
        let large = book.review(&set, &order(250_000, "")).unwrap().decision;
        assert!(matches!(&large, ReviewDecision::Hold(reason) if reason.contains("2500.00")), "{large:?}");
    }

    #[test]
    fn default_allocation_picks_enabled_warehouse() {
        let (book, set) = rule(RuleKind::Allocation, RuleKind::Allocation.built_in_source());
        let allocation = book.allocate(&set, &order(100, ""), &warehouses(), &[], 1).unwrap();
        assert_eq!(allocation.warehouse_code, "WH-HZ");
        assert_eq!(allocation.rule_version, 7);
        let none = book.allocate(&set, &order(100, ""), &[], &[], 1).unwrap_err().to_string();
        assert!(none.contains("allocation v7"), "{none}");
    }

    #[test]
    fn syntax_error_names_line() {
        let engine = build_engine(&ScriptLimits::default());
        let error = compile(&engine, RuleKind::Review, "fn review(order) {\n  let x = ;\n}", "rules/review.rhai").unwrap_err();
        assert!(error.0.starts_with("rules/review.rhai: line 2"), "{error}");
    }

    #[test]
    fn missing_entry_function_rejected() {
        let engine = build_engine(&ScriptLimits::default());
        let error = compile(&engine, RuleKind::Review, "fn other(order) { 1 }", "x").unwrap_err();
        assert!(error.0.contains("fn review(order)"), "{error}");
    }

    #[test]
    fn hostile_scripts_fail_cleanly() {
        let cases = [
            ("fn review(order) { loop { } }", "more than 500000 operations"),
            ("fn review(order) { review(order) }", "more than 32 levels deep"),
            ("fn review(order) { let s = \"x\"; loop { s += s; } }", "grew past the limit"),
            ("fn review(order) { 42 }", "returned a value of type i64"),
            ("fn review(order) { throw \"boom\" }", "boom"),
            ("fn review(order) { 1 / 0 }", "Division by zero"),
            ("fn review(order) { #{ decision: \"maybe\" } }", "\"maybe\""),
            ("fn review(order) { #{ decision: \"hold\" } }", "reason"),
            ("fn review(order) { #{ decision: 5 } }", "expected a string"),
        ];
        for (source, expected) in cases {
            let (book, set) = rule(RuleKind::Review, source);
            let error = book.review(&set, &order(100, "")).unwrap_err().to_string();
            assert!(error.contains("review v7"), "{source}: {error}");
            assert!(error.to_lowercase().contains(&expected.to_lowercase()), "{source}: {error}");
            // The engine keeps working for the next order.
            let (book, set) = rule(RuleKind::Review, RuleKind::Review.built_in_source());
            assert_eq!(book.review(&set, &order(100, "")).unwrap().decision, ReviewDecision::Approve);
        }
    }

    #[test]
    fn money_and_region_helpers() {
        let (book, set) = rule(
            RuleKind::Review,
            "fn review(order) { if fen(\"12.3\") == 1230 && fen(\"7\") == 700 && is_remote(\"新疆维吾尔自治区\") && !is_remote(order.receiver.province) { #{ decision: \"approve\" } } else { #{ decision: \"hold\", reason: \"helpers\" } } }",
        );
        assert_eq!(book.review(&set, &order(100, "")).unwrap().decision, ReviewDecision::Approve);
        for bad in ["1.234", "-5", "abc", "", "99999999999999999999"] {
            assert!(parse_yuan(bad).is_err(), "{bad}");
        }
        let (book, set) = rule(RuleKind::Review, "fn review(order) { fen(\"1.234\"); #{ decision: \"approve\" } }");
        let error = book.review(&set, &order(100, "")).unwrap_err().to_string();
        assert!(error.contains("fen(\"1.234\")"), "{error}");
    }

    #[test]
    fn eval_and_import_are_unavailable() {
        let engine = build_engine(&ScriptLimits::default());
        assert!(compile(&engine, RuleKind::Review, "fn review(order) { eval(\"1\") }", "x").is_err());
        let (book, set) = rule(RuleKind::Review, "import \"os\" as os; fn review(order) { #{ decision: \"approve\" } }");
        assert!(book.review(&set, &order(1, "")).is_err());
    }

    #[test]
    fn default_share_rule_weighs_stores_by_sales() {
        let (book, set) = rule(RuleKind::StockShare, RuleKind::StockShare.built_in_source());
        let targets = vec![
            crate::storage::stock::OfferTarget { store_id: 1, store_name: "fast".into(), platform: "taobao".into(), warehouse_ids: vec![], adjustment: 0, sales_7d: 3 },
            crate::storage::stock::OfferTarget { store_id: 2, store_name: "slow".into(), platform: "taobao".into(), warehouse_ids: vec![], adjustment: 0, sales_7d: 0 },
        ];
        let levels = [crate::storage::stock::Level { warehouse_id: 1, on_hand: 10, reserved: 0 }];
        let input = crate::stock::share_input("SKU", "name", &levels, &targets);
        let requests = book.share(&set, input, &["fast".into(), "slow".into()]).unwrap();
        let offers = crate::stock::fit_offers(&levels, &targets, &requests);
        assert_eq!(offers, vec![8, 2]);
    }

    #[test]
    fn wrong_share_returns_name_the_store_and_field() {
        let cases = [
            ("fn share(sku) { #{ ghost: #{ percent: 10 } } }", "\"ghost\""),
            ("fn share(sku) { #{ a: 5 } }", "expected a map"),
            ("fn share(sku) { #{ a: #{ percent: 150 } } }", "from 0 to 100"),
            ("fn share(sku) { #{ a: #{ quantity: -1 } } }", "must not be negative"),
            ("fn share(sku) { #{ a: #{ percent: 10, quantity: 1 } } }", "exactly one"),
            ("fn share(sku) { #{ a: #{ percent: \"half\" } } }", "expected a number"),
        ];
        for (source, expected) in cases {
            let (book, set) = rule(RuleKind::StockShare, source);
            let error = book.share(&set, Map::new(), &["a".into()]).unwrap_err().to_string();
            assert!(error.contains("stock_share v7") && error.contains(expected), "{source}: {error}");
        }
    }

    fn split_order(lines: &[(&str, i64, i64, bool)]) -> Map {
        let mut order = Map::new();
        let list: rhai::Array = lines
            .iter()
            .map(|(warehouse, quantity, grams, presale)| {
                let mut line = Map::new();
                line.insert("warehouse".into(), (*warehouse).into());
                line.insert("quantity".into(), (*quantity).into());
                line.insert("weight_grams".into(), (*grams).into());
                line.insert("presale".into(), (*presale).into());
                Dynamic::from_map(line)
            })
            .collect();
        order.insert("lines".into(), Dynamic::from_array(list));
        order
    }

    #[test]
    fn default_split_parcels_by_warehouse_presale_and_weight() {
        let (book, set) = rule(RuleKind::Split, RuleKind::Split.built_in_source());
        let one = book.split(&set, &split_order(&[("HZ", 1, 500, false), ("HZ", 2, 300, false)])).unwrap();
        assert_eq!(one.shipments.len(), 1);
        assert_eq!(one.shipments[0].lines, vec![0, 1]);
        assert_eq!(one.shipments[0].warehouse_code, "HZ");

        let mixed = book.split(&set, &split_order(&[("HZ", 1, 0, false), ("SH", 1, 0, false), ("HZ", 1, 0, true)])).unwrap();
        let parcels: Vec<(Vec<usize>, String)> = mixed.shipments.iter().map(|s| (s.lines.clone(), s.warehouse_code.clone())).collect();
        assert_eq!(parcels, vec![(vec![0], "HZ".into()), (vec![1], "SH".into()), (vec![2], "HZ".into())]);

        let heavy = book.split(&set, &split_order(&[("HZ", 2, 6000, false), ("HZ", 1, 9000, false), ("HZ", 1, 25000, false)])).unwrap();
        let lines: Vec<Vec<usize>> = heavy.shipments.iter().map(|s| s.lines.clone()).collect();
        assert_eq!(lines, vec![vec![0], vec![1], vec![2]], "12 kg + 9 kg exceeds 20 kg; 25 kg goes alone");
    }

    #[test]
    fn wrong_split_returns_name_the_problem() {
        let order = split_order(&[("HZ", 1, 0, false), ("SH", 1, 0, false)]);
        let cases = [
            ("fn split(order) { #{ lines: [0, 1] } }", "array of parcels"),
            ("fn split(order) { [#{ lines: [0] }] }", "line 1 is in no parcel"),
            ("fn split(order) { [#{ lines: [0] }, #{ lines: [0, 1] }] }", "more than one parcel"),
            ("fn split(order) { [#{ lines: [0, 1] }] }", "mixes warehouses"),
            ("fn split(order) { [#{ lines: [0] }, #{ lines: [7] }] }", "names line 7"),
            ("fn split(order) { [#{ parcel: [0, 1] }] }", "no `lines` field"),
            ("fn split(order) { [] }", "no parcels"),
        ];
        for (source, expected) in cases {
            let (book, set) = rule(RuleKind::Split, source);
            let error = book.split(&set, &order).unwrap_err().to_string();
            assert!(error.contains("split v7") && error.contains(expected), "{source}: {error}");
        }
    }

    #[test]
    fn stock_and_sales_helpers_read_the_facts() {
        let source = "fn review(order) { let s = stock(\"TEA\"); if s[\"HZ\"] == 4 && sales(\"demo\", \"TEA\") == 9 && stock(\"OTHER\").is_empty() && sales(\"demo\", \"OTHER\") == 0 { #{ decision: \"approve\" } } else { #{ decision: \"hold\", reason: `facts ${s}` } } }";
        let (book, set) = rule(RuleKind::Review, source);
        let mut facts = Facts::default();
        facts.stock.insert("TEA".into(), vec![("HZ".into(), 4), ("SH".into(), 0)]);
        facts.sales.insert(("demo".into(), "TEA".into()), 9);
        let review = with_facts(&facts, || book.review(&set, &order(100, ""))).unwrap();
        assert_eq!(review.decision, ReviewDecision::Approve);
        let outside = book.review(&set, &order(100, "")).unwrap();
        assert!(matches!(outside.decision, ReviewDecision::Hold(_)), "no facts outside with_facts: {outside:?}");
    }
}

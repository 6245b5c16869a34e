//! Stock that is never oversold: reservations at intake, offers per store, pushes to platforms.
//!
//! A paid order reserves its lines in the warehouse the allocation rule picked, inside the
//! page's transaction. After every stock change the offers of the SKUs it touched are
//! recomputed in the same transaction: the stock-share rule requests a share per store, and
//! [`fit_offers`] turns the requests into offers that never add up to more than is free, taking
//! each store's units only from the warehouses it sells from. The [`Pusher`] then tells each
//! platform its offer through the plugin's `push-stock`, one push per SKU and store however
//! many changes came before it, waiting as long as a rate limit asks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rhai::{Dynamic, Map};
use serde::Deserialize;

use crate::plugin::manifest::Capability;
use crate::plugin::{PluginHost, StockLevel};
use crate::rules::{RuleBook, RuleSet, ShareRequest};
use crate::storage::stock::{Level, Movement, MovementKind, OfferTarget};
use crate::storage::{Db, WriteTx};

/// Period over which the sales passed to the stock-share rule are counted.
const SALES_PERIOD_MS: i64 = 7 * 24 * 3600 * 1000;

/// Recomputes the offers of `sku_ids` from the committed levels of this transaction. SKUs that
/// are not stock-managed yet are skipped, so a platform's own stock is never overwritten
/// before the merchant has counted it.
pub async fn recompute_offers(write: &mut WriteTx, rules: &RuleBook, rule_set: &RuleSet, sku_ids: &[i64]) -> anyhow::Result<()> {
    let mut ids = sku_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let warehouse_codes: HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>("SELECT id, code FROM warehouses")
        .fetch_all(&mut *write.tx)
        .await?
        .into_iter()
        .collect();
    for sku_id in ids {
        let row: Option<(String, String, i64)> = sqlx::query_as("SELECT code, name, stock_tracked FROM skus WHERE id = $1")
            .bind(sku_id)
            .fetch_optional(&mut *write.tx)
            .await?;
        let Some((code, name, tracked)) = row else { continue };
        if tracked == 0 {
            continue;
        }
        let targets = write.offer_targets(sku_id, crate::now_ms() - SALES_PERIOD_MS).await?;
        if targets.is_empty() {
            continue;
        }
        let levels = write.sku_levels(sku_id).await?;
        let input = share_input(&code, &name, &levels, &targets);
        let names: Vec<String> = targets.iter().map(|t| t.store_name.clone()).collect();
        let mut facts = crate::rules::Facts::default();
        let by_warehouse = levels.iter().map(|l| (warehouse_codes.get(&l.warehouse_id).cloned().unwrap_or_default(), l.available()));
        facts.stock.insert(code.clone(), by_warehouse.collect());
        for target in &targets {
            facts.sales.insert((target.store_name.clone(), code.clone()), target.sales_7d);
        }
        let (offers, failure) = match crate::rules::with_facts(&facts, || rules.share(rule_set, input, &names)) {
            Ok(requests) => (fit_offers(&levels, &targets, &requests), None),
            Err(error) => {
                // No rule decides these offers: every store gets nothing, adjustments included,
                // until the rule is fixed, which can never oversell.
                tracing::error!(sku = %code, %error, "stock-share rule failed; offering nothing for this SKU");
                (vec![0; targets.len()], Some(format!("{error}; offering 0 until the stock-share rule is fixed")))
            }
        };
        for (target, offered) in targets.iter().zip(offers) {
            write.set_offer(target.store_id, sku_id, offered).await?;
            write.set_offer_rule_error(target.store_id, sku_id, failure.as_deref()).await?;
        }
    }
    Ok(())
}

/// Builds the map the stock-share rule receives for one SKU.
pub fn share_input(code: &str, name: &str, levels: &[Level], targets: &[OfferTarget]) -> Map {
    let mut input = Map::new();
    input.insert("code".into(), code.into());
    input.insert("name".into(), name.into());
    input.insert("available".into(), levels.iter().map(|l| l.available().max(0)).sum::<i64>().into());
    let stores: rhai::Array = targets
        .iter()
        .map(|target| {
            let mut store = Map::new();
            store.insert("name".into(), target.store_name.clone().into());
            store.insert("platform".into(), target.platform.clone().into());
            store.insert("available".into(), store_available(levels, &target.warehouse_ids).into());
            store.insert("sales_7d".into(), target.sales_7d.into());
            store.insert("adjustment".into(), target.adjustment.into());
            Dynamic::from_map(store)
        })
        .collect();
    input.insert("stores".into(), Dynamic::from_array(stores));
    input
}

fn sells_from(warehouse_ids: &[i64], warehouse_id: i64) -> bool {
    warehouse_ids.is_empty() || warehouse_ids.contains(&warehouse_id)
}

fn store_available(levels: &[Level], warehouse_ids: &[i64]) -> i64 {
    levels.iter().filter(|l| sells_from(warehouse_ids, l.warehouse_id)).map(|l| l.available().max(0)).sum()
}

/// Turns the rule's requests into offers, in the order of `targets`.
///
/// Percentages of each store's free stock are rounded down and the units lost to rounding are
/// handed out again by largest remainder, so two stores at 50 % of one unit offer it once, not
/// never. Then each store's manual adjustment is added. Last, the offers are filled from the
/// warehouses' free stock, store by store, each only from the warehouses it sells from, so
/// their sum never exceeds what is free and every offer can be shipped at the same time.
pub fn fit_offers(levels: &[Level], targets: &[OfferTarget], requests: &[ShareRequest]) -> Vec<i64> {
    let raw: Vec<f64> = targets
        .iter()
        .zip(requests)
        .map(|(target, request)| match request {
            ShareRequest::Percent(percent) => store_available(levels, &target.warehouse_ids) as f64 * percent / 100.0,
            ShareRequest::Quantity(quantity) => *quantity as f64,
        })
        .collect();
    let mut wanted: Vec<i64> = raw.iter().map(|value| value.floor() as i64).collect();
    let lost: f64 = raw.iter().zip(&wanted).map(|(value, floor)| value - *floor as f64).sum();
    let mut extra = (lost + 1e-9).floor() as i64;
    let mut by_remainder: Vec<usize> = (0..raw.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        let (ra, rb) = (raw[a] - wanted[a] as f64, raw[b] - wanted[b] as f64);
        rb.partial_cmp(&ra).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b))
    });
    for index in by_remainder {
        if extra <= 0 {
            break;
        }
        if raw[index] - wanted[index] as f64 > 1e-9 {
            wanted[index] += 1;
            extra -= 1;
        }
    }
    for (want, target) in wanted.iter_mut().zip(targets) {
        *want = (*want + target.adjustment).max(0);
    }
    let mut free: BTreeMap<i64, i64> = levels.iter().map(|l| (l.warehouse_id, l.available().max(0))).collect();
    targets
        .iter()
        .zip(wanted)
        .map(|(target, want)| {
            let mut offered = 0;
            for (warehouse_id, units) in free.iter_mut() {
                if offered == want {
                    break;
                }
                if !sells_from(&target.warehouse_ids, *warehouse_id) {
                    continue;
                }
                let take = (*units).min(want - offered);
                *units -= take;
                offered += take;
            }
            offered
        })
        .collect()
}

/// A manual stock operation from the Stock page or the API.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StockChange {
    /// Adds `quantity` (negative to remove) to on-hand, with a reason.
    Adjustment { sku: String, warehouse: String, quantity: i64, reason: String },
    /// Goods received.
    Receipt { sku: String, warehouse: String, quantity: i64, #[serde(default)] reason: String },
    /// Sets on-hand to what was counted.
    Stocktake { sku: String, warehouse: String, counted: i64, #[serde(default)] reason: String },
    /// Moves free units from one warehouse to another.
    Transfer { sku: String, from: String, to: String, quantity: i64, #[serde(default)] reason: String },
}

/// Largest number of units one manual change may add, remove or count.
pub const MAX_UNITS_PER_CHANGE: i64 = 1_000_000_000;
const MAX_REASON_CHARS: usize = 500;

/// Applies a manual change in one transaction and recomputes the SKU's offers. Errors name the
/// value and what to do; nothing is written when one is returned.
pub async fn apply_change(db: &Db, rules: &RuleBook, change: &StockChange, actor: &str) -> anyhow::Result<()> {
    let warehouses = db.warehouse_ids_by_code().await?;
    let warehouse = |code: &str| -> anyhow::Result<i64> {
        warehouses.get(code).copied().ok_or_else(|| {
            anyhow::anyhow!(
                "unknown warehouse {code:?}; the warehouses are {}",
                warehouses.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let (sku_code, units, reason) = match change {
        StockChange::Adjustment { sku, quantity, reason, .. } | StockChange::Receipt { sku, quantity, reason, .. } | StockChange::Transfer { sku, quantity, reason, .. } => (sku, *quantity, reason),
        StockChange::Stocktake { sku, counted, reason, .. } => (sku, *counted, reason),
    };
    anyhow::ensure!(
        (-MAX_UNITS_PER_CHANGE..=MAX_UNITS_PER_CHANGE).contains(&units),
        "{units} units is out of range for one stock change; enter at most {MAX_UNITS_PER_CHANGE}"
    );
    anyhow::ensure!(
        reason.chars().count() <= MAX_REASON_CHARS,
        "the reason is {} characters long; keep it to {MAX_REASON_CHARS}",
        reason.chars().count()
    );
    let reason_or = |fallback: String| if reason.trim().is_empty() { fallback } else { reason.trim().to_owned() };
    let mut write = db.begin_write().await?;
    let sku_id = write
        .sku_by_code(sku_code)
        .await?
        .ok_or_else(|| anyhow::anyhow!("unknown SKU {sku_code:?}; pull the store's products or add the SKU first"))?;
    write.lock_skus(&[sku_id]).await?;
    let was_managed: i64 = sqlx::query_scalar("SELECT stock_tracked FROM skus WHERE id = $1").bind(sku_id).fetch_one(&mut *write.tx).await?;
    let levels = write.sku_levels(sku_id).await?;
    let level_of = |warehouse_id: i64| levels.iter().find(|l| l.warehouse_id == warehouse_id).copied().unwrap_or(Level { warehouse_id, on_hand: 0, reserved: 0 });
    let mut steps: Vec<(i64, MovementKind, i64, String)> = Vec::new();
    match change {
        StockChange::Adjustment { warehouse: code, quantity, reason, .. } => {
            anyhow::ensure!(!reason.trim().is_empty(), "an adjustment needs a reason, such as \"damaged\" or \"found in bin A3\"");
            anyhow::ensure!(*quantity != 0, "an adjustment of 0 changes nothing; enter the number of units to add or remove");
            steps.push((warehouse(code)?, MovementKind::Adjustment, *quantity, reason.trim().to_owned()));
        }
        StockChange::Receipt { warehouse: code, quantity, .. } => {
            anyhow::ensure!(*quantity > 0, "a receipt of {quantity} units is not possible; enter the units received (more than 0)");
            steps.push((warehouse(code)?, MovementKind::Receipt, *quantity, reason_or("goods received".into())));
        }
        StockChange::Stocktake { warehouse: code, counted, .. } => {
            anyhow::ensure!(*counted >= 0, "a count of {counted} units is not possible; enter what is on the shelf (0 or more)");
            let warehouse_id = warehouse(code)?;
            let level = level_of(warehouse_id);
            if *counted < level.reserved {
                // The shelf has less than open orders reserved. The count is recorded, and the
                // newest reservations are released until the rest fit.
                release_for_count(&mut write, sku_id, sku_code, warehouse_id, code, level.reserved - counted, actor).await?;
            }
            let delta = counted - level.on_hand;
            steps.push((warehouse_id, MovementKind::Stocktake, delta, reason_or(format!("counted {counted}"))));
        }
        StockChange::Transfer { from, to, quantity, .. } => {
            anyhow::ensure!(*quantity > 0, "a transfer of {quantity} units is not possible; enter the units to move (more than 0)");
            anyhow::ensure!(from != to, "a transfer from {from:?} to itself changes nothing; pick two warehouses");
            let (from_id, to_id) = (warehouse(from)?, warehouse(to)?);
            let free = level_of(from_id).available();
            anyhow::ensure!(
                *quantity <= free,
                "SKU {sku_code:?} has only {free} free units in warehouse {from} to move (the rest is reserved for open orders); \
                 transfer at most {free}"
            );
            let reason = reason_or(format!("transfer {from} → {to}"));
            steps.push((from_id, MovementKind::TransferOut, -quantity, reason.clone()));
            steps.push((to_id, MovementKind::TransferIn, *quantity, reason));
        }
    }
    for (warehouse_id, kind, on_hand_delta, reason) in &steps {
        let applied = write
            .apply_movement(&Movement {
                sku_id,
                warehouse_id: *warehouse_id,
                kind: *kind,
                on_hand_delta: *on_hand_delta,
                reserved_delta: 0,
                order_id: None,
                order_line_id: None,
                reason,
                actor,
            })
            .await?;
        if !applied {
            let level = level_of(*warehouse_id);
            let code = warehouses.iter().find(|(_, id)| *id == warehouse_id).map(|(code, _)| code.as_str()).unwrap_or("?");
            anyhow::bail!(
                "SKU {sku_code:?} in warehouse {code}: changing on-hand by {on_hand_delta} would leave {} on hand with {} reserved \
                 for open orders; stock cannot go below what is reserved. Ship, close or move those orders first (the movement \
                 history lists them), or count again",
                level.on_hand.saturating_add(*on_hand_delta),
                level.reserved
            );
        }
    }
    if was_managed == 0 {
        reserve_open_orders(&mut write, sku_id, sku_code, actor).await?;
    }
    let rule_set = rules.current();
    recompute_offers(&mut write, rules, &rule_set, &[sku_id]).await?;
    write.commit().await
}

/// Releases reservations of `sku_id` in a warehouse, newest order first, until at least
/// `shortfall` units are free of them, and moves those orders to the exception list as out of
/// stock. Used when a count finds fewer units than open orders have reserved.
async fn release_for_count(
    write: &mut WriteTx,
    sku_id: i64,
    sku_code: &str,
    warehouse_id: i64,
    warehouse_code: &str,
    shortfall: i64,
    actor: &str,
) -> anyhow::Result<()> {
    let held: Vec<(i64,)> = sqlx::query_as(
        "SELECT r.order_id FROM reservations r JOIN orders o ON o.id = r.order_id \
         WHERE r.sku_id = $1 AND r.warehouse_id = $2 AND r.state = 'reserved' ORDER BY o.paid_at DESC, o.id DESC, r.order_line_id DESC",
    )
    .bind(sku_id)
    .bind(warehouse_id)
    .fetch_all(&mut *write.tx)
    .await?;
    let mut released = 0;
    let mut orders: Vec<i64> = Vec::new();
    for (order_id,) in held {
        if released >= shortfall {
            break;
        }
        // The whole order gives its stock back, so none of it ships half reserved.
        if orders.contains(&order_id) {
            continue;
        }
        orders.push(order_id);
        for reservation in write.order_reservations(order_id).await? {
            if reservation.state != "reserved" || !write.close_reservation(reservation.order_line_id, "released").await? {
                continue;
            }
            let movement = Movement {
                sku_id: reservation.sku_id,
                warehouse_id: reservation.warehouse_id,
                kind: MovementKind::Released,
                on_hand_delta: 0,
                reserved_delta: -reservation.quantity,
                order_id: Some(order_id),
                order_line_id: Some(reservation.order_line_id),
                reason: "released: a count found less stock than was reserved",
                actor,
            };
            anyhow::ensure!(write.apply_movement(&movement).await?, "releasing line {} failed", reservation.order_line_id);
            if reservation.sku_id == sku_id && reservation.warehouse_id == warehouse_id {
                released += reservation.quantity;
            }
        }
        let reason = format!(
            "out of stock: a count of SKU {sku_code:?} in warehouse {warehouse_code} found less than open orders had reserved, \
             and this order's stock was released; receive stock or move it to that warehouse, then retry the order"
        );
        write.mark_exception(order_id, &reason).await?;
        tracing::warn!(sku = %sku_code, order_id, "count below reservations; order moved to the exception list");
    }
    Ok(())
}

/// Reserves the lines of open orders that sell a SKU which just became stock-managed. Those
/// orders were decided before the SKU had stock records, so they reserved nothing; the goods of
/// such orders are still on the shelf when the merchant counts, and offers must leave them out.
/// Lines are reserved oldest payment first in the warehouse their order was allocated to, while
/// stock lasts; the rest stay as they are and are logged.
async fn reserve_open_orders(write: &mut WriteTx, sku_id: i64, sku_code: &str, actor: &str) -> anyhow::Result<()> {
    let lines: Vec<(i64, i64, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT l.id, o.id, o.store_id, l.quantity, o.warehouse_code FROM order_lines l JOIN orders o ON o.id = l.order_id \
         WHERE o.workflow_state IN ('approved', 'held', 'pending_review') AND o.platform_status IN ('paid', 'refund_requested') \
         AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.order_line_id = l.id) \
         AND COALESCE((SELECT s.sku_id FROM store_listings s WHERE s.store_id = o.store_id AND s.platform_item_id = l.platform_item_id \
         AND s.platform_sku_id = l.platform_sku_id), (SELECT k.id FROM skus k WHERE k.code = l.sku_code AND l.sku_code <> '')) = $1 \
         ORDER BY o.paid_at, o.id, l.line_no",
    )
    .bind(sku_id)
    .fetch_all(&mut *write.tx)
    .await?;
    let warehouses: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>("SELECT code, id FROM warehouses").fetch_all(&mut *write.tx).await?.into_iter().collect();
    for (line_id, order_id, store_id, quantity, warehouse_code) in lines {
        let Some(warehouse_id) = warehouse_code.as_ref().and_then(|code| warehouses.get(code)).copied() else { continue };
        let movement = Movement {
            sku_id,
            warehouse_id,
            kind: MovementKind::Reserved,
            on_hand_delta: 0,
            reserved_delta: quantity,
            order_id: Some(order_id),
            order_line_id: Some(line_id),
            reason: "open order, reserved when the SKU's stock was first recorded",
            actor,
        };
        if write.apply_movement(&movement).await? {
            write.insert_reservation(line_id, order_id, store_id, sku_id, warehouse_id, quantity).await?;
        } else {
            tracing::warn!(sku = %sku_code, order_id, quantity, "open order could not be reserved: not enough stock in its warehouse");
        }
    }
    Ok(())
}

/// Sets a store's manual adjustment of one SKU's offer and recomputes the offer.
pub async fn set_adjustment(db: &Db, rules: &RuleBook, store_id: i64, sku_code: &str, adjustment: i64) -> anyhow::Result<()> {
    let mut write = db.begin_write().await?;
    let sku_id = write.sku_by_code(sku_code).await?.ok_or_else(|| anyhow::anyhow!("unknown SKU {sku_code:?}"))?;
    write.lock_skus(&[sku_id]).await?;
    write.set_offer_adjustment(store_id, sku_id, adjustment).await?;
    let rule_set = rules.current();
    recompute_offers(&mut write, rules, &rule_set, &[sku_id]).await?;
    write.commit().await
}

/// Recomputes every offer, for example after a new stock-share rule version.
pub async fn recompute_all(db: &Db, rules: &RuleBook) -> anyhow::Result<usize> {
    let ids = db.offered_sku_ids().await?;
    let rule_set = rules.current();
    for chunk in ids.chunks(500) {
        let mut write = db.begin_write().await?;
        write.lock_skus(chunk).await?;
        recompute_offers(&mut write, rules, &rule_set, chunk).await?;
        write.commit().await?;
    }
    Ok(ids.len())
}

/// Pulls every page of the store's listings through its plugin and stores them, mapping each
/// to the SKU with its code. Returns the number of listings.
pub async fn pull_products(
    db: &Db,
    rules: &RuleBook,
    session: crate::plugin::PluginSession,
    store_id: i64,
) -> (Option<crate::plugin::PluginSession>, anyhow::Result<usize>) {
    const MAX_PAGES: usize = 500;
    let mut session = session;
    let mut token: Option<String> = None;
    let mut count = 0;
    let mut touched = Vec::new();
    for _ in 0..MAX_PAGES {
        let page_token = token.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let result = session.pull_products(page_token.as_deref());
            (session, result)
        })
        .await;
        let (returned, result) = match joined {
            Ok(pair) => pair,
            Err(error) => return (None, Err(anyhow::anyhow!("product pull task failed: {error}"))),
        };
        session = returned;
        let page = match result {
            Ok(page) => page,
            Err(error) => return (Some(session), Err(error.into())),
        };
        let stored: anyhow::Result<()> = async {
            let mut write = db.begin_write().await?;
            for product in &page.products {
                for sku in &product.skus {
                    if let Some(sku_id) = write
                        .upsert_listing(store_id, &product.platform_item_id, &sku.platform_sku_id, &sku.sku_code, &product.title, &sku.name, sku.quantity)
                        .await?
                    {
                        touched.push(sku_id);
                    }
                    count += 1;
                }
            }
            write.commit().await
        }
        .await;
        if let Err(error) = stored {
            return (Some(session), Err(error));
        }
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let finish: anyhow::Result<()> = async {
        db.mark_products_pulled(store_id).await?;
        let rule_set = rules.current();
        for chunk in touched.chunks(500) {
            let mut write = db.begin_write().await?;
            write.lock_skus(chunk).await?;
            recompute_offers(&mut write, rules, &rule_set, chunk).await?;
            write.commit().await?;
        }
        Ok(())
    }
    .await;
    (Some(session), finish.map(|()| count))
}

/// Tells platforms their offers. One task per server; on PostgreSQL the per-store lease keeps
/// two servers from pushing the same store at once.
pub struct Pusher {
    db: Db,
    plugins: Arc<PluginHost>,
    holder: String,
    /// Stores that asked to slow down, until when.
    paused_until: std::sync::Mutex<HashMap<i64, i64>>,
}

/// Job kind of the push lease.
pub const PUSH_STOCK: &str = "push_stock";
const PUSH_LEASE_MS: i64 = 60_000;
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;

impl Pusher {
    pub fn new(db: Db, plugins: Arc<PluginHost>, holder: String) -> Arc<Pusher> {
        Arc::new(Pusher { db, plugins, holder, paused_until: Default::default() })
    }

    /// Pushes due offers until shutdown, checking every `poll`.
    pub async fn run(self: Arc<Self>, poll: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.push_due().await {
                tracing::warn!(error = %format!("{error:#}"), "stock push round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Pushes one batch for each store with due offers; returns how many offers were delivered.
    pub async fn push_due(&self) -> anyhow::Result<usize> {
        let now = crate::now_ms();
        let mut pushed = 0;
        for store_id in self.db.stores_with_due_offers(now).await? {
            let paused = self.paused_until.lock().expect("pause lock").get(&store_id).copied().unwrap_or(0);
            if paused > now {
                continue;
            }
            if !self.db.try_lease(store_id, PUSH_STOCK, &self.holder, PUSH_LEASE_MS).await? {
                continue;
            }
            let result = self.push_store(store_id).await;
            let _ = self.db.release_lease(store_id, PUSH_STOCK, &self.holder).await;
            match result {
                Ok(count) => pushed += count,
                Err(error) => tracing::warn!(store_id, error = %format!("{error:#}"), "stock push failed"),
            }
        }
        Ok(pushed)
    }

    async fn push_store(&self, store_id: i64) -> anyhow::Result<usize> {
        let Some(store) = self.db.store(store_id).await? else { return Ok(0) };
        if !store.enabled {
            return Ok(0);
        }
        let Some(installed) = self.db.enabled_plugin(&store.plugin_id).await? else { return Ok(0) };
        let plugins = self.plugins.clone();
        let loaded = tokio::task::spawn_blocking(move || plugins.load(&installed)).await??;
        if !loaded.manifest.has_capability(Capability::PushStock) {
            return Ok(0);
        }
        let due = self.db.due_offers(store_id, crate::now_ms(), 100).await?;
        if due.is_empty() {
            return Ok(0);
        }
        // Each listing of a SKU gets an even part of the offer, so two listings of one SKU in
        // one store never offer the same units twice.
        let mut levels = Vec::new();
        let mut owners = Vec::new();
        for (index, offer) in due.iter().enumerate() {
            let parts = offer.listings.len().max(1) as i64;
            for (position, (item_id, sku_id)) in offer.listings.iter().enumerate() {
                let quantity = offer.offered / parts + i64::from((position as i64) < offer.offered % parts);
                levels.push(StockLevel { platform_item_id: item_id.clone(), platform_sku_id: sku_id.clone(), sku_code: offer.sku_code.clone(), quantity });
                owners.push(index);
            }
        }
        let plugins = self.plugins.clone();
        let shop = store.clone();
        let runtime = tokio::runtime::Handle::current();
        let batch = levels.clone();
        let results = tokio::task::spawn_blocking(move || {
            let _entered = runtime.enter();
            let mut session = plugins.open_session(loaded, &shop)?;
            let mut results = Vec::with_capacity(batch.len());
            for chunk in batch.chunks(crate::plugin::MAX_PUSH_BATCH) {
                results.extend(session.push_stock(chunk)?);
            }
            Ok::<_, crate::plugin::PluginError>(results)
        })
        .await?;
        let now = crate::now_ms();
        let results = match results {
            Ok(results) => results,
            Err(error) => {
                let wait = match &error.kind {
                    crate::plugin::PluginErrorKind::Connector { retry_after_ms: Some(ms), .. } => Some(*ms as i64),
                    _ => None,
                };
                for offer in &due {
                    let retry_at = now + wait.unwrap_or_else(|| backoff_ms(offer.attempts));
                    self.db.offer_push_failed(store_id, offer.sku_id, &error.to_string(), retry_at, wait.is_none()).await?;
                }
                return Err(error.into());
            }
        };
        let mut failures: Vec<Option<crate::plugin::EntryError>> = vec![None; due.len()];
        for (owner, result) in owners.iter().zip(results) {
            if let Err(error) = result {
                failures[*owner].get_or_insert(error);
            }
        }
        let mut delivered = 0;
        for (offer, failure) in due.iter().zip(failures) {
            match failure {
                None => {
                    self.db.offer_pushed(store_id, offer.sku_id, offer.revision, offer.offered).await?;
                    delivered += 1;
                }
                Some(error) if error.is_rate_limit() => {
                    let wait = error.retry_after_ms.unwrap_or(1_000) as i64;
                    self.paused_until.lock().expect("pause lock").insert(store_id, now + wait);
                    self.db.offer_push_failed(store_id, offer.sku_id, &error.message, now + wait, false).await?;
                    tracing::info!(store = %store.name, sku = %offer.sku_code, wait_ms = wait, "platform asked to slow down; push retried after the wait");
                }
                Some(error) => {
                    self.db.offer_push_failed(store_id, offer.sku_id, &error.message, now + backoff_ms(offer.attempts), true).await?;
                    tracing::warn!(store = %store.name, sku = %offer.sku_code, error = %error.message, "stock push rejected by the platform; retrying with back-off");
                }
            }
        }
        Ok(delivered)
    }
}

/// 1 s, 2 s, 4 s … up to 5 minutes.
fn backoff_ms(attempts: i64) -> i64 {
    (1_000i64 << attempts.clamp(0, 20)).min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: i64, warehouses: &[i64], adjustment: i64) -> OfferTarget {
        OfferTarget { store_id: id, store_name: format!("s{id}"), platform: "taobao".into(), warehouse_ids: warehouses.to_vec(), adjustment, sales_7d: 0 }
    }

    fn level(warehouse_id: i64, on_hand: i64, reserved: i64) -> Level {
        Level { warehouse_id, on_hand, reserved }
    }

    #[test]
    fn last_unit_goes_to_one_store_only() {
        let offers = fit_offers(&[level(1, 1, 0)], &[target(1, &[], 0), target(2, &[], 0)], &[ShareRequest::Percent(50.0), ShareRequest::Percent(50.0)]);
        assert_eq!(offers, vec![1, 0]);
    }

    #[test]
    fn rounding_loses_no_units_and_never_exceeds_free_stock() {
        let offers = fit_offers(
            &[level(1, 10, 0)],
            &[target(1, &[], 0), target(2, &[], 0), target(3, &[], 0)],
            &[ShareRequest::Percent(100.0 / 3.0), ShareRequest::Percent(100.0 / 3.0), ShareRequest::Percent(100.0 / 3.0)],
        );
        assert_eq!(offers.iter().sum::<i64>(), 10);
        let greedy = fit_offers(&[level(1, 10, 4)], &[target(1, &[], 0), target(2, &[], 0)], &[ShareRequest::Percent(100.0), ShareRequest::Percent(100.0)]);
        assert_eq!(greedy, vec![6, 0]);
    }

    #[test]
    fn a_store_is_offered_only_its_warehouses() {
        let levels = [level(1, 5, 0), level(2, 7, 0)];
        let offers = fit_offers(&levels, &[target(1, &[1], 0), target(2, &[], 0)], &[ShareRequest::Percent(100.0), ShareRequest::Percent(100.0)]);
        assert_eq!(offers, vec![5, 7]);
    }

    #[test]
    fn adjustments_move_units_but_never_past_free_stock() {
        let levels = [level(1, 10, 0)];
        let offers = fit_offers(&levels, &[target(1, &[], -3), target(2, &[], 50)], &[ShareRequest::Percent(50.0), ShareRequest::Percent(50.0)]);
        assert_eq!(offers, vec![2, 8]);
    }
}

//! Intake: stores one page of orders from a connector, deciding new paid orders on the way.
//!
//! The orders of a page, their rule decisions, their stock reservations, the offers those
//! change and the page's cursor progress are written in one transaction, so a crash at any
//! point leaves either the whole page or none of it.

use std::collections::HashMap;

use anyhow::Context;
use rhai::{Dynamic, Map};

use crate::domain::{IncomingOrder, PlatformStatus, WorkflowState};
use crate::plugin::Page;
use crate::rules::{ReviewDecision, RuleBook, RuleSet, order_map};
use crate::storage::stock::{Movement, MovementKind, SkuRef};
use crate::storage::{Db, WriteTx};
use crate::storage::orders::{Decisions, Provenance};
use crate::storage::stores::{Store, Warehouse};
use crate::storage::sync_state::{PULL_ORDERS, PageCounts};

/// Facts about the buyer that rules see beyond the order itself.
pub struct BuyerHistory {
    /// The buyer's earlier orders in the same store.
    pub previous_orders: i64,
}

/// Position of a page in its sync run.
pub struct PagePosition {
    pub run_id: i64,
    pub window: (i64, i64),
}

/// Stores `page` for `store` and records its progress; returns what it counted.
///
/// The page's SKUs are locked first (see [`WriteTx::lock_skus`]), then each order is stored and,
/// when it is new and paid (or was waiting for payment), allocated, reserved and reviewed. A
/// status change releases (closed, refunded) or consumes (shipped) the order's reservations.
/// The offers of every SKU whose stock changed are recomputed before the commit.
pub async fn store_page(
    db: &Db,
    rules: &RuleBook,
    store: &Store,
    plugin_version: &str,
    position: &PagePosition,
    page: &Page,
) -> anyhow::Result<PageCounts> {
    let rule_set = rules.current();
    let warehouses = db.list_warehouses().await?;
    let from = Provenance { store_id: store.id, plugin_id: &store.plugin_id, plugin_version };
    let mut counts = PageCounts { seen: page.orders.len() as i64, ..PageCounts::default() };
    let mut write = db.begin_write().await?;

    // First what each order needs, so that every SKU the page may change is locked up front,
    // in one sorted pass.
    let mut found = Vec::with_capacity(page.orders.len());
    let mut lock = Vec::new();
    for order in &page.orders {
        let stored = write.find_order(store.id, &order.platform_order_id).await?;
        let action = match &stored {
            None => Action::Insert,
            Some(stored) if order.modified_at_ms <= stored.modified_at && order.status == stored.platform_status => Action::Nothing,
            Some(stored) if stored.workflow_state == WorkflowState::AwaitingPayment => Action::UpdateAndDecide,
            Some(_) => Action::Update,
        };
        let mut skus = Vec::new();
        if matches!(action, Action::Insert | Action::UpdateAndDecide) && needs_stock(order.status) {
            for line in &order.lines {
                let sku = write.resolve_line_sku(store.id, &line.platform_item_id, &line.platform_sku_id, &line.sku_code).await?;
                // A SKU without stock records has no level to change, so it needs no lock.
                if let Some(sku) = sku.as_ref().filter(|sku| sku.tracked) {
                    lock.push(sku.id);
                }
                skus.push(sku);
            }
        }
        let mut reserved = false;
        if let (Action::Update, Some(stored)) = (&action, &stored) {
            // A status change may settle the reservations, and changed lines release them.
            let held: Vec<i64> = write.order_reservations(stored.id).await?.iter().filter(|r| r.state == "reserved").map(|r| r.sku_id).collect();
            reserved = !held.is_empty();
            lock.extend(held);
        }
        found.push((stored, action, skus, reserved));
    }
    write.lock_skus(&lock).await?;

    let mut touched = Vec::new();
    for (order, (stored, action, skus, reserved)) in page.orders.iter().zip(found) {
        match action {
            Action::Nothing => {}
            Action::Insert => {
                let history = BuyerHistory { previous_orders: write.buyer_previous_orders(store.id, order).await? };
                let decided = decide(&mut write, rules, &rule_set, store, &warehouses, order, &skus, &history).await?;
                let id = write.insert_order(order, &from, decided.workflow, &decided.decisions).await?;
                reserve(&mut write, store.id, id, &decided.reservations, &mut touched).await?;
                if let Some(split) = &decided.split {
                    write.replace_shipments(id, split).await?;
                }
                counts.created += 1;
            }
            Action::UpdateAndDecide => {
                let stored = stored.expect("an update has a stored order");
                let history = BuyerHistory { previous_orders: write.buyer_previous_orders(store.id, order).await? };
                let decided = decide(&mut write, rules, &rule_set, store, &warehouses, order, &skus, &history).await?;
                if decided.workflow == WorkflowState::AwaitingPayment {
                    write.update_order(stored.id, order, &from, None).await?;
                } else {
                    write.update_order(stored.id, order, &from, Some((decided.workflow, &decided.decisions))).await?;
                    reserve(&mut write, store.id, stored.id, &decided.reservations, &mut touched).await?;
                    if let Some(split) = &decided.split {
                        write.replace_shipments(stored.id, split).await?;
                    }
                }
                counts.updated += 1;
            }
            Action::Update => {
                let stored = stored.expect("an update has a stored order");
                // Only an order that holds stock can have lines that no longer match it.
                let changed = if reserved { changed_lines(&mut write, store, stored.id, order).await? } else { None };
                write.update_order(stored.id, order, &from, None).await?;
                if let Some(change) = changed {
                    // The reserved stock no longer matches what the order sells: give it back
                    // and let a person look before anything ships.
                    settle(&mut write, stored.id, Settle::Release, &mut touched).await?;
                    let reason = format!(
                        "the platform changed this order's lines after its stock was reserved ({change}); the stock was \
                         released, check the order and retry it"
                    );
                    tracing::warn!(store = %store.name, order = %order.platform_order_id, %reason, "order moved to the exception list");
                    write.mark_exception(stored.id, &reason).await?;
                } else if reserved && releases(order.status) {
                    settle(&mut write, stored.id, Settle::Release, &mut touched).await?;
                } else if reserved && consumes(order.status) {
                    settle(&mut write, stored.id, Settle::Ship, &mut touched).await?;
                }
                counts.updated += 1;
            }
        }
    }
    crate::stock::recompute_offers(&mut write, rules, &rule_set, &touched).await?;
    write
        .record_page(store.id, PULL_ORDERS, position.run_id, position.window, page.next_page_token.as_deref(), counts)
        .await?;
    write.commit().await?;
    Ok(counts)
}

/// Decides a stored order again, for an order in the exception list after its cause was fixed
/// (a SKU mapped, stock received, a rule corrected). Returns the new workflow state.
pub async fn retry_order(db: &Db, rules: &RuleBook, order_id: i64) -> anyhow::Result<WorkflowState> {
    let stored = db.stored_order(order_id).await?.ok_or_else(|| anyhow::anyhow!("order {order_id} not found"))?;
    anyhow::ensure!(
        stored.workflow_state == WorkflowState::Exception,
        "order {order_id} is {}, not in the exception list; only exceptions can be retried",
        stored.workflow_state
    );
    let store = db.store(stored.store_id).await?.ok_or_else(|| anyhow::anyhow!("store {} not found", stored.store_id))?;
    let rule_set = rules.current();
    let warehouses = db.list_warehouses().await?;
    let order = &stored.order;
    let mut write = db.begin_write().await?;
    let mut skus = Vec::new();
    for line in &order.lines {
        skus.push(write.resolve_line_sku(store.id, &line.platform_item_id, &line.platform_sku_id, &line.sku_code).await?);
    }
    write.lock_skus(&skus.iter().flatten().map(|sku| sku.id).collect::<Vec<_>>()).await?;
    let history = BuyerHistory { previous_orders: write.buyer_previous_orders(store.id, order).await? };
    let decided = decide(&mut write, rules, &rule_set, &store, &warehouses, order, &skus, &history).await?;
    write.set_decisions(order_id, decided.workflow, &decided.decisions).await?;
    let mut touched = Vec::new();
    reserve(&mut write, store.id, order_id, &decided.reservations, &mut touched).await?;
    if let Some(split) = &decided.split {
        write.replace_shipments(order_id, split).await?;
    }
    crate::stock::recompute_offers(&mut write, rules, &rule_set, &touched).await?;
    write.commit().await?;
    Ok(decided.workflow)
}

/// Compares an order's reserved lines with a newer version of the order. Returns the first
/// difference (a reserved line gone, another quantity or SKU, a new line), if any.
async fn changed_lines(write: &mut WriteTx, store: &Store, order_id: i64, order: &IncomingOrder) -> anyhow::Result<Option<String>> {
    let reservations: Vec<_> = write.order_reservations(order_id).await?.into_iter().filter(|r| r.state == "reserved").collect();
    if reservations.is_empty() {
        return Ok(None);
    }
    let stored_lines: HashMap<i64, String> = write.order_line_ids(order_id).await?.into_iter().collect();
    for reservation in &reservations {
        let platform_line_id = stored_lines.get(&reservation.order_line_id).cloned().unwrap_or_default();
        let Some(line) = order.lines.iter().find(|line| line.platform_line_id == platform_line_id) else {
            return Ok(Some(format!("line {platform_line_id:?} is gone")));
        };
        if line.quantity != reservation.quantity {
            return Ok(Some(format!("line {platform_line_id:?} now has quantity {}, {} reserved", line.quantity, reservation.quantity)));
        }
        let sku = write.resolve_line_sku(store.id, &line.platform_item_id, &line.platform_sku_id, &line.sku_code).await?;
        if sku.as_ref().map(|sku| sku.id) != Some(reservation.sku_id) {
            return Ok(Some(format!("line {platform_line_id:?} now sells SKU {:?}", line.sku_code)));
        }
    }
    let known: std::collections::HashSet<&String> = stored_lines.values().collect();
    if let Some(line) = order.lines.iter().find(|line| !known.contains(&line.platform_line_id)) {
        return Ok(Some(format!("new line {:?}", line.platform_line_id)));
    }
    Ok(None)
}

enum Action {
    Nothing,
    Insert,
    UpdateAndDecide,
    Update,
}

fn needs_stock(status: PlatformStatus) -> bool {
    matches!(status, PlatformStatus::Paid | PlatformStatus::RefundRequested)
}

fn releases(status: PlatformStatus) -> bool {
    matches!(status, PlatformStatus::Closed | PlatformStatus::Refunded)
}

fn consumes(status: PlatformStatus) -> bool {
    matches!(status, PlatformStatus::Shipped | PlatformStatus::Completed)
}

/// A line's stock to reserve once the order (and so the line id) is stored.
struct PlannedReservation {
    platform_line_id: String,
    sku_id: i64,
    warehouse_id: i64,
    quantity: i64,
}

struct Decided {
    workflow: WorkflowState,
    decisions: Decisions,
    reservations: Vec<PlannedReservation>,
    split: Option<crate::rules::Split>,
}

async fn reserve(
    write: &mut WriteTx,
    store_id: i64,
    order_id: i64,
    planned: &[PlannedReservation],
    touched: &mut Vec<i64>,
) -> anyhow::Result<()> {
    if planned.is_empty() {
        return Ok(());
    }
    let line_ids: HashMap<String, i64> = write.order_line_ids(order_id).await?.into_iter().map(|(id, platform)| (platform, id)).collect();
    for plan in planned {
        let line_id = *line_ids.get(&plan.platform_line_id).context("reserved line is not stored")?;
        if !write.insert_reservation(line_id, order_id, store_id, plan.sku_id, plan.warehouse_id, plan.quantity).await? {
            continue;
        }
        let applied = write
            .apply_movement(&Movement {
                sku_id: plan.sku_id,
                warehouse_id: plan.warehouse_id,
                kind: MovementKind::Reserved,
                on_hand_delta: 0,
                reserved_delta: plan.quantity,
                order_id: Some(order_id),
                order_line_id: Some(line_id),
                reason: "paid order",
                actor: "intake",
            })
            .await?;
        anyhow::ensure!(applied, "stock of SKU {} changed while the page was locked; the page is retried", plan.sku_id);
        touched.push(plan.sku_id);
    }
    Ok(())
}

enum Settle {
    Release,
    Ship,
}

async fn settle(write: &mut WriteTx, order_id: i64, how: Settle, touched: &mut Vec<i64>) -> anyhow::Result<()> {
    for reservation in write.order_reservations(order_id).await? {
        let (state, kind, on_hand_delta, reason) = match how {
            Settle::Release => ("released", MovementKind::Released, 0, "order closed or refunded before shipping"),
            Settle::Ship => ("shipped", MovementKind::Shipped, -reservation.quantity, "order shipped"),
        };
        if !write.close_reservation(reservation.order_line_id, state).await? {
            continue;
        }
        let applied = write
            .apply_movement(&Movement {
                sku_id: reservation.sku_id,
                warehouse_id: reservation.warehouse_id,
                kind,
                on_hand_delta,
                reserved_delta: -reservation.quantity,
                order_id: Some(order_id),
                order_line_id: Some(reservation.order_line_id),
                reason,
                actor: "intake",
            })
            .await?;
        anyhow::ensure!(applied, "the ledger of SKU {} disagrees with reservation of line {}", reservation.sku_id, reservation.order_line_id);
        touched.push(reservation.sku_id);
    }
    Ok(())
}

/// Decides an order that is new or was waiting for payment. Only a paid order is allocated,
/// reserved and reviewed; one first seen after the platform shipped or closed it is archived
/// untouched.
#[allow(clippy::too_many_arguments)]
async fn decide(
    write: &mut WriteTx,
    rules: &RuleBook,
    rule_set: &RuleSet,
    store: &Store,
    warehouses: &[Warehouse],
    order: &IncomingOrder,
    skus: &[Option<SkuRef>],
    history: &BuyerHistory,
) -> anyhow::Result<Decided> {
    let mut decisions = Decisions::default();
    let undecided = |workflow| Decided { workflow, decisions: Decisions::default(), reservations: Vec::new(), split: None };
    match order.status {
        PlatformStatus::Unpaid => return Ok(undecided(WorkflowState::AwaitingPayment)),
        PlatformStatus::Shipped | PlatformStatus::Completed | PlatformStatus::Closed | PlatformStatus::Refunded => {
            return Ok(undecided(WorkflowState::Archived));
        }
        PlatformStatus::Paid | PlatformStatus::RefundRequested => {}
    }
    let unmapped: Vec<String> = order
        .lines
        .iter()
        .zip(skus)
        .filter(|(_, sku)| sku.is_none())
        .map(|(line, _)| {
            format!("line {:?} (item {}, SKU {}, code {:?})", line.platform_line_id, line.platform_item_id, line.platform_sku_id, line.sku_code)
        })
        .collect();
    if !unmapped.is_empty() {
        let error = format!(
            "unmapped SKU: {} of store {} match no SKU of ours; map the listing or add the SKU on the Stock page, then retry the order",
            unmapped.join(", "),
            store.name
        );
        return Ok(exception(store, order, decisions, error));
    }

    // Free stock of the order's stock-managed SKUs, per warehouse, and this store's recent
    // sales of them: what the `stock` and `sales` helpers return to the scripts.
    let mut free: HashMap<(i64, i64), i64> = HashMap::new();
    let mut stock_maps: HashMap<i64, Map> = warehouses.iter().map(|w| (w.id, Map::new())).collect();
    let mut facts = crate::rules::Facts::default();
    for sku in skus.iter().flatten() {
        // Sales are counted from reservations, which only stock-managed SKUs have.
        if !sku.tracked {
            facts.sales.insert((store.name.clone(), sku.code.clone()), 0);
            continue;
        }
        let sold = write.store_sales(store.id, sku.id, crate::now_ms() - 7 * 24 * 3600 * 1000).await?;
        facts.sales.insert((store.name.clone(), sku.code.clone()), sold);
        for level in write.sku_levels(sku.id).await? {
            free.insert((sku.id, level.warehouse_id), level.available());
            if let Some(warehouse) = warehouses.iter().find(|w| w.id == level.warehouse_id) {
                facts.stock.entry(sku.code.clone()).or_default().push((warehouse.code.clone(), level.available()));
            }
            if let Some(map) = stock_maps.get_mut(&level.warehouse_id) {
                map.insert(sku.code.as_str().into(), level.available().into());
            }
        }
    }

    let mut input = order_map(order, &store.name, &store.platform);
    input.insert("buyer_previous_orders".into(), history.previous_orders.into());
    if let Some(Ok(mut lines)) = input.get("lines").map(|lines| lines.clone().into_array()) {
        for (line, sku) in lines.iter_mut().zip(skus) {
            if let (Some(mut map), Some(sku)) = (line.clone().try_cast::<Map>(), sku) {
                map.insert("sku".into(), sku.code.as_str().into());
                map.insert("stock_managed".into(), sku.tracked.into());
                *line = Dynamic::from_map(map);
            }
        }
        input.insert("lines".into(), Dynamic::from_array(lines));
    }
    let stock: Vec<Map> = warehouses.iter().map(|w| stock_maps.remove(&w.id).unwrap_or_default()).collect();
    let allocation = match crate::rules::with_facts(&facts, || rules.allocate(rule_set, &input, warehouses, &stock, order.lines.len())) {
        Ok(allocation) => allocation,
        Err(error) => return Ok(exception(store, order, decisions, error.to_string())),
    };
    decisions.warehouse_code = Some(allocation.warehouse_code.clone());
    decisions.allocation_reason = Some(allocation.reason.clone());
    decisions.allocation_rule_version = Some(allocation.rule_version);

    // Check every stock-managed line before reserving any, so an order reserves all or nothing.
    let warehouse_id = |code: &str| warehouses.iter().find(|w| w.code == code).map(|w| w.id).expect("allocation returns a known warehouse");
    let mut needed: HashMap<(i64, i64), i64> = HashMap::new();
    let mut reservations = Vec::new();
    for (index, (line, sku)) in order.lines.iter().zip(skus).enumerate() {
        let Some(sku) = sku.as_ref().filter(|sku| sku.tracked) else { continue };
        let code = allocation.line_warehouses.get(index).unwrap_or(&allocation.warehouse_code);
        let warehouse = warehouse_id(code);
        *needed.entry((sku.id, warehouse)).or_default() += line.quantity;
        reservations.push(PlannedReservation { platform_line_id: line.platform_line_id.clone(), sku_id: sku.id, warehouse_id: warehouse, quantity: line.quantity });
    }
    let mut short = Vec::new();
    for ((sku_id, warehouse), quantity) in &needed {
        let available = free.get(&(*sku_id, *warehouse)).copied().unwrap_or(0).max(0);
        if available < *quantity {
            let code = skus.iter().flatten().find(|sku| sku.id == *sku_id).map(|sku| sku.code.clone()).unwrap_or_default();
            let warehouse_code = warehouses.iter().find(|w| w.id == *warehouse).map(|w| w.code.clone()).unwrap_or_default();
            short.push(format!("SKU {code:?} needs {quantity} in warehouse {warehouse_code}, {available} free (short by {})", quantity - available));
        }
    }
    if !short.is_empty() {
        short.sort();
        let error = format!("out of stock: {}; receive stock or move it to that warehouse, then retry the order", short.join("; "));
        return Ok(exception(store, order, decisions, error));
    }

    input.insert("warehouse".into(), allocation.warehouse_code.clone().into());
    input.insert("reserved".into(), (!reservations.is_empty()).into());
    let review = match crate::rules::with_facts(&facts, || rules.review(rule_set, &input)) {
        Ok(review) => review,
        Err(error) => return Ok(exception(store, order, decisions, error.to_string())),
    };
    decisions.review_rule_version = Some(review.rule_version);
    let workflow = match review.decision {
        ReviewDecision::Approve => {
            decisions.review_decision = Some("approve".into());
            WorkflowState::Approved
        }
        ReviewDecision::Hold(reason) => {
            decisions.review_decision = Some("hold".into());
            decisions.review_reason = Some(reason);
            WorkflowState::Held
        }
        ReviewDecision::Manual(reason) => {
            decisions.review_decision = Some("review".into());
            decisions.review_reason = Some(reason);
            WorkflowState::PendingReview
        }
    };

    // The parcels: each line with the warehouse it ships from and what the split rule weighs.
    if let Some(Ok(mut lines)) = input.get("lines").map(|lines| lines.clone().into_array()) {
        for (index, (line, sku)) in lines.iter_mut().zip(skus).enumerate() {
            if let Some(mut map) = line.clone().try_cast::<Map>() {
                let code = allocation.line_warehouses.get(index).unwrap_or(&allocation.warehouse_code);
                map.insert("warehouse".into(), code.as_str().into());
                map.insert("weight_grams".into(), sku.as_ref().map_or(0, |sku| sku.weight_grams).into());
                map.insert("presale".into(), sku.as_ref().is_some_and(|sku| sku.presale).into());
                *line = Dynamic::from_map(map);
            }
        }
        input.insert("lines".into(), Dynamic::from_array(lines));
    }
    let split = match crate::rules::with_facts(&facts, || rules.split(rule_set, &input)) {
        Ok(split) => split,
        Err(error) => return Ok(exception(store, order, decisions, error.to_string())),
    };
    Ok(Decided { workflow, decisions, reservations, split: Some(split) })
}

fn exception(store: &Store, order: &IncomingOrder, mut decisions: Decisions, error: String) -> Decided {
    tracing::warn!(store = %store.name, order = %order.platform_order_id, %error, "order moved to the exception list");
    decisions.exception_reason = Some(error);
    Decided { workflow: WorkflowState::Exception, decisions, reservations: Vec::new(), split: None }
}

//! Intake: stores one page of orders from a connector, deciding new paid orders on the way.
//!
//! The orders of a page, their rule decisions and the page's cursor progress are written in one
//! transaction, so a crash at any point leaves either the whole page or none of it.

use crate::domain::{IncomingOrder, PlatformStatus, WorkflowState};
use crate::plugin::Page;
use crate::rules::{ReviewDecision, RuleBook, RuleSet, order_map};
use crate::storage::Db;
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
    for order in &page.orders {
        match write.find_order(store.id, &order.platform_order_id).await? {
            None => {
                let history = BuyerHistory { previous_orders: write.buyer_previous_orders(store.id, order).await? };
                let (workflow, decisions) = decide(rules, &rule_set, store, &warehouses, order, &history);
                write.insert_order(order, &from, workflow, &decisions).await?;
                counts.created += 1;
            }
            Some(stored) if order.modified_at_ms <= stored.modified_at && order.status == stored.platform_status => {
                // The same version again (overlapping windows, a repeated page): nothing to do.
            }
            Some(stored) => {
                let decided = if stored.workflow_state == WorkflowState::AwaitingPayment {
                    let history = BuyerHistory { previous_orders: write.buyer_previous_orders(store.id, order).await? };
                    Some(decide(rules, &rule_set, store, &warehouses, order, &history))
                        .filter(|(workflow, _)| *workflow != WorkflowState::AwaitingPayment)
                } else {
                    None
                };
                let decided_ref = decided.as_ref().map(|(workflow, decisions)| (*workflow, decisions));
                write.update_order(stored.id, order, &from, decided_ref).await?;
                counts.updated += 1;
            }
        }
    }
    write
        .record_page(store.id, PULL_ORDERS, position.run_id, position.window, page.next_page_token.as_deref(), counts)
        .await?;
    write.commit().await?;
    Ok(counts)
}

/// Decides an order that is new or was waiting for payment. Only a paid order is allocated and
/// reviewed; one first seen after the platform shipped or closed it is archived untouched.
fn decide(
    rules: &RuleBook,
    rule_set: &RuleSet,
    store: &Store,
    warehouses: &[Warehouse],
    order: &IncomingOrder,
    history: &BuyerHistory,
) -> (WorkflowState, Decisions) {
    match order.status {
        PlatformStatus::Unpaid => return (WorkflowState::AwaitingPayment, Decisions::default()),
        PlatformStatus::Shipped | PlatformStatus::Completed | PlatformStatus::Closed | PlatformStatus::Refunded => {
            return (WorkflowState::Archived, Decisions::default());
        }
        PlatformStatus::Paid | PlatformStatus::RefundRequested => {}
    }
    let mut decisions = Decisions::default();
    let mut input = order_map(order, &store.name, &store.platform);
    input.insert("buyer_previous_orders".into(), history.previous_orders.into());
    let allocation = match rules.allocate(rule_set, &input, warehouses) {
        Ok(allocation) => allocation,
        Err(error) => return exception(store, order, decisions, error.to_string()),
    };
    input.insert("warehouse".into(), allocation.warehouse_code.clone().into());
    decisions.warehouse_code = Some(allocation.warehouse_code);
    decisions.allocation_reason = Some(allocation.reason);
    decisions.allocation_rule_version = Some(allocation.rule_version);
    let review = match rules.review(rule_set, &input) {
        Ok(review) => review,
        Err(error) => return exception(store, order, decisions, error.to_string()),
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
    (workflow, decisions)
}

fn exception(store: &Store, order: &IncomingOrder, mut decisions: Decisions, error: String) -> (WorkflowState, Decisions) {
    tracing::warn!(store = %store.name, order = %order.platform_order_id, %error, "rule failed; order moved to the exception list");
    decisions.exception_reason = Some(error);
    (WorkflowState::Exception, decisions)
}

//! Orders and their lines.

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::{Db, WriteTx};
use crate::domain::{IncomingOrder, PlatformStatus, WorkflowState};

/// The part of a stored order that intake compares with an incoming version.
#[derive(Clone, Debug)]
pub struct StoredState {
    pub id: i64,
    pub platform_status: PlatformStatus,
    pub workflow_state: WorkflowState,
    pub modified_at: i64,
}

/// The rule outcome written with an order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Decisions {
    pub warehouse_code: Option<String>,
    pub allocation_reason: Option<String>,
    pub allocation_rule_version: Option<i64>,
    pub review_decision: Option<String>,
    pub review_reason: Option<String>,
    pub review_rule_version: Option<i64>,
    pub exception_reason: Option<String>,
}

/// Origin of an order: the store and the plugin version, stored on the order.
#[derive(Clone, Debug)]
pub struct Provenance<'a> {
    pub store_id: i64,
    pub plugin_id: &'a str,
    pub plugin_version: &'a str,
}

#[derive(Clone, Debug, Serialize)]
pub struct OrderSummary {
    pub id: i64,
    pub store_id: i64,
    pub store_name: String,
    pub platform_order_id: String,
    pub platform_status: String,
    pub platform_status_raw: String,
    pub workflow_state: String,
    pub currency: String,
    pub goods_minor: i64,
    pub shipping_minor: i64,
    pub paid_minor: i64,
    pub buyer_nick: String,
    pub buyer_remark: String,
    pub receiver_name: String,
    pub receiver_province: String,
    pub receiver_city: String,
    pub created_at: i64,
    pub modified_at: i64,
    pub paid_at: Option<i64>,
    pub warehouse_code: Option<String>,
    pub allocation_reason: Option<String>,
    pub allocation_rule_version: Option<i64>,
    pub review_decision: Option<String>,
    pub review_reason: Option<String>,
    pub review_rule_version: Option<i64>,
    pub exception_reason: Option<String>,
    pub plugin_id: String,
    pub plugin_version: String,
    pub decided_at: Option<i64>,
    pub line_count: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OrderDetail {
    #[serde(flatten)]
    pub summary: OrderSummary,
    pub seller_remark: String,
    pub receiver_phone: String,
    pub receiver_district: String,
    pub receiver_street: String,
    pub receiver_zip: String,
    pub raw_payload: serde_json::Value,
    pub lines: Vec<StoredLine>,
    /// Parcels the split rule planned, with the version that planned them.
    pub shipments: Vec<ShipmentRow>,
    pub split_rule_version: Option<i64>,
}

/// One planned parcel of an order.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ShipmentRow {
    pub parcel_no: i64,
    pub warehouse_code: String,
    /// Positions in the order's lines, from 0.
    pub line_positions: Vec<usize>,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StoredLine {
    pub line_no: i64,
    pub platform_line_id: String,
    pub platform_item_id: String,
    pub platform_sku_id: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub total_minor: i64,
    pub platform_status: String,
}

impl StoredLine {
    /// Rebuilds the line as intake received it.
    pub fn into_incoming(self) -> crate::domain::IncomingLine {
        crate::domain::IncomingLine {
            platform_line_id: self.platform_line_id,
            platform_item_id: self.platform_item_id,
            platform_sku_id: self.platform_sku_id,
            sku_code: self.sku_code,
            title: self.title,
            quantity: self.quantity,
            unit_price_minor: self.unit_price_minor,
            total_minor: self.total_minor,
            platform_status: self.platform_status,
        }
    }
}

/// Filters of the order list; every field narrows it.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub store_id: Option<i64>,
    pub platform_status: Option<PlatformStatus>,
    pub workflow_state: Option<WorkflowState>,
    /// Keyset pagination: only orders with an id below this one.
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl WriteTx {
    pub async fn find_order(&mut self, store_id: i64, platform_order_id: &str) -> anyhow::Result<Option<StoredState>> {
        let row = sqlx::query(
            "SELECT id, platform_status, workflow_state, modified_at FROM orders \
             WHERE store_id = $1 AND platform_order_id = $2",
        )
        .bind(store_id)
        .bind(platform_order_id)
        .fetch_optional(&mut *self.tx)
        .await
        .context("failed to look up order")?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("platform_status")?;
        let workflow: String = row.try_get("workflow_state")?;
        Ok(Some(StoredState {
            id: row.try_get("id")?,
            platform_status: status.parse()?,
            workflow_state: workflow.parse()?,
            modified_at: row.try_get("modified_at")?,
        }))
    }

    /// Counts the buyer's other orders in the store, for rules that treat new buyers differently.
    pub async fn buyer_previous_orders(&mut self, store_id: i64, order: &IncomingOrder) -> anyhow::Result<i64> {
        if order.buyer_nick.is_empty() {
            return Ok(0);
        }
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM orders WHERE store_id = $1 AND buyer_nick = $2 AND platform_order_id <> $3 \
             AND created_at < $4",
        )
        .bind(store_id)
        .bind(&order.buyer_nick)
        .bind(&order.platform_order_id)
        .bind(order.created_at_ms)
        .fetch_one(&mut *self.tx)
        .await
        .context("failed to count the buyer's orders")?;
        Ok(row.try_get("n")?)
    }

    pub async fn insert_order(
        &mut self,
        order: &IncomingOrder,
        from: &Provenance<'_>,
        workflow: WorkflowState,
        decisions: &Decisions,
    ) -> anyhow::Result<i64> {
        let now = crate::now_ms();
        let decided_at = decisions_made(decisions).then_some(now);
        let id: i64 = sqlx::query(
            "INSERT INTO orders (store_id, platform_order_id, platform_status, platform_status_raw, \
             workflow_state, currency, goods_minor, shipping_minor, paid_minor, buyer_nick, buyer_remark, \
             seller_remark, receiver_name, receiver_phone, receiver_province, receiver_city, \
             receiver_district, receiver_street, receiver_zip, created_at, modified_at, paid_at, \
             raw_payload, plugin_id, plugin_version, warehouse_code, allocation_reason, \
             allocation_rule_version, review_decision, review_reason, review_rule_version, \
             exception_reason, decided_at, first_seen_at, updated_at) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
             $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $34) RETURNING id",
        )
        .bind(from.store_id)
        .bind(&order.platform_order_id)
        .bind(order.status.as_str())
        .bind(&order.platform_status)
        .bind(workflow.as_str())
        .bind(&order.currency)
        .bind(order.goods_minor)
        .bind(order.shipping_minor)
        .bind(order.paid_minor)
        .bind(&order.buyer_nick)
        .bind(&order.buyer_remark)
        .bind(&order.seller_remark)
        .bind(&order.receiver.name)
        .bind(&order.receiver.phone)
        .bind(&order.receiver.province)
        .bind(&order.receiver.city)
        .bind(&order.receiver.district)
        .bind(&order.receiver.street)
        .bind(&order.receiver.zip)
        .bind(order.created_at_ms)
        .bind(order.modified_at_ms)
        .bind(order.paid_at_ms)
        .bind(&order.raw)
        .bind(from.plugin_id)
        .bind(from.plugin_version)
        .bind(&decisions.warehouse_code)
        .bind(&decisions.allocation_reason)
        .bind(decisions.allocation_rule_version)
        .bind(&decisions.review_decision)
        .bind(&decisions.review_reason)
        .bind(decisions.review_rule_version)
        .bind(&decisions.exception_reason)
        .bind(decided_at)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await
        .with_context(|| format!("failed to insert order {:?}", order.platform_order_id))?
        .try_get("id")?;
        self.upsert_lines(id, order, false).await?;
        Ok(id)
    }

    /// Applies a newer version of an order from the platform. Decisions are written only when
    /// `decisions` is given, so an update never undoes work done on the order.
    pub async fn update_order(
        &mut self,
        id: i64,
        order: &IncomingOrder,
        from: &Provenance<'_>,
        decided: Option<(WorkflowState, &Decisions)>,
    ) -> anyhow::Result<()> {
        let now = crate::now_ms();
        sqlx::query(
            "UPDATE orders SET platform_status = $1, platform_status_raw = $2, currency = $3, \
             goods_minor = $4, shipping_minor = $5, paid_minor = $6, buyer_nick = $7, buyer_remark = $8, \
             seller_remark = $9, receiver_name = $10, receiver_phone = $11, receiver_province = $12, \
             receiver_city = $13, receiver_district = $14, receiver_street = $15, receiver_zip = $16, \
             created_at = $17, modified_at = $18, paid_at = $19, raw_payload = $20, plugin_id = $21, \
             plugin_version = $22, updated_at = $23 WHERE id = $24",
        )
        .bind(order.status.as_str())
        .bind(&order.platform_status)
        .bind(&order.currency)
        .bind(order.goods_minor)
        .bind(order.shipping_minor)
        .bind(order.paid_minor)
        .bind(&order.buyer_nick)
        .bind(&order.buyer_remark)
        .bind(&order.seller_remark)
        .bind(&order.receiver.name)
        .bind(&order.receiver.phone)
        .bind(&order.receiver.province)
        .bind(&order.receiver.city)
        .bind(&order.receiver.district)
        .bind(&order.receiver.street)
        .bind(&order.receiver.zip)
        .bind(order.created_at_ms)
        .bind(order.modified_at_ms)
        .bind(order.paid_at_ms)
        .bind(&order.raw)
        .bind(from.plugin_id)
        .bind(from.plugin_version)
        .bind(now)
        .bind(id)
        .execute(&mut *self.tx)
        .await
        .with_context(|| format!("failed to update order {:?}", order.platform_order_id))?;
        if let Some((workflow, decisions)) = decided {
            self.set_decisions(id, workflow, decisions).await?;
        }
        self.upsert_lines(id, order, true).await
    }

    /// Moves a stored order to the exception list with `reason`, keeping its other decisions.
    pub async fn mark_exception(&mut self, id: i64, reason: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE orders SET workflow_state = 'exception', exception_reason = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(reason)
            .bind(crate::now_ms())
            .execute(&mut *self.tx)
            .await
            .context("failed to move order to the exception list")?;
        Ok(())
    }

    /// Writes the rule decisions and workflow state of a stored order.
    pub async fn set_decisions(&mut self, id: i64, workflow: WorkflowState, decisions: &Decisions) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE orders SET workflow_state = $1, warehouse_code = $2, allocation_reason = $3, \
             allocation_rule_version = $4, review_decision = $5, review_reason = $6, \
             review_rule_version = $7, exception_reason = $8, decided_at = $9, updated_at = $11 WHERE id = $10",
        )
        .bind(workflow.as_str())
        .bind(&decisions.warehouse_code)
        .bind(&decisions.allocation_reason)
        .bind(decisions.allocation_rule_version)
        .bind(&decisions.review_decision)
        .bind(&decisions.review_reason)
        .bind(decisions.review_rule_version)
        .bind(&decisions.exception_reason)
        .bind(decisions_made(decisions).then_some(crate::now_ms()))
        .bind(id)
        .bind(crate::now_ms())
        .execute(&mut *self.tx)
        .await
        .context("failed to store order decisions")?;
        Ok(())
    }

    async fn upsert_lines(&mut self, order_id: i64, order: &IncomingOrder, existing: bool) -> anyhow::Result<()> {
        let now = crate::now_ms();
        // Lines the platform dropped go too, unless stock was ever reserved for them (their
        // reservation rows keep the ledger's history). A new order has no earlier lines.
        let kept: Vec<String> = order.lines.iter().map(|line| line.platform_line_id.clone()).collect();
        let earlier = if existing { self.order_line_ids(order_id).await? } else { Vec::new() };
        for (id, platform_line_id) in earlier {
            if !kept.contains(&platform_line_id) {
                sqlx::query("DELETE FROM order_lines WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.order_line_id = $1)")
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .context("failed to remove a dropped order line")?;
            }
        }
        for (index, line) in order.lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, platform_line_id, platform_item_id, \
                 platform_sku_id, sku_code, title, quantity, unit_price_minor, total_minor, platform_status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (order_id, platform_line_id) DO UPDATE SET line_no = excluded.line_no, \
                 platform_item_id = excluded.platform_item_id, platform_sku_id = excluded.platform_sku_id, \
                 sku_code = excluded.sku_code, title = excluded.title, quantity = excluded.quantity, \
                 unit_price_minor = excluded.unit_price_minor, total_minor = excluded.total_minor, \
                 platform_status = excluded.platform_status",
            )
            .bind(order_id)
            .bind(index as i64 + 1)
            .bind(&line.platform_line_id)
            .bind(&line.platform_item_id)
            .bind(&line.platform_sku_id)
            .bind(&line.sku_code)
            .bind(&line.title)
            .bind(line.quantity)
            .bind(line.unit_price_minor)
            .bind(line.total_minor)
            .bind(&line.platform_status)
            .execute(&mut *self.tx)
            .await
            .with_context(|| format!("failed to store line {:?} of order {:?}", line.platform_line_id, order.platform_order_id))?;
            if !line.sku_code.is_empty() && self.skus_seen.insert(line.sku_code.clone()) {
                sqlx::query("INSERT INTO skus (code, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
                    .bind(&line.sku_code)
                    .bind(&line.title)
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await
                    .context("failed to record SKU")?;
            }
        }
        Ok(())
    }
}

fn decisions_made(decisions: &Decisions) -> bool {
    decisions.review_decision.is_some() || decisions.exception_reason.is_some()
}

const SUMMARY_COLUMNS: &str = "o.id, o.store_id, s.name AS store_name, o.platform_order_id, o.platform_status, \
    o.platform_status_raw, o.workflow_state, o.currency, o.goods_minor, o.shipping_minor, o.paid_minor, \
    o.buyer_nick, o.buyer_remark, o.receiver_name, o.receiver_province, o.receiver_city, o.created_at, \
    o.modified_at, o.paid_at, o.warehouse_code, o.allocation_reason, o.allocation_rule_version, \
    o.review_decision, o.review_reason, o.review_rule_version, o.exception_reason, o.plugin_id, \
    o.plugin_version, o.decided_at, \
    (SELECT COUNT(*) FROM order_lines l WHERE l.order_id = o.id) AS line_count";

fn summary_from_row(row: &sqlx::any::AnyRow) -> anyhow::Result<OrderSummary> {
    Ok(OrderSummary {
        id: row.try_get("id")?,
        store_id: row.try_get("store_id")?,
        store_name: row.try_get("store_name")?,
        platform_order_id: row.try_get("platform_order_id")?,
        platform_status: row.try_get("platform_status")?,
        platform_status_raw: row.try_get("platform_status_raw")?,
        workflow_state: row.try_get("workflow_state")?,
        currency: row.try_get("currency")?,
        goods_minor: row.try_get("goods_minor")?,
        shipping_minor: row.try_get("shipping_minor")?,
        paid_minor: row.try_get("paid_minor")?,
        buyer_nick: row.try_get("buyer_nick")?,
        buyer_remark: row.try_get("buyer_remark")?,
        receiver_name: row.try_get("receiver_name")?,
        receiver_province: row.try_get("receiver_province")?,
        receiver_city: row.try_get("receiver_city")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
        paid_at: row.try_get("paid_at")?,
        warehouse_code: row.try_get("warehouse_code")?,
        allocation_reason: row.try_get("allocation_reason")?,
        allocation_rule_version: row.try_get("allocation_rule_version")?,
        review_decision: row.try_get("review_decision")?,
        review_reason: row.try_get("review_reason")?,
        review_rule_version: row.try_get("review_rule_version")?,
        exception_reason: row.try_get("exception_reason")?,
        plugin_id: row.try_get("plugin_id")?,
        plugin_version: row.try_get("plugin_version")?,
        decided_at: row.try_get("decided_at")?,
        line_count: row.try_get("line_count")?,
    })
}

impl Db {
    /// Lists orders newest first; pass the last id of a page as `before_id` for the next.
    pub async fn list_orders(&self, filter: &OrderFilter) -> anyhow::Result<Vec<OrderSummary>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM orders o JOIN stores s ON s.id = o.store_id \
             WHERE ($1 = 0 OR o.store_id = $2) AND ($3 = '' OR o.platform_status = $3) \
             AND ($4 = '' OR o.workflow_state = $4) AND o.id < $5 ORDER BY o.id DESC LIMIT $6"
        ))
        .bind(i64::from(filter.store_id.is_some()))
        .bind(filter.store_id.unwrap_or(0))
        .bind(filter.platform_status.map(|s| s.as_str()).unwrap_or(""))
        .bind(filter.workflow_state.map(|s| s.as_str()).unwrap_or(""))
        .bind(filter.before_id.unwrap_or(i64::MAX))
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await
        .context("failed to list orders")?;
        rows.iter().map(summary_from_row).collect()
    }

    pub async fn order_detail(&self, id: i64) -> anyhow::Result<Option<OrderDetail>> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS}, o.seller_remark, o.receiver_phone, o.receiver_district, \
             o.receiver_street, o.receiver_zip, o.raw_payload, o.split_rule_version FROM orders o JOIN stores s ON s.id = o.store_id \
             WHERE o.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context("failed to load order")?;
        let Some(row) = row else { return Ok(None) };
        let raw: String = row.try_get("raw_payload")?;
        Ok(Some(OrderDetail {
            summary: summary_from_row(&row)?,
            seller_remark: row.try_get("seller_remark")?,
            receiver_phone: row.try_get("receiver_phone")?,
            receiver_district: row.try_get("receiver_district")?,
            receiver_street: row.try_get("receiver_street")?,
            receiver_zip: row.try_get("receiver_zip")?,
            raw_payload: serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw)),
            lines: self.order_lines(id).await?,
            shipments: self.order_shipments(id).await?,
            split_rule_version: row.try_get("split_rule_version")?,
        }))
    }

    pub async fn order_shipments(&self, order_id: i64) -> anyhow::Result<Vec<ShipmentRow>> {
        let rows = sqlx::query("SELECT parcel_no, warehouse_code, line_positions, reason FROM shipments WHERE order_id = $1 ORDER BY parcel_no")
            .bind(order_id)
            .fetch_all(self.pool())
            .await
            .context("failed to load shipments")?;
        rows.iter()
            .map(|row| {
                let positions: String = row.try_get("line_positions")?;
                Ok(ShipmentRow {
                    parcel_no: row.try_get("parcel_no")?,
                    warehouse_code: row.try_get("warehouse_code")?,
                    line_positions: serde_json::from_str(&positions).context("stored line positions are not valid JSON")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect()
    }

    pub async fn order_lines(&self, order_id: i64) -> anyhow::Result<Vec<StoredLine>> {
        let rows = sqlx::query(
            "SELECT line_no, platform_line_id, platform_item_id, platform_sku_id, sku_code, title, quantity, \
             unit_price_minor, total_minor, platform_status FROM order_lines WHERE order_id = $1 ORDER BY line_no",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await
        .context("failed to load order lines")?;
        rows.iter()
            .map(|row| {
                Ok(StoredLine {
                    line_no: row.try_get("line_no")?,
                    platform_line_id: row.try_get("platform_line_id")?,
                    platform_item_id: row.try_get("platform_item_id")?,
                    platform_sku_id: row.try_get("platform_sku_id")?,
                    sku_code: row.try_get("sku_code")?,
                    title: row.try_get("title")?,
                    quantity: row.try_get("quantity")?,
                    unit_price_minor: row.try_get("unit_price_minor")?,
                    total_minor: row.try_get("total_minor")?,
                    platform_status: row.try_get("platform_status")?,
                })
            })
            .collect()
    }

    /// Counts orders per workflow state.
    pub async fn count_by_workflow(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT workflow_state, COUNT(*) AS n FROM orders GROUP BY workflow_state")
            .fetch_all(self.pool())
            .await
            .context("failed to count orders")?;
        rows.iter().map(|row| Ok((row.try_get("workflow_state")?, row.try_get("n")?))).collect()
    }
}

/// A stored order rebuilt as intake received it (without its raw payload), for a retry.
pub struct StoredOrder {
    pub id: i64,
    pub store_id: i64,
    pub workflow_state: WorkflowState,
    pub plugin_id: String,
    pub plugin_version: String,
    pub order: IncomingOrder,
}

impl Db {
    pub async fn stored_order(&self, id: i64) -> anyhow::Result<Option<StoredOrder>> {
        let row = sqlx::query(
            "SELECT id, store_id, workflow_state, plugin_id, plugin_version, platform_order_id, platform_status, \
             platform_status_raw, currency, goods_minor, shipping_minor, paid_minor, buyer_nick, buyer_remark, seller_remark, \
             receiver_name, receiver_phone, receiver_province, receiver_city, receiver_district, receiver_street, \
             receiver_zip, created_at, modified_at, paid_at FROM orders WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context("failed to load order")?;
        let Some(row) = row else { return Ok(None) };
        let lines = self.order_lines(id).await?.into_iter().map(StoredLine::into_incoming).collect();
        let workflow: String = row.try_get("workflow_state")?;
        Ok(Some(StoredOrder {
            id,
            store_id: row.try_get("store_id")?,
            workflow_state: workflow.parse()?,
            plugin_id: row.try_get("plugin_id")?,
            plugin_version: row.try_get("plugin_version")?,
            order: incoming_from_row(&row, lines)?,
        }))
    }

    /// Returns the latest orders that rules decided, rebuilt as rules saw them, with their
    /// store's name and platform, newest first.
    pub async fn recent_decided_orders(&self, limit: i64) -> anyhow::Result<Vec<(String, String, IncomingOrder, i64)>> {
        let rows = sqlx::query(
            "SELECT o.id, s.name AS store_name, s.platform, o.platform_order_id, o.platform_status, o.platform_status_raw, \
             o.currency, o.goods_minor, o.shipping_minor, o.paid_minor, o.buyer_nick, o.buyer_remark, o.seller_remark, \
             o.receiver_name, o.receiver_phone, o.receiver_province, o.receiver_city, o.receiver_district, \
             o.receiver_street, o.receiver_zip, o.created_at, o.modified_at, o.paid_at, \
             (SELECT COUNT(*) FROM orders p WHERE p.store_id = o.store_id AND p.buyer_nick = o.buyer_nick \
              AND p.buyer_nick <> '' AND p.id <> o.id AND p.created_at < o.created_at) AS previous_orders FROM orders o \
             JOIN stores s ON s.id = o.store_id WHERE o.decided_at IS NOT NULL ORDER BY o.id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .context("failed to load recent orders")?;
        let mut orders = Vec::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let lines = self.order_lines(id).await?.into_iter().map(StoredLine::into_incoming).collect();
            let order = incoming_from_row(row, lines)?;
            orders.push((row.try_get("store_name")?, row.try_get("platform")?, order, row.try_get("previous_orders")?));
        }
        Ok(orders)
    }
}

fn incoming_from_row(row: &sqlx::any::AnyRow, lines: Vec<crate::domain::IncomingLine>) -> anyhow::Result<IncomingOrder> {
    let status: String = row.try_get("platform_status")?;
    Ok(IncomingOrder {
        platform_order_id: row.try_get("platform_order_id")?,
        status: status.parse()?,
        platform_status: row.try_get("platform_status_raw")?,
        currency: row.try_get("currency")?,
        goods_minor: row.try_get("goods_minor")?,
        shipping_minor: row.try_get("shipping_minor")?,
        paid_minor: row.try_get("paid_minor")?,
        buyer_nick: row.try_get("buyer_nick")?,
        buyer_remark: row.try_get("buyer_remark")?,
        seller_remark: row.try_get("seller_remark")?,
        receiver: crate::domain::Address {
            name: row.try_get("receiver_name")?,
            phone: row.try_get("receiver_phone")?,
            province: row.try_get("receiver_province")?,
            city: row.try_get("receiver_city")?,
            district: row.try_get("receiver_district")?,
            street: row.try_get("receiver_street")?,
            zip: row.try_get("receiver_zip")?,
        },
        created_at_ms: row.try_get("created_at")?,
        modified_at_ms: row.try_get("modified_at")?,
        paid_at_ms: row.try_get("paid_at")?,
        lines,
        raw: String::new(),
    })
}

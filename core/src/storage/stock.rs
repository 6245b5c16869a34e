//! Stock storage: the movement ledger, the levels derived from it, reservations, store listings
//! and offers.
//!
//! Every change of a level goes through [`WriteTx::apply_movement`], which writes the movement
//! row and updates the level in the same transaction, and rejects a change that would take
//! on-hand below reserved or reserved below zero. The table's CHECK constraint backs this up.
//! Callers first lock the SKUs they change with [`WriteTx::lock_skus`].

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::{Db, WriteTx};

/// Kinds of ledger rows. Each changes on-hand, reserved or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// An order line took stock: reserved +q.
    Reserved,
    /// A cancelled, closed or refunded line gave it back: reserved −q.
    Released,
    /// A reserved line left the warehouse: on-hand −q, reserved −q.
    Shipped,
    /// Goods came back from a buyer: on-hand +q.
    Returned,
    /// A person corrected on-hand, with a reason.
    Adjustment,
    /// Goods received from a supplier: on-hand +q.
    Receipt,
    /// A count set on-hand to what was found; the row contains the difference.
    Stocktake,
    /// Goods moved between warehouses: one row out, one row in.
    TransferOut,
    TransferIn,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Reserved => "reserved",
            MovementKind::Released => "released",
            MovementKind::Shipped => "shipped",
            MovementKind::Returned => "returned",
            MovementKind::Adjustment => "adjustment",
            MovementKind::Receipt => "receipt",
            MovementKind::Stocktake => "stocktake",
            MovementKind::TransferOut => "transfer_out",
            MovementKind::TransferIn => "transfer_in",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Movement<'a> {
    pub sku_id: i64,
    pub warehouse_id: i64,
    pub kind: MovementKind,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub order_id: Option<i64>,
    pub order_line_id: Option<i64>,
    pub reason: &'a str,
    pub actor: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Level {
    pub warehouse_id: i64,
    pub on_hand: i64,
    pub reserved: i64,
}

impl Level {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// A SKU an order line resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkuRef {
    pub id: i64,
    pub code: String,
    pub tracked: bool,
    pub weight_grams: i64,
    pub presale: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub order_line_id: i64,
    pub sku_id: i64,
    pub warehouse_id: i64,
    pub quantity: i64,
    pub state: String,
}

/// One store that lists a SKU, with the facts the share computation uses.
#[derive(Clone, Debug)]
pub struct OfferTarget {
    pub store_id: i64,
    pub store_name: String,
    pub platform: String,
    /// Warehouses the store sells from; empty means all.
    pub warehouse_ids: Vec<i64>,
    pub adjustment: i64,
    pub sales_7d: i64,
}

/// One listing to tell a store's platform about.
#[derive(Clone, Debug)]
pub struct DueOffer {
    pub sku_id: i64,
    pub sku_code: String,
    pub offered: i64,
    pub revision: i64,
    pub attempts: i64,
    pub listings: Vec<(String, String)>,
}

impl WriteTx {
    /// Locks the SKUs (in id order, so concurrent transactions cannot deadlock) and bumps their
    /// stock revision. On PostgreSQL the row lock makes every other stock change of these SKUs
    /// wait for this transaction; on SQLite writers are serialised already.
    pub async fn lock_skus(&mut self, sku_ids: &[i64]) -> anyhow::Result<()> {
        let mut ids = sku_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            sqlx::query("UPDATE skus SET stock_revision = stock_revision + 1 WHERE id = $1")
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .context("failed to lock SKU")?;
        }
        Ok(())
    }

    /// Finds the SKU an order line sells: the store's listing mapping first, then the line's
    /// SKU code.
    pub async fn resolve_line_sku(
        &mut self,
        store_id: i64,
        platform_item_id: &str,
        platform_sku_id: &str,
        sku_code: &str,
    ) -> anyhow::Result<Option<SkuRef>> {
        let mapped = sqlx::query(
            "SELECT k.id, k.code, k.stock_tracked, k.weight_grams, k.presale FROM store_listings l JOIN skus k ON k.id = l.sku_id \
             WHERE l.store_id = $1 AND l.platform_item_id = $2 AND l.platform_sku_id = $3",
        )
        .bind(store_id)
        .bind(platform_item_id)
        .bind(platform_sku_id)
        .fetch_optional(&mut *self.tx)
        .await
        .context("failed to look up listing mapping")?;
        let row = match mapped {
            Some(row) => Some(row),
            None if !sku_code.is_empty() => sqlx::query("SELECT id, code, stock_tracked, weight_grams, presale FROM skus WHERE code = $1")
                .bind(sku_code)
                .fetch_optional(&mut *self.tx)
                .await
                .context("failed to look up SKU code")?,
            None => None,
        };
        row.map(|row| {
            Ok(SkuRef {
                id: row.try_get("id")?,
                code: row.try_get("code")?,
                tracked: row.try_get::<i64, _>("stock_tracked")? != 0,
                weight_grams: row.try_get("weight_grams")?,
                presale: row.try_get::<i64, _>("presale")? != 0,
            })
        })
        .transpose()
    }

    /// Units of a SKU that a store's orders reserved since `since_ms`, released ones excepted.
    pub async fn store_sales(&mut self, store_id: i64, sku_id: i64, since_ms: i64) -> anyhow::Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS n FROM reservations WHERE sku_id = $1 AND store_id = $2 \
             AND created_at >= $3 AND state <> 'released'",
        )
        .bind(sku_id)
        .bind(store_id)
        .bind(since_ms)
        .fetch_one(&mut *self.tx)
        .await
        .context("failed to count recent sales")?;
        Ok(row.try_get("n")?)
    }

    pub async fn sku_levels(&mut self, sku_id: i64) -> anyhow::Result<Vec<Level>> {
        let rows = sqlx::query("SELECT warehouse_id, on_hand, reserved FROM stock_levels WHERE sku_id = $1 ORDER BY warehouse_id")
            .bind(sku_id)
            .fetch_all(&mut *self.tx)
            .await
            .context("failed to read stock levels")?;
        rows.iter()
            .map(|row| Ok(Level { warehouse_id: row.try_get("warehouse_id")?, on_hand: row.try_get("on_hand")?, reserved: row.try_get("reserved")? }))
            .collect()
    }

    /// Applies one movement to its level and records it; returns false, changing nothing, when
    /// it would leave on-hand below reserved or reserved below zero.
    pub async fn apply_movement(&mut self, movement: &Movement<'_>) -> anyhow::Result<bool> {
        let now = crate::now_ms();
        sqlx::query(
            "INSERT INTO stock_levels (sku_id, warehouse_id, on_hand, reserved, updated_at) VALUES ($1, $2, 0, 0, $3) \
             ON CONFLICT (sku_id, warehouse_id) DO NOTHING",
        )
        .bind(movement.sku_id)
        .bind(movement.warehouse_id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .context("failed to create stock level")?;
        let changed = sqlx::query(
            "UPDATE stock_levels SET on_hand = on_hand + $3, reserved = reserved + $4, updated_at = $5 \
             WHERE sku_id = $1 AND warehouse_id = $2 AND on_hand + $3 >= reserved + $4 AND reserved + $4 >= 0",
        )
        .bind(movement.sku_id)
        .bind(movement.warehouse_id)
        .bind(movement.on_hand_delta)
        .bind(movement.reserved_delta)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .context("failed to update stock level")?;
        if changed.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO stock_movements (sku_id, warehouse_id, kind, on_hand_delta, reserved_delta, order_id, \
             order_line_id, reason, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(movement.sku_id)
        .bind(movement.warehouse_id)
        .bind(movement.kind.as_str())
        .bind(movement.on_hand_delta)
        .bind(movement.reserved_delta)
        .bind(movement.order_id)
        .bind(movement.order_line_id)
        .bind(movement.reason)
        .bind(movement.actor)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .context("failed to record stock movement")?;
        sqlx::query("UPDATE skus SET stock_tracked = 1 WHERE id = $1 AND stock_tracked = 0")
            .bind(movement.sku_id)
            .execute(&mut *self.tx)
            .await
            .context("failed to mark SKU as stock-managed")?;
        Ok(true)
    }

    /// Records a reservation of an order line; returns false when the line already has one, so
    /// a repeated delivery of the same order reserves once.
    pub async fn insert_reservation(
        &mut self,
        order_line_id: i64,
        order_id: i64,
        store_id: i64,
        sku_id: i64,
        warehouse_id: i64,
        quantity: i64,
    ) -> anyhow::Result<bool> {
        let now = crate::now_ms();
        let done = sqlx::query(
            "INSERT INTO reservations (order_line_id, order_id, store_id, sku_id, warehouse_id, quantity, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'reserved', $7, $7) ON CONFLICT (order_line_id) DO NOTHING",
        )
        .bind(order_line_id)
        .bind(order_id)
        .bind(store_id)
        .bind(sku_id)
        .bind(warehouse_id)
        .bind(quantity)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .context("failed to record reservation")?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn order_reservations(&mut self, order_id: i64) -> anyhow::Result<Vec<Reservation>> {
        let rows = sqlx::query(
            "SELECT order_line_id, sku_id, warehouse_id, quantity, state FROM reservations WHERE order_id = $1 ORDER BY order_line_id",
        )
        .bind(order_id)
        .fetch_all(&mut *self.tx)
        .await
        .context("failed to read reservations")?;
        rows.iter()
            .map(|row| {
                Ok(Reservation {
                    order_line_id: row.try_get("order_line_id")?,
                    sku_id: row.try_get("sku_id")?,
                    warehouse_id: row.try_get("warehouse_id")?,
                    quantity: row.try_get("quantity")?,
                    state: row.try_get("state")?,
                })
            })
            .collect()
    }

    /// Moves a reservation from `reserved` to `state`; returns false when it was not reserved.
    pub async fn close_reservation(&mut self, order_line_id: i64, state: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("UPDATE reservations SET state = $2, updated_at = $3 WHERE order_line_id = $1 AND state = 'reserved'")
            .bind(order_line_id)
            .bind(state)
            .bind(crate::now_ms())
            .execute(&mut *self.tx)
            .await
            .context("failed to update reservation")?;
        Ok(done.rows_affected() == 1)
    }

    /// Lines of a stored order with their ids, in line order.
    pub async fn order_line_ids(&mut self, order_id: i64) -> anyhow::Result<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT id, platform_line_id FROM order_lines WHERE order_id = $1 ORDER BY line_no")
            .bind(order_id)
            .fetch_all(&mut *self.tx)
            .await
            .context("failed to read order lines")?;
        rows.iter().map(|row| Ok((row.try_get("id")?, row.try_get("platform_line_id")?))).collect()
    }

    /// Returns the stores that list a SKU, with the facts the share rule needs about each.
    pub async fn offer_targets(&mut self, sku_id: i64, since_ms: i64) -> anyhow::Result<Vec<OfferTarget>> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, s.platform, COALESCE(o.adjustment, 0) AS adjustment, \
             CAST(COALESCE((SELECT SUM(r.quantity) FROM reservations r WHERE r.sku_id = l.sku_id AND r.store_id = s.id \
             AND r.created_at >= $2 AND r.state <> 'released'), 0) AS BIGINT) AS sales \
             FROM (SELECT DISTINCT store_id, sku_id FROM store_listings WHERE sku_id = $1) l JOIN stores s ON s.id = l.store_id \
             LEFT JOIN stock_offers o ON o.store_id = s.id AND o.sku_id = l.sku_id ORDER BY s.id",
        )
        .bind(sku_id)
        .bind(since_ms)
        .fetch_all(&mut *self.tx)
        .await
        .context("failed to read the stores listing a SKU")?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Few stores restrict their warehouses, so one read of the whole table serves them all.
        let restricted = sqlx::query("SELECT store_id, warehouse_id FROM store_warehouses ORDER BY store_id, warehouse_id")
            .fetch_all(&mut *self.tx)
            .await
            .context("failed to read store warehouses")?;
        let mut warehouses: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for row in &restricted {
            warehouses.entry(row.try_get("store_id")?).or_default().push(row.try_get("warehouse_id")?);
        }
        rows.iter()
            .map(|row| {
                let store_id: i64 = row.try_get("id")?;
                Ok(OfferTarget {
                    store_id,
                    store_name: row.try_get("name")?,
                    platform: row.try_get("platform")?,
                    warehouse_ids: warehouses.remove(&store_id).unwrap_or_default(),
                    adjustment: row.try_get("adjustment")?,
                    sales_7d: row.try_get("sales")?,
                })
            })
            .collect()
    }

    /// Stores a newly computed offer. An unchanged offer leaves the row alone. A changed one bumps
    /// the revision and is pending unless that quantity was already pushed to the store.
    pub async fn set_offer(&mut self, store_id: i64, sku_id: i64, offered: i64) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO stock_offers (store_id, sku_id, offered, revision, pending, updated_at) VALUES ($1, $2, $3, 1, 1, $4) \
             ON CONFLICT (store_id, sku_id) DO UPDATE SET offered = excluded.offered, revision = stock_offers.revision + 1, \
             pending = CASE WHEN stock_offers.pushed_quantity IS NOT NULL AND stock_offers.pushed_quantity = excluded.offered \
             THEN 0 ELSE 1 END, attempts = 0, updated_at = excluded.updated_at \
             WHERE stock_offers.offered <> excluded.offered",
        )
        .bind(store_id)
        .bind(sku_id)
        .bind(offered)
        .bind(crate::now_ms())
        .execute(&mut *self.tx)
        .await
        .context("failed to store stock offer")?;
        Ok(())
    }

    /// Records why an offer could not be computed (a failing stock-share rule), or clears it.
    pub async fn set_offer_rule_error(&mut self, store_id: i64, sku_id: i64, error: Option<&str>) -> anyhow::Result<()> {
        sqlx::query("UPDATE stock_offers SET rule_error = $3 WHERE store_id = $1 AND sku_id = $2")
            .bind(store_id)
            .bind(sku_id)
            .bind(error.map(|text| crate::domain::truncate_chars(text, 1_000)))
            .execute(&mut *self.tx)
            .await
            .context("failed to record stock-share rule error")?;
        Ok(())
    }

    /// Stores (or refreshes) a listing pulled from a store and maps it to the SKU with its code,
    /// creating that SKU when the code is new. A listing mapped by hand keeps its mapping.
    pub async fn upsert_listing(
        &mut self,
        store_id: i64,
        item_id: &str,
        sku_id_on_platform: &str,
        sku_code: &str,
        title: &str,
        sku_name: &str,
        platform_quantity: i64,
    ) -> anyhow::Result<Option<i64>> {
        let now = crate::now_ms();
        let sku_id: Option<i64> = if sku_code.is_empty() {
            None
        } else {
            sqlx::query("INSERT INTO skus (code, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
                .bind(sku_code)
                .bind(if sku_name.is_empty() { title.to_owned() } else { format!("{title} {sku_name}") })
                .bind(now)
                .execute(&mut *self.tx)
                .await
                .context("failed to create SKU from listing")?;
            let row = sqlx::query("SELECT id FROM skus WHERE code = $1").bind(sku_code).fetch_one(&mut *self.tx).await?;
            Some(row.try_get("id")?)
        };
        sqlx::query(
            "INSERT INTO store_listings (store_id, platform_item_id, platform_sku_id, sku_code, title, sku_name, \
             platform_quantity, sku_id, pulled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (store_id, platform_item_id, platform_sku_id) DO UPDATE SET sku_code = excluded.sku_code, \
             title = excluded.title, sku_name = excluded.sku_name, platform_quantity = excluded.platform_quantity, \
             pulled_at = excluded.pulled_at, sku_id = COALESCE(store_listings.sku_id, excluded.sku_id)",
        )
        .bind(store_id)
        .bind(item_id)
        .bind(sku_id_on_platform)
        .bind(sku_code)
        .bind(title)
        .bind(sku_name)
        .bind(platform_quantity)
        .bind(sku_id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .context("failed to store listing")?;
        let row = sqlx::query("SELECT sku_id FROM store_listings WHERE store_id = $1 AND platform_item_id = $2 AND platform_sku_id = $3")
            .bind(store_id)
            .bind(item_id)
            .bind(sku_id_on_platform)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.try_get("sku_id")?)
    }

    /// Maps a listing to a SKU by hand; returns false when the store has no such listing and no
    /// order ever sold it.
    pub async fn map_listing(&mut self, store_id: i64, item_id: &str, platform_sku_id: &str, sku_id: i64) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE store_listings SET sku_id = $4 WHERE store_id = $1 AND platform_item_id = $2 AND platform_sku_id = $3",
        )
        .bind(store_id)
        .bind(item_id)
        .bind(platform_sku_id)
        .bind(sku_id)
        .execute(&mut *self.tx)
        .await
        .context("failed to map listing")?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        let sold: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.store_id = $1 \
             AND l.platform_item_id = $2 AND l.platform_sku_id = $3",
        )
        .bind(store_id)
        .bind(item_id)
        .bind(platform_sku_id)
        .fetch_one(&mut *self.tx)
        .await?;
        if sold == 0 {
            return Ok(false);
        }
        // A listing seen only in orders (no product pull yet) gets its row now.
        sqlx::query(
            "INSERT INTO store_listings (store_id, platform_item_id, platform_sku_id, sku_code, title, sku_name, \
             platform_quantity, sku_id, pulled_at) VALUES ($1, $2, $3, '', '', '', 0, $4, $5)",
        )
        .bind(store_id)
        .bind(item_id)
        .bind(platform_sku_id)
        .bind(sku_id)
        .bind(crate::now_ms())
        .execute(&mut *self.tx)
        .await
        .context("failed to map listing")?;
        Ok(true)
    }

    pub async fn set_offer_adjustment(&mut self, store_id: i64, sku_id: i64, adjustment: i64) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO stock_offers (store_id, sku_id, offered, adjustment, revision, pending, updated_at) \
             VALUES ($1, $2, 0, $3, 0, 1, $4) ON CONFLICT (store_id, sku_id) DO UPDATE SET adjustment = excluded.adjustment",
        )
        .bind(store_id)
        .bind(sku_id)
        .bind(adjustment)
        .bind(crate::now_ms())
        .execute(&mut *self.tx)
        .await
        .context("failed to store offer adjustment")?;
        Ok(())
    }

    /// Replaces the parcels planned for an order and records the split rule version.
    pub async fn replace_shipments(&mut self, order_id: i64, split: &crate::rules::Split) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM shipments WHERE order_id = $1").bind(order_id).execute(&mut *self.tx).await.context("failed to clear shipments")?;
        for (number, shipment) in split.shipments.iter().enumerate() {
            sqlx::query(
                "INSERT INTO shipments (order_id, parcel_no, warehouse_code, line_positions, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(order_id)
            .bind(number as i64 + 1)
            .bind(&shipment.warehouse_code)
            .bind(serde_json::to_string(&shipment.lines)?)
            .bind(&shipment.reason)
            .bind(crate::now_ms())
            .execute(&mut *self.tx)
            .await
            .context("failed to store shipment")?;
        }
        sqlx::query("UPDATE orders SET split_rule_version = $2 WHERE id = $1")
            .bind(order_id)
            .bind(split.rule_version)
            .execute(&mut *self.tx)
            .await
            .context("failed to record split rule version")?;
        Ok(())
    }

    /// Sets the bin a SKU is kept in at a warehouse; the bin must exist there, and an empty
    /// code clears it.
    pub async fn set_bin(&mut self, sku_id: i64, warehouse_id: i64, bin: &str) -> anyhow::Result<()> {
        if !bin.is_empty() {
            sqlx::query("INSERT INTO bins (warehouse_id, code) VALUES ($1, $2) ON CONFLICT (warehouse_id, code) DO NOTHING")
                .bind(warehouse_id)
                .bind(bin)
                .execute(&mut *self.tx)
                .await
                .context("failed to record bin")?;
        }
        sqlx::query(
            "INSERT INTO stock_levels (sku_id, warehouse_id, on_hand, reserved, bin, updated_at) VALUES ($1, $2, 0, 0, $3, $4) \
             ON CONFLICT (sku_id, warehouse_id) DO UPDATE SET bin = excluded.bin",
        )
        .bind(sku_id)
        .bind(warehouse_id)
        .bind(bin)
        .bind(crate::now_ms())
        .execute(&mut *self.tx)
        .await
        .context("failed to set bin")?;
        Ok(())
    }

    pub async fn sku_by_code(&mut self, code: &str) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query("SELECT id FROM skus WHERE code = $1").bind(code).fetch_optional(&mut *self.tx).await?;
        row.map(|row| row.try_get("id").map_err(anyhow::Error::from)).transpose()
    }

    pub async fn create_sku(&mut self, code: &str, name: &str) -> anyhow::Result<i64> {
        sqlx::query("INSERT INTO skus (code, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING")
            .bind(code)
            .bind(name)
            .bind(crate::now_ms())
            .execute(&mut *self.tx)
            .await
            .context("failed to create SKU")?;
        self.sku_by_code(code).await?.context("SKU just created is missing")
    }
}

/// One row of the stock page: a SKU in a warehouse.
#[derive(Clone, Debug, Serialize)]
pub struct StockRow {
    pub sku_id: i64,
    pub sku_code: String,
    pub sku_name: String,
    pub warehouse_code: String,
    /// Bin the SKU is kept in at the warehouse, such as `A-03-2`; empty when not set.
    pub bin: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub low_stock_threshold: i64,
    pub low: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct OfferRow {
    pub store_id: i64,
    pub store_name: String,
    pub sku_id: i64,
    pub sku_code: String,
    pub offered: i64,
    pub adjustment: i64,
    pub pushed_quantity: Option<i64>,
    pub pushed_at: Option<i64>,
    pub pending: bool,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    /// Error of the stock-share rule when it could not compute this offer.
    pub rule_error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MovementRow {
    pub id: i64,
    pub sku_code: String,
    pub warehouse_code: String,
    pub kind: String,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub order_id: Option<i64>,
    pub reason: String,
    pub actor: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ListingRow {
    pub store_id: i64,
    pub store_name: String,
    pub platform_item_id: String,
    pub platform_sku_id: String,
    pub sku_code: String,
    pub title: String,
    pub sku_name: String,
    pub platform_quantity: i64,
    pub mapped_sku_code: Option<String>,
    pub pulled_at: i64,
}

impl Db {
    pub async fn stock_rows(&self) -> anyhow::Result<Vec<StockRow>> {
        let rows = sqlx::query(
            "SELECT k.id, k.code, k.name, w.code AS warehouse_code, l.bin, l.on_hand, l.reserved, k.low_stock_threshold \
             FROM stock_levels l JOIN skus k ON k.id = l.sku_id JOIN warehouses w ON w.id = l.warehouse_id \
             ORDER BY k.code, w.code",
        )
        .fetch_all(&self.pool)
        .await
        .context("failed to list stock")?;
        rows.iter()
            .map(|row| {
                let on_hand: i64 = row.try_get("on_hand")?;
                let reserved: i64 = row.try_get("reserved")?;
                let threshold: i64 = row.try_get("low_stock_threshold")?;
                Ok(StockRow {
                    sku_id: row.try_get("id")?,
                    sku_code: row.try_get("code")?,
                    sku_name: row.try_get("name")?,
                    warehouse_code: row.try_get("warehouse_code")?,
                    bin: row.try_get("bin")?,
                    on_hand,
                    reserved,
                    available: on_hand - reserved,
                    low_stock_threshold: threshold,
                    low: on_hand - reserved <= threshold,
                })
            })
            .collect()
    }

    pub async fn offer_rows(&self) -> anyhow::Result<Vec<OfferRow>> {
        let rows = sqlx::query(
            "SELECT o.store_id, s.name AS store_name, o.sku_id, k.code, o.offered, o.adjustment, o.pushed_quantity, \
             o.pushed_at, o.pending, o.attempts, o.next_attempt_at, o.last_error, o.rule_error \
             FROM stock_offers o JOIN stores s ON s.id = o.store_id JOIN skus k ON k.id = o.sku_id ORDER BY k.code, s.name",
        )
        .fetch_all(&self.pool)
        .await
        .context("failed to list stock offers")?;
        rows.iter()
            .map(|row| {
                Ok(OfferRow {
                    store_id: row.try_get("store_id")?,
                    store_name: row.try_get("store_name")?,
                    sku_id: row.try_get("sku_id")?,
                    sku_code: row.try_get("code")?,
                    offered: row.try_get("offered")?,
                    adjustment: row.try_get("adjustment")?,
                    pushed_quantity: row.try_get("pushed_quantity")?,
                    pushed_at: row.try_get("pushed_at")?,
                    pending: row.try_get::<i64, _>("pending")? != 0,
                    attempts: row.try_get("attempts")?,
                    next_attempt_at: row.try_get("next_attempt_at")?,
                    last_error: row.try_get("last_error")?,
                    rule_error: row.try_get("rule_error")?,
                })
            })
            .collect()
    }

    pub async fn movement_rows(&self, sku_code: Option<&str>, limit: i64) -> anyhow::Result<Vec<MovementRow>> {
        let rows = sqlx::query(
            "SELECT m.id, k.code, w.code AS warehouse_code, m.kind, m.on_hand_delta, m.reserved_delta, m.order_id, \
             m.reason, m.actor, m.created_at FROM stock_movements m JOIN skus k ON k.id = m.sku_id \
             JOIN warehouses w ON w.id = m.warehouse_id WHERE ($1 = '' OR k.code = $1) ORDER BY m.id DESC LIMIT $2",
        )
        .bind(sku_code.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("failed to list stock movements")?;
        rows.iter()
            .map(|row| {
                Ok(MovementRow {
                    id: row.try_get("id")?,
                    sku_code: row.try_get("code")?,
                    warehouse_code: row.try_get("warehouse_code")?,
                    kind: row.try_get("kind")?,
                    on_hand_delta: row.try_get("on_hand_delta")?,
                    reserved_delta: row.try_get("reserved_delta")?,
                    order_id: row.try_get("order_id")?,
                    reason: row.try_get("reason")?,
                    actor: row.try_get("actor")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    pub async fn listing_rows(&self) -> anyhow::Result<Vec<ListingRow>> {
        let rows = sqlx::query(
            "SELECT l.store_id, s.name AS store_name, l.platform_item_id, l.platform_sku_id, l.sku_code, l.title, \
             l.sku_name, l.platform_quantity, k.code AS mapped, l.pulled_at FROM store_listings l \
             JOIN stores s ON s.id = l.store_id LEFT JOIN skus k ON k.id = l.sku_id ORDER BY s.name, l.platform_item_id, l.platform_sku_id",
        )
        .fetch_all(&self.pool)
        .await
        .context("failed to list store listings")?;
        rows.iter()
            .map(|row| {
                Ok(ListingRow {
                    store_id: row.try_get("store_id")?,
                    store_name: row.try_get("store_name")?,
                    platform_item_id: row.try_get("platform_item_id")?,
                    platform_sku_id: row.try_get("platform_sku_id")?,
                    sku_code: row.try_get("sku_code")?,
                    title: row.try_get("title")?,
                    sku_name: row.try_get("sku_name")?,
                    platform_quantity: row.try_get("platform_quantity")?,
                    mapped_sku_code: row.try_get("mapped")?,
                    pulled_at: row.try_get("pulled_at")?,
                })
            })
            .collect()
    }

    /// Checks the ledger against the levels: for every SKU and warehouse, the sums of the
    /// movements equal on-hand and reserved. Returns the disagreements.
    pub async fn ledger_disagreements(&self) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT l.sku_id, l.warehouse_id, l.on_hand, l.reserved, CAST(COALESCE(SUM(m.on_hand_delta), 0) AS BIGINT) AS on_hand_sum, \
             CAST(COALESCE(SUM(m.reserved_delta), 0) AS BIGINT) AS reserved_sum FROM stock_levels l LEFT JOIN stock_movements m \
             ON m.sku_id = l.sku_id AND m.warehouse_id = l.warehouse_id GROUP BY l.sku_id, l.warehouse_id, l.on_hand, l.reserved",
        )
        .fetch_all(&self.pool)
        .await
        .context("failed to check the ledger")?;
        let mut problems = Vec::new();
        for row in &rows {
            let (on_hand, reserved): (i64, i64) = (row.try_get("on_hand")?, row.try_get("reserved")?);
            let (on_hand_sum, reserved_sum): (i64, i64) = (row.try_get("on_hand_sum")?, row.try_get("reserved_sum")?);
            if on_hand != on_hand_sum || reserved != reserved_sum {
                problems.push(format!(
                    "SKU {} warehouse {}: level {on_hand}/{reserved}, ledger {on_hand_sum}/{reserved_sum}",
                    row.try_get::<i64, _>("sku_id")?,
                    row.try_get::<i64, _>("warehouse_id")?
                ));
            }
        }
        let open = sqlx::query(
            "SELECT r.sku_id, r.warehouse_id, CAST(SUM(r.quantity) AS BIGINT) AS q, l.reserved FROM reservations r \
             JOIN stock_levels l ON l.sku_id = r.sku_id AND l.warehouse_id = r.warehouse_id WHERE r.state = 'reserved' \
             GROUP BY r.sku_id, r.warehouse_id, l.reserved",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &open {
            let (q, reserved): (i64, i64) = (row.try_get("q")?, row.try_get("reserved")?);
            if q != reserved {
                problems.push(format!("SKU {}: open reservations {q}, level reserved {reserved}", row.try_get::<i64, _>("sku_id")?));
            }
        }
        Ok(problems)
    }

    /// Offers that are due for a push, per store, oldest change first.
    pub async fn due_offers(&self, store_id: i64, now: i64, limit: i64) -> anyhow::Result<Vec<DueOffer>> {
        let rows = sqlx::query(
            "SELECT o.sku_id, k.code, o.offered, o.revision, o.attempts FROM stock_offers o JOIN skus k ON k.id = o.sku_id \
             WHERE o.store_id = $1 AND o.pending = 1 AND o.next_attempt_at <= $2 ORDER BY o.updated_at, o.sku_id LIMIT $3",
        )
        .bind(store_id)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("failed to read due stock offers")?;
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            let sku_id: i64 = row.try_get("sku_id")?;
            // Sorted here: with an ORDER BY on the listing key SQLite walks the store's whole
            // primary key instead of the (sku_id, store_id) index.
            let listings = sqlx::query("SELECT platform_item_id, platform_sku_id FROM store_listings WHERE sku_id = $1 AND store_id = $2")
                .bind(sku_id)
                .bind(store_id)
                .fetch_all(&self.pool)
                .await?;
            let mut listings: Vec<(String, String)> = listings
                .iter()
                .map(|r| Ok((r.try_get("platform_item_id")?, r.try_get("platform_sku_id")?)))
                .collect::<anyhow::Result<_>>()?;
            listings.sort();
            due.push(DueOffer {
                sku_id,
                sku_code: row.try_get("code")?,
                offered: row.try_get("offered")?,
                revision: row.try_get("revision")?,
                attempts: row.try_get("attempts")?,
                listings,
            })
        }
        Ok(due)
    }

    /// Stores with offers waiting for a push.
    pub async fn stores_with_due_offers(&self, now: i64) -> anyhow::Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT s.id AS store_id FROM stores s WHERE EXISTS (SELECT 1 FROM stock_offers o WHERE o.store_id = s.id \
             AND o.pending = 1 AND o.next_attempt_at <= $1) ORDER BY s.id",
        )
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .context("failed to find stores with due offers")?;
        rows.iter().map(|row| row.try_get("store_id").map_err(anyhow::Error::from)).collect()
    }

    /// Records a delivered push of `quantity` computed at `revision`; the offer stays pending
    /// when it changed since.
    pub async fn offer_pushed(&self, store_id: i64, sku_id: i64, revision: i64, quantity: i64) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "UPDATE stock_offers SET pushed_quantity = $3, pushed_revision = $4, pushed_at = $5, attempts = 0, last_error = NULL, \
             pending = CASE WHEN revision = $4 OR offered = $3 THEN 0 ELSE 1 END WHERE store_id = $1 AND sku_id = $2",
        )
        .bind(store_id)
        .bind(sku_id)
        .bind(quantity)
        .bind(revision)
        .bind(crate::now_ms())
        .execute(&mut *write.tx)
        .await
        .context("failed to record stock push")?;
        write.commit().await
    }

    /// Records a failed push and when to try again. A rate limit does not count as an attempt.
    pub async fn offer_push_failed(&self, store_id: i64, sku_id: i64, error: &str, retry_at: i64, count_attempt: bool) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(
            "UPDATE stock_offers SET last_error = $3, next_attempt_at = $4, attempts = attempts + $5 WHERE store_id = $1 AND sku_id = $2",
        )
        .bind(store_id)
        .bind(sku_id)
        .bind(crate::domain::truncate_chars(error, 1_000))
        .bind(retry_at)
        .bind(i64::from(count_attempt))
        .execute(&mut *write.tx)
        .await
        .context("failed to record stock push failure")?;
        write.commit().await
    }

    /// Returns every SKU that has at least one listing, for a full recomputation.
    pub async fn offered_sku_ids(&self) -> anyhow::Result<Vec<i64>> {
        let rows = sqlx::query("SELECT DISTINCT sku_id FROM store_listings WHERE sku_id IS NOT NULL ORDER BY sku_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| row.try_get("sku_id").map_err(anyhow::Error::from)).collect()
    }

    pub async fn warehouse_ids_by_code(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT id, code FROM warehouses").fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((row.try_get("code")?, row.try_get("id")?))).collect()
    }

    pub async fn mark_products_pulled(&self, store_id: i64) -> anyhow::Result<()> {
        let mut write = self.begin_write().await?;
        sqlx::query("UPDATE stores SET products_pulled_at = $2 WHERE id = $1")
            .bind(store_id)
            .bind(crate::now_ms())
            .execute(&mut *write.tx)
            .await?;
        write.commit().await
    }

    pub async fn products_pulled_at(&self, store_id: i64) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query("SELECT products_pulled_at FROM stores WHERE id = $1").bind(store_id).fetch_one(&self.pool).await?;
        Ok(row.try_get("products_pulled_at")?)
    }
}

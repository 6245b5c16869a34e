//! The shop's mutable state (trades and stock) and the [`Simulator`] methods that change it.
//!
//! Every method that reads or changes stock first generates the live orders created up to now,
//! so stock changes and orders apply in time order. An order created before a stock push takes
//! its units before the push, whenever the simulator happens to generate it.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};

use crate::catalog::{self, Product, Sku};
use crate::changes::{ChangeKind, ManualChange, SETTABLE_STATUSES};
use crate::scripted::{self, ScriptedTrade};
use crate::stock::{QuantityMode, QuantityUpdate, SkuQuantity, Stock, UpdateError};
use crate::stream::{self, OrderPlan};
use crate::trade::status;
use crate::{Simulator, SimulatorConfig, lock};

/// Trades and stock, kept under one lock so that an order and the stock it takes change together.
pub(crate) struct Shop {
    /// Index of the next order of the seeded stream to generate.
    next_index: usize,
    /// Every trade created so far, by tid: generated (history and live) and scripted.
    pub plans: BTreeMap<u64, OrderPlan>,
    /// Number of scripted trades created so far.
    scripted_count: u64,
    pub stock: Stock,
}

impl Shop {
    /// Creates the shop at its start instant, with every history order and the initial stock.
    pub fn new(config: &SimulatorConfig, start: DateTime<Utc>) -> Self {
        let plans = (0..config.history_orders)
            .map(|index| {
                let plan = OrderPlan::generate(config, start, index);
                (plan.initial.tid, plan)
            })
            .collect();
        Self {
            next_index: config.history_orders,
            plans,
            scripted_count: 0,
            stock: Stock::new(config.initial_stock, start),
        }
    }

    /// Generates every live order created up to `until`. A live order takes its units from the
    /// stock as it is generated, and an order that finds no stock is not created.
    pub fn generate_until(
        &mut self,
        config: &SimulatorConfig,
        start: DateTime<Utc>,
        until: DateTime<Utc>,
    ) {
        if stream::sanitized_rate(config.rate_per_minute) <= 0.0 {
            return;
        }
        loop {
            let index = self.next_index;
            let created = stream::instant_at(start, stream::creation_offset_ms(config, index));
            if created > until {
                break;
            }
            self.next_index += 1;
            let mut plan = OrderPlan::generate(config, start, index);
            if self.stock.fit_live_order(&mut plan) {
                self.plans.insert(plan.initial.tid, plan);
            }
        }
    }

    /// Adds a manual change at `now` (rounded down to a whole second) to trade `tid`.
    fn add_change(&mut self, tid: u64, kind: ChangeKind, now: DateTime<Utc>) -> DateTime<Utc> {
        let plan = self
            .plans
            .get_mut(&tid)
            .expect("the caller checked that the trade exists");
        let mut at = now.trunc_subsecs(0);
        // Keeps the changes in time order even if the system clock steps back.
        if let Some(last) = plan.changes.last() {
            at = at.max(last.at);
        }
        plan.changes.push(ManualChange { at, kind });
        at
    }
}

/// The SKU of an item that a quantity update names.
pub(crate) enum SkuSelector<'a> {
    /// The `sku_id` parameter.
    Id(u64),
    /// The `outer_id` parameter: the merchant's SKU code.
    OuterId(&'a str),
    /// Neither: the item's only SKU.
    Only,
}

/// The reason a quantity update was rejected.
pub(crate) enum QuantityError {
    ItemNotFound,
    SkuNotFound,
    /// The item has several SKUs and the call named none.
    SkuRequired {
        sku_count: usize,
    },
    Negative {
        current: i64,
    },
    Overflow {
        current: i64,
    },
}

/// The result of a successful quantity update.
pub(crate) struct QuantityResult {
    pub product: &'static Product,
    pub sku: &'static Sku,
    pub quantity: i64,
    /// The item's total over its SKUs after the update.
    pub item_quantity: i64,
    pub modified: DateTime<Utc>,
}

/// The reason a shipment or memo change was rejected.
pub(crate) enum TradeChangeError {
    NotFound,
    /// The trade is not in `WAIT_SELLER_SEND_GOODS`. The value is its current status.
    NotShippable(String),
}

impl Simulator {
    /// Creates a scripted trade and returns its tid. It takes platform stock like a live order
    /// but may sell more than there is: units beyond the stock count in [`Self::oversold_units`].
    ///
    /// The trade shows in [`Self::trades_now`] and through the router at once (its `modified`
    /// is its creation time). It has no planned lifecycle: it changes only through the router
    /// (shipping, memo) and [`Self::set_trade_status`].
    ///
    /// # Panics
    ///
    /// Panics when the spec is invalid; [`Self::try_add_trade`] returns the error instead.
    pub fn add_trade(&self, spec: ScriptedTrade) -> u64 {
        self.try_add_trade(spec)
            .unwrap_or_else(|error| panic!("invalid scripted trade: {error}"))
    }

    /// Creates a scripted trade like [`Self::add_trade`]. Returns an error naming the invalid
    /// value when a line names an unknown SKU, a quantity is out of range, there are no lines,
    /// or the creation time is in the future.
    pub fn try_add_trade(&self, spec: ScriptedTrade) -> Result<u64, String> {
        let now = Utc::now();
        let (lines, created) = scripted::resolve(&spec, now)?;
        let mut shop = self.shop_until(now);
        let number = shop.scripted_count;
        let plan = OrderPlan::scripted(self.config(), number, &spec, &lines, created);
        for (_, sku, units) in &lines {
            shop.stock.sell(sku.sku_id, i64::from(*units));
        }
        let tid = plan.initial.tid;
        shop.scripted_count += 1;
        shop.plans.insert(tid, plan);
        tracing::info!(
            tid,
            lines = lines.len(),
            paid = spec.paid,
            "scripted trade added"
        );
        Ok(tid)
    }

    /// Sets the status of a trade (generated or scripted) now, with `modified` moved to now.
    ///
    /// Any status in [`crate::SETTABLE_STATUSES`] is accepted from any other, because
    /// tests need exact scenarios. Planned lifecycle steps after the change no longer happen.
    /// Moving to a paid, shipped or ended status sets `pay_time`, `consign_time` or `end_time`
    /// when they are not set yet. `TRADE_CLOSED` on a paid trade marks every line refunded.
    /// Returns an error when the trade does not exist or the status is not one of those.
    pub fn set_trade_status(&self, tid: u64, new_status: &str) -> Result<(), String> {
        if !SETTABLE_STATUSES.contains(&new_status) {
            return Err(format!(
                "status {new_status:?} cannot be set: use one of {}",
                SETTABLE_STATUSES.join(", ")
            ));
        }
        let now = Utc::now();
        let mut shop = self.shop_until(now);
        if shop
            .plans
            .get(&tid)
            .and_then(|plan| plan.snapshot_at(now))
            .is_none()
        {
            return Err(format!("trade {tid} does not exist"));
        }
        shop.add_change(tid, ChangeKind::Status(new_status.to_owned()), now);
        tracing::info!(tid, status = new_status, "trade status set");
        Ok(())
    }

    /// Returns the platform quantity of every catalog SKU, in catalog order.
    pub fn sku_quantities(&self) -> Vec<SkuQuantity> {
        let shop = self.shop_until(Utc::now());
        catalog::skus()
            .map(|(product, sku)| SkuQuantity {
                num_iid: product.num_iid,
                sku_id: sku.sku_id,
                outer_sku_id: sku.outer_sku_id.to_owned(),
                quantity: shop.stock.quantity(sku.sku_id),
            })
            .collect()
    }

    /// Returns the platform quantity of the SKU with this merchant code, or `None` if the
    /// catalog has no such SKU.
    pub fn quantity_of(&self, outer_sku_id: &str) -> Option<i64> {
        let (_, sku) = catalog::sku_by_outer_id(outer_sku_id)?;
        Some(self.shop_until(Utc::now()).stock.quantity(sku.sku_id))
    }

    /// Returns the successful `taobao.item.quantity.update` calls, oldest first (at most the
    /// latest 10,000).
    pub fn quantity_updates(&self) -> Vec<QuantityUpdate> {
        lock(&self.inner.shop).stock.updates().cloned().collect()
    }

    /// Returns how many units scripted trades sold beyond the platform stock. Generated orders
    /// never oversell, so only scripted trades raise it.
    pub fn oversold_units(&self) -> i64 {
        self.shop_until(Utc::now()).stock.oversold_units()
    }

    /// Sets the platform quantity of a SKU directly, as a merchant editing it in the seller back
    /// office would. It is not a TOP call, so [`Self::quantity_updates`] does not list it.
    /// Returns an error for an unknown SKU code or a negative quantity.
    pub fn set_initial_quantity(&self, outer_sku_id: &str, quantity: i64) -> Result<(), String> {
        let Some((product, sku)) = catalog::sku_by_outer_id(outer_sku_id) else {
            return Err(format!(
                "outer_sku_id {outer_sku_id:?} is not a SKU of the catalog"
            ));
        };
        if quantity < 0 {
            return Err(format!(
                "quantity {quantity} for {outer_sku_id} is negative: expected 0 or more"
            ));
        }
        let now = Utc::now();
        let mut shop = self.shop_until(now);
        shop.stock
            .set_quantity(product.num_iid, sku.sku_id, quantity, now.trunc_subsecs(0));
        tracing::info!(outer_sku_id, quantity, "platform quantity set");
        Ok(())
    }

    /// Runs `read` on the stock as of `now`, after generating the live orders up to then.
    pub(crate) fn with_stock<R>(&self, now: DateTime<Utc>, read: impl FnOnce(&Stock) -> R) -> R {
        read(&self.shop_until(now).stock)
    }

    /// Applies a `taobao.item.quantity.update` call at `now`.
    pub(crate) fn update_quantity(
        &self,
        num_iid: u64,
        selector: SkuSelector<'_>,
        mode: QuantityMode,
        value: i64,
        now: DateTime<Utc>,
    ) -> Result<QuantityResult, QuantityError> {
        let product = catalog::product_by_num_iid(num_iid).ok_or(QuantityError::ItemNotFound)?;
        let sku = match selector {
            SkuSelector::Id(sku_id) => product.skus.iter().find(|sku| sku.sku_id == sku_id),
            SkuSelector::OuterId(outer_id) => {
                product.skus.iter().find(|sku| sku.outer_sku_id == outer_id)
            }
            SkuSelector::Only => match product.skus {
                [only] => Some(only),
                skus => {
                    return Err(QuantityError::SkuRequired {
                        sku_count: skus.len(),
                    });
                }
            },
        }
        .ok_or(QuantityError::SkuNotFound)?;

        let modified = now.trunc_subsecs(0);
        let mut shop = self.shop_until(now);
        let quantity = shop
            .stock
            .update(num_iid, sku, mode, value, modified)
            .map_err(|error| match error {
                UpdateError::Negative { current } => QuantityError::Negative { current },
                UpdateError::Overflow { current } => QuantityError::Overflow { current },
            })?;
        let item_quantity = product
            .skus
            .iter()
            .map(|sku| shop.stock.quantity(sku.sku_id))
            .sum();
        tracing::debug!(
            num_iid,
            sku_id = sku.sku_id,
            mode = mode.as_str(),
            value,
            quantity,
            "quantity updated"
        );
        Ok(QuantityResult {
            product,
            sku,
            quantity,
            item_quantity,
            modified,
        })
    }

    /// Applies a `taobao.logistics.offline.send` call at `now`. Returns the new `modified`.
    pub(crate) fn ship_trade(
        &self,
        tid: u64,
        company_code: &str,
        out_sid: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, TradeChangeError> {
        let mut shop = self.shop_until(now);
        let trade = shop
            .plans
            .get(&tid)
            .and_then(|plan| plan.snapshot_at(now))
            .ok_or(TradeChangeError::NotFound)?;
        if trade.status != status::WAIT_SELLER_SEND_GOODS {
            return Err(TradeChangeError::NotShippable(trade.status));
        }
        let kind = ChangeKind::Ship {
            company_code: company_code.to_owned(),
            out_sid: out_sid.to_owned(),
        };
        let at = shop.add_change(tid, kind, now);
        tracing::info!(tid, company_code, out_sid, "trade shipped");
        Ok(at)
    }

    /// Applies a `taobao.trade.memo.update` call at `now`. Returns the new `modified`.
    pub(crate) fn update_memo(
        &self,
        tid: u64,
        memo: Option<String>,
        flag: Option<u8>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, TradeChangeError> {
        let mut shop = self.shop_until(now);
        if shop
            .plans
            .get(&tid)
            .and_then(|plan| plan.snapshot_at(now))
            .is_none()
        {
            return Err(TradeChangeError::NotFound);
        }
        let at = shop.add_change(tid, ChangeKind::Memo { memo, flag }, now);
        tracing::debug!(tid, "trade memo updated");
        Ok(at)
    }
}

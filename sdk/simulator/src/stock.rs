//! Platform stock: the quantity Taobao offers for each SKU, what sells it, and what the seller
//! pushes with `taobao.item.quantity.update`.
//!
//! Every catalog SKU starts with [`crate::SimulatorConfig::initial_stock`] units at the start
//! instant. History orders (created before the start) neither check nor take stock. A live or
//! scripted order takes its units when it is created, as a Taobao item set to reduce stock on
//! order does. Nothing gives units back: neither a refund nor a close restocks the platform, so
//! only the seller's push (or [`crate::Simulator::set_initial_quantity`]) raises a quantity.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{self, Sku};
use crate::stream::{OrderPlan, Step};

/// Number of seller updates that [`crate::Simulator::quantity_updates`] keeps. Older ones are
/// dropped.
const UPDATE_LOG_CAPACITY: usize = 10_000;

/// The platform quantity of one SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuQuantity {
    pub num_iid: u64,
    pub sku_id: u64,
    pub outer_sku_id: String,
    pub quantity: i64,
}

/// The mode of `taobao.item.quantity.update` (TOP `type`), which sets the meaning of `quantity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantityMode {
    /// `type=1`: the quantity replaces the current one.
    Full,
    /// `type=2`: the quantity is added to the current one and may be negative.
    Delta,
}

impl QuantityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Delta => "delta",
        }
    }
}

/// One successful `taobao.item.quantity.update` call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantityUpdate {
    pub at: DateTime<Utc>,
    pub num_iid: u64,
    pub sku_id: u64,
    pub outer_sku_id: String,
    pub mode: QuantityMode,
    /// The `quantity` parameter: the new quantity in full mode, the change in delta mode.
    pub value: i64,
    /// The SKU's platform quantity after the update.
    pub resulting_quantity: i64,
}

/// The reason a quantity update was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UpdateError {
    /// The result would be below 0, so nothing changed.
    Negative { current: i64 },
    /// The result would not fit in an `i64`, so nothing changed.
    Overflow { current: i64 },
}

/// The shop's stock state.
#[derive(Debug)]
pub(crate) struct Stock {
    /// Platform quantity by `sku_id`.
    quantities: BTreeMap<u64, i64>,
    /// When the seller last changed each item (by `num_iid`). Items not listed use `default_modified`.
    item_modified: HashMap<u64, DateTime<Utc>>,
    /// The simulator's start instant.
    default_modified: DateTime<Utc>,
    /// The latest seller update of each SKU, by `sku_id`. It outlives the capped log.
    last_updates: HashMap<u64, QuantityUpdate>,
    updates: VecDeque<QuantityUpdate>,
    oversold_units: i64,
}

impl Stock {
    /// Gives every catalog SKU `initial` units (a negative value counts as 0).
    pub fn new(initial: i64, start: DateTime<Utc>) -> Self {
        let initial = initial.max(0);
        Self {
            quantities: catalog::skus()
                .map(|(_, sku)| (sku.sku_id, initial))
                .collect(),
            item_modified: HashMap::new(),
            default_modified: start,
            last_updates: HashMap::new(),
            updates: VecDeque::new(),
            oversold_units: 0,
        }
    }

    pub fn quantity(&self, sku_id: u64) -> i64 {
        self.quantities.get(&sku_id).copied().unwrap_or(0)
    }

    pub fn item_modified(&self, num_iid: u64) -> DateTime<Utc> {
        self.item_modified
            .get(&num_iid)
            .copied()
            .unwrap_or(self.default_modified)
    }

    pub fn oversold_units(&self) -> i64 {
        self.oversold_units
    }

    pub fn last_update(&self, sku_id: u64) -> Option<&QuantityUpdate> {
        self.last_updates.get(&sku_id)
    }

    pub fn updates(&self) -> impl DoubleEndedIterator<Item = &QuantityUpdate> {
        self.updates.iter()
    }

    /// Sells `units` of a SKU whatever its stock. Units beyond the stock count as oversold and
    /// the quantity stops at 0.
    pub fn sell(&mut self, sku_id: u64, units: i64) {
        let quantity = self.quantities.entry(sku_id).or_insert(0);
        let short = units - *quantity;
        if short > 0 {
            self.oversold_units += short;
        }
        *quantity = (*quantity - units).max(0);
    }

    /// Sets a quantity as the merchant would in the seller back office (not a TOP call).
    pub fn set_quantity(&mut self, num_iid: u64, sku_id: u64, quantity: i64, at: DateTime<Utc>) {
        self.quantities.insert(sku_id, quantity);
        self.item_modified.insert(num_iid, at);
    }

    /// Applies a seller update and records it. Returns the SKU's new quantity.
    pub fn update(
        &mut self,
        num_iid: u64,
        sku: &Sku,
        mode: QuantityMode,
        value: i64,
        at: DateTime<Utc>,
    ) -> Result<i64, UpdateError> {
        let current = self.quantity(sku.sku_id);
        let resulting = match mode {
            QuantityMode::Full => value,
            QuantityMode::Delta => current
                .checked_add(value)
                .ok_or(UpdateError::Overflow { current })?,
        };
        if resulting < 0 {
            return Err(UpdateError::Negative { current });
        }
        self.set_quantity(num_iid, sku.sku_id, resulting, at);
        let update = QuantityUpdate {
            at,
            num_iid,
            sku_id: sku.sku_id,
            outer_sku_id: sku.outer_sku_id.to_owned(),
            mode,
            value,
            resulting_quantity: resulting,
        };
        self.last_updates.insert(sku.sku_id, update.clone());
        if self.updates.len() == UPDATE_LOG_CAPACITY {
            self.updates.pop_front();
        }
        self.updates.push_back(update);
        Ok(resulting)
    }

    /// Changes a live order so that it sells only what the platform has, and takes its units.
    ///
    /// A line whose SKU lacks stock moves to the first other SKU of the same product (in catalog
    /// order, after the original) that has enough. A line that no SKU can serve is dropped, and
    /// a planned refund of a dropped line moves to the first remaining line. Returns `false`,
    /// taking nothing, when no line is left: the order is not created.
    pub fn fit_live_order(&mut self, plan: &mut OrderPlan) -> bool {
        let mut kept_lines = Vec::new();
        // Old line index -> new line index, for the planned refund steps.
        let mut new_index = Vec::new();
        let mut taken_units: Vec<(u64, i64)> = Vec::new();
        for line in std::mem::take(&mut plan.initial.lines) {
            let units = i64::from(line.num);
            let available = |sku_id: u64, taken_units: &[(u64, i64)]| {
                self.quantity(sku_id) - taken_units_of(taken_units, sku_id)
            };
            let Some(product) = catalog::product_by_num_iid(line.num_iid) else {
                new_index.push(None);
                continue;
            };
            let original = product
                .skus
                .iter()
                .position(|sku| sku.sku_id.to_string() == line.sku_id)
                .unwrap_or(0);
            let count = product.skus.len();
            let choice = (0..count)
                .map(|offset| &product.skus[(original + offset) % count])
                .find(|sku| available(sku.sku_id, &taken_units) >= units);
            let Some(sku) = choice else {
                new_index.push(None);
                continue;
            };
            taken_units.push((sku.sku_id, units));
            new_index.push(Some(kept_lines.len()));
            let line = if sku.sku_id.to_string() == line.sku_id {
                line
            } else {
                crate::stream::switch_sku(line, sku)
            };
            kept_lines.push(line);
        }
        if kept_lines.is_empty() {
            return false;
        }
        for (sku_id, units) in taken_units {
            self.sell(sku_id, units);
        }
        plan.initial.lines = kept_lines;
        crate::stream::renumber_lines(&mut plan.initial);
        for event in &mut plan.events {
            if let Step::RefundRequest { line } | Step::RefundSuccess { line } = &mut event.step {
                *line = new_index.get(*line).copied().flatten().unwrap_or(0);
            }
        }
        true
    }
}

fn taken_units_of(taken_units: &[(u64, i64)], sku_id: u64) -> i64 {
    taken_units
        .iter()
        .filter(|(id, _)| *id == sku_id)
        .map(|(_, units)| units)
        .sum()
}

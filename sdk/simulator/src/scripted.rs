//! Scripted trades: orders that a test or a person places with exact content, beside the seeded
//! stream.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{self, Product, Sku};

/// Maximum number of lines of a scripted trade. The lines' oids follow the tid, and the gap to
/// the next scripted tid leaves room for this many.
pub const MAX_SCRIPTED_LINES: usize = 50;

/// Maximum quantity of one scripted line.
pub const MAX_SCRIPTED_QUANTITY: u32 = 100_000;

/// A trade to create with [`crate::Simulator::add_trade`], or as JSON with `POST /_sim/trades`.
///
/// Each line costs the catalog price × quantity with no discount, and the trade has no postage.
/// The receiver is drawn from the seed like a generated order's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScriptedTrade {
    /// At least one line. Two lines may name the same SKU.
    pub lines: Vec<ScriptedLine>,
    /// Buyer nick. `None` draws one from the seed.
    pub buyer_nick: Option<String>,
    /// Creation time, rounded down to a whole second. `None` means now. A future time is
    /// rejected.
    pub created: Option<DateTime<Utc>>,
    /// `true` (the default) creates the trade paid, in `WAIT_SELLER_SEND_GOODS` with `pay_time`
    /// equal to `created`. `false` creates it in `WAIT_BUYER_PAY`. Either way it stays in that
    /// status until it is shipped or a test sets another one.
    pub paid: bool,
}

impl Default for ScriptedTrade {
    fn default() -> Self {
        Self {
            lines: Vec::new(),
            buyer_nick: None,
            created: None,
            paid: true,
        }
    }
}

impl ScriptedTrade {
    /// Builds a paid trade created now with lines of `(outer_sku_id, quantity)`.
    pub fn new<'a>(lines: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        Self {
            lines: lines
                .into_iter()
                .map(|(outer_sku_id, quantity)| ScriptedLine {
                    outer_sku_id: outer_sku_id.to_owned(),
                    quantity,
                })
                .collect(),
            ..Self::default()
        }
    }
}

/// One line of a [`ScriptedTrade`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedLine {
    /// The merchant's SKU code, e.g. `TEA-LJ-250G`.
    pub outer_sku_id: String,
    /// Units, from 1 to [`MAX_SCRIPTED_QUANTITY`].
    pub quantity: u32,
}

/// A scripted line resolved to its catalog product and SKU, with its quantity.
pub(crate) type ResolvedLine = (&'static Product, &'static Sku, u32);

/// Checks the spec and resolves its lines to catalog SKUs. Returns the lines and the creation
/// time, or an error that names the invalid value.
pub(crate) fn resolve(
    spec: &ScriptedTrade,
    now: DateTime<Utc>,
) -> Result<(Vec<ResolvedLine>, DateTime<Utc>), String> {
    if spec.lines.is_empty() {
        return Err("the trade has no lines: give at least one outer_sku_id and quantity".into());
    }
    if spec.lines.len() > MAX_SCRIPTED_LINES {
        return Err(format!(
            "the trade has {} lines, more than the maximum of {MAX_SCRIPTED_LINES}",
            spec.lines.len()
        ));
    }
    let mut lines = Vec::with_capacity(spec.lines.len());
    for line in &spec.lines {
        let Some((product, sku)) = catalog::sku_by_outer_id(&line.outer_sku_id) else {
            return Err(format!(
                "outer_sku_id {:?} is not a SKU of the catalog: GET /_sim/stock lists them",
                line.outer_sku_id
            ));
        };
        if !(1..=MAX_SCRIPTED_QUANTITY).contains(&line.quantity) {
            return Err(format!(
                "quantity {} of {} is invalid: expected 1 to {MAX_SCRIPTED_QUANTITY}",
                line.quantity, line.outer_sku_id
            ));
        }
        lines.push((product, sku, line.quantity));
    }
    if let Some(nick) = &spec.buyer_nick
        && nick.trim().is_empty()
    {
        return Err("buyer_nick is empty: leave it out to draw one".into());
    }
    let created = spec.created.unwrap_or(now).trunc_subsecs(0);
    if created > now {
        return Err(format!(
            "created {created} is in the future: give a time up to now, or leave it out"
        ));
    }
    Ok((lines, created))
}

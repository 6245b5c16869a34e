//! Manual changes to a trade: what the seller does through the router (ship, memo) and what a
//! test sets directly (status). They apply on top of the trade's planned lifecycle.
//!
//! A status change stops the plan, so planned steps after it no longer happen. A manual shipment
//! replaces the planned one. After it only a planned finish (the buyer confirming receipt) still
//! happens, and planned shipping, refund and close steps are dropped. A refund requested before
//! the shipment stays requested. A memo change leaves the plan alone.

use chrono::{DateTime, Utc};

use crate::stream::Step;
use crate::trade::{TradeSnapshot, refund_status, status};

/// Trade statuses that [`crate::Simulator::set_trade_status`] accepts.
pub const SETTABLE_STATUSES: &[&str] = &[
    status::WAIT_BUYER_PAY,
    status::WAIT_SELLER_SEND_GOODS,
    status::WAIT_BUYER_CONFIRM_GOODS,
    status::TRADE_FINISHED,
    status::TRADE_CLOSED,
    status::TRADE_CLOSED_BY_TAOBAO,
];

/// One manual change, at a whole second.
#[derive(Clone, Debug)]
pub(crate) struct ManualChange {
    pub at: DateTime<Utc>,
    pub kind: ChangeKind,
}

#[derive(Clone, Debug)]
pub(crate) enum ChangeKind {
    /// `taobao.logistics.offline.send`: the trade is shipped with this carrier and tracking number.
    Ship {
        company_code: String,
        out_sid: String,
    },
    /// `taobao.trade.memo.update`. A `None` field keeps its current value.
    Memo {
        memo: Option<String>,
        flag: Option<u8>,
    },
    /// A status set by a test, one of [`SETTABLE_STATUSES`].
    Status(String),
}

/// The part of the plan that still happens after the manual changes applied so far. Variants are
/// ordered by strength, and a later change can only make the plan stop more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PlanCut {
    /// Every planned step happens.
    None,
    /// Only a planned finish happens.
    AfterShip,
    /// No planned step happens.
    All,
}

impl PlanCut {
    /// Returns whether a planned step still happens under this cut.
    pub fn keeps(self, step: Step) -> bool {
        match self {
            Self::None => true,
            Self::AfterShip => step == Step::Finish,
            Self::All => false,
        }
    }

    /// Returns the cut after `change`.
    pub fn after(self, change: &ManualChange) -> Self {
        let cut = match change.kind {
            ChangeKind::Ship { .. } => Self::AfterShip,
            ChangeKind::Memo { .. } => Self::None,
            ChangeKind::Status(_) => Self::All,
        };
        self.max(cut)
    }
}

/// Applies a manual change to the trade. The caller sets `modified`.
pub(crate) fn apply_change(trade: &mut TradeSnapshot, change: &ManualChange) {
    let at = change.at;
    match &change.kind {
        ChangeKind::Ship {
            company_code,
            out_sid,
        } => {
            trade.status = status::WAIT_BUYER_CONFIRM_GOODS.to_owned();
            trade.consign_time = Some(at);
            for line in &mut trade.lines {
                line.logistics_company = Some(company_code.clone());
                line.invoice_no = Some(out_sid.clone());
            }
        }
        ChangeKind::Memo { memo, flag } => {
            if let Some(memo) = memo {
                trade.seller_memo = Some(memo.clone());
            }
            if let Some(flag) = flag {
                trade.seller_flag = *flag;
            }
        }
        ChangeKind::Status(new_status) => apply_status(trade, new_status, at),
    }
}

/// Sets a status and the times that it implies: a paid status has a `pay_time`, a shipped one a
/// `consign_time`, and an ended one an `end_time`. Times already set are kept, except that
/// `end_time` is cleared when the trade moves back to an open status.
fn apply_status(trade: &mut TradeSnapshot, new_status: &str, at: DateTime<Utc>) {
    let paid = matches!(
        new_status,
        status::WAIT_SELLER_SEND_GOODS | status::WAIT_BUYER_CONFIRM_GOODS | status::TRADE_FINISHED
    );
    let shipped = matches!(
        new_status,
        status::WAIT_BUYER_CONFIRM_GOODS | status::TRADE_FINISHED
    );
    let ended = matches!(
        new_status,
        status::TRADE_FINISHED | status::TRADE_CLOSED | status::TRADE_CLOSED_BY_TAOBAO
    );
    if paid {
        trade.pay_time.get_or_insert(at);
    }
    if shipped {
        trade.consign_time.get_or_insert(at);
    }
    if ended {
        trade.end_time.get_or_insert(at);
    } else {
        trade.end_time = None;
    }
    // A paid trade closes after a refund, so its lines show the refund as done, as on TOP.
    if new_status == status::TRADE_CLOSED && trade.pay_time.is_some() {
        for line in &mut trade.lines {
            line.refund_status = refund_status::SUCCESS.to_owned();
        }
    }
    trade.status = new_status.to_owned();
}

//! TOP methods that change a trade: `taobao.logistics.offline.send` and
//! `taobao.trade.memo.update`. Both add a manual change to the trade (see the `changes` module),
//! which moves its `modified` to the call's second, so an incremental pull returns it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::shop::TradeChangeError;
use crate::top::{Params, invalid_argument, missing_argument, remote_error, trade_not_found};
use crate::trade::{format_top_time, status};
use crate::{Simulator, TopError};

/// Maximum length of a seller memo, in characters.
/// NOTE: the limit is the simulator's choice, not a documented TOP limit.
const MAX_MEMO_CHARS: usize = 1_000;
/// Maximum length of a tracking number or carrier code, in characters (the simulator's choice).
const MAX_LOGISTICS_CHARS: usize = 64;

/// `taobao.logistics.offline.send`: ships a trade in `WAIT_SELLER_SEND_GOODS` with a carrier
/// code and tracking number. The trade moves to `WAIT_BUYER_CONFIRM_GOODS` with `consign_time`
/// and `modified` set to now, and every line records the carrier and tracking number.
pub(crate) fn logistics_offline_send(
    simulator: &Simulator,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, TopError> {
    let tid = params.required_id("tid")?;
    let out_sid = bounded_text(params, "out_sid", MAX_LOGISTICS_CHARS)?;
    let company_code = bounded_text(params, "company_code", MAX_LOGISTICS_CHARS)?;
    simulator
        .ship_trade(tid, company_code, out_sid, now)
        .map_err(|error| match error {
            TradeChangeError::NotFound => trade_not_found(tid),
            // NOTE: the `:B04` suffix is the simulator's choice of detail code.
            TradeChangeError::NotShippable(current) => remote_error(
                "isv.logistics-offline-service-error:B04",
                format!(
                    "trade {tid} is in status {current}: only a trade in {} can be shipped",
                    status::WAIT_SELLER_SEND_GOODS
                ),
            ),
        })?;
    let mut content = Map::new();
    content.insert("shipping".to_owned(), json!({ "is_success": true }));
    Ok(content)
}

/// `taobao.trade.memo.update`: sets the seller memo, the seller flag (0 to 5) or both, and moves
/// the trade's `modified` to now. A parameter left out keeps its value, but at least one of the
/// two is required.
pub(crate) fn trade_memo_update(
    simulator: &Simulator,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<Map<String, Value>, TopError> {
    let tid = params.required_id("tid")?;
    let memo = params.get("memo");
    if let Some(memo) = memo
        && memo.chars().count() > MAX_MEMO_CHARS
    {
        return Err(invalid_argument(
            "memo",
            format!("it is longer than {MAX_MEMO_CHARS} characters"),
        ));
    }
    let flag = match params.get("flag") {
        None => None,
        Some(text) => match text.trim().parse::<u8>() {
            Ok(flag) if flag <= 5 => Some(flag),
            _ => {
                return Err(invalid_argument(
                    "flag",
                    format!("{text:?} is not an integer from 0 to 5"),
                ));
            }
        },
    };
    if memo.is_none() && flag.is_none() {
        return Err(missing_argument("memo or flag"));
    }
    let modified = simulator
        .update_memo(tid, memo.map(str::to_owned), flag, now)
        .map_err(|_| trade_not_found(tid))?;
    let mut content = Map::new();
    content.insert(
        "trade".to_owned(),
        json!({ "tid": tid, "modified": format_top_time(modified) }),
    );
    Ok(content)
}

fn bounded_text<'a>(params: &'a Params, name: &str, max_chars: usize) -> Result<&'a str, TopError> {
    let text = params.required(name)?.trim();
    if text.is_empty() {
        return Err(missing_argument(name));
    }
    if text.chars().count() > max_chars {
        return Err(invalid_argument(
            name,
            format!("it is longer than {max_chars} characters"),
        ));
    }
    Ok(text)
}

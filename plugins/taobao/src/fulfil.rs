//! Writing back to orders: `confirm-shipment` with `taobao.logistics.offline.send` and
//! `update-remark` with `taobao.trade.memo.update`.

use shopkeeper_connector::{ConnectorError, Shipment};

use crate::pull::Gateway;
use crate::settings::Settings;
use crate::top::call;

pub const SHIP_METHOD: &str = "taobao.logistics.offline.send";
pub const MEMO_METHOD: &str = "taobao.trade.memo.update";

/// Marks the trade shipped with a waybill number. A parcel with only some lines sends them as
/// `sub_tid` with `is_split=1`.
pub fn confirm_shipment(
    settings: &Settings,
    gateway: &mut impl Gateway,
    shipment: &Shipment,
) -> Result<(), ConnectorError> {
    if shipment.tracking_number.trim().is_empty() {
        return Err(ConnectorError::internal(format!(
            "shipment of trade {} has no tracking number",
            shipment.platform_order_id
        )));
    }
    let sub_tids = shipment.platform_line_ids.join(",");
    let mut params: Vec<(&str, &str)> = vec![
        ("tid", &shipment.platform_order_id),
        ("out_sid", &shipment.tracking_number),
        ("company_code", &shipment.carrier_code),
    ];
    if !sub_tids.is_empty() {
        params.push(("sub_tid", &sub_tids));
        params.push(("is_split", "1"));
    }
    let answer = call(settings, gateway, SHIP_METHOD, &params)?;
    let success = answer
        .get("shipping")
        .and_then(|shipping| shipping.get("is_success"))
        .and_then(serde_json::Value::as_bool);
    match success {
        Some(true) => Ok(()),
        _ => Err(ConnectorError::platform(format!(
            "{SHIP_METHOD} for trade {} did not report success",
            shipment.platform_order_id
        ))),
    }
}

/// Replaces the seller memo of a trade; `flag` is Taobao's memo colour, 0 to 5.
pub fn update_remark(
    settings: &Settings,
    gateway: &mut impl Gateway,
    platform_order_id: &str,
    remark: &str,
    flag: Option<u8>,
) -> Result<(), ConnectorError> {
    if let Some(flag) = flag
        && flag > 5
    {
        return Err(ConnectorError::internal(format!(
            "memo flag {flag} is outside Taobao's 0 to 5"
        )));
    }
    let flag_text = flag.map(|flag| flag.to_string());
    let mut params: Vec<(&str, &str)> = vec![("tid", platform_order_id), ("memo", remark)];
    if let Some(flag) = &flag_text {
        params.push(("flag", flag));
    }
    call(settings, gateway, MEMO_METHOD, &params).map(|_| ())
}

//! Reading TOP router responses: the success body of `taobao.trades.sold.increment.get` and the
//! `error_response` body that any method can return.

use serde_json::{Map, Value};
use shopkeeper_connector::{ConnectorError, ErrorKind};

/// Root key of a successful `taobao.trades.sold.increment.get` response.
const SUCCESS_ROOT: &str = "trades_sold_increment_get_response";

/// Top-level TOP error codes that mean the credentials, session or signature were rejected:
/// 25 invalid signature, 26 missing session, 27 invalid session, 28 missing app key,
/// 29 invalid app key and 44 invalid access token.
const AUTH_CODES: [i64; 6] = [25, 26, 27, 28, 29, 44];
/// TOP error code 7, "App Call Limited".
const RATE_LIMIT_CODE: i64 = 7;
/// Wait used when a rate-limit error does not say how long the ban lasts.
const DEFAULT_RETRY_AFTER_MS: u64 = 1000;
/// Number of body characters quoted in errors about unreadable responses.
const BODY_EXCERPT_CHARS: usize = 200;

/// One page of `taobao.trades.sold.increment.get`.
#[derive(Debug, Default, PartialEq)]
pub struct SoldTradesPage {
    /// Number of trades in the whole window; TOP omits it when `use_has_next` is set.
    pub total_results: Option<u64>,
    /// Trade objects of this page, newest first.
    pub trades: Vec<Value>,
}

/// Parses the HTTP status and body of a `taobao.trades.sold.increment.get` call.
///
/// # Errors
///
/// - `platform` with the status when the HTTP status is not 200.
/// - `invalid-response` when the body is not JSON or lacks the expected objects.
/// - the kind that [`error_from_response`] picks when the body is an `error_response`.
pub fn parse_sold_trades(status: u16, body: &[u8]) -> Result<SoldTradesPage, ConnectorError> {
    let result = parse_success(status, body, SUCCESS_ROOT)?;
    Ok(SoldTradesPage {
        total_results: read_total_results(&result)?,
        trades: read_trades(&result)?,
    })
}

/// Reads the envelope of any TOP response: the object under `root` (such as
/// `item_quantity_update_response`) on success.
///
/// # Errors
///
/// - `platform` with the status when the HTTP status is not 200.
/// - `invalid-response` when the body is not JSON or has neither `root` nor `error_response`.
/// - the kind that [`error_from_response`] picks when the body is an `error_response`.
pub fn parse_success(
    status: u16,
    body: &[u8],
    root_name: &str,
) -> Result<Map<String, Value>, ConnectorError> {
    if status != 200 {
        return Err(ConnectorError::platform(format!(
            "TOP router returned HTTP status {status}: {}",
            excerpt(body)
        )));
    }
    let mut root: Value = serde_json::from_slice(body).map_err(|error| {
        ConnectorError::invalid_response(format!(
            "TOP response is not valid JSON ({error}): {}",
            excerpt(body)
        ))
    })?;
    if let Some(error) = root.get("error_response") {
        return Err(error_from_response(error));
    }
    match root.get_mut(root_name).map(Value::take) {
        Some(Value::Object(result)) => Ok(result),
        _ => Err(ConnectorError::invalid_response(format!(
            "TOP response has neither `{root_name}` nor `error_response`: {}",
            excerpt(body)
        ))),
    }
}

fn read_total_results(result: &Map<String, Value>) -> Result<Option<u64>, ConnectorError> {
    let total = match result.get("total_results") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.parse::<u64>().ok(),
        Some(_) => None,
    };
    total.map(Some).ok_or_else(|| {
        ConnectorError::invalid_response(format!(
            "TOP response has invalid `total_results` {}: expected a whole number",
            result["total_results"]
        ))
    })
}

/// Reads `trades`, which the default JSON format nests as `{"trade": [...]}` and the
/// `simplify=true` format writes as a plain array. TOP leaves it out when the page is empty.
fn read_trades(result: &Map<String, Value>) -> Result<Vec<Value>, ConnectorError> {
    let list = match result.get("trades") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(wrapper)) => match wrapper.get("trade") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(list) => list,
        },
        Some(list) => list,
    };
    match list {
        Value::Array(trades) => Ok(trades.clone()),
        other => Err(ConnectorError::invalid_response(format!(
            "TOP response has invalid `trades`: expected a list, found {}",
            json_type(other)
        ))),
    }
}

/// Converts a TOP `error_response` object into a [`ConnectorError`].
///
/// The message keeps `code`, `msg`, `sub_code` and `sub_msg`, and `platform-code` is `code`.
/// Codes 25 to 29 and 44, and sub-codes about an invalid session or a signature, are `auth`.
/// Code 7 is `rate-limited`, with a wait of N + 1 seconds when `sub_msg` contains "ban will
/// last for N more seconds" and of one second otherwise. Other codes are `platform`.
pub fn error_from_response(error: &Value) -> ConnectorError {
    let code = match error.get("code") {
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    };
    let text_field = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or("");
    let msg = text_field("msg");
    let sub_code = text_field("sub_code");
    let sub_msg = text_field("sub_msg");

    let message = format!(
        "TOP error code {code}: {msg} (sub_code: {sub_code}, sub_msg: {sub_msg})",
        code = if code.is_empty() { "(none)" } else { &code },
    );

    let numeric_code = code.parse::<i64>().ok();
    let auth_sub_code = sub_code.contains("invalid-session") || sub_code.contains("signature");
    let kind = match numeric_code {
        Some(code) if AUTH_CODES.contains(&code) => ErrorKind::Auth,
        Some(RATE_LIMIT_CODE) => ErrorKind::RateLimited,
        _ if auth_sub_code => ErrorKind::Auth,
        _ => ErrorKind::Platform,
    };

    let mut result = ConnectorError::new(kind, message);
    if !code.is_empty() {
        result = result.with_platform_code(code);
    }
    if kind == ErrorKind::RateLimited {
        let retry_after_ms = ban_seconds(sub_msg)
            .map(|seconds| seconds.saturating_add(1).saturating_mul(1000))
            .unwrap_or(DEFAULT_RETRY_AFTER_MS);
        result = result.with_retry_after_ms(retry_after_ms);
    }
    result
}

/// Reads N from a TOP rate-limit message such as "This ban will last for 13 more seconds".
fn ban_seconds(sub_msg: &str) -> Option<u64> {
    let (_, after) = sub_msg.split_once("last for")?;
    let digits: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if text.chars().count() > BODY_EXCERPT_CHARS {
        excerpt.push_str("...");
    }
    excerpt
}

/// Returns the JSON type name of `value`, for error messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_body(error: Value) -> Vec<u8> {
        json!({ "error_response": error }).to_string().into_bytes()
    }

    #[test]
    fn nested_trades_list() {
        let body = json!({
            "trades_sold_increment_get_response": {
                "total_results": 2,
                "trades": { "trade": [{ "tid": 1 }, { "tid": 2 }] },
                "request_id": "abc"
            }
        });
        let page = parse_sold_trades(200, body.to_string().as_bytes()).unwrap();
        assert_eq!(page.total_results, Some(2));
        assert_eq!(page.trades, vec![json!({ "tid": 1 }), json!({ "tid": 2 })]);
    }

    #[test]
    fn simplified_trades_list() {
        let body = json!({
            "trades_sold_increment_get_response": {
                "total_results": "1",
                "trades": [{ "tid": 1 }]
            }
        });
        let page = parse_sold_trades(200, body.to_string().as_bytes()).unwrap();
        assert_eq!(page.total_results, Some(1));
        assert_eq!(page.trades.len(), 1);
    }

    #[test]
    fn empty_page_without_trades() {
        let body = br#"{"trades_sold_increment_get_response":{"total_results":0}}"#;
        let page = parse_sold_trades(200, body).unwrap();
        assert_eq!(page.total_results, Some(0));
        assert!(page.trades.is_empty());
    }

    #[test]
    fn invalid_total_results_rejected() {
        let body = br#"{"trades_sold_increment_get_response":{"total_results":"many"}}"#;
        let error = parse_sold_trades(200, body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse);
    }

    #[test]
    fn trades_not_a_list_rejected() {
        let body = br#"{"trades_sold_increment_get_response":{"trades":{"trade":"x"}}}"#;
        let error = parse_sold_trades(200, body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse);
    }

    #[test]
    fn non_200_status_is_platform() {
        let error = parse_sold_trades(502, b"Bad Gateway").unwrap_err();
        assert_eq!(error.kind, ErrorKind::Platform);
        assert!(error.message.contains("502"), "{}", error.message);
        assert!(error.message.contains("Bad Gateway"), "{}", error.message);
    }

    #[test]
    fn unreadable_json_is_invalid_response() {
        for body in [
            &b"<html>oops</html>"[..],
            b"",
            b"{\"other_response\":{}}",
            b"[1,2]",
        ] {
            let error = parse_sold_trades(200, body).unwrap_err();
            assert_eq!(error.kind, ErrorKind::InvalidResponse, "{body:?}");
        }
    }

    #[test]
    fn auth_codes_map_to_auth() {
        for code in [25, 26, 27, 28, 29, 44] {
            let body = error_body(json!({ "code": code, "msg": "Invalid session" }));
            let error = parse_sold_trades(200, &body).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Auth, "code {code}");
            assert_eq!(error.platform_code, Some(code.to_string()));
            assert_eq!(error.retry_after_ms, None);
        }
    }

    #[test]
    fn auth_sub_codes_map_to_auth() {
        for sub_code in [
            "isv.invalid-session",
            "isv.signature-mismatch",
            "invalid-signature",
        ] {
            let body = error_body(
                json!({ "code": 15, "msg": "Remote service error", "sub_code": sub_code }),
            );
            let error = parse_sold_trades(200, &body).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Auth, "{sub_code}");
            assert_eq!(error.platform_code.as_deref(), Some("15"));
        }
    }

    #[test]
    fn error_message_keeps_all_parts() {
        let body = error_body(json!({
            "code": 27,
            "msg": "Invalid session",
            "sub_code": "isv.invalid-session",
            "sub_msg": "session expired",
            "request_id": "r1"
        }));
        let error = parse_sold_trades(200, &body).unwrap_err();
        for part in [
            "27",
            "Invalid session",
            "isv.invalid-session",
            "session expired",
        ] {
            assert!(
                error.message.contains(part),
                "{part} missing in {}",
                error.message
            );
        }
    }

    #[test]
    fn rate_limit_reads_ban_seconds() {
        let body = error_body(json!({
            "code": 7,
            "msg": "App Call Limited",
            "sub_code": "accesscontrol.limited-by-api-access-count",
            "sub_msg": "This ban will last for 13 more seconds"
        }));
        let error = parse_sold_trades(200, &body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::RateLimited);
        assert_eq!(error.retry_after_ms, Some(14_000));
        assert_eq!(error.platform_code.as_deref(), Some("7"));
    }

    #[test]
    fn rate_limit_defaults_to_one_second() {
        let body = error_body(json!({ "code": "7", "msg": "App Call Limited" }));
        let error = parse_sold_trades(200, &body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::RateLimited);
        assert_eq!(error.retry_after_ms, Some(1000));
        assert_eq!(error.platform_code.as_deref(), Some("7"));
    }

    #[test]
    fn other_codes_map_to_platform() {
        let body = error_body(json!({
            "code": 15,
            "msg": "Remote service error",
            "sub_code": "isv.trade-service-error",
            "sub_msg": "try later"
        }));
        let error = parse_sold_trades(200, &body).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Platform);
        assert_eq!(error.platform_code.as_deref(), Some("15"));
        assert_eq!(error.retry_after_ms, None);
    }

    #[test]
    fn ban_seconds_parsing() {
        assert_eq!(
            ban_seconds("This ban will last for 5 more seconds"),
            Some(5)
        );
        assert_eq!(
            ban_seconds("This ban will last for 0 more seconds"),
            Some(0)
        );
        assert_eq!(ban_seconds("This ban will last for a while"), None);
        assert_eq!(ban_seconds(""), None);
    }
}

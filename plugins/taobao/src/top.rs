//! One signed call to the TOP router, for the methods other than the order pull.

use serde_json::{Map, Value};
use shopkeeper_connector::sign::top_sign;
use shopkeeper_connector::time::format_utc8;
use shopkeeper_connector::ConnectorError;

use crate::pull::Gateway;
use crate::response::parse_success;
use crate::settings::Settings;

/// Calls `method` with the common parameters, `extra` and the signature, and returns the
/// object under the method's response root (`taobao.item.quantity.update` responds under
/// `item_quantity_update_response`).
pub fn call(
    settings: &Settings,
    gateway: &mut impl Gateway,
    method: &str,
    extra: &[(&str, &str)],
) -> Result<Map<String, Value>, ConnectorError> {
    let timestamp = format_utc8(gateway.now_ms());
    let mut params: Vec<(&str, &str)> = vec![
        ("method", method),
        ("app_key", &settings.app_key),
        ("session", &settings.session),
        ("timestamp", &timestamp),
        ("format", "json"),
        ("v", "2.0"),
        ("sign_method", settings.sign_method.as_str()),
    ];
    params.extend_from_slice(extra);
    let sign = top_sign(&params, &settings.app_secret, settings.sign_method);
    params.push(("sign", &sign));
    let fields: Vec<(String, String)> = params
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    gateway.debug(&format!("calling {method}"));
    let response = gateway.post_form(&settings.endpoint, &fields)?;
    parse_success(response.status, &response.body, &response_root(method))
}

/// Returns the key TOP wraps a method's response in: the method without `taobao.`, dots as
/// underscores, then `_response`.
pub fn response_root(method: &str) -> String {
    let name = method.strip_prefix("taobao.").unwrap_or(method);
    format!("{}_response", name.replace('.', "_"))
}

/// Reads a text or number field as text; TOP sends ids as numbers and as strings.
pub fn text_of(object: &Map<String, Value>, name: &str) -> String {
    match object.get(name) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

/// Reads a list that TOP nests as `{"<inner>": [...]}` (or sends as a plain list with
/// `simplify=true`); a missing list is empty.
pub fn nested_list<'a>(
    object: &'a Map<String, Value>,
    outer: &str,
    inner: &str,
) -> Result<Vec<&'a Map<String, Value>>, ConnectorError> {
    let list = match object.get(outer) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(wrapper)) => match wrapper.get(inner) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(list) => list,
        },
        Some(list) => list,
    };
    let Value::Array(entries) = list else {
        return Err(ConnectorError::invalid_response(format!(
            "TOP response has invalid `{outer}`: expected a list"
        )));
    };
    entries
        .iter()
        .map(|entry| {
            entry.as_object().ok_or_else(|| {
                ConnectorError::invalid_response(format!(
                    "TOP response has a `{outer}` entry that is not an object"
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_roots_follow_the_method_name() {
        assert_eq!(
            response_root("taobao.item.quantity.update"),
            "item_quantity_update_response"
        );
        assert_eq!(
            response_root("taobao.items.onsale.get"),
            "items_onsale_get_response"
        );
    }
}

//! Listings and stock: `pull-products` with `taobao.items.onsale.get` and
//! `taobao.item.seller.get`, `push-stock` with `taobao.item.quantity.update`.

use serde_json::{Map, Value};
use shopkeeper_connector::money::parse_decimal_minor;
use shopkeeper_connector::{ConnectorError, ErrorKind, Product, ProductPage, ProductSku, StockLevel};

use crate::paging::parse_token;
use crate::pull::Gateway;
use crate::settings::Settings;
use crate::top::{call, nested_list, text_of};

pub const ONSALE_METHOD: &str = "taobao.items.onsale.get";
pub const ITEM_METHOD: &str = "taobao.item.seller.get";
pub const QUANTITY_METHOD: &str = "taobao.item.quantity.update";

/// Listings per product page. Each listing costs one `taobao.item.seller.get` call.
const PRODUCTS_PER_PAGE: u64 = 20;
const ITEM_FIELDS: &str = "num_iid,title,outer_id,num,price,skus";

/// Fetches one page of listings on sale, each with its SKUs. The token is the next `page_no`.
pub fn pull_products(
    settings: &Settings,
    gateway: &mut impl Gateway,
    page_token: Option<&str>,
) -> Result<ProductPage, ConnectorError> {
    let page_no = page_token.map(parse_token).transpose()?.unwrap_or(1);
    let page_no_text = page_no.to_string();
    let page_size = PRODUCTS_PER_PAGE.to_string();
    let listing = call(
        settings,
        gateway,
        ONSALE_METHOD,
        &[
            ("fields", "num_iid,title,outer_id,num,price"),
            ("page_no", &page_no_text),
            ("page_size", &page_size),
        ],
    )?;
    let total = match listing.get("total_results") {
        Some(Value::Number(number)) => number.as_u64().unwrap_or(0),
        Some(Value::String(text)) => text.parse().unwrap_or(0),
        _ => 0,
    };
    let mut products = Vec::new();
    for item in nested_list(&listing, "items", "item")? {
        let num_iid = text_of(item, "num_iid");
        if num_iid.is_empty() {
            return Err(ConnectorError::invalid_response(format!(
                "{ONSALE_METHOD} returned an item without `num_iid`"
            )));
        }
        let detail = call(
            settings,
            gateway,
            ITEM_METHOD,
            &[("fields", ITEM_FIELDS), ("num_iid", &num_iid)],
        )?;
        let Some(Value::Object(detail)) = detail.get("item") else {
            return Err(ConnectorError::invalid_response(format!(
                "{ITEM_METHOD} for item {num_iid} has no `item` object"
            )));
        };
        products.push(convert_item(detail)?);
    }
    let next_page_token = (page_no * PRODUCTS_PER_PAGE < total).then(|| (page_no + 1).to_string());
    Ok(ProductPage { products, next_page_token })
}

/// Converts an `item` of `taobao.item.seller.get`. A listing without SKUs becomes one SKU with
/// an empty id, carrying the listing's own quantity, price and code.
pub fn convert_item(item: &Map<String, Value>) -> Result<Product, ConnectorError> {
    let num_iid = text_of(item, "num_iid");
    let price = |object: &Map<String, Value>| -> Result<i64, ConnectorError> {
        let text = text_of(object, "price");
        if text.is_empty() {
            return Ok(0);
        }
        parse_decimal_minor(&text, 2).map_err(|error| {
            ConnectorError::invalid_response(format!("item {num_iid}: price {text:?} {error}"))
        })
    };
    let quantity = |object: &Map<String, Value>, name: &str| -> Result<i64, ConnectorError> {
        let text = text_of(object, name);
        text.parse::<i64>().map_err(|_| {
            ConnectorError::invalid_response(format!(
                "item {num_iid}: `{name}` is {text:?}, expected a whole number"
            ))
        })
    };
    let sku_list = nested_list(item, "skus", "sku")?;
    let skus = if sku_list.is_empty() {
        vec![ProductSku {
            platform_sku_id: String::new(),
            sku_code: text_of(item, "outer_id"),
            name: String::new(),
            price_minor: price(item)?,
            quantity: quantity(item, "num")?,
        }]
    } else {
        sku_list
            .into_iter()
            .map(|sku| {
                Ok(ProductSku {
                    platform_sku_id: text_of(sku, "sku_id"),
                    sku_code: text_of(sku, "outer_id"),
                    name: text_of(sku, "properties_name"),
                    price_minor: price(sku)?,
                    quantity: quantity(sku, "quantity")?,
                })
            })
            .collect::<Result<Vec<_>, ConnectorError>>()?
    };
    Ok(Product {
        platform_item_id: num_iid.clone(),
        item_code: text_of(item, "outer_id"),
        title: text_of(item, "title"),
        currency: "CNY".to_string(),
        skus,
    })
}

/// Sets each level with a full-set `taobao.item.quantity.update` (`type=1`), so that a push
/// repeated after a timeout leaves the same quantity. After a call-limit error the remaining
/// entries are not sent; they report the same wait so the host retries them later.
pub fn push_stock(
    settings: &Settings,
    gateway: &mut impl Gateway,
    levels: &[StockLevel],
) -> Vec<Result<(), ConnectorError>> {
    let mut results = Vec::with_capacity(levels.len());
    let mut banned: Option<ConnectorError> = None;
    for level in levels {
        if let Some(error) = &banned {
            results.push(Err(error.clone()));
            continue;
        }
        let result = push_one(settings, gateway, level);
        if let Err(error) = &result
            && error.kind == ErrorKind::RateLimited
        {
            banned = Some(error.clone());
        }
        results.push(result);
    }
    results
}

fn push_one(
    settings: &Settings,
    gateway: &mut impl Gateway,
    level: &StockLevel,
) -> Result<(), ConnectorError> {
    if level.quantity < 0 {
        return Err(ConnectorError::internal(format!(
            "quantity {} for item {} is negative",
            level.quantity, level.platform_item_id
        )));
    }
    let quantity = level.quantity.to_string();
    let mut params: Vec<(&str, &str)> = vec![
        ("num_iid", &level.platform_item_id),
        ("quantity", &quantity),
        ("type", "1"),
    ];
    if !level.platform_sku_id.is_empty() {
        params.push(("sku_id", &level.platform_sku_id));
    } else if !level.sku_code.is_empty() {
        params.push(("outer_id", &level.sku_code));
    }
    let answer = call(settings, gateway, QUANTITY_METHOD, &params)?;
    if !matches!(answer.get("item"), Some(Value::Object(_))) {
        return Err(ConnectorError::invalid_response(format!(
            "{QUANTITY_METHOD} for item {} answered without an `item` object",
            level.platform_item_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn item_with_skus_keeps_ids_codes_and_quantities() {
        let item = json!({
            "num_iid": 5201, "title": "棉T恤", "outer_id": "TS", "num": 7, "price": "59.00",
            "skus": {"sku": [
                {"sku_id": 9001, "outer_id": "TS-RED-M", "properties_name": "颜色:红色", "quantity": 3, "price": "59.00"},
                {"sku_id": "9002", "outer_id": "TS-RED-L", "properties_name": "颜色:红色", "quantity": 4, "price": "61.50"}
            ]}
        });
        let product = convert_item(item.as_object().unwrap()).unwrap();
        assert_eq!(product.platform_item_id, "5201");
        assert_eq!(product.skus.len(), 2);
        assert_eq!(product.skus[0].platform_sku_id, "9001");
        assert_eq!(product.skus[1].sku_code, "TS-RED-L");
        assert_eq!(product.skus[1].price_minor, 6150);
        assert_eq!(product.skus[1].quantity, 4);
    }

    #[test]
    fn item_without_skus_becomes_one_sku() {
        let item = json!({"num_iid": "77", "title": "杯", "outer_id": "CUP", "num": "12", "price": "9.90"});
        let product = convert_item(item.as_object().unwrap()).unwrap();
        assert_eq!(product.skus.len(), 1);
        assert_eq!(product.skus[0].platform_sku_id, "");
        assert_eq!(product.skus[0].sku_code, "CUP");
        assert_eq!(product.skus[0].quantity, 12);
        assert_eq!(product.skus[0].price_minor, 990);
    }

    #[test]
    fn non_numeric_quantity_is_an_invalid_response() {
        let item = json!({"num_iid": "77", "num": "lots"});
        let error = convert_item(item.as_object().unwrap()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidResponse);
        assert!(error.message.contains("lots"), "{}", error.message);
    }
}

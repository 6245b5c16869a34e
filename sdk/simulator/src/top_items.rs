//! TOP item methods: `taobao.items.onsale.get`, `taobao.item.seller.get` and
//! `taobao.item.quantity.update`.
//!
//! Items are the catalog's products, every one on sale. An item's `num` is the sum of its SKU
//! quantities, its `price` the lowest SKU price, and its `modified` the last time the seller
//! changed its stock (the simulator's start until then). Sales change `num` but not `modified`.
//!
//! NOTE: on Taobao an item whose stock reaches 0 usually leaves the on-sale list for the
//! warehouse list (`taobao.items.inventory.get`). The simulator keeps every item on sale, so a
//! product pull always gets the whole catalog.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::catalog::{self, Product, Sku};
use crate::shop::{QuantityError, QuantityResult, SkuSelector};
use crate::stock::{QuantityMode, Stock};
use crate::top::{Params, invalid_argument, parse_fields, remote_error};
use crate::trade::{format_top_time, format_yuan};
use crate::{Simulator, TopError};

/// Item fields that `fields` can select. `skus` (or TOP's `sku`) selects the SKU list, and
/// `skus.NAME` (or `sku.NAME`) single SKU fields. Only `taobao.item.seller.get` renders the list.
const ITEM_FIELDS: &[&str] = &[
    "num_iid",
    "title",
    "outer_id",
    "num",
    "price",
    "approve_status",
    "modified",
    "skus",
];

/// SKU fields of `taobao.item.seller.get`.
const SKU_FIELDS: &[&str] = &["sku_id", "outer_id", "properties_name", "quantity", "price"];

const ONSALE_DEFAULT_PAGE_SIZE: u64 = 40;
const ONSALE_MAX_PAGE_SIZE: u64 = 200;

/// Sub_code of an unknown `num_iid`. Taobao's Tmall variant ends in `-tmall`.
const ITEM_NOT_FOUND: &str = "isv.item-is-delete:invalid-numIid-or-iid";
/// Sub_code of a quantity update that names no SKU, or one that the item does not have.
const QUANTITY_UPDATE_ERROR: &str = "isv.item-quantity-item-update-service-error";

/// Item and SKU fields that a `fields` parameter selects.
struct ItemSelection<'a> {
    /// `None` selects every item field.
    item: Option<Vec<&'a str>>,
    /// `None` leaves the SKU list out, `Some(None)` selects every SKU field.
    skus: Option<Option<Vec<&'a str>>>,
}

impl<'a> ItemSelection<'a> {
    fn all() -> Self {
        Self {
            item: None,
            skus: Some(None),
        }
    }

    fn from_fields(fields: &[&'a str]) -> Self {
        let mut item = Vec::new();
        let mut skus: Option<Option<Vec<&str>>> = None;
        for &field in fields {
            if field == "skus" || field == "sku" {
                skus = Some(None);
            } else if let Some(sku_field) = field
                .strip_prefix("skus.")
                .or_else(|| field.strip_prefix("sku."))
            {
                match &mut skus {
                    Some(Some(list)) => list.push(sku_field),
                    Some(None) => {}
                    None => skus = Some(Some(vec![sku_field])),
                }
            } else {
                item.push(field);
            }
        }
        Self {
            item: Some(item),
            skus,
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.item.as_ref().is_none_or(|list| list.contains(&name))
    }
}

fn item_not_found(num_iid: u64) -> TopError {
    remote_error(
        ITEM_NOT_FOUND,
        format!("item {num_iid} does not exist or was deleted"),
    )
}

/// Renders an item with the selected fields. The SKU list is rendered only when `with_skus`.
fn render_item(
    product: &Product,
    stock: &Stock,
    selection: &ItemSelection<'_>,
    with_skus: bool,
    simplify: bool,
) -> Value {
    let mut item = Map::new();
    for &name in ITEM_FIELDS {
        if name == "skus" || !selection.wants(name) {
            continue;
        }
        let value = match name {
            "num_iid" => Value::from(product.num_iid),
            "title" => Value::from(product.title),
            "outer_id" => Value::from(product.outer_iid),
            "num" => Value::from(item_quantity(product, stock)),
            "price" => Value::from(format_yuan(product.price_fen())),
            "approve_status" => Value::from("onsale"),
            "modified" => Value::from(format_top_time(stock.item_modified(product.num_iid))),
            _ => continue,
        };
        item.insert(name.to_owned(), value);
    }
    if with_skus && let Some(sku_fields) = &selection.skus {
        let skus: Vec<Value> = product
            .skus
            .iter()
            .map(|sku| render_sku(sku, stock, sku_fields.as_deref()))
            .collect();
        item.insert("skus".to_owned(), wrap_list("sku", skus, simplify));
    }
    Value::Object(item)
}

fn render_sku(sku: &Sku, stock: &Stock, fields: Option<&[&str]>) -> Value {
    let mut rendered = Map::new();
    for &name in SKU_FIELDS {
        if fields.is_some_and(|list| !list.contains(&name)) {
            continue;
        }
        let value = match name {
            "sku_id" => Value::from(sku.sku_id),
            "outer_id" => Value::from(sku.outer_sku_id),
            "properties_name" => Value::from(sku.properties_name),
            "quantity" => Value::from(stock.quantity(sku.sku_id)),
            "price" => Value::from(format_yuan(sku.price_fen)),
            _ => continue,
        };
        rendered.insert(name.to_owned(), value);
    }
    Value::Object(rendered)
}

fn item_quantity(product: &Product, stock: &Stock) -> i64 {
    product
        .skus
        .iter()
        .map(|sku| stock.quantity(sku.sku_id))
        .sum()
}

/// Wraps a list as TOP does: `{"NAME": [...]}`, or the plain array with `simplify=true`.
fn wrap_list(name: &str, list: Vec<Value>, simplify: bool) -> Value {
    if simplify {
        Value::Array(list)
    } else {
        json!({ name: list })
    }
}

/// `taobao.items.onsale.get`: one page of the items on sale, in `num_iid` order.
pub(crate) fn items_onsale_get(
    simulator: &Simulator,
    params: &Params,
    now: DateTime<Utc>,
    simplify: bool,
) -> Result<Map<String, Value>, TopError> {
    let fields = parse_fields(params.required("fields")?);
    let page_no = params.optional_number("page_no", 1, u64::MAX)?;
    let page_size =
        params.optional_number("page_size", ONSALE_DEFAULT_PAGE_SIZE, ONSALE_MAX_PAGE_SIZE)?;
    let selection = ItemSelection::from_fields(&fields);

    let mut products: Vec<&Product> = catalog::products().collect();
    products.sort_by_key(|product| product.num_iid);
    let total = products.len();
    let skip = usize::try_from((page_no - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
    let page: Vec<Value> = simulator.with_stock(now, |stock| {
        products
            .iter()
            .skip(skip)
            .take(page_size as usize)
            .map(|product| render_item(product, stock, &selection, false, simplify))
            .collect()
    });

    let mut content = Map::new();
    content.insert("total_results".to_owned(), Value::from(total));
    // Like `trades` in `taobao.trades.sold.increment.get`, `items` is left out of an empty page.
    if !page.is_empty() {
        content.insert("items".to_owned(), wrap_list("item", page, simplify));
    }
    Ok(content)
}

/// `taobao.item.seller.get`: one item with its SKUs. Without `fields` every field is rendered.
pub(crate) fn item_seller_get(
    simulator: &Simulator,
    params: &Params,
    now: DateTime<Utc>,
    simplify: bool,
) -> Result<Map<String, Value>, TopError> {
    let num_iid = params.required_id("num_iid")?;
    let fields = params.get("fields").map(parse_fields);
    let selection = fields
        .as_deref()
        .map_or_else(ItemSelection::all, ItemSelection::from_fields);
    let product = catalog::product_by_num_iid(num_iid).ok_or_else(|| item_not_found(num_iid))?;
    let item = simulator.with_stock(now, |stock| {
        render_item(product, stock, &selection, true, simplify)
    });
    let mut content = Map::new();
    content.insert("item".to_owned(), item);
    Ok(content)
}

/// `taobao.item.quantity.update`: sets (`type=1`, the default) or changes (`type=2`) the
/// quantity of one SKU. `sku_id` wins over `outer_id`, and with neither the item must have
/// exactly one SKU.
pub(crate) fn item_quantity_update(
    simulator: &Simulator,
    params: &Params,
    now: DateTime<Utc>,
    simplify: bool,
) -> Result<Map<String, Value>, TopError> {
    let num_iid = params.required_id("num_iid")?;
    let sku_id = params.optional_id("sku_id")?;
    let outer_id = params.get("outer_id");
    let value = params.required_integer("quantity")?;
    let mode = match params.get("type") {
        None | Some("1") => QuantityMode::Full,
        Some("2") => QuantityMode::Delta,
        Some(other) => {
            return Err(invalid_argument(
                "type",
                format!("{other:?} is not 1 (full quantity) or 2 (change)"),
            ));
        }
    };
    let selector = match (sku_id, outer_id) {
        (Some(sku_id), _) => SkuSelector::Id(sku_id),
        (None, Some(outer_id)) => SkuSelector::OuterId(outer_id),
        (None, None) => SkuSelector::Only,
    };

    let result = simulator
        .update_quantity(num_iid, selector, mode, value, now)
        .map_err(|error| quantity_error(error, num_iid, sku_id, outer_id, mode, value))?;
    let mut content = Map::new();
    content.insert("item".to_owned(), render_update_result(&result, simplify));
    Ok(content)
}

fn render_update_result(result: &QuantityResult, simplify: bool) -> Value {
    let modified = format_top_time(result.modified);
    let sku = json!({
        "sku_id": result.sku.sku_id,
        "outer_id": result.sku.outer_sku_id,
        "quantity": result.quantity,
        "modified": modified,
    });
    json!({
        "num_iid": result.product.num_iid,
        "num": result.item_quantity,
        "modified": modified,
        "skus": wrap_list("sku", vec![sku], simplify),
    })
}

fn quantity_error(
    error: QuantityError,
    num_iid: u64,
    sku_id: Option<u64>,
    outer_id: Option<&str>,
    mode: QuantityMode,
    value: i64,
) -> TopError {
    match error {
        QuantityError::ItemNotFound => item_not_found(num_iid),
        QuantityError::SkuNotFound => {
            let named = match (sku_id, outer_id) {
                (Some(sku_id), _) => format!("sku_id {sku_id}"),
                (None, Some(outer_id)) => format!("outer_id {outer_id:?}"),
                (None, None) => "the SKU".to_owned(),
            };
            remote_error(
                QUANTITY_UPDATE_ERROR,
                format!("{named} is not a SKU of item {num_iid}: item.seller.get lists its SKUs"),
            )
        }
        QuantityError::SkuRequired { sku_count } => remote_error(
            QUANTITY_UPDATE_ERROR,
            format!(
                "item {num_iid} has {sku_count} SKUs: send sku_id or outer_id to name the one to update"
            ),
        ),
        QuantityError::Negative { current } => {
            let reason = match mode {
                QuantityMode::Full => format!("quantity {value} is below 0"),
                QuantityMode::Delta => {
                    format!("the change {value} would take the current quantity {current} below 0")
                }
            };
            remote_error(
                "isv.invalid-parameter",
                format!("invalid parameter quantity: {reason}"),
            )
        }
        QuantityError::Overflow { current } => remote_error(
            "isv.invalid-parameter",
            format!(
                "invalid parameter quantity: the change {value} to the current quantity {current} \
                 is out of range"
            ),
        ),
    }
}

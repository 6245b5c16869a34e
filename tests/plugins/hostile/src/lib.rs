//! A connector that misbehaves on purpose, so that tests can check the host's limits.
//!
//! The configuration field `mode`, read on every call, picks what `pull-orders` does. An unset
//! or empty `mode` is `ok`.
//!
//! - `ok`: returns an empty page with no next token.
//! - `trap`: panics, which traps the instance.
//! - `loop`: spins forever without calling the host.
//! - `forbidden-host`: sends a GET request to the URL in `target`. A host error is returned as
//!   is (kind `network`), a non-2xx status becomes a `platform` error, and a 2xx response returns
//!   an empty page.
//! - `memory-bomb`: allocates and writes to memory until an allocation fails. The allocation
//!   error handler then aborts, which traps with `unreachable`, so the host has to tell this
//!   case apart through its memory limiter.
//! - `recursion`: recurses without bound until the engine's call stack overflows.
//! - `huge-output`: returns one order whose `raw` field is [`HUGE_OUTPUT_BYTES`] long. The guest
//!   builds that string first, so a memory limit of 100 MiB or less traps in the allocation
//!   before the host receives any output.
//! - `negative-quantity`, `missing-id`, `negative-price`, `huge-remark`: return a page of valid
//!   orders with one broken order in the middle (a line quantity of -2, an empty order id, a
//!   unit price of -100, a 10 MB buyer remark).
//! - `trap-mid-page`: returns a first page of three valid orders, then panics on the second.
//! - `hang`: sends a GET request to `target`, which is expected never to answer.
//! - `hundred-orders`: returns 100 valid orders without any host call (for benchmarks).
//! - `follow-redirect`: sends a GET request to `target` and, when the answer is a redirect,
//!   requests its `Location` too, as a plugin that follows redirects itself would.

use std::hint::black_box;

use shopkeeper_connector::{
    Address, Connector, ConnectorError, Order, OrderPage, OrderStatus, TimeWindow, config, http,
};

/// Length of the `raw` field in `huge-output` mode: 100 MiB.
pub const HUGE_OUTPUT_BYTES: usize = 100 * 1024 * 1024;
/// Size of each allocation in `memory-bomb` mode.
const MEMORY_BOMB_CHUNK_BYTES: usize = 1024 * 1024;
/// Distance between the bytes that `memory-bomb` writes, one 4 KiB page.
const PAGE_BYTES: usize = 4096;

/// Behaviour selected by the `mode` configuration field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Trap,
    Loop,
    ForbiddenHost,
    MemoryBomb,
    Recursion,
    HugeOutput,
    NegativeQuantity,
    MissingId,
    NegativePrice,
    HugeRemark,
    TrapMidPage,
    Hang,
    HundredOrders,
    FollowRedirect,
}

impl Mode {
    /// Parses the value of the `mode` field.
    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "ok" => Some(Mode::Ok),
            "trap" => Some(Mode::Trap),
            "loop" => Some(Mode::Loop),
            "forbidden-host" => Some(Mode::ForbiddenHost),
            "memory-bomb" => Some(Mode::MemoryBomb),
            "recursion" => Some(Mode::Recursion),
            "huge-output" => Some(Mode::HugeOutput),
            "negative-quantity" => Some(Mode::NegativeQuantity),
            "missing-id" => Some(Mode::MissingId),
            "negative-price" => Some(Mode::NegativePrice),
            "huge-remark" => Some(Mode::HugeRemark),
            "trap-mid-page" => Some(Mode::TrapMidPage),
            "hang" => Some(Mode::Hang),
            "hundred-orders" => Some(Mode::HundredOrders),
            "follow-redirect" => Some(Mode::FollowRedirect),
            _ => None,
        }
    }
}

/// The exported connector.
pub struct HostileConnector;

impl Connector for HostileConnector {
    fn pull_orders(
        window: TimeWindow,
        page_token: Option<String>,
    ) -> Result<OrderPage, ConnectorError> {
        let name = config::get("mode")
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "ok".to_string());
        let mode = Mode::parse(&name).ok_or_else(|| {
            ConnectorError::invalid_config(format!(
                "configuration field `mode` has invalid value {name:?}: expected one of the modes \
                 listed in plugin.toml"
            ))
        })?;
        match mode {
            Mode::Ok => Ok(empty_page()),
            Mode::Trap => panic!("hostile connector traps on purpose (mode `trap`)"),
            Mode::Loop => spin_forever(),
            Mode::ForbiddenHost => call_target(),
            Mode::MemoryBomb => exhaust_memory(),
            Mode::Recursion => {
                let depth = recurse(black_box(0));
                Err(ConnectorError::internal(format!(
                    "recursion ended at depth {depth}"
                )))
            }
            Mode::HugeOutput => Ok(huge_page()),
            Mode::NegativeQuantity => Ok(page_with_broken_order(&window, |order| order.lines[0].quantity = -2)),
            Mode::MissingId => Ok(page_with_broken_order(&window, |order| order.platform_order_id.clear())),
            Mode::NegativePrice => Ok(page_with_broken_order(&window, |order| order.lines[0].unit_price_minor = -100)),
            Mode::HugeRemark => Ok(page_with_broken_order(&window, |order| {
                order.buyer_remark = "备注".repeat(HUGE_REMARK_BYTES / "备注".len());
            })),
            Mode::TrapMidPage => match page_token.as_deref() {
                None => Ok(OrderPage {
                    orders: (1..=3).map(|n| valid_order(&format!("mid-page-{n}"), &window)).collect(),
                    next_page_token: Some("2".to_string()),
                }),
                Some(_) => panic!("hostile connector traps on its second page (mode `trap-mid-page`)"),
            },
            Mode::Hang => call_target(),
            Mode::FollowRedirect => follow_redirect(),
            Mode::HundredOrders => Ok(OrderPage {
                orders: (0..100).map(|n| valid_order(&format!("bench-{n}"), &window)).collect(),
                next_page_token: None,
            }),
        }
    }
}

shopkeeper_connector::export_connector!(HostileConnector);

/// Length of the buyer remark in `huge-remark` mode: 10 MB.
const HUGE_REMARK_BYTES: usize = 10 * 1000 * 1000;

/// A well-formed paid order modified at the window's start.
fn valid_order(id: &str, window: &TimeWindow) -> Order {
    Order {
        platform_order_id: id.to_string(),
        status: OrderStatus::Paid,
        platform_status: "PAID".to_string(),
        currency: "CNY".to_string(),
        goods_minor: 1_000,
        shipping_minor: 0,
        paid_minor: 1_000,
        buyer_nick: "hostile-buyer".to_string(),
        buyer_remark: String::new(),
        seller_remark: String::new(),
        receiver: Address {
            name: "测试".to_string(),
            phone: String::new(),
            province: "浙江省".to_string(),
            city: "杭州市".to_string(),
            district: String::new(),
            street: String::new(),
            zip: String::new(),
        },
        created_at_ms: window.start_ms,
        modified_at_ms: window.start_ms,
        paid_at_ms: Some(window.start_ms),
        lines: vec![shopkeeper_connector::OrderLine {
            platform_line_id: format!("{id}-1"),
            platform_item_id: "1".to_string(),
            platform_sku_id: "1".to_string(),
            sku_code: "HOSTILE-1".to_string(),
            title: "test item".to_string(),
            quantity: 1,
            unit_price_minor: 1_000,
            total_minor: 1_000,
            platform_status: "PAID".to_string(),
        }],
        raw: "{}".to_string(),
    }
}

/// Three valid orders around one that `break_order` spoils.
fn page_with_broken_order(window: &TimeWindow, break_order: impl FnOnce(&mut Order)) -> OrderPage {
    let mut broken = valid_order("broken", window);
    break_order(&mut broken);
    OrderPage {
        orders: vec![valid_order("before", window), broken, valid_order("after", window)],
        next_page_token: None,
    }
}

fn empty_page() -> OrderPage {
    OrderPage {
        orders: Vec::new(),
        next_page_token: None,
    }
}

/// Loops forever. The volatile read of a flag that nothing sets keeps the optimiser from
/// proving the loop has no effect and removing it.
fn spin_forever() -> ! {
    let stop = false;
    let mut iterations: u64 = 0;
    loop {
        // SAFETY: `stop` is a live local, so the pointer is valid and aligned.
        if unsafe { std::ptr::read_volatile(&stop) } {
            black_box(iterations);
        }
        iterations = black_box(iterations.wrapping_add(1));
    }
}

fn call_target() -> Result<OrderPage, ConnectorError> {
    let target = config::require("target")?;
    let response = http::get(&target)?;
    if !response.is_success() {
        return Err(ConnectorError::platform(format!(
            "GET {target} returned HTTP status {}",
            response.status
        )));
    }
    Ok(empty_page())
}

fn follow_redirect() -> Result<OrderPage, ConnectorError> {
    let target = config::require("target")?;
    let response = http::get(&target)?;
    if !(300..400).contains(&response.status) {
        return Err(ConnectorError::platform(format!("GET {target} returned HTTP status {}, not a redirect", response.status)));
    }
    let location = response
        .header("location")
        .ok_or_else(|| ConnectorError::invalid_response(format!("redirect from {target} has no Location header")))?
        .to_string();
    http::get(&location)?;
    Ok(empty_page())
}

/// Allocates 1 MiB blocks and writes one byte in every page, so the memory is really used,
/// until the allocator fails and the default allocation error handler aborts.
fn exhaust_memory() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block: Vec<u8> = Vec::with_capacity(MEMORY_BOMB_CHUNK_BYTES);
        let start = block.as_mut_ptr();
        for offset in (0..MEMORY_BOMB_CHUNK_BYTES).step_by(PAGE_BYTES) {
            // SAFETY: `offset` is below the capacity, so the write stays inside the allocation.
            unsafe { std::ptr::write_volatile(start.add(offset), 0xA5) };
        }
        blocks.push(black_box(block));
    }
}

/// Function that [`recurse`] calls, read with a volatile load so the optimiser cannot see that
/// the call is recursive and turn it into a loop.
static NEXT_FRAME: fn(u64) -> u64 = recurse;

/// Recurses until the WebAssembly call stack overflows.
///
/// Frames take no address of a local, so they live only on the engine's native call stack and
/// never touch the shadow stack in linear memory. The host's stack limit then fires, instead of
/// an out-of-bounds access at the bottom of linear memory. The result of the call is used
/// afterwards, so the call is not in tail position either.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // SAFETY: `NEXT_FRAME` is an initialised static, so the pointer is valid and aligned.
    let next_frame = unsafe { std::ptr::read_volatile(&NEXT_FRAME) };
    next_frame(depth + 1).wrapping_mul(3).wrapping_add(depth)
}

fn huge_page() -> OrderPage {
    let order = Order {
        platform_order_id: "hostile-huge-output".to_string(),
        status: OrderStatus::Paid,
        platform_status: "HUGE".to_string(),
        currency: "CNY".to_string(),
        goods_minor: 0,
        shipping_minor: 0,
        paid_minor: 0,
        buyer_nick: String::new(),
        buyer_remark: String::new(),
        seller_remark: String::new(),
        receiver: Address {
            name: String::new(),
            phone: String::new(),
            province: String::new(),
            city: String::new(),
            district: String::new(),
            street: String::new(),
            zip: String::new(),
        },
        created_at_ms: 0,
        modified_at_ms: 0,
        paid_at_ms: None,
        lines: Vec::new(),
        raw: "x".repeat(HUGE_OUTPUT_BYTES),
    };
    OrderPage {
        orders: vec![order],
        next_page_token: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_parse() {
        let cases = [
            ("ok", Mode::Ok),
            ("trap", Mode::Trap),
            ("loop", Mode::Loop),
            ("forbidden-host", Mode::ForbiddenHost),
            ("memory-bomb", Mode::MemoryBomb),
            ("recursion", Mode::Recursion),
            ("huge-output", Mode::HugeOutput),
        ];
        for (name, mode) in cases {
            assert_eq!(Mode::parse(name), Some(mode), "{name}");
        }
        assert_eq!(Mode::parse("Trap"), None);
        assert_eq!(Mode::parse(""), None);
    }

    #[test]
    fn huge_page_size() {
        let page = huge_page();
        assert_eq!(page.orders.len(), 1);
        assert_eq!(page.orders[0].raw.len(), HUGE_OUTPUT_BYTES);
    }
}

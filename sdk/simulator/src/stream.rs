//! The seeded order stream: what each order contains and when it moves through its lifecycle.
//!
//! Order `i` is drawn from ChaCha RNGs keyed by `(seed, i)`, so one order's draw never depends on
//! another's. A live order is then fitted to the stock that earlier orders left (see the `stock`
//! module), so its lines can differ from the draw.
//! Every lifecycle time is rounded down to a whole second. Because TOP times have second precision,
//! a trade whose `modified` is second S has reached its planned state by the start of S, and a
//! query whose window ends at S cannot miss a planned step taken later in S.
//!
//! NOTE: a manual change (shipping, memo, status) made during second S also gets `modified` S, so
//! a query during S whose window ends at S can miss it. Pulls that end their window at least one
//! second in the past return every change.

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SimulatorConfig;
use crate::catalog::{self, Product, Sku};
use crate::changes::{self, ManualChange, PlanCut};
use crate::scripted::{ResolvedLine, ScriptedTrade};
use crate::trade::{LineSnapshot, TradeSnapshot, refund_status, status};

/// Smallest simulated tid. Real TOP tids have 18–19 digits, above the 2^53 that JSON doubles hold.
const TID_BASE: u64 = 1_900_000_000_000_000_000;
/// Distance between the tids of consecutive orders. A trade's line oids lie within it.
const TID_STRIDE: u64 = 1_000;
/// Distance between the tid ranges of two seeds.
const SEED_BLOCK_STRIDE: u64 = 10_000_000_000;
/// Offset of scripted trades within a seed's tid range. Generated orders stay below it for their
/// first 9 million indexes, so the two never share a tid.
const SCRIPTED_TID_OFFSET: u64 = 9_000_000_000;

/// RNG streams of one order, so that changing how one part is drawn leaves the others alone.
const CONTENT_STREAM: u64 = 0;
const LIFECYCLE_STREAM: u64 = 1;
const TIMING_STREAM: u64 = 2;
/// The stream of scripted trade `n`, keyed by `n` in place of an order index.
const SCRIPTED_STREAM: u64 = 3;

/// Unscaled lifecycle delay ranges, in seconds.
const PAY_DELAY: (u64, u64) = (5, 10 * 60);
const SHIP_DELAY: (u64, u64) = (60, 30 * 60);
const FINISH_DELAY: (u64, u64) = (10 * 60, 60 * 60);
const REFUND_REQUEST_DELAY: (u64, u64) = (60, 20 * 60);
const REFUND_SUCCESS_DELAY: (u64, u64) = (60, 10 * 60);
const CLOSE_UNPAID_DELAY: (u64, u64) = (10 * 60, 30 * 60);

/// One lifecycle step of a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Pay,
    Ship,
    Finish,
    RefundRequest { line: usize },
    RefundSuccess { line: usize },
    CloseUnpaid,
}

#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub at: DateTime<Utc>,
    pub step: Step,
}

/// Everything about one order: its fixed content, its timed lifecycle steps and the manual
/// changes made to it.
#[derive(Clone, Debug)]
pub(crate) struct OrderPlan {
    pub created: DateTime<Utc>,
    /// The trade as created (status `WAIT_BUYER_PAY`, no step applied).
    pub initial: TradeSnapshot,
    /// Steps in time order.
    pub events: Vec<Event>,
    /// Manual changes in time order, each at or after every step that had happened when it was
    /// made. The `changes` module describes how they stop later steps.
    pub changes: Vec<ManualChange>,
}

/// One entry of a trade's history as [`OrderPlan::walk`] replays it.
enum Applied<'a> {
    Step(&'a Event),
    Change(&'a ManualChange),
}

impl Applied<'_> {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Step(event) => event.at,
            Self::Change(change) => change.at,
        }
    }
}

impl OrderPlan {
    /// Builds order `index` of the stream that `config` describes, relative to the start instant.
    pub fn generate(config: &SimulatorConfig, start: DateTime<Utc>, index: usize) -> Self {
        let created_ms = creation_offset_ms(config, index);
        let created = instant_at(start, created_ms);
        let mut content_rng = order_rng(config.seed, index, CONTENT_STREAM);
        let initial = generate_trade(&mut content_rng, config.seed, index, created);
        let line_count = initial.lines.len();

        let mut lifecycle_rng = order_rng(config.seed, index, LIFECYCLE_STREAM);
        let events = generate_events(
            &mut lifecycle_rng,
            start,
            created_ms,
            sanitized_scale(config.time_scale),
            line_count,
        );
        Self {
            created,
            initial,
            events,
            changes: Vec::new(),
        }
    }

    /// Builds a scripted trade: scripted trade `number` of the seed, created at `created` with
    /// the given lines. A paid trade has a pay step at its creation and no step after it.
    pub fn scripted(
        config: &SimulatorConfig,
        number: u64,
        spec: &ScriptedTrade,
        lines: &[ResolvedLine],
        created: DateTime<Utc>,
    ) -> Self {
        let mut rng = order_rng(config.seed, number as usize, SCRIPTED_STREAM);
        let tid = scripted_tid(config.seed, number);
        // `renumber_lines` sets the oids below.
        let lines = lines
            .iter()
            .map(|&(product, sku, num)| new_line(tid, product, sku, num, 0))
            .collect();
        let mut initial = generate_trade_around(&mut rng, tid, created, Some(lines));
        initial.post_fee_fen = 0;
        initial.buyer_message = None;
        initial.seller_memo = None;
        if let Some(nick) = &spec.buyer_nick {
            initial.buyer_nick.clone_from(nick);
        }
        renumber_lines(&mut initial);
        let events = if spec.paid {
            vec![Event {
                at: created,
                step: Step::Pay,
            }]
        } else {
            Vec::new()
        };
        Self {
            created,
            initial,
            events,
            changes: Vec::new(),
        }
    }

    /// Calls `visit` with every step and manual change that has happened by `at`, in time order.
    /// A manual change comes after the steps of its own second, and planned steps that a change
    /// stops are skipped.
    fn walk<'a>(&'a self, at: DateTime<Utc>, mut visit: impl FnMut(Applied<'a>)) {
        let mut changes = self
            .changes
            .iter()
            .filter(|change| change.at <= at)
            .peekable();
        let mut cut = PlanCut::None;
        for event in self.events.iter().take_while(|event| event.at <= at) {
            while let Some(change) = changes.next_if(|change| change.at < event.at) {
                cut = cut.after(change);
                visit(Applied::Change(change));
            }
            if cut.keeps(event.step) {
                visit(Applied::Step(event));
            }
        }
        for change in changes {
            visit(Applied::Change(change));
        }
    }

    /// Returns the trade's `modified` at `at` without building the snapshot, or `None` when it has
    /// not been created yet.
    pub fn modified_at(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.created > at {
            return None;
        }
        let mut modified = self.created;
        self.walk(at, |applied| modified = applied.at());
        Some(modified)
    }

    /// Returns the trade in its state at `at`, or `None` when it has not been created yet.
    pub fn snapshot_at(&self, at: DateTime<Utc>) -> Option<TradeSnapshot> {
        if self.created > at {
            return None;
        }
        let mut trade = self.initial.clone();
        self.walk(at, |applied| {
            match &applied {
                Applied::Step(event) => apply_step(&mut trade, event),
                Applied::Change(change) => changes::apply_change(&mut trade, change),
            }
            trade.modified = applied.at();
        });
        for line in &mut trade.lines {
            line.status.clone_from(&trade.status);
        }
        Some(trade)
    }
}

fn apply_step(trade: &mut TradeSnapshot, event: &Event) {
    match event.step {
        Step::Pay => {
            trade.status = status::WAIT_SELLER_SEND_GOODS.to_owned();
            trade.pay_time = Some(event.at);
        }
        Step::Ship => {
            trade.status = status::WAIT_BUYER_CONFIRM_GOODS.to_owned();
            trade.consign_time = Some(event.at);
        }
        Step::Finish => {
            trade.status = status::TRADE_FINISHED.to_owned();
            trade.end_time = Some(event.at);
        }
        Step::RefundRequest { line } => {
            trade.lines[line].refund_status = refund_status::WAIT_SELLER_AGREE.to_owned();
        }
        Step::RefundSuccess { line } => {
            trade.lines[line].refund_status = refund_status::SUCCESS.to_owned();
            trade.status = status::TRADE_CLOSED.to_owned();
            trade.end_time = Some(event.at);
        }
        Step::CloseUnpaid => {
            trade.status = status::TRADE_CLOSED_BY_TAOBAO.to_owned();
            trade.end_time = Some(event.at);
        }
    }
}

/// Returns the time scale to use: a negative or non-finite scale counts as 0 (every step at once).
fn sanitized_scale(scale: f64) -> f64 {
    if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        0.0
    }
}

/// Returns the live order rate to use: a negative or non-finite rate counts as 0 (no live orders).
pub(crate) fn sanitized_rate(rate_per_minute: f64) -> f64 {
    if rate_per_minute.is_finite() && rate_per_minute > 0.0 {
        rate_per_minute
    } else {
        0.0
    }
}

/// Returns when order `index` is created, in milliseconds after the start (negative for history).
///
/// History order `i` of `n` falls at a seeded point in the `i`-th of `n` equal slots of the history
/// span, and live order `k` at exactly `k / rate` minutes after the start.
pub(crate) fn creation_offset_ms(config: &SimulatorConfig, index: usize) -> f64 {
    let history = config.history_orders;
    if index < history {
        let span_ms = config.history_span.as_secs_f64() * 1000.0;
        let slot_ms = span_ms / history as f64;
        let jitter: f64 = order_rng(config.seed, index, TIMING_STREAM).r#gen();
        -span_ms + slot_ms * (index as f64 + jitter)
    } else {
        let live_index = (index - history) as f64;
        live_index * 60_000.0 / sanitized_rate(config.rate_per_minute)
    }
}

/// Converts an offset in milliseconds after `start` to an instant rounded down to a whole second.
pub(crate) fn instant_at(start: DateTime<Utc>, offset_ms: f64) -> DateTime<Utc> {
    let seconds = (offset_ms / 1000.0).floor() as i64;
    start + Duration::seconds(seconds)
}

fn order_rng(seed: u64, index: usize, stream: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(index as u64).to_le_bytes());
    key[16..24].copy_from_slice(b"shopkeep");
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(stream);
    rng
}

fn generate_events(
    rng: &mut ChaCha8Rng,
    start: DateTime<Utc>,
    created_ms: f64,
    scale: f64,
    line_count: usize,
) -> Vec<Event> {
    let mut clock_ms = created_ms;
    let mut events = Vec::new();
    let mut push_after = |rng: &mut ChaCha8Rng, delay: (u64, u64), step: Step| {
        let delay_ms = rng.gen_range(delay.0 * 1000..=delay.1 * 1000) as f64;
        clock_ms += delay_ms * scale;
        events.push(Event {
            at: instant_at(start, clock_ms),
            step,
        });
    };

    // 15% of orders are never paid and get closed by the platform.
    if rng.gen_bool(0.15) {
        push_after(rng, CLOSE_UNPAID_DELAY, Step::CloseUnpaid);
        return events;
    }
    push_after(rng, PAY_DELAY, Step::Pay);

    let path: f64 = rng.r#gen();
    if path < 0.10 {
        // A refund on one line, sometimes after shipping. It closes the whole trade.
        let line = rng.gen_range(0..line_count);
        if rng.gen_bool(0.4) {
            push_after(rng, SHIP_DELAY, Step::Ship);
        }
        push_after(rng, REFUND_REQUEST_DELAY, Step::RefundRequest { line });
        push_after(rng, REFUND_SUCCESS_DELAY, Step::RefundSuccess { line });
    } else if path < 0.75 {
        push_after(rng, SHIP_DELAY, Step::Ship);
        if rng.gen_bool(0.5) {
            push_after(rng, FINISH_DELAY, Step::Finish);
        }
    }
    // The remaining 25% of paid orders wait for the seller to ship them.
    events
}

fn generate_trade(
    rng: &mut ChaCha8Rng,
    seed: u64,
    index: usize,
    created: DateTime<Utc>,
) -> TradeSnapshot {
    let tid = generate_tid(rng, seed, index);
    generate_trade_around(rng, tid, created, None)
}

/// Draws everything of a trade except its tid: the buyer, the receiver, the lines (unless
/// `lines` gives them) and the notes. The draw order is the one the stream has always used.
fn generate_trade_around(
    rng: &mut ChaCha8Rng,
    tid: u64,
    created: DateTime<Utc>,
    lines: Option<Vec<LineSnapshot>>,
) -> TradeSnapshot {
    let buyer_nick = generate_nick(rng);
    let receiver_name = format!(
        "{}{}",
        pick(rng, catalog::SURNAMES),
        pick(rng, catalog::GIVEN_NAMES)
    );
    let receiver_mobile = generate_mobile(rng);
    let region = catalog::REGIONS
        .choose(rng)
        .expect("region table is not empty");
    let receiver_address = generate_street_address(rng, region.streets);

    let lines = lines.unwrap_or_else(|| generate_lines(rng, tid));
    let post_fee_fen = if rng.gen_bool(0.3) { 1_000 } else { 0 };
    let buyer_message = rng
        .gen_bool(0.2)
        .then(|| pick(rng, catalog::BUYER_MESSAGES).to_owned());
    let seller_memo = rng
        .gen_bool(0.05)
        .then(|| pick(rng, catalog::SELLER_MEMOS).to_owned());

    let total_fee_fen = lines.iter().map(|line| line.total_fee_fen).sum::<i64>();
    let payment_fen = lines.iter().map(|line| line.payment_fen).sum::<i64>() + post_fee_fen;
    TradeSnapshot {
        tid,
        status: status::WAIT_BUYER_PAY.to_owned(),
        created,
        modified: created,
        pay_time: None,
        consign_time: None,
        end_time: None,
        payment_fen,
        total_fee_fen,
        post_fee_fen,
        buyer_nick,
        buyer_message,
        seller_memo,
        seller_flag: 0,
        receiver_name,
        receiver_mobile,
        receiver_state: region.state.to_owned(),
        receiver_city: region.city.to_owned(),
        receiver_district: region.district.to_owned(),
        receiver_address,
        receiver_zip: region.zip.to_owned(),
        lines,
    }
}

/// Builds a tid that grows with `index`, so tid order is creation order, and differs between seeds.
fn generate_tid(rng: &mut ChaCha8Rng, seed: u64, index: usize) -> u64 {
    seed_tid_base(seed) + index as u64 * TID_STRIDE + rng.gen_range(0..500)
}

/// Returns the tid of scripted trade `number`. Scripted tids grow with `number` but lie above
/// every generated tid of the seed, so tid order is not creation order across the two kinds.
pub(crate) fn scripted_tid(seed: u64, number: u64) -> u64 {
    seed_tid_base(seed) + SCRIPTED_TID_OFFSET + number * TID_STRIDE
}

/// Returns the smallest tid of a seed's range.
fn seed_tid_base(seed: u64) -> u64 {
    let seed_block = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 100_000;
    TID_BASE + seed_block * SEED_BLOCK_STRIDE
}

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list.choose(rng)
        .copied()
        .expect("catalog list is not empty")
}

fn generate_nick(rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(0.15) {
        // The default nick that Taobao gives a new account.
        return format!("tb{}", rng.gen_range(100_000_000u64..10_000_000_000));
    }
    let mut nick = format!(
        "{}{}",
        pick(rng, catalog::NICK_HEADS),
        pick(rng, catalog::NICK_TAILS)
    );
    if rng.gen_bool(0.4) {
        nick.push_str(&rng.gen_range(1..10_000).to_string());
    }
    nick
}

fn generate_mobile(rng: &mut ChaCha8Rng) -> String {
    let prefix = pick(rng, catalog::MOBILE_PREFIXES);
    let middle = rng.gen_range(0..10_000);
    let last = rng.gen_range(0..10_000);
    if rng.gen_bool(0.6) {
        format!("1{prefix}****{last:04}")
    } else {
        format!("1{prefix}{middle:04}{last:04}")
    }
}

fn generate_street_address(rng: &mut ChaCha8Rng, streets: &[&str]) -> String {
    let street = pick(rng, streets);
    let number = rng.gen_range(1..=999);
    let compound = pick(rng, catalog::COMPOUNDS);
    let building = rng.gen_range(1..=30);
    let unit = rng.gen_range(1..=6);
    let room = rng.gen_range(1..=33) * 100 + rng.gen_range(1..=4);
    format!("{street}{number}号{compound}{building}幢{unit}单元{room}室")
}

fn generate_lines(rng: &mut ChaCha8Rng, tid: u64) -> Vec<LineSnapshot> {
    let line_count = match rng.gen_range(0..100) {
        0..55 => 1,
        55..80 => 2,
        80..92 => 3,
        _ => 4,
    };
    // About 5% of orders contain one unit of an expensive product and so exceed 2,000 yuan.
    let large = rng.gen_bool(0.05);

    let mut chosen: Vec<(&Product, &Sku, u32)> = Vec::new();
    let mut everyday: Vec<&Product> = catalog::EVERYDAY_PRODUCTS.iter().collect();
    everyday.shuffle(rng);
    for (position, &product) in everyday.iter().enumerate().take(line_count) {
        if large && position == 0 {
            let expensive = catalog::EXPENSIVE_PRODUCTS
                .choose(rng)
                .expect("expensive product table is not empty");
            let sku = expensive.skus.choose(rng).expect("product has SKUs");
            chosen.push((expensive, sku, 1));
            continue;
        }
        let sku = product.skus.choose(rng).expect("product has SKUs");
        let num = match rng.gen_range(0..100) {
            0..70 => 1,
            70..90 => 2,
            _ => 3,
        };
        chosen.push((product, sku, num));
    }

    let single = chosen.len() == 1;
    chosen
        .into_iter()
        .enumerate()
        .map(|(position, (product, sku, num))| {
            let total_fee_fen = sku.price_fen * i64::from(num);
            let discount_fen = if rng.gen_bool(0.1) {
                // 5–20% off, in whole fen and always leaving something to pay.
                (total_fee_fen * rng.gen_range(5..=20) / 100).clamp(1, total_fee_fen - 1)
            } else {
                0
            };
            // A single-line trade reuses the tid as its oid, as TOP does.
            let oid = if single {
                tid
            } else {
                tid + 1 + position as u64
            };
            new_line(oid, product, sku, num, discount_fen)
        })
        .collect()
}

fn new_line(oid: u64, product: &Product, sku: &Sku, num: u32, discount_fen: i64) -> LineSnapshot {
    let total_fee_fen = sku.price_fen * i64::from(num);
    LineSnapshot {
        oid,
        num_iid: product.num_iid,
        sku_id: sku.sku_id.to_string(),
        outer_iid: product.outer_iid.to_owned(),
        outer_sku_id: sku.outer_sku_id.to_owned(),
        title: product.title.to_owned(),
        sku_properties_name: sku.properties_name.to_owned(),
        num,
        price_fen: sku.price_fen,
        total_fee_fen,
        payment_fen: total_fee_fen - discount_fen,
        status: status::WAIT_BUYER_PAY.to_owned(),
        refund_status: refund_status::NO_REFUND.to_owned(),
        logistics_company: None,
        invoice_no: None,
    }
}

/// Moves a line to another SKU of its product, keeping its quantity and its discount rate.
pub(crate) fn switch_sku(line: LineSnapshot, sku: &Sku) -> LineSnapshot {
    let total_fee_fen = sku.price_fen * i64::from(line.num);
    let old_discount = line.total_fee_fen - line.payment_fen;
    let discount_fen = if old_discount > 0 && total_fee_fen > 1 && line.total_fee_fen > 0 {
        (total_fee_fen * old_discount / line.total_fee_fen).clamp(1, total_fee_fen - 1)
    } else {
        0
    };
    LineSnapshot {
        sku_id: sku.sku_id.to_string(),
        outer_sku_id: sku.outer_sku_id.to_owned(),
        sku_properties_name: sku.properties_name.to_owned(),
        price_fen: sku.price_fen,
        total_fee_fen,
        payment_fen: total_fee_fen - discount_fen,
        ..line
    }
}

/// Sets the line oids from the tid (a single line reuses it, as TOP does) and recomputes the
/// trade totals from the lines.
pub(crate) fn renumber_lines(trade: &mut TradeSnapshot) {
    let single = trade.lines.len() == 1;
    for (position, line) in trade.lines.iter_mut().enumerate() {
        line.oid = if single {
            trade.tid
        } else {
            trade.tid + 1 + position as u64
        };
    }
    trade.total_fee_fen = trade.lines.iter().map(|line| line.total_fee_fen).sum();
    trade.payment_fen =
        trade.lines.iter().map(|line| line.payment_fen).sum::<i64>() + trade.post_fee_fen;
}

//! Order stream tests: reproducibility, content rules and the lifecycle, through the public API.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use shopkeeper_simulator::catalog::REGIONS;
use shopkeeper_simulator::trade::{refund_status, status};
use shopkeeper_simulator::{Simulator, SimulatorConfig, TradeSnapshot};

fn fixed_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 2, 0, 0).unwrap()
}

fn config(seed: u64, history_orders: usize, rate_per_minute: f64) -> SimulatorConfig {
    SimulatorConfig {
        seed,
        history_orders,
        rate_per_minute,
        ..SimulatorConfig::default()
    }
}

/// The trade without its times, which depend on how many history orders share the span.
fn content_of(trade: &TradeSnapshot) -> TradeSnapshot {
    let mut content = trade.clone();
    content.created = DateTime::UNIX_EPOCH;
    content.modified = DateTime::UNIX_EPOCH;
    content.pay_time = content.pay_time.map(|_| DateTime::UNIX_EPOCH);
    content.consign_time = content.consign_time.map(|_| DateTime::UNIX_EPOCH);
    content.end_time = content.end_time.map(|_| DateTime::UNIX_EPOCH);
    content
}

#[test]
fn same_seed_same_trades() {
    let start = fixed_start();
    let first = Simulator::new_at(config(7, 150, 60.0), start);
    let second = Simulator::new_at(config(7, 150, 60.0), start);
    for at in [
        start,
        start + chrono::Duration::minutes(10),
        start + chrono::Duration::hours(3),
    ] {
        let trades = first.trades_at(at);
        assert_eq!(trades, second.trades_at(at), "trades differ at {at}");
        assert!(trades.len() > 150, "only {} trades at {at}", trades.len());
    }
}

#[test]
fn different_seed_different_trades() {
    let start = fixed_start();
    let at = start + chrono::Duration::hours(3);
    let first = Simulator::new_at(config(1, 100, 0.0), start).trades_at(at);
    let second = Simulator::new_at(config(2, 100, 0.0), start).trades_at(at);
    assert_eq!(first.len(), 100);
    assert_eq!(second.len(), 100);

    let first_tids: HashSet<u64> = first.iter().map(|trade| trade.tid).collect();
    assert!(
        second.iter().all(|trade| !first_tids.contains(&trade.tid)),
        "tids overlap across seeds"
    );
    let same_nick = first
        .iter()
        .zip(&second)
        .filter(|(a, b)| a.buyer_nick == b.buyer_nick)
        .count();
    assert!(
        same_nick < 20,
        "{same_nick} of 100 buyer nicks are equal across seeds"
    );
    let same_lines = first
        .iter()
        .zip(&second)
        .filter(|(a, b)| a.lines == b.lines)
        .count();
    assert!(
        same_lines < 20,
        "{same_lines} of 100 line lists are equal across seeds"
    );
}

#[test]
fn growing_history_keeps_orders() {
    let start = fixed_start();
    let at = start + chrono::Duration::days(2);
    let small = Simulator::new_at(config(3, 50, 0.0), start).trades_at(at);
    let large = Simulator::new_at(config(3, 80, 0.0), start).trades_at(at);
    assert_eq!(small.len(), 50);
    assert_eq!(large.len(), 80);
    for (a, b) in small.iter().zip(&large) {
        assert_eq!(
            content_of(a),
            content_of(b),
            "order {} changed when history grew",
            a.tid
        );
    }
}

#[test]
fn history_and_live_creation_times() {
    let start = fixed_start();
    let span = Duration::from_secs(3600);
    let simulator = Simulator::new_at(
        SimulatorConfig {
            history_orders: 60,
            history_span: span,
            rate_per_minute: 2.0,
            ..SimulatorConfig::default()
        },
        start,
    );
    let span_start = start - chrono::Duration::from_std(span).unwrap();

    assert!(
        simulator
            .trades_at(span_start - chrono::Duration::seconds(1))
            .is_empty()
    );
    let at_start = simulator.trades_at(start);
    // All 60 history orders plus live order 0, created exactly at the start.
    assert_eq!(at_start.len(), 61);
    for trade in &at_start[..60] {
        assert!(
            trade.created >= span_start && trade.created < start,
            "{}",
            trade.created
        );
    }
    assert_eq!(at_start[60].created, start);

    // At 2 orders per minute, live order k is created at start + 30k seconds.
    let later = simulator.trades_at(start + chrono::Duration::seconds(95));
    assert_eq!(later.len(), 64);
    assert_eq!(later[63].created, start + chrono::Duration::seconds(90));

    let mut previous = 0;
    for trade in &later {
        assert!(
            trade.tid > previous,
            "tids are not increasing at {}",
            trade.tid
        );
        previous = trade.tid;
    }
}

#[test]
fn content_follows_rules() {
    let start = fixed_start();
    let trades = Simulator::new_at(config(11, 1000, 0.0), start).trades_at(start);
    assert_eq!(trades.len(), 1000);

    let mut oids = HashSet::new();
    let mut large = 0;
    let mut with_message = 0;
    let mut with_memo = 0;
    let mut discounted_lines = 0;
    let mut masked = 0;
    let mut states = HashSet::new();
    for trade in &trades {
        assert!((1..=4).contains(&trade.lines.len()), "tid {}", trade.tid);
        let goods: i64 = trade
            .lines
            .iter()
            .map(|line| line.price_fen * i64::from(line.num))
            .sum();
        let paid: i64 = trade.lines.iter().map(|line| line.payment_fen).sum();
        assert_eq!(trade.total_fee_fen, goods, "tid {}", trade.tid);
        assert_eq!(
            trade.payment_fen,
            paid + trade.post_fee_fen,
            "tid {}",
            trade.tid
        );
        assert!(
            trade.post_fee_fen == 0 || trade.post_fee_fen == 1_000,
            "tid {}",
            trade.tid
        );

        for line in &trade.lines {
            assert!(oids.insert(line.oid), "duplicate oid {}", line.oid);
            assert!((1..=3).contains(&line.num));
            assert_eq!(line.total_fee_fen, line.price_fen * i64::from(line.num));
            assert!(line.payment_fen > 0 && line.payment_fen <= line.total_fee_fen);
            assert!(line.outer_sku_id.starts_with(&line.outer_iid));
            assert!(!line.sku_properties_name.is_empty());
            if line.payment_fen < line.total_fee_fen {
                discounted_lines += 1;
            }
        }
        if trade.lines.len() == 1 {
            assert_eq!(
                trade.lines[0].oid, trade.tid,
                "a single-line trade reuses its tid"
            );
        }

        let mobile = &trade.receiver_mobile;
        assert_eq!(mobile.chars().count(), 11, "{mobile}");
        assert!(mobile.starts_with('1'), "{mobile}");
        if mobile.contains("****") {
            assert_eq!(&mobile[3..7], "****", "{mobile}");
            masked += 1;
        } else {
            assert!(mobile.chars().all(|c| c.is_ascii_digit()), "{mobile}");
        }
        assert!(
            REGIONS
                .iter()
                .any(|region| region.state == trade.receiver_state
                    && region.city == trade.receiver_city
                    && region.district == trade.receiver_district
                    && region.zip == trade.receiver_zip),
            "unknown region {} {} {}",
            trade.receiver_state,
            trade.receiver_city,
            trade.receiver_district
        );
        states.insert(trade.receiver_state.clone());
        assert!(!trade.receiver_name.is_empty() && !trade.buyer_nick.is_empty());
        assert!(
            trade.receiver_address.contains('号'),
            "{}",
            trade.receiver_address
        );

        if trade.payment_fen > 200_000 {
            large += 1;
        }
        with_message += usize::from(trade.buyer_message.is_some());
        with_memo += usize::from(trade.seller_memo.is_some());
    }

    assert!(
        (20..=100).contains(&large),
        "{large} of 1000 orders exceed 2,000 yuan"
    );
    assert!(
        (140..=260).contains(&with_message),
        "{with_message} of 1000 have a buyer message"
    );
    assert!(
        (10..=100).contains(&with_memo),
        "{with_memo} of 1000 have a seller memo"
    );
    assert!(
        discounted_lines > 50,
        "only {discounted_lines} discounted lines"
    );
    assert!(
        (450..=750).contains(&masked),
        "{masked} of 1000 mobiles are masked"
    );
    assert!(states.len() >= 12, "only {} provinces used", states.len());
}

fn status_rank(status: &str) -> u8 {
    match status {
        status::WAIT_BUYER_PAY => 0,
        status::WAIT_SELLER_SEND_GOODS => 1,
        status::WAIT_BUYER_CONFIRM_GOODS => 2,
        status::TRADE_FINISHED | status::TRADE_CLOSED | status::TRADE_CLOSED_BY_TAOBAO => 3,
        other => panic!("unexpected status {other}"),
    }
}

/// Whether `to` can follow `from`, directly or through steps taken within the same second.
fn is_reachable(from: &str, to: &str) -> bool {
    let next: &[&str] = match from {
        status::WAIT_BUYER_PAY => &[
            status::WAIT_SELLER_SEND_GOODS,
            status::TRADE_CLOSED_BY_TAOBAO,
        ],
        status::WAIT_SELLER_SEND_GOODS => &[status::WAIT_BUYER_CONFIRM_GOODS, status::TRADE_CLOSED],
        status::WAIT_BUYER_CONFIRM_GOODS => &[status::TRADE_FINISHED, status::TRADE_CLOSED],
        _ => &[],
    };
    next.iter()
        .any(|&step| step == to || is_reachable(step, to))
}

#[test]
fn lifecycle_moves_through_statuses() {
    let start = fixed_start();
    // 600 orders a minute. At scale 0.01 the longest path (pay, ship, finish) takes at most
    // 100 min × 0.01 = 60 s, so every order of the first minute is final by start + 3 min.
    let simulator = Simulator::new_at(
        SimulatorConfig {
            history_orders: 0,
            rate_per_minute: 600.0,
            time_scale: 0.01,
            ..SimulatorConfig::default()
        },
        start,
    );

    let mut last: HashMap<u64, TradeSnapshot> = HashMap::new();
    let mut transitions = 0;
    let mut saw_refund_pending = false;
    for second in 0..=180 {
        let at = start + chrono::Duration::seconds(second);
        for trade in simulator.trades_at(at) {
            assert!(
                trade.modified <= at,
                "tid {} modified after {at}",
                trade.tid
            );
            assert!(trade.modified >= trade.created);
            for line in &trade.lines {
                assert_eq!(line.status, trade.status, "line status mirrors the trade");
                if line.refund_status == refund_status::WAIT_SELLER_AGREE {
                    saw_refund_pending = true;
                    assert_ne!(trade.status, status::TRADE_CLOSED);
                }
            }
            if let Some(previous) = last.get(&trade.tid) {
                assert!(trade.modified >= previous.modified);
                if previous.status != trade.status {
                    assert!(
                        is_reachable(&previous.status, &trade.status),
                        "tid {} went from {} to {}",
                        trade.tid,
                        previous.status,
                        trade.status
                    );
                    assert!(status_rank(&trade.status) > status_rank(&previous.status));
                    transitions += 1;
                }
            }
            last.insert(trade.tid, trade);
        }
    }
    assert!(saw_refund_pending, "no refund request was ever pending");
    assert!(transitions > 600, "only {transitions} status changes");

    // Orders keep arriving, so only those created in the first minute must be final by then.
    let end = start + chrono::Duration::minutes(3);
    let first_minute = start + chrono::Duration::minutes(1);
    let finals: Vec<TradeSnapshot> = simulator
        .trades_at(end)
        .into_iter()
        .filter(|trade| trade.created < first_minute)
        .collect();
    assert_eq!(finals.len(), 600);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for trade in &finals {
        *counts.entry(trade.status.as_str()).or_default() += 1;
        let paid = trade.status != status::TRADE_CLOSED_BY_TAOBAO;
        assert_eq!(trade.pay_time.is_some(), paid, "tid {} pay_time", trade.tid);
        let ended = matches!(
            trade.status.as_str(),
            status::TRADE_FINISHED | status::TRADE_CLOSED | status::TRADE_CLOSED_BY_TAOBAO
        );
        assert_eq!(
            trade.end_time.is_some(),
            ended,
            "tid {} end_time",
            trade.tid
        );
        if trade.status == status::WAIT_BUYER_CONFIRM_GOODS
            || trade.status == status::TRADE_FINISHED
        {
            assert!(
                trade.consign_time.is_some(),
                "tid {} consign_time",
                trade.tid
            );
        }
        let refunded: Vec<&str> = trade
            .lines
            .iter()
            .map(|line| line.refund_status.as_str())
            .filter(|refund| *refund != refund_status::NO_REFUND)
            .collect();
        if trade.status == status::TRADE_CLOSED {
            assert_eq!(refunded, [refund_status::SUCCESS], "tid {}", trade.tid);
        } else {
            assert!(
                refunded.is_empty(),
                "tid {} has refunds {refunded:?}",
                trade.tid
            );
        }
        let latest = [trade.pay_time, trade.consign_time, trade.end_time]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(trade.created);
        assert!(
            trade.modified >= latest,
            "tid {} modified before its last step",
            trade.tid
        );
    }
    assert_eq!(
        counts.get(status::WAIT_BUYER_PAY),
        None,
        "unpaid orders left: {counts:?}"
    );

    let share = |name: &str| *counts.get(name).unwrap_or(&0) as f64 / 600.0;
    let expected = [
        (status::TRADE_CLOSED_BY_TAOBAO, 0.09, 0.21),
        (status::TRADE_CLOSED, 0.04, 0.14),
        (status::TRADE_FINISHED, 0.20, 0.36),
        (status::WAIT_BUYER_CONFIRM_GOODS, 0.20, 0.36),
        (status::WAIT_SELLER_SEND_GOODS, 0.14, 0.29),
    ];
    for (name, low, high) in expected {
        let value = share(name);
        assert!(
            value >= low && value <= high,
            "{name} share {value:.3} outside {low}..{high}: {counts:?}"
        );
    }
}

#[test]
fn real_clock_changes_statuses() {
    // History orders created in the last 2 s with delays scaled by 0.001 (pay within 0.6 s,
    // ship within 1.8 s, finish within 3.6 s), so many of them change within the next 2.5 s.
    let simulator = Simulator::new(SimulatorConfig {
        history_orders: 40,
        history_span: Duration::from_secs(2),
        rate_per_minute: 0.0,
        time_scale: 0.001,
        ..SimulatorConfig::default()
    });
    let before = simulator.trades_now();
    std::thread::sleep(Duration::from_millis(2_500));
    let after = simulator.trades_now();
    assert_eq!(before.len(), 40);
    assert_eq!(after.len(), 40);

    let mut changed = 0;
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.tid, new.tid);
        if old.status != new.status {
            changed += 1;
            assert!(
                new.modified > old.modified,
                "tid {} changed without a newer modified",
                new.tid
            );
        }
    }
    assert!(
        changed >= 5,
        "only {changed} of 40 orders changed status in 2.5 s"
    );
}

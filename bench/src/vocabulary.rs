//! Words a trading coach and its users write: the material for generated titles, messages,
//! contexts and search queries, so that text search meets text shaped like production's.

use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

pub const INSTRUMENTS: &[&str] = &[
    "ES", "NQ", "YM", "RTY", "CL", "GC", "SPY", "QQQ", "AAPL", "TSLA", "NVDA", "MSFT", "AMZN",
    "META", "BTC-USD", "ETH-USD", "EUR/USD", "GBP/JPY", "ZN", "6E",
];

const SETUPS: &[&str] = &[
    "opening range breakout",
    "VWAP reclaim",
    "failed breakdown",
    "bull flag",
    "gap fill",
    "double top",
    "trend pullback",
    "liquidity sweep",
    "inside bar breakout",
    "mean reversion fade",
    "earnings drift",
    "range expansion",
];

const EMOTIONS: &[&str] = &[
    "frustrated",
    "anxious",
    "overconfident",
    "calm",
    "impatient",
    "fearful",
    "greedy",
    "hesitant",
    "tilted",
    "focused",
];

const RISK_WORDS: &[&str] = &[
    "stop loss",
    "position size",
    "risk per trade",
    "daily loss limit",
    "drawdown",
    "reward to risk",
    "max exposure",
    "trailing stop",
    "scaling out",
    "break-even stop",
];

const COACHING_FOCUSES: &[&str] = &[
    "risk_management",
    "discipline",
    "entries",
    "exits",
    "trade_management",
    "revenge_trading",
    "patience",
    "journaling",
    "position_sizing",
    "overtrading",
];

const SESSION_TYPES: &[&str] =
    &["live_trading", "paper_trading", "post_session_review", "pre_market_plan", "backtest"];

const TIMEFRAMES: &[&str] = &["1-minute", "5-minute", "15-minute", "hourly", "daily"];

/// Words that occur in generated text, for search queries that find something.
pub const QUERY_WORDS: &[&str] = &[
    "breakout",
    "stop loss",
    "revenge",
    "VWAP",
    "drawdown",
    "position size",
    "AAPL earnings",
    "frustrated",
    "bull flag",
    "gap fill",
    "overtrading",
    "patience",
];

/// A conversation title, at most 255 characters.
pub fn title(rng: &mut impl Rng) -> String {
    let instrument = pick(rng, INSTRUMENTS);
    match rng.random_range(0..5) {
        0 => format!("{instrument} {} review", pick(rng, SETUPS)),
        1 => format!("Feeling {} after {instrument} losses", pick(rng, EMOTIONS)),
        2 => format!("Plan for {instrument}: {}", pick(rng, RISK_WORDS)),
        3 => format!("Why did my {} on {instrument} fail?", pick(rng, SETUPS)),
        _ => format!("Weekly {} check-in", pick(rng, COACHING_FOCUSES).replace('_', " ")),
    }
}

/// A message of the given kind: a user writes shorter text than the coach answers with.
pub fn message(rng: &mut impl Rng, from_user: bool) -> String {
    let sentences = if from_user { rng.random_range(1..=3) } else { rng.random_range(2..=6) };
    let mut text = String::with_capacity(sentences * 90);
    for index in 0..sentences {
        if index > 0 {
            text.push(' ');
        }
        text.push_str(&sentence(rng, from_user));
    }
    text
}

fn sentence(rng: &mut impl Rng, from_user: bool) -> String {
    let instrument = pick(rng, INSTRUMENTS);
    let setup = pick(rng, SETUPS);
    let emotion = pick(rng, EMOTIONS);
    let risk = pick(rng, RISK_WORDS);
    let timeframe = pick(rng, TIMEFRAMES);
    let points = rng.random_range(2..60);
    if from_user {
        match rng.random_range(0..6) {
            0 => format!(
                "I took the {setup} on {instrument} and got stopped out for {points} ticks."
            ),
            1 => format!("I felt {emotion} after the open and moved my {risk}."),
            2 => format!("Should I size down on {instrument} after two losing trades?"),
            3 => format!("The {timeframe} chart on {instrument} looked like a {setup} to me."),
            4 => format!("I keep breaking my {risk} rule when I am {emotion}."),
            _ => format!("Revenge trading again on {instrument}, I added to a loser."),
        }
    } else {
        match rng.random_range(0..6) {
            0 => format!(
                "Your {setup} on {instrument} needed confirmation on the {timeframe} chart first."
            ),
            1 => format!(
                "Being {emotion} is a signal to pause; write it in your journal before the next trade."
            ),
            2 => format!("Define the {risk} before entry and do not move it once you are in."),
            3 => format!(
                "A {points} point move against you is within plan if your {risk} allowed it."
            ),
            4 => format!(
                "Let us review the last three {instrument} trades and compare entries with the plan."
            ),
            _ => format!("Patience beats overtrading: wait for the {setup} to trigger cleanly."),
        }
    }
}

/// A context object like those of docs/context-data.md.
pub fn context(rng: &mut impl Rng, session_id: uuid::Uuid) -> Value {
    let (instrument_count, focus_count) = (rng.random_range(1..=3), rng.random_range(1..=2));
    let instruments: Vec<&str> =
        INSTRUMENTS.choose_multiple(rng, instrument_count).copied().collect();
    let focuses: Vec<&str> = COACHING_FOCUSES.choose_multiple(rng, focus_count).copied().collect();
    json!({
        "trading_session_id": session_id.to_string(),
        "market_hours": rng.random_bool(0.6),
        "trading_instruments": instruments,
        "session_type": pick(rng, SESSION_TYPES),
        "coaching_focus": focuses,
    })
}

/// A search query: one or two words that generated text contains.
pub fn query(rng: &mut impl Rng) -> String {
    if rng.random_bool(0.3) {
        format!("{} {}", pick(rng, QUERY_WORDS), pick(rng, INSTRUMENTS))
    } else {
        pick(rng, QUERY_WORDS).to_owned()
    }
}

pub fn pick<'a>(rng: &mut impl Rng, words: &[&'a str]) -> &'a str {
    words.choose(rng).copied().unwrap_or_default()
}

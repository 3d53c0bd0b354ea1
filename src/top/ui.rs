//! The terminal side of `linerate top`: scrape every interval, draw the table, quit on `q`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table};
use ratatui::{DefaultTerminal, Frame};

use super::scrape::{parse_target, scrape};
use super::table::{self, Counters, KafkaState, Observed, Row, HEADER};
use super::TopArgs;

/// The last two scrapes of one appliance.
#[derive(Default)]
struct History {
    prev: Option<(f64, Counters)>,
    cur: Option<Result<(f64, Counters), String>>,
}

impl History {
    fn push(&mut self, t: f64, result: Result<Counters, String>) {
        if let Some(Ok(c)) = self.cur.take() {
            self.prev = Some(c);
        }
        // A failed scrape keeps the last good one as `prev`, so rates resume afterwards.
        self.cur = Some(result.map(|c| (t, c)));
    }
}

/// Take over the terminal, refresh until `q`, give the terminal back (also on error).
pub fn run(args: &TopArgs) -> anyhow::Result<()> {
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, args);
    ratatui::restore();
    result
}

fn event_loop(terminal: &mut DefaultTerminal, args: &TopArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut history: Vec<History> = args.targets.iter().map(|_| History::default()).collect();
    loop {
        // The certificate file is read again each time, so a renewed certificate is trusted
        // as soon as the appliance presents it.
        let trust = args.trust().map_err(|e| format!("{e:#}"));
        let results = scrape_all(&args.targets, args.scrape_timeout(), &trust);
        let t = started.elapsed().as_secs_f64();
        for (h, r) in history.iter_mut().zip(results) {
            h.push(t, r);
        }
        let observed: Vec<Observed> = args
            .targets
            .iter()
            .zip(&history)
            .map(|(target, h)| Observed {
                target,
                prev: h.prev.as_ref().map(|(t, c)| (*t, c)),
                cur: match &h.cur {
                    Some(Ok((t, c))) => Ok((*t, c)),
                    Some(Err(e)) => Err(e.as_str()),
                    None => Err("not scraped yet"),
                },
            })
            .collect();
        let rows = table::rows(&observed);
        terminal.draw(|f| draw(f, &rows, args))?;
        // Wait for the next refresh, answering keys meanwhile.
        let next = Instant::now() + args.interval();
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            if !event::poll(left)? {
                break;
            }
            if let Event::Key(k) = event::read()? {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if k.kind == KeyEventKind::Press
                    && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c)
                {
                    return Ok(());
                }
            }
        }
    }
}

/// Scrape every target at once (one thread each), results in target order.
fn scrape_all(
    targets: &[String],
    timeout: Duration,
    trust: &Result<Option<Arc<rustls::ClientConfig>>, String>,
) -> Vec<Result<Counters, String>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|t| {
                s.spawn(move || {
                    // A plain-HTTP target does not need the trust (nor fails with it).
                    let trust = match trust {
                        Ok(trust) => trust.as_ref(),
                        Err(e) if parse_target(t).1 => return Err(e.clone()),
                        Err(_) => None,
                    };
                    scrape(t, timeout, trust).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("scrape panicked".into())))
            .collect()
    })
}

fn draw(f: &mut Frame, rows: &[Row], args: &TopArgs) {
    let [title, body, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let totals: Vec<&Row> = rows.iter().filter(|r| r.shard.is_none()).collect();
    let up = totals
        .iter()
        .filter(|r| !matches!(r.kafka, KafkaState::ApplianceDown(_)))
        .count();
    let sum = |get: fn(&Row) -> Option<f64>| totals.iter().filter_map(|r| get(r)).sum::<f64>();
    f.render_widget(
        Paragraph::new(Line::from(format!(
            "linerate top — fleet: {up}/{} appliances up, recv {}/s, delivered {}/s",
            totals.len(),
            table::fmt_rate(sum(|r| r.receive_per_sec)),
            table::fmt_rate(sum(|r| r.deliver_per_sec)),
        )))
        .add_modifier(Modifier::BOLD),
        title,
    );
    let header = TableRow::new(HEADER.map(Cell::from)).style(Style::new().reversed());
    let lines = rows.iter().map(|r| {
        let style = if matches!(r.kafka, KafkaState::ApplianceDown(_))
            || r.shards_down > 0
            || r.spill_blocked
            || !r.drops_per_sec.is_empty()
            || r.kafka == KafkaState::Unreachable
        {
            Style::new().red()
        } else if r.shard.is_none() {
            Style::new().bold()
        } else {
            Style::new()
        };
        TableRow::new(r.cells().map(Cell::from)).style(style)
    });
    let widths = [
        Constraint::Min(21),
        Constraint::Length(12),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Min(14),
        Constraint::Length(7),
        Constraint::Length(18),
        Constraint::Length(10),
        Constraint::Min(5),
    ];
    f.render_widget(
        Table::new(lines, widths)
            .header(header)
            .block(Block::new())
            .column_spacing(1),
        body,
    );
    f.render_widget(
        Paragraph::new(format!(
            "q quit · refresh {} ms · appliances by RECV/s, shards by index · DELIV/s: records Kafka acknowledged, every topic (raw + normalized: 2 per event)",
            args.interval().as_millis()
        ))
        .dim(),
        help,
    );
}

//! `natrix top`: a live full-screen view of a running natrix's statistics,
//! refreshed from its control socket (as `top` does for processes).
//!
//! The statistics are fetched on a thread of their own, so that the keys stay
//! responsive however slowly natrix answers; when natrix cannot be reached,
//! the view shows why and keeps retrying, so that top outlives a restart of
//! the appliance. The terminal is restored on every way out: a quit key,
//! SIGTERM or SIGHUP (kill, or the ssh session closing), an error, or a panic
//! (through a panic hook, since release builds abort).

use crate::control::protocol::{
    BackendStats, FrontendStats, NeighbourStats, StatsReport, WorkerStats,
};
use crate::control::socket::{self, ClientError};
use crate::dataplane::snapshot::BackendStatus;
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::{Frame, Terminal};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shortest and longest refresh interval accepted.
const MIN_INTERVAL: f64 = 0.1;
const MAX_INTERVAL: f64 = 3600.0;

/// What the view shows: the latest statistics and the latest error.
pub struct View {
    /// The control socket asked.
    pub socket: PathBuf,
    pub interval: Duration,
    /// The latest statistics, and when they arrived.
    pub stats: Option<(StatsReport, Instant)>,
    /// The latest failure to get statistics, cleared by the next success.
    pub error: Option<String>,
}

impl View {
    pub fn new(socket: &Path, interval: Duration) -> View {
        View {
            socket: socket.to_path_buf(),
            interval,
            stats: None,
            error: None,
        }
    }

    /// Takes one answer from natrix (statistics or why there are none).
    pub fn update(&mut self, r: Result<StatsReport, String>, at: Instant) {
        match r {
            Ok(s) => {
                self.stats = Some((s, at));
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }
}

/// Asks natrix for one statistics snapshot.
pub fn fetch(path: &Path) -> Result<StatsReport, ClientError> {
    socket::stats(path)
}

/// Runs `natrix top` until a quit key: q, Esc or Ctrl-C.
pub fn run(socket: &Path, interval_secs: f64) -> Result<(), String> {
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval_secs) {
        return Err(format!(
            "--interval must be {MIN_INTERVAL} to {MAX_INTERVAL} seconds"
        ));
    }
    if !std::io::stdout().is_terminal() {
        return Err(
            "natrix top needs a terminal, and its output is not one (`natrix stats` prints a report)"
                .into(),
        );
    }
    let interval = Duration::from_secs_f64(interval_secs);
    let answers = spawn_fetcher(socket.to_path_buf(), interval)?;
    // Signals that would otherwise end the process with the terminal still
    // raw: the loop sees the flag within one poll and leaves the normal way.
    // (In raw mode Ctrl-C is a key; SIGINT from kill is caught too.)
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::flag::register(sig, signalled.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    install_panic_hook();
    let guard = Screen::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .map_err(|e| format!("terminal: {e}"))?;
    let mut view = View::new(socket, interval);
    let r = event_loop(&mut terminal, &mut view, &answers, &signalled);
    drop(terminal);
    drop(guard);
    r
}

/// Fetches statistics every `interval` on a thread of its own; stops once
/// the receiver is gone.
fn spawn_fetcher(
    socket: PathBuf,
    interval: Duration,
) -> Result<Receiver<Result<StatsReport, String>>, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("natrix-top-fetch".into())
        .spawn(move || loop {
            let start = Instant::now();
            if tx.send(fetch(&socket).map_err(|e| e.to_string())).is_err() {
                return;
            }
            std::thread::sleep(interval.saturating_sub(start.elapsed()));
        })
        .map_err(|e| format!("cannot start the statistics thread: {e}"))?;
    Ok(rx)
}

fn event_loop<B: ratatui::backend::Backend>(
    terminal: &mut Terminal<B>,
    view: &mut View,
    answers: &Receiver<Result<StatsReport, String>>,
    signalled: &AtomicBool,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("terminal: {e}");
    let mut dirty = true;
    let mut drawn = Instant::now();
    loop {
        if signalled.load(Ordering::Relaxed) {
            return Ok(());
        }
        loop {
            match answers.try_recv() {
                Ok(r) => {
                    view.update(r, Instant::now());
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    return Err("the statistics thread stopped".into())
                }
            }
        }
        // Redraw at least every second, so that "no answer for N s" counts.
        if dirty || drawn.elapsed() >= Duration::from_secs(1) {
            terminal
                .draw(|f| render(f, view, Instant::now()))
                .map_err(io)?;
            drawn = Instant::now();
            dirty = false;
        }
        if event::poll(Duration::from_millis(50)).map_err(io)? {
            match event::read().map_err(io)? {
                Event::Key(k) if quits(&k) => return Ok(()),
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
    }
}

/// Whether a key quits: q, Esc or Ctrl-C (raw mode turns Ctrl-C into a key).
pub fn quits(k: &KeyEvent) -> bool {
    if k.kind == KeyEventKind::Release {
        return false;
    }
    match k.code {
        KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => true,
        KeyCode::Char('c') | KeyCode::Char('C') => k.modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    }
}

/// The terminal in raw mode on the alternate screen; restored when dropped.
struct Screen;

impl Screen {
    fn enter() -> Result<Screen, String> {
        crossterm::terminal::enable_raw_mode().map_err(|e| format!("terminal: {e}"))?;
        // From here on, dropping the guard restores whatever was changed.
        let guard = Screen;
        crossterm::execute!(
            std::io::stdout(),
            EnterAlternateScreen,
            crossterm::cursor::Hide
        )
        .map_err(|e| format!("terminal: {e}"))?;
        Ok(guard)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal before the panic message is printed (the release
/// profile aborts on panic, so no destructor would).
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

// ---------------------------------------------------------------- rendering

/// Draws the whole view. `now` dates the figures' age.
pub fn render(f: &mut Frame, view: &View, now: Instant) {
    let area = f.area();
    // The header wraps between its groups on narrow terminals.
    let mut head = header_lines(view, area.width);
    head.truncate(3);
    let [head_area, status, body] = Layout::vertical([
        Constraint::Length(head.len() as u16),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(head), head_area);
    f.render_widget(Paragraph::new(status_line(view, now)), status);
    match &view.stats {
        Some((s, _)) => render_tables(f, s, body),
        None => render_waiting(f, view, body),
    }
}

/// The header's groups (natrix, uptime, workers, rates, ...), laid out on as
/// many lines of `width` as they need.
fn header_lines(view: &View, width: u16) -> Vec<Line<'static>> {
    let sep = "  │  ";
    let sep_w = sep.chars().count();
    let mut lines: Vec<Line> = Vec::new();
    let mut cur: Vec<Span> = Vec::new();
    let mut used = 0;
    for g in header_groups(view) {
        let w: usize = g.iter().map(|s| s.width()).sum();
        if !cur.is_empty() && used + sep_w + w > width as usize {
            lines.push(Line::from(std::mem::take(&mut cur)));
            used = 0;
        }
        if !cur.is_empty() {
            cur.push(Span::styled(sep, Style::new().fg(Color::DarkGray)));
            used += sep_w;
        }
        cur.extend(g);
        used += w;
    }
    lines.push(Line::from(cur));
    lines
}

fn header_groups(view: &View) -> Vec<Vec<Span<'static>>> {
    let title = Span::styled(
        "natrix",
        Style::new().add_modifier(Modifier::BOLD).fg(Color::Cyan),
    );
    let Some((s, _)) = &view.stats else {
        return vec![vec![title], vec![Span::raw("no statistics yet")]];
    };
    let t = &s.total;
    let bold = |x: String| Span::styled(x, Style::new().add_modifier(Modifier::BOLD));
    let n = s.workers.len();
    let drops = format!("{}/s", si(t.drop_pps));
    vec![
        vec![title],
        vec![Span::raw("up "), bold(uptime(s.uptime_seconds))],
        vec![
            bold(n.to_string()),
            Span::raw(if n == 1 { " worker" } else { " workers" }),
        ],
        vec![
            Span::raw("rx "),
            bold(format!("{:.3}", t.rx_pps / 1e6)),
            Span::raw(" Mpps  tx "),
            bold(format!("{:.3}", t.tx_pps / 1e6)),
            Span::raw(" Mpps"),
        ],
        vec![
            Span::raw("drops "),
            if t.drop_pps > 0.0 {
                Span::styled(drops, Style::new().fg(Color::Yellow).bold())
            } else {
                bold(drops)
            },
        ],
        vec![
            Span::raw("new conns "),
            bold(format!("{}/s", si(t.new_connections_per_sec))),
        ],
        vec![Span::raw("active "), bold(t.active_connections.to_string())],
        vec![Span::raw("table "), bold(percent(t.occupancy))],
    ]
}

fn status_line(view: &View, now: Instant) -> Line<'static> {
    let dim = Style::new().fg(Color::DarkGray);
    let every = format!("every {}", secs(view.interval.as_secs_f64()));
    match (&view.error, &view.stats) {
        (Some(_), None) => Line::from(vec![
            Span::styled("not connected", Style::new().fg(Color::Red).bold()),
            Span::styled(format!("  ·  retrying {every}  ·  q quit"), dim),
        ]),
        (Some(e), Some((_, at))) => {
            let age = now.saturating_duration_since(*at).as_secs_f64();
            Line::from(vec![
                Span::styled(format!("error: {e}"), Style::new().fg(Color::Red).bold()),
                Span::styled(
                    format!("  (retrying {every}; figures from {} ago)", secs(age)),
                    dim,
                ),
            ])
        }
        (None, Some((_, at))) => {
            let age = now.saturating_duration_since(*at);
            let mut spans = vec![Span::styled(
                format!("{}  ·  refresh {every}  ·  q quit", view.socket.display()),
                dim,
            )];
            if age > (view.interval * 3).max(Duration::from_secs(3)) {
                spans.push(Span::styled(
                    format!("  ·  no answer for {}", secs(age.as_secs_f64())),
                    Style::new().fg(Color::Yellow).bold(),
                ));
            }
            Line::from(spans)
        }
        (None, None) => Line::from(Span::styled(
            format!("asking {} ...  ·  q quit", view.socket.display()),
            dim,
        )),
    }
}

/// Before the first statistics: why there are none yet.
fn render_waiting(f: &mut Frame, view: &View, area: Rect) {
    let text = match &view.error {
        Some(e) => vec![
            Line::from(Span::styled(
                "cannot reach natrix",
                Style::new().fg(Color::Red).bold(),
            )),
            Line::raw(""),
            Line::raw(e.clone()),
            Line::raw(""),
            Line::raw(format!(
                "retrying every {}; q, Esc or Ctrl-C quits",
                secs(view.interval.as_secs_f64())
            )),
        ],
        None => vec![Line::raw(format!(
            "waiting for {} ...",
            view.socket.display()
        ))],
    };
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" natrix top ")),
        area,
    );
}

fn render_tables(f: &mut Frame, s: &StatsReport, area: Rect) {
    let drops: Vec<(&String, u64)> = {
        let mut d: Vec<_> = s
            .drops
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| (k, *v))
            .collect();
        d.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        d
    };
    // Borders, header row, rows (and the workers' total row).
    let workers_h = s.workers.len() as u16 + 4;
    let frontends_h = s.frontends.len().max(1) as u16 + 3;
    let drops_h = drops.len().max(1) as u16 + 3;
    // Long IPv6 addresses widen the backends' table: the drops then go below.
    let wider = address_width(s.backends.iter().map(|b| &b.address)) - 21;
    let side_by_side = area.width >= 130 + wider;
    let mut constraints = vec![
        Constraint::Length(workers_h),
        Constraint::Length(frontends_h),
        Constraint::Min(4),
    ];
    if !side_by_side {
        constraints.push(Constraint::Length(drops_h));
    }
    // The neighbour table, when natrix resolves any, at the bottom.
    if !s.neighbours.is_empty() {
        constraints.push(Constraint::Length(s.neighbours.len() as u16 + 3));
    }
    let parts = Layout::vertical(constraints).split(area);
    if let Some(last) = parts.last().filter(|_| !s.neighbours.is_empty()) {
        render_neighbours(f, &s.neighbours, *last);
    }
    render_workers(f, s, parts[0]);
    render_frontends(f, &s.frontends, parts[1]);
    if side_by_side {
        let [b, d] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(44)]).areas(parts[2]);
        render_backends(f, &s.backends, b);
        render_drops(f, &drops, s.total.dropped, d);
    } else {
        render_backends(f, &s.backends, parts[2]);
        render_drops(f, &drops, s.total.dropped, parts[3]);
    }
}

fn header_row(names: &[&'static str], right_from: usize) -> Row<'static> {
    Row::new(names.iter().enumerate().map(|(i, n)| {
        let l = Line::from(*n);
        Cell::from(if i >= right_from {
            l.right_aligned()
        } else {
            l
        })
    }))
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED))
}

fn right(s: String) -> Cell<'static> {
    Cell::from(Line::from(s).right_aligned())
}

fn block(title: String) -> Block<'static> {
    Block::bordered()
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Span::styled(title, Style::new().fg(Color::Cyan).bold()))
}

fn render_workers(f: &mut Frame, s: &StatsReport, area: Rect) {
    // The cumulative counters only when there is room for them.
    let wide = area.width >= 100;
    let row = |name: String, w: &WorkerStats| {
        let mut cells = vec![
            Cell::from(name),
            right(format!("{:.3}", w.rx_pps / 1e6)),
            right(format!("{:.3}", w.tx_pps / 1e6)),
            right(si(w.drop_pps)),
            right(si(w.new_connections_per_sec)),
            right(w.active_connections.to_string()),
            right(percent(w.occupancy)),
        ];
        if wide {
            cells.extend([
                right(si(w.rx as f64)),
                right(si(w.tx as f64)),
                right(si(w.dropped as f64)),
            ]);
        }
        Row::new(cells)
    };
    let mut rows: Vec<Row> = s
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| row(i.to_string(), w))
        .collect();
    rows.push(row("total".into(), &s.total).style(Style::new().add_modifier(Modifier::BOLD)));
    let mut widths = vec![
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(7),
    ];
    let mut names = vec![
        "worker",
        "rx Mpps",
        "tx Mpps",
        "drops/s",
        "new/s",
        "connections",
        "table",
    ];
    if wide {
        widths.extend([Constraint::Length(10); 3]);
        names.extend(["received", "sent", "dropped"]);
    }
    f.render_widget(
        Table::new(rows, widths)
            .header(header_row(&names, 1))
            .block(block(" workers ".into())),
        area,
    );
}

fn render_frontends(f: &mut Frame, fronts: &[FrontendStats], area: Rect) {
    // The packet counts only when there is room for them.
    let wide = area.width >= 100;
    let rows = fronts.iter().map(|x| {
        let mut cells = vec![
            Cell::from(x.name.clone()),
            Cell::from(x.address.clone()),
            Cell::from(x.protocol.clone()),
            Cell::from(x.kind.clone()),
            right(x.connections.to_string()),
            right(si(x.new_connections_per_sec)),
        ];
        if wide {
            cells.push(right(si(x.packets as f64)));
        }
        cells.push(right(si(x.pps)));
        Row::new(cells)
    });
    let name = fronts.iter().map(|x| x.name.len()).max().unwrap_or(0);
    let (widths, names) = columns(
        &[
            ("frontend", name.clamp(8, 32) as u16),
            ("address", address_width(fronts.iter().map(|x| &x.address))),
            ("proto", 5),
            ("kind", 8),
            ("connections", 11),
            ("new/s", 9),
        ],
        wide,
    );
    f.render_widget(
        Table::new(rows, widths)
            .header(header_row(&names, 4))
            .block(block(format!(" frontends ({}) ", fronts.len()))),
        area,
    );
}

/// The width of an address column: an IPv4 address and port (21), or as
/// wide as the longest IPv6 one (`[address]:port`, at most 47).
fn address_width<'a>(addresses: impl Iterator<Item = &'a String>) -> u16 {
    addresses.map(|a| a.len()).max().unwrap_or(0).clamp(21, 47) as u16
}

/// The widths and names of a table's columns: `fixed` (name, width), then
/// the packet count when the table is `wide`, then the packet rate.
fn columns(fixed: &[(&'static str, u16)], wide: bool) -> (Vec<Constraint>, Vec<&'static str>) {
    let rates: &[(&'static str, u16)] = if wide {
        &[("packets", 10), ("pps", 9)]
    } else {
        &[("pps", 9)]
    };
    fixed
        .iter()
        .chain(rates)
        .map(|&(name, width)| (Constraint::Length(width), name))
        .unzip()
}

fn render_backends(f: &mut Frame, backs: &[BackendStats], area: Rect) {
    // The packet counts only when there is room for them.
    let wide = area.width >= 100;
    let rows = backs.iter().map(|b| {
        let state = match b.state {
            BackendStatus::Active => Style::new().fg(Color::Green),
            BackendStatus::Draining => Style::new().fg(Color::Yellow),
            _ => Style::new().fg(Color::Red),
        };
        let (health, hstyle) = match b.healthy {
            Some(true) => ("healthy", Style::new().fg(Color::Green)),
            Some(false) => ("unhealthy", Style::new().fg(Color::Red).bold()),
            None => ("-", Style::new().fg(Color::DarkGray)),
        };
        let mut cells = vec![
            Cell::from(b.pool.clone()),
            Cell::from(b.address.clone()),
            Cell::from(b.state.name()).style(state),
            Cell::from(health).style(hstyle),
            right(b.weight.to_string()),
            right(b.connections.to_string()),
        ];
        if wide {
            cells.push(right(si(b.packets as f64)));
        }
        cells.push(right(si(b.pps)));
        let row = Row::new(cells);
        if b.state == BackendStatus::Removed {
            row.style(Style::new().add_modifier(Modifier::DIM))
        } else {
            row
        }
    });
    let pool = backs.iter().map(|b| b.pool.len()).max().unwrap_or(0);
    let (widths, names) = columns(
        &[
            ("pool", pool.clamp(4, 32) as u16),
            ("backend", address_width(backs.iter().map(|b| &b.address))),
            ("state", 8),
            ("health", 9),
            ("weight", 6),
            ("connections", 11),
        ],
        wide,
    );
    f.render_widget(
        Table::new(rows, widths)
            .header(header_row(&names, 4))
            .block(block(format!(" backends ({}) ", backs.len()))),
        area,
    );
}

fn render_neighbours(f: &mut Frame, neighbours: &[NeighbourStats], area: Rect) {
    let rows = neighbours.iter().map(|n| {
        let style = match n.state.as_str() {
            "reachable" | "capture" => Style::new().fg(Color::Green),
            "stale" | "incomplete" => Style::new().fg(Color::Yellow),
            _ => Style::new().fg(Color::Red).bold(),
        };
        Row::new(vec![
            Cell::from(n.address.clone()),
            Cell::from(n.mac.clone().unwrap_or_else(|| "-".into())),
            Cell::from(n.state.clone()).style(style),
            Cell::from(n.port.clone()),
            right(secs(n.age_seconds)),
        ])
    });
    let widths = [
        Constraint::Length(address_width(neighbours.iter().map(|n| &n.address))),
        Constraint::Length(17),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(8),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(header_row(&["neighbour", "mac", "state", "port", "age"], 4))
            .block(block(format!(" neighbours ({}) ", neighbours.len()))),
        area,
    );
}

fn render_drops(f: &mut Frame, drops: &[(&String, u64)], total: u64, area: Rect) {
    let rows: Vec<Row> = if drops.is_empty() {
        vec![Row::new(vec![Cell::from("no drops")]).style(Style::new().fg(Color::DarkGray))]
    } else {
        drops
            .iter()
            .map(|(k, v)| {
                Row::new(vec![
                    Cell::from((*k).clone()),
                    right(si(*v as f64)),
                    right(percent(*v as f64 / total.max(1) as f64)),
                ])
            })
            .collect()
    };
    let widths = [
        Constraint::Length(24),
        Constraint::Length(9),
        Constraint::Length(7),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(header_row(&["drop reason", "count", "share"], 1))
            .block(block(" drops since start ".into())),
        area,
    );
}

// --------------------------------------------------------------- formatting

/// A count or rate in at most about six characters: 999, 12.3k, 4.56M, 7.89G.
pub fn si(x: f64) -> String {
    let x = if x.is_finite() { x.max(0.0) } else { 0.0 };
    if x < 1e3 {
        format!("{x:.0}")
    } else if x < 1e6 {
        format!("{:.1}k", x / 1e3)
    } else if x < 1e9 {
        format!("{:.2}M", x / 1e6)
    } else if x < 1e12 {
        format!("{:.2}G", x / 1e9)
    } else {
        format!("{:.2}T", x / 1e12)
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Uptime as `h:mm:ss`, with days in front past one day.
pub fn uptime(seconds: f64) -> String {
    let t = if seconds.is_finite() {
        seconds.max(0.0) as u64
    } else {
        0
    };
    let (d, h, m, s) = (t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

fn secs(x: f64) -> String {
    if x < 10.0 && x.fract() != 0.0 {
        format!("{x:.1} s")
    } else {
        format!("{x:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::{WorkerStats, PROTOCOL_VERSION};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// The screen's text, one string per line.
    fn screen(view: &View, width: u16, height: u16) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
        t.draw(|f| render(f, view, Instant::now())).unwrap();
        let buf = t.backend().buffer().clone();
        (0..height)
            .map(|y| (0..width).map(|x| buf[(x, y)].symbol()).collect())
            .collect()
    }

    #[test]
    fn ipv6_addresses_are_shown_whole() {
        let long = "[2001:db8:ffff:ffff:ffff:ffff:ffff:fffe]:65535";
        let report = StatsReport {
            version: PROTOCOL_VERSION,
            uptime_seconds: 1.0,
            workers: vec![WorkerStats::default()],
            total: WorkerStats::default(),
            drops: Default::default(),
            events: Default::default(),
            frontends: vec![FrontendStats {
                name: "web6".into(),
                address: "[2001:db8::10]:80".into(),
                family: "ipv6".into(),
                protocol: "tcp".into(),
                kind: "balance".into(),
                connections: 0,
                new_connections_per_sec: 0.0,
                packets: 0,
                pps: 0.0,
            }],
            backends: vec![BackendStats {
                pool: "web6".into(),
                frontend: "web6".into(),
                address: long.into(),
                family: "ipv6".into(),
                weight: 1,
                state: BackendStatus::Active,
                healthy: None,
                connections: 0,
                packets: 0,
                pps: 0.0,
            }],
            neighbours: Vec::new(),
        };
        let mut view = View::new(Path::new("/nonexistent"), Duration::from_secs(1));
        view.update(Ok(report), Instant::now());
        let lines = screen(&view, 140, 30);
        let text = lines.join("\n");
        assert!(text.contains("[2001:db8::10]:80"), "{text}");
        assert!(text.contains(long), "{text}");
    }

    #[test]
    fn the_neighbour_table_is_shown() {
        let report = StatsReport {
            version: PROTOCOL_VERSION,
            uptime_seconds: 1.0,
            workers: vec![WorkerStats::default()],
            total: WorkerStats::default(),
            drops: Default::default(),
            events: Default::default(),
            frontends: Vec::new(),
            backends: Vec::new(),
            neighbours: vec![
                NeighbourStats {
                    address: "10.1.0.11".into(),
                    mac: Some("02:00:00:00:01:0b".into()),
                    state: "reachable".into(),
                    port: "private".into(),
                    age_seconds: 2.5,
                },
                NeighbourStats {
                    address: "2001:db8:1::1".into(),
                    mac: None,
                    state: "incomplete".into(),
                    port: "public".into(),
                    age_seconds: 0.0,
                },
            ],
        };
        let mut view = View::new(Path::new("/nonexistent"), Duration::from_secs(1));
        view.update(Ok(report), Instant::now());
        let text = screen(&view, 140, 30).join("\n");
        assert!(text.contains("neighbours (2)"), "{text}");
        for want in [
            "10.1.0.11",
            "02:00:00:00:01:0b",
            "reachable",
            "private",
            "2.5 s",
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
        assert!(
            text.contains("2001:db8:1::1") && text.contains("incomplete"),
            "{text}"
        );
    }
}

//! `ferry analyze --tui`: a terminal viewer in the manner of FtpViewer. The packet list
//! (every FTP control and data segment) on top; below it the selected packet's payload as
//! hex (left) and ASCII (right); a status line with the packet's session and transfer.
//!
//! Keys: `j`/`k` or ↓/↑ move, PgDn/PgUp a page, `g`/`G` (Home/End) first/last, `J`/`K`
//! scroll the payload panes, `q` or Esc quits.
//!
//! Only the visible rows of the packet list are built each frame, so large captures stay
//! responsive.

use std::io;

use anyhow::Context as _;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ferry_analyze::report::hex::{ascii, shown_payload, BYTES_PER_LINE};
use ferry_analyze::report::{printable, relative_secs, short_hash, ReportOptions};
use ferry_analyze::{Analysis, PacketKind, PacketRecord};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

/// The viewer's state.
struct Viewer<'a> {
    analysis: &'a Analysis,
    opts: &'a ReportOptions,
    selected: usize,
    offset: usize,
    list_height: usize,
    pane_scroll: u16,
    /// Width of the address columns (the longest address, at most 47).
    addr_width: u16,
}

/// Runs the viewer until `q`.
pub fn run(analysis: &Analysis, opts: &ReportOptions) -> anyhow::Result<()> {
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let mut viewer = Viewer {
        analysis,
        opts,
        selected: 0,
        offset: 0,
        list_height: 10,
        pane_scroll: 0,
        addr_width: addr_width(analysis),
    };
    let result = (|| -> io::Result<()> {
        loop {
            terminal.draw(|f| viewer.draw(f))?;
            if let Event::Key(key) = event::read()? {
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                if !viewer.key(key.code, key.modifiers) {
                    return Ok(());
                }
            }
        }
    })();
    ratatui::restore();
    result.context("terminal viewer failed")
}

/// The longest source or destination address of the packets (bounded).
fn addr_width(analysis: &Analysis) -> u16 {
    let longest = analysis
        .packets
        .iter()
        .map(|p| p.src.to_string().len().max(p.dst.to_string().len()))
        .max()
        .unwrap_or(12);
    u16::try_from(longest.clamp(12, 47)).unwrap_or(47)
}

impl Viewer<'_> {
    /// Handles a key; false to quit.
    fn key(&mut self, code: KeyCode, mods: KeyModifiers) -> bool {
        let last = self.analysis.packets.len().saturating_sub(1);
        let page = self.list_height.max(1);
        let before = self.selected;
        match code {
            KeyCode::Char('q') | KeyCode::Esc => return false,
            KeyCode::Char('c') if mods.contains(KeyModifiers::CONTROL) => return false,
            KeyCode::Char('j') | KeyCode::Down => self.selected = (self.selected + 1).min(last),
            KeyCode::Char('k') | KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.selected = (self.selected + page).min(last)
            }
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(page),
            KeyCode::Char('g') | KeyCode::Home => self.selected = 0,
            KeyCode::Char('G') | KeyCode::End => self.selected = last,
            KeyCode::Char('J') => self.pane_scroll = self.pane_scroll.saturating_add(1),
            KeyCode::Char('K') => self.pane_scroll = self.pane_scroll.saturating_sub(1),
            _ => {}
        }
        if self.selected != before {
            self.pane_scroll = 0;
        }
        true
    }

    fn draw(&mut self, f: &mut Frame<'_>) {
        let [list, panes, status] = Layout::vertical([
            Constraint::Percentage(55),
            Constraint::Min(6),
            Constraint::Length(2),
        ])
        .areas(f.area());
        self.draw_list(f, list);
        let [hex, text] =
            Layout::horizontal([Constraint::Length(62), Constraint::Min(20)]).areas(panes);
        self.draw_panes(f, hex, text);
        self.draw_status(f, status);
    }

    fn draw_list(&mut self, f: &mut Frame<'_>, area: Rect) {
        let packets = &self.analysis.packets;
        // Borders and the header row take 3 lines.
        self.list_height = usize::from(area.height.saturating_sub(3)).max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + self.list_height {
            self.offset = self.selected + 1 - self.list_height;
        }
        let end = (self.offset + self.list_height).min(packets.len());
        let rows: Vec<Row<'_>> = packets
            .get(self.offset..end)
            .unwrap_or(&[])
            .iter()
            .map(|p| self.row(p))
            .collect();
        let header = Row::new([
            "No.",
            "Time",
            "Source",
            "Destination",
            "Flags",
            "Len",
            "Info",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD));
        let title = format!(
            " {} — {} FTP packets ",
            printable(&self.analysis.capture.name),
            packets.len()
        );
        let table = Table::new(
            rows,
            [
                Constraint::Length(7),
                Constraint::Length(11),
                Constraint::Length(self.addr_width),
                Constraint::Length(self.addr_width),
                Constraint::Length(10),
                Constraint::Length(6),
                Constraint::Min(10),
            ],
        )
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::new().bg(Color::Blue).fg(Color::White));
        let mut state = TableState::default();
        if !packets.is_empty() {
            state.select(Some(self.selected - self.offset));
        }
        f.render_stateful_widget(table, area, &mut state);
    }

    fn row(&self, p: &PacketRecord) -> Row<'static> {
        let info = match p.kind {
            PacketKind::Control => {
                let payload = shown_payload(p, self.opts);
                let text = String::from_utf8_lossy(&payload);
                let first = text.lines().next().unwrap_or("").to_string();
                printable(&first).into_owned()
            }
            PacketKind::Data(i) => format!("data #{} ({} bytes)", i + 1, p.payload_len),
        };
        let style = match p.kind {
            PacketKind::Control => Style::new(),
            PacketKind::Data(_) => Style::new().fg(Color::Magenta),
        };
        Row::new([
            Cell::from(p.frame.to_string()),
            Cell::from(format!("{:.6}", relative_secs(self.analysis, p.ts))),
            Cell::from(p.src.to_string()),
            Cell::from(p.dst.to_string()),
            Cell::from(p.flags.clone()),
            Cell::from(p.payload_len.to_string()),
            Cell::from(info),
        ])
        .style(style)
    }

    fn draw_panes(&self, f: &mut Frame<'_>, hex_area: Rect, text_area: Rect) {
        let Some(p) = self.analysis.packets.get(self.selected) else {
            f.render_widget(
                Paragraph::new("No FTP packets in this capture.").block(Block::bordered()),
                hex_area,
            );
            return;
        };
        let payload = shown_payload(p, self.opts);
        let mut hex_lines = Vec::new();
        let mut text_lines = Vec::new();
        for (i, chunk) in payload.chunks(BYTES_PER_LINE).enumerate() {
            let mut h = format!("{:04x}  ", i * BYTES_PER_LINE);
            for (j, b) in chunk.iter().enumerate() {
                if j == 8 {
                    h.push(' ');
                }
                h.push_str(&format!("{b:02x} "));
            }
            hex_lines.push(Line::from(h));
            text_lines.push(Line::from(
                chunk.iter().map(|&b| ascii(b)).collect::<String>(),
            ));
        }
        let cut = if payload.len() < p.payload_len {
            format!(" (first {} of {} bytes)", payload.len(), p.payload_len)
        } else {
            String::new()
        };
        f.render_widget(
            Paragraph::new(Text::from(hex_lines))
                .scroll((self.pane_scroll, 0))
                .block(Block::bordered().title(format!(" Hex{cut} "))),
            hex_area,
        );
        f.render_widget(
            Paragraph::new(Text::from(text_lines))
                .scroll((self.pane_scroll, 0))
                .block(Block::bordered().title(" ASCII ")),
            text_area,
        );
    }

    fn draw_status(&self, f: &mut Frame<'_>, area: Rect) {
        let packets = &self.analysis.packets;
        let mut info = String::new();
        if let Some(p) = packets.get(self.selected) {
            let session = p
                .session
                .and_then(|id| self.analysis.sessions.iter().find(|s| s.id == id));
            if let Some(s) = session {
                info.push_str(&format!(
                    "session {} {} → {} user {} login {} TLS {}",
                    s.id,
                    s.client,
                    s.server,
                    printable(s.user.as_deref().unwrap_or("-")),
                    s.login.as_str(),
                    s.tls.as_str()
                ));
                if let PacketKind::Data(i) = p.kind {
                    if let Some(t) = s.transfers.get(i) {
                        info.push_str(&format!(
                            " | data #{} {} {} ({}) {} bytes sha256 {} {}",
                            i + 1,
                            printable(&t.command),
                            printable(t.path.as_deref().unwrap_or("")),
                            t.setup.as_str(),
                            t.bytes,
                            short_hash(t.sha256.as_deref()),
                            if t.complete { "complete" } else { "incomplete" }
                        ));
                    }
                }
            }
        }
        let position = format!(
            "packet {}/{}  j/k ↑/↓ move  PgUp/PgDn page  g/G first/last  J/K scroll  q quit",
            if packets.is_empty() {
                0
            } else {
                self.selected + 1
            },
            packets.len()
        );
        f.render_widget(
            Paragraph::new(vec![
                Line::from(info),
                Line::from(position).style(Style::new().add_modifier(Modifier::DIM)),
            ]),
            area,
        );
    }
}

//! `ivschat chat`: the room's lines scroll above a status bar and a prompt, on the terminal's
//! alternate screen in raw mode (restored on every way out). Keys come from a thread of their
//! own (crossterm's reads block); requests run in tasks so a slow answer never freezes typing.

use std::collections::VecDeque;
use std::io::Write;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::{Attribute, Print, SetAttribute};
use crossterm::terminal::{self, ClearType};
use crossterm::{cursor, execute, queue};
use ivschat_client::{ChatClient, ChatSender, Update};
use tokio::sync::mpsc;

use crate::render::text_line;

/// Lines kept for scrolling back into view after a resize.
const KEPT_LINES: usize = 2000;

pub async fn run(mut client: ChatClient, user: &str) -> anyhow::Result<()> {
    let _screen = Screen::enter()?;
    let (keys_tx, mut keys) = mpsc::channel(64);
    std::thread::spawn(move || {
        while let Ok(event) = crossterm::event::read() {
            if keys_tx.blocking_send(event).is_err() {
                break;
            }
        }
    });
    let (notices_tx, mut notices) = mpsc::unbounded_channel::<String>();
    let sender = client.sender();
    let mut view = View {
        lines: VecDeque::new(),
        input: String::new(),
        status: format!("{user} · connected · Enter sends, Ctrl-C leaves"),
    };
    view.push(format!("* joined as {user}"));
    view.draw()?;
    let mut live = true;
    loop {
        tokio::select! {
            update = client.recv(), if live => {
                let Some(update) = update else { live = false; continue };
                view.status = match &update {
                    Update::Disconnected { reconnect_in: Some(_), .. } => format!("{user} · reconnecting"),
                    Update::Disconnected { reconnect_in: None, .. } => format!("{user} · disconnected · Ctrl-C leaves"),
                    Update::Reconnected => format!("{user} · connected · Enter sends, Ctrl-C leaves"),
                    _ => view.status.clone(),
                };
                view.push(text_line(&update));
            }
            notice = notices.recv() => {
                if let Some(notice) = notice {
                    view.push(notice);
                }
            }
            key = keys.recv() => {
                let Some(event) = key else { break };
                if let TermEvent::Key(key) = event {
                    if key.kind != KeyEventKind::Release && !on_key(key, &mut view, &sender, &notices_tx) {
                        break;
                    }
                }
            }
        }
        view.draw()?;
    }
    client.close().await;
    Ok(())
}

/// Handles one key; false to leave.
fn on_key(
    key: KeyEvent,
    view: &mut View,
    sender: &ChatSender,
    notices: &mpsc::UnboundedSender<String>,
) -> bool {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c' | 'd') if ctrl => return false,
        KeyCode::Char('u') if ctrl => view.input.clear(),
        KeyCode::Char(c) => view.input.push(c),
        KeyCode::Backspace => {
            view.input.pop();
        }
        KeyCode::Esc => view.input.clear(),
        KeyCode::Enter => {
            let line = std::mem::take(&mut view.input);
            return submit(line.trim(), sender, notices);
        }
        _ => {}
    }
    true
}

/// Sends a message or runs a `/command`; false for `/quit`.
fn submit(line: &str, sender: &ChatSender, notices: &mpsc::UnboundedSender<String>) -> bool {
    if line.is_empty() {
        return true;
    }
    let sender = sender.clone();
    let notices = notices.clone();
    let mut words = line.splitn(3, ' ');
    match (line.starts_with('/'), words.next()) {
        (true, Some("/quit")) => return false,
        (true, Some("/delete")) => {
            let id = words.next().unwrap_or_default().to_string();
            let reason = words.next().map(str::to_string);
            tokio::spawn(async move {
                if let Err(e) = sender.delete_message(&id, reason.as_deref()).await {
                    let _ = notices.send(format!("! /delete {id}: {e}"));
                }
            });
        }
        (true, Some("/kick")) => {
            let user = words.next().unwrap_or_default().to_string();
            let reason = words.next().map(str::to_string);
            tokio::spawn(async move {
                if let Err(e) = sender.disconnect_user(&user, reason.as_deref()).await {
                    let _ = notices.send(format!("! /kick {user}: {e}"));
                }
            });
        }
        (true, Some(other)) => {
            let _ = notices.send(format!(
                "! unknown command {other}: /delete ID [REASON], /kick USER [REASON], /quit"
            ));
        }
        _ => {
            let content = line.to_string();
            tokio::spawn(async move {
                if let Err(e) = sender.send_message(content).await {
                    let _ = notices.send(format!("! not sent: {e}"));
                }
            });
        }
    }
    true
}

struct View {
    lines: VecDeque<String>,
    input: String,
    status: String,
}

impl View {
    fn push(&mut self, line: String) {
        // Control characters from the room must not drive the terminal.
        let line: String = line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.lines.push_back(line);
        if self.lines.len() > KEPT_LINES {
            self.lines.pop_front();
        }
    }

    fn draw(&self) -> std::io::Result<()> {
        let (cols, rows) = terminal::size()?;
        let (cols, rows) = (usize::from(cols.max(1)), rows.max(3));
        let body = usize::from(rows - 2);
        let mut wrapped: Vec<String> = Vec::new();
        for line in self.lines.iter().rev() {
            let mut pieces = wrap(line, cols);
            pieces.reverse();
            wrapped.extend(pieces);
            if wrapped.len() >= body {
                break;
            }
        }
        wrapped.truncate(body);
        wrapped.reverse();
        let mut out = std::io::stdout();
        queue!(out, terminal::Clear(ClearType::All))?;
        for (row, line) in wrapped.iter().enumerate() {
            queue!(out, cursor::MoveTo(0, row as u16), Print(line))?;
        }
        let status: String = format!("── {} ", self.status).chars().take(cols).collect();
        queue!(
            out,
            cursor::MoveTo(0, rows - 2),
            SetAttribute(Attribute::Reverse),
            Print(format!("{status:<cols$}")),
            SetAttribute(Attribute::Reset),
        )?;
        // The prompt shows the end of a long input.
        let room = cols.saturating_sub(3);
        let shown: String = {
            let chars: Vec<char> = self.input.chars().collect();
            chars[chars.len().saturating_sub(room)..].iter().collect()
        };
        queue!(
            out,
            cursor::MoveTo(0, rows - 1),
            Print(format!("> {shown}"))
        )?;
        out.flush()
    }
}

/// Splits a line into pieces of at most `cols` characters.
fn wrap(line: &str, cols: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(cols).map(|c| c.iter().collect()).collect()
}

/// Raw mode and the alternate screen, undone when dropped (on errors and panics too).
struct Screen;

impl Screen {
    fn enter() -> std::io::Result<Screen> {
        terminal::enable_raw_mode()?;
        execute!(std::io::stdout(), terminal::EnterAlternateScreen)?;
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

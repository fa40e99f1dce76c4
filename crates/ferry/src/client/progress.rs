//! Progress bars (indicatif) with rate and ETA, only when standard error is a terminal
//! (or `--progress`); nothing at all in scripts or with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where bars go: one [`MultiProgress`] per command, so parallel transfers stack.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    quiet: bool,
}

impl Progress {
    /// Bars on when `forced`, or when standard error is a terminal and not `quiet`.
    pub fn new(quiet: bool, forced: bool) -> Progress {
        let on = forced || (!quiet && std::io::stderr().is_terminal());
        let multi = on.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi, quiet }
    }

    /// No bars, no messages.
    #[cfg(test)]
    pub fn hidden() -> Progress {
        Progress {
            multi: None,
            quiet: true,
        }
    }

    /// A bar for one transfer of `total` bytes (unknown: a spinner with the byte count).
    pub fn bar(&self, name: &str, total: Option<u64>) -> Bar {
        let Some(multi) = &self.multi else {
            return Bar(ProgressBar::hidden());
        };
        let pb = match total {
            Some(t) => ProgressBar::new(t).with_style(bytes_style()),
            None => ProgressBar::new_spinner().with_style(spinner_style()),
        };
        let pb = multi.add(pb);
        pb.set_message(shorten(name, 32));
        pb.enable_steady_tick(Duration::from_millis(200));
        Bar(pb)
    }

    /// Prints a line above the bars (or plainly), unless quiet.
    pub fn println(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                if m.println(line).is_err() {
                    eprintln!("{line}");
                }
            }
            None => eprintln!("{line}"),
        }
    }
}

/// One transfer's bar (hidden when bars are off). Cheap to clone and `Send`.
#[derive(Debug, Clone)]
pub struct Bar(ProgressBar);

impl Bar {
    /// Sets the bytes done so far.
    pub fn set(&self, done: u64) {
        self.0.set_position(done);
    }

    /// Adds bytes done.
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:32} {bar:25} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:32} {spinner} {bytes:>10} {bytes_per_sec:>12}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// `name` cut to `max` characters (keeping the end, where the file name is).
fn shorten(name: &str, max: usize) -> String {
    let count = name.chars().count();
    if count <= max {
        return name.to_owned();
    }
    let tail: String = name.chars().skip(count - (max - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_bars_accept_updates() {
        let p = Progress::hidden();
        let b = p.bar("x", Some(10));
        b.set(5);
        b.inc(5);
        b.finish();
    }

    #[test]
    fn shorten_keeps_the_end() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdefgh", 5), "…efgh");
        assert_eq!(shorten("ééééééé", 3), "…éé");
    }
}

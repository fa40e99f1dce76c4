//! `ferry shell`: the classic interactive FTP client, reading commands line by line from
//! standard input (with a `ferry> ` prompt on a terminal, none otherwise, so scripts can
//! pipe commands in).
//!
//! With `-d` every command sent and every reply received is printed like the traditional
//! `ftp -d`: `---> USER alice`, `---> PASS XXXX`, then the reply lines as received.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use ferry_client::{Client, Trace, TraceFn};

use super::args::{ConnArgs, ShellArgs};
use super::exit::{Exit, Failure, Stage};
use super::glob;
use super::progress::Progress;
use super::session::{credentials, prompt_password, Session};
use super::transfer::{download, upload, Ctx};
use super::url::{join, FtpUrl};

/// Longest command line read (longer lines are refused).
const MAX_LINE: usize = 8192;

/// One shell command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellCommand {
    /// Nothing (empty line or comment).
    Nothing,
    /// `open URL|HOST [PORT]`.
    Open(String, Option<u16>),
    /// `user NAME [PASSWORD]`: log in again as another user.
    User(String, Option<String>),
    /// `ls [PATH]`: names.
    Ls(Option<String>),
    /// `dir [PATH]`: the server's long listing.
    Dir(Option<String>),
    /// `cd PATH`.
    Cd(String),
    /// `cdup`.
    Cdup,
    /// `lcd [DIR]`: change the local directory (default: home).
    Lcd(Option<String>),
    /// `pwd`.
    Pwd,
    /// `get REMOTE [LOCAL]`.
    Get(String, Option<String>),
    /// `put LOCAL [REMOTE]`.
    Put(String, Option<String>),
    /// `mget PATTERN...` (globs matched against the listing).
    Mget(Vec<String>),
    /// `mput PATTERN...` (globs matched against the local directory).
    Mput(Vec<String>),
    /// `mkdir PATH`.
    Mkdir(String),
    /// `rmdir PATH`.
    Rmdir(String),
    /// `delete PATH`.
    Delete(String),
    /// `rename FROM TO`.
    Rename(String, String),
    /// `binary`: TYPE I.
    Binary,
    /// `ascii`: TYPE A.
    Ascii,
    /// `passive`: toggle passive/active mode.
    Passive,
    /// `quote LINE`: send a raw command.
    Quote(String),
    /// `close`: log out, stay in the shell.
    Close,
    /// `bye`, `quit`, `exit`.
    Bye,
    /// `help`.
    Help,
}

/// The help text of the shell.
pub const HELP: &str = "\
Commands:
  open URL|HOST [PORT]   connect (user and password from the URL, -u, netrc or a prompt)
  user NAME [PASSWORD]   log in again as NAME
  ls [PATH]              list names          dir [PATH]   long listing (as sent)
  cd PATH | cdup | pwd   remote directory    lcd [DIR]    local directory
  get REMOTE [LOCAL]     download            put LOCAL [REMOTE]   upload
  mget PATTERN...        download matches    mput PATTERN...      upload local matches
  mkdir PATH | rmdir PATH | delete PATH | rename FROM TO
  binary | ascii         transfer type       passive      toggle passive/active mode
  quote LINE             send a raw command  close        disconnect
  bye | quit | exit      leave               help         this text";

/// Splits a line into words: whitespace-separated, with `"..."` and `'...'` quoting and
/// `\` escapes (outside single quotes).
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        Some(q) if q == quote => break,
                        Some('\\') if quote == '"' => {
                            if let Some(n) = chars.next() {
                                cur.push(n);
                            }
                        }
                        Some(x) => cur.push(x),
                        None => return Err("unterminated quote".to_owned()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Parses one line.
pub fn parse(line: &str) -> Result<ShellCommand, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(ShellCommand::Nothing);
    }
    // `quote` keeps the rest of the line verbatim.
    let (verb, rest) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    let verb = verb.to_ascii_lowercase();
    if verb == "quote" || verb == "literal" {
        let rest = rest.trim();
        if rest.is_empty() {
            return Err("usage: quote COMMAND [ARGS]".to_owned());
        }
        return Ok(ShellCommand::Quote(rest.to_owned()));
    }
    let words = split_words(rest)?;
    let n = words.len();
    let arity = |min: usize, max: usize, usage: &str| {
        if n < min || n > max {
            Err(format!("usage: {usage}"))
        } else {
            Ok(())
        }
    };
    let w = |i: usize| words.get(i).cloned();
    let first = || w(0).unwrap_or_default();
    let cmd = match verb.as_str() {
        "open" => {
            arity(1, 2, "open URL|HOST [PORT]")?;
            let port = match w(1) {
                Some(p) => Some(p.parse().map_err(|_| format!("bad port {p:?}"))?),
                None => None,
            };
            ShellCommand::Open(first(), port)
        }
        "user" => {
            arity(1, 2, "user NAME [PASSWORD]")?;
            ShellCommand::User(first(), w(1))
        }
        "ls" | "nlist" => {
            arity(0, 1, "ls [PATH]")?;
            ShellCommand::Ls(w(0))
        }
        "dir" => {
            arity(0, 1, "dir [PATH]")?;
            ShellCommand::Dir(w(0))
        }
        "cd" | "cwd" => {
            arity(1, 1, "cd PATH")?;
            ShellCommand::Cd(first())
        }
        "lcd" => {
            arity(0, 1, "lcd [DIR]")?;
            ShellCommand::Lcd(w(0))
        }
        "get" | "recv" => {
            arity(1, 2, "get REMOTE [LOCAL]")?;
            ShellCommand::Get(first(), w(1))
        }
        "put" | "send" => {
            arity(1, 2, "put LOCAL [REMOTE]")?;
            ShellCommand::Put(first(), w(1))
        }
        "mget" => {
            arity(1, usize::MAX, "mget PATTERN...")?;
            ShellCommand::Mget(words.clone())
        }
        "mput" => {
            arity(1, usize::MAX, "mput PATTERN...")?;
            ShellCommand::Mput(words.clone())
        }
        "mkdir" => {
            arity(1, 1, "mkdir PATH")?;
            ShellCommand::Mkdir(first())
        }
        "rmdir" => {
            arity(1, 1, "rmdir PATH")?;
            ShellCommand::Rmdir(first())
        }
        "delete" | "rm" | "del" => {
            arity(1, 1, "delete PATH")?;
            ShellCommand::Delete(first())
        }
        "rename" => {
            arity(2, 2, "rename FROM TO")?;
            ShellCommand::Rename(first(), w(1).unwrap_or_default())
        }
        simple => {
            let cmd = match simple {
                "cdup" => ShellCommand::Cdup,
                "pwd" => ShellCommand::Pwd,
                "binary" | "bin" | "image" => ShellCommand::Binary,
                "ascii" => ShellCommand::Ascii,
                "passive" => ShellCommand::Passive,
                "close" | "disconnect" => ShellCommand::Close,
                "bye" | "quit" | "exit" => ShellCommand::Bye,
                "help" | "?" => ShellCommand::Help,
                other => return Err(format!("unknown command {other:?} (try help)")),
            };
            arity(0, 0, simple)?;
            cmd
        }
    };
    Ok(cmd)
}

/// How a trace event is printed with `-d`.
pub fn trace_lines(t: &Trace) -> Vec<String> {
    match t {
        Trace::Sent(line) => {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("PASS ") || upper == "PASS" {
                vec!["---> PASS XXXX".to_owned()]
            } else {
                vec![format!("---> {line}")]
            }
        }
        Trace::Received(reply) => String::from_utf8_lossy(&reply.encode())
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

fn tracer() -> TraceFn {
    Box::new(|t: &Trace| {
        let mut out = std::io::stdout().lock();
        for line in trace_lines(t) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    })
}

/// The shell's state.
struct Shell {
    conn: ConnArgs,
    debug: bool,
    client: Option<Client>,
    session: Option<Session>,
    url: Option<FtpUrl>,
    ascii: bool,
    progress: Progress,
}

impl Shell {
    fn client(&mut self) -> Result<&mut Client, Failure> {
        self.client
            .as_mut()
            .ok_or_else(|| Failure::new(Exit::Usage, "not connected (use open)"))
    }

    async fn connect(&mut self, session: Session) -> Result<(), Failure> {
        if let Some(old) = self.client.take() {
            let _ = old.quit().await;
        }
        let trace = self.debug.then(tracer);
        let client = match Client::connect_traced(session.opts.clone(), trace).await {
            Ok(c) => c,
            Err(e) => return Err(Failure::client(&e, Stage::Connect, &session.display)),
        };
        if !self.debug {
            println!("Connected to {}.", session.display);
        }
        self.client = Some(client);
        self.session = Some(session);
        self.ascii = false;
        Ok(())
    }

    async fn open(&mut self, target: &str, port: Option<u16>) -> Result<(), Failure> {
        let text = if super::url::is_url(target) {
            target.to_owned()
        } else if target.contains(':') && !target.starts_with('[') {
            format!("ftp://[{target}]")
        } else {
            format!("ftp://{target}")
        };
        let mut url =
            FtpUrl::parse(&text).map_err(|e| Failure::new(Exit::Usage, format!("{e:#}")))?;
        if let Some(p) = port {
            url.port = p;
        }
        let session = Session::new(&url, &self.conn)
            .map_err(|e| Failure::new(Exit::Usage, format!("{e:#}")))?;
        self.connect(session).await?;
        if !url.path.is_empty() {
            let path = url.path.clone();
            self.client()?
                .cwd(&path)
                .await
                .map_err(|e| Failure::client(&e, Stage::Other, &format!("cd {path}")))?;
        }
        self.url = Some(url);
        Ok(())
    }

    fn ctx(&self) -> Result<Ctx, Failure> {
        let session = self
            .session
            .clone()
            .ok_or_else(|| Failure::new(Exit::Usage, "not connected (use open)"))?;
        Ok(Ctx {
            session,
            progress: self.progress.clone(),
            segments: 1,
            resume: false,
            verify: false,
            limit: self.conn.limit_rate,
        })
    }

    async fn get(&mut self, remote: &str, local: Option<&str>) -> Result<(), Failure> {
        let ctx = self.ctx()?;
        let local =
            PathBuf::from(local.unwrap_or_else(|| remote.rsplit('/').next().unwrap_or(remote)));
        let client = self.client()?;
        let n = download(&ctx, client, remote, &local, None, None).await?;
        println!("{remote}: {n} bytes received");
        Ok(())
    }

    async fn put(&mut self, local: &str, remote: Option<&str>) -> Result<(), Failure> {
        let ctx = self.ctx()?;
        let name = Path::new(local)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(local)
            .to_owned();
        let remote = remote.map_or(name, str::to_owned);
        let client = self.client()?;
        let n = upload(&ctx, client, Path::new(local), &remote).await?;
        println!("{local}: {n} bytes sent");
        Ok(())
    }

    /// Runs one command; `Ok(false)` ends the shell.
    async fn run(&mut self, cmd: ShellCommand) -> Result<bool, Failure> {
        let other = |what: String| {
            move |e: ferry_client::ClientError| Failure::client(&e, Stage::Other, &what)
        };
        match cmd {
            ShellCommand::Nothing => {}
            ShellCommand::Help => println!("{HELP}"),
            ShellCommand::Bye => {
                if let Some(c) = self.client.take() {
                    let _ = c.quit().await;
                }
                return Ok(false);
            }
            ShellCommand::Close => {
                if let Some(c) = self.client.take() {
                    let _ = c.quit().await;
                }
            }
            ShellCommand::Open(target, port) => self.open(&target, port).await?,
            ShellCommand::User(name, pass) => {
                let url = self
                    .url
                    .clone()
                    .ok_or_else(|| Failure::new(Exit::Usage, "not connected (use open)"))?;
                let password = match pass {
                    Some(p) => p,
                    None => prompt_password(&name, &url.host)
                        .map_err(|e| Failure::new(Exit::Usage, format!("{e:#}")))?,
                };
                let session = Session::with_credentials(
                    &url,
                    &self.conn,
                    name,
                    ferry_client::Password::new(password),
                    None,
                )
                .map_err(|e| Failure::new(Exit::Usage, format!("{e:#}")))?;
                self.connect(session).await?;
            }
            ShellCommand::Ls(path) => {
                let entries = self
                    .client()?
                    .list(path.as_deref())
                    .await
                    .map_err(other("ls".into()))?;
                let mut names: Vec<String> = entries.into_iter().map(|e| e.name).collect();
                names.sort();
                for n in names {
                    println!("{n}");
                }
            }
            ShellCommand::Dir(path) => {
                let raw = self
                    .client()?
                    .list_raw(path.as_deref())
                    .await
                    .map_err(other("dir".into()))?;
                print!("{}", String::from_utf8_lossy(&raw));
            }
            ShellCommand::Cd(p) => self
                .client()?
                .cwd(&p)
                .await
                .map_err(other(format!("cd {p}")))?,
            ShellCommand::Cdup => self.client()?.cdup().await.map_err(other("cdup".into()))?,
            ShellCommand::Pwd => {
                let p = self.client()?.pwd().await.map_err(other("pwd".into()))?;
                println!("Remote directory: {p}");
            }
            ShellCommand::Lcd(dir) => {
                let dir = match dir {
                    Some(d) => PathBuf::from(d),
                    None => std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_default(),
                };
                std::env::set_current_dir(&dir).map_err(|e| {
                    Failure::new(Exit::Generic, format!("lcd {}: {e}", dir.display()))
                })?;
                let now = std::env::current_dir().unwrap_or(dir);
                println!("Local directory now {}", now.display());
            }
            ShellCommand::Get(r, l) => self.get(&r, l.as_deref()).await?,
            ShellCommand::Put(l, r) => self.put(&l, r.as_deref()).await?,
            ShellCommand::Mget(patterns) => {
                let mut first = None;
                for pattern in patterns {
                    let parent = super::url::parent_of(&pattern);
                    let name = pattern.rsplit('/').next().unwrap_or(&pattern).to_owned();
                    let entries = self
                        .client()?
                        .list(if parent.is_empty() {
                            None
                        } else {
                            Some(&parent)
                        })
                        .await
                        .map_err(other(format!("mget {pattern}")))?;
                    let matched: Vec<String> = entries
                        .into_iter()
                        .filter(|e| e.kind == ferry_client::EntryKind::File)
                        .filter(|e| glob::matches(&name, &e.name))
                        .map(|e| e.name)
                        .collect();
                    if matched.is_empty() {
                        eprintln!("ferry: {pattern}: no match");
                    }
                    for m in matched {
                        if let Err(f) = self.get(&join(&parent, &m), Some(&m)).await {
                            eprintln!("ferry: error: {f}");
                            first.get_or_insert(f);
                        }
                    }
                }
                if let Some(f) = first {
                    return Err(f);
                }
            }
            ShellCommand::Mput(patterns) => {
                let mut first = None;
                for pattern in patterns {
                    let p = Path::new(&pattern);
                    let dir = p
                        .parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    let name = p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .unwrap_or("")
                        .to_owned();
                    let mut matched = Vec::new();
                    if let Ok(rd) = std::fs::read_dir(dir) {
                        for entry in rd.flatten() {
                            let Some(n) = entry.file_name().to_str().map(str::to_owned) else {
                                continue;
                            };
                            if entry.path().is_file() && glob::matches(&name, &n) {
                                matched.push((entry.path(), n));
                            }
                        }
                    }
                    matched.sort();
                    if matched.is_empty() {
                        eprintln!("ferry: {pattern}: no match");
                    }
                    for (path, n) in matched {
                        let local = path.to_string_lossy().into_owned();
                        if let Err(f) = self.put(&local, Some(&n)).await {
                            eprintln!("ferry: error: {f}");
                            first.get_or_insert(f);
                        }
                    }
                }
                if let Some(f) = first {
                    return Err(f);
                }
            }
            ShellCommand::Mkdir(p) => self
                .client()?
                .mkdir(&p)
                .await
                .map_err(other(format!("mkdir {p}")))?,
            ShellCommand::Rmdir(p) => self
                .client()?
                .rmdir(&p)
                .await
                .map_err(other(format!("rmdir {p}")))?,
            ShellCommand::Delete(p) => self
                .client()?
                .delete(&p)
                .await
                .map_err(other(format!("delete {p}")))?,
            ShellCommand::Rename(a, b) => self
                .client()?
                .rename(&a, &b)
                .await
                .map_err(other(format!("rename {a} {b}")))?,
            ShellCommand::Binary | ShellCommand::Ascii => {
                let ascii = cmd == ShellCommand::Ascii;
                self.client()?
                    .set_ascii(ascii)
                    .await
                    .map_err(other("type".into()))?;
                self.ascii = ascii;
                if !self.debug {
                    println!("Type set to {}.", if ascii { "A" } else { "I" });
                }
            }
            ShellCommand::Passive => {
                self.conn.active = !self.conn.active;
                println!(
                    "Passive mode {}.",
                    if self.conn.active { "off" } else { "on" }
                );
                // The data mode is chosen at connection time: reconnect, keeping the
                // directory and the transfer type.
                if let Some(mut session) = self.session.clone() {
                    let cwd = match self.client.as_mut() {
                        Some(c) => c.pwd().await.ok(),
                        None => None,
                    };
                    session.opts.data_mode = if self.conn.active {
                        ferry_client::DataMode::Active
                    } else {
                        ferry_client::DataMode::Passive
                    };
                    let ascii = self.ascii;
                    self.connect(session).await?;
                    if let Some(dir) = cwd {
                        let _ = self.client()?.cwd(&dir).await;
                    }
                    if ascii {
                        let _ = self.client()?.set_ascii(true).await;
                        self.ascii = true;
                    }
                }
            }
            ShellCommand::Quote(line) => {
                let reply = self
                    .client()?
                    .raw(&line)
                    .await
                    .map_err(other("quote".into()))?;
                if !self.debug {
                    print!("{}", String::from_utf8_lossy(&reply.encode()));
                }
            }
        }
        Ok(true)
    }
}

/// `ferry shell`.
pub async fn run(args: &ShellArgs) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let mut shell = Shell {
        conn: args.conn.clone(),
        debug: args.debug,
        client: None,
        session: None,
        url: None,
        ascii: false,
        progress: Progress::new(args.conn.quiet, args.conn.progress),
    };
    let mut first_failure: Option<Failure> = None;
    let mut failures = 0usize;
    if let Some(u) = &args.url {
        // Check the URL and credentials before anything else (exit 2 on bad input).
        let url = FtpUrl::parse(u).map_err(|e| Failure::new(Exit::Usage, format!("{e:#}")))?;
        let _ = credentials(&url, &args.conn)?;
        if let Err(f) = shell.open(u, None).await {
            eprintln!("ferry: error: {f}");
            if !interactive {
                return Err(f.into());
            }
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<String, String>>(1);
    // Standard input is read on its own thread (blocking reads), one line at a time.
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        loop {
            let mut buf = Vec::new();
            let read = (&mut lock)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf);
            let msg = match read {
                Ok(0) => break,
                Ok(_) if buf.len() > MAX_LINE && !buf.ends_with(b"\n") => {
                    // Skip the rest of the overlong line.
                    let mut sink = Vec::new();
                    let _ = (&mut lock).take(1 << 20).read_until(b'\n', &mut sink);
                    Err(format!("line longer than {MAX_LINE} bytes ignored"))
                }
                Ok(_) => Ok(String::from_utf8_lossy(&buf).into_owned()),
                Err(e) => Err(e.to_string()),
            };
            if tx.blocking_send(msg).is_err() {
                break;
            }
        }
    });
    loop {
        if interactive {
            print!("ferry> ");
            let _ = std::io::stdout().flush();
        }
        let Some(line) = rx.recv().await else { break };
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ferry: {e}");
                continue;
            }
        };
        let cmd = match parse(&line) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ferry: {e}");
                failures += 1;
                first_failure.get_or_insert(Failure::new(Exit::Usage, e));
                continue;
            }
        };
        match shell.run(cmd).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(f) => {
                eprintln!("ferry: error: {f}");
                failures += 1;
                first_failure.get_or_insert(f);
            }
        }
    }
    if let Some(c) = shell.client.take() {
        let _ = c.quit().await;
    }
    // Scripts learn about the first failure through the exit code; a person at the
    // terminal has seen the messages.
    match first_failure {
        Some(f) if !interactive => Err(Failure::new(
            f.exit,
            format!(
                "{failures} shell command(s) failed, the first: {}",
                f.message
            ),
        )
        .into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_client::Reply;

    #[test]
    fn words_and_quotes() {
        assert_eq!(split_words("a  b").unwrap(), ["a", "b"]);
        assert_eq!(
            split_words("\"a b\" 'c d' e\\ f").unwrap(),
            ["a b", "c d", "e f"]
        );
        assert_eq!(split_words("\"\"").unwrap(), [""]);
        assert!(split_words("\"open").is_err());
    }

    #[test]
    fn commands() {
        use ShellCommand as C;
        assert_eq!(parse("  ").unwrap(), C::Nothing);
        assert_eq!(parse("# hi").unwrap(), C::Nothing);
        assert_eq!(
            parse("open ftp://h/").unwrap(),
            C::Open("ftp://h/".into(), None)
        );
        assert_eq!(
            parse("open h 2121").unwrap(),
            C::Open("h".into(), Some(2121))
        );
        assert_eq!(parse("LS").unwrap(), C::Ls(None));
        assert_eq!(parse("dir sub").unwrap(), C::Dir(Some("sub".into())));
        assert_eq!(parse("get \"a b\"").unwrap(), C::Get("a b".into(), None));
        assert_eq!(
            parse("put x y").unwrap(),
            C::Put("x".into(), Some("y".into()))
        );
        assert_eq!(
            parse("mget *.txt *.md c").unwrap(),
            C::Mget(vec!["*.txt".into(), "*.md".into(), "c".into()])
        );
        assert_eq!(
            parse("rename a b").unwrap(),
            C::Rename("a".into(), "b".into())
        );
        assert_eq!(
            parse("quote SITE  HELP").unwrap(),
            C::Quote("SITE  HELP".into())
        );
        assert_eq!(parse("bye").unwrap(), C::Bye);
        assert_eq!(parse("quit").unwrap(), C::Bye);
        assert_eq!(parse("exit").unwrap(), C::Bye);
        assert_eq!(
            parse("user bob pw").unwrap(),
            C::User("bob".into(), Some("pw".into()))
        );
        assert!(parse("frobnicate").is_err());
        assert!(parse("cd").is_err());
        assert!(parse("rename a").is_err());
        assert!(parse("cd a b").is_err());
        assert!(parse("pwd x").is_err());
        assert!(parse("get a b c").is_err());
        assert!(parse("quote").is_err());
    }

    #[test]
    fn trace_format() {
        assert_eq!(
            trace_lines(&Trace::Sent("USER alice".into())),
            ["---> USER alice"]
        );
        assert_eq!(
            trace_lines(&Trace::Sent("PASS ****".into())),
            ["---> PASS XXXX"]
        );
        assert_eq!(
            trace_lines(&Trace::Received(Reply::new(230, "Login successful."))),
            ["230 Login successful."]
        );
        let multi = Reply::multi(211, vec!["Features:".into(), " MDTM".into(), "End".into()]);
        let lines = trace_lines(&Trace::Received(multi));
        assert_eq!(lines.first().map(String::as_str), Some("211-Features:"));
        assert_eq!(lines.last().map(String::as_str), Some("211 End"));
    }
}

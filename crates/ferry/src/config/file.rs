//! Reading `ferry.toml` into a [`RawServe`], keeping the line and column of every value.
//!
//! The document is read as a map from spanned key to spanned [`TomlValue`] (our own small
//! value type that keeps the span of each array element), so that every problem, unknown
//! keys included, can be reported at its place and all of them at once.
//!
//! The file is flat (one key per `ferry serve` flag) but for one array of tables,
//! `[[vhost]]`: one table per virtual host (RFC 7151), read by [`vhost_table`] into a
//! [`RawVhost`] and validated in [`super::vhost`].

use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use super::vhost::{RawVhost, VHOST_KEYS};
use super::{ConfigError, Located, Origin, RawServe};
use crate::cli::UserArg;

/// Largest config file read (a real one is a few hundred bytes).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The keys a config file may hold, one per `ferry serve` flag.
pub(crate) const KNOWN_KEYS: &[&str] = &[
    "listen",
    "root",
    "user",
    "users_file",
    "anonymous",
    "passive_ports",
    "public_host",
    "log_format",
    "log_level",
    "idle_timeout",
    "data_timeout",
    "shutdown_grace",
    "greeting",
    "tls",
    "tls_anonymous",
    "tls_data",
    "allow_ccc",
    "cert",
    "key",
    "state_dir",
    "implicit_listen",
    "tls_session_reuse",
    "client_ca",
    "client_cert",
    "client_cert_user",
    "anonymous_incoming",
    "max_sessions",
    "max_sessions_per_ip",
    "max_sessions_per_user",
    "max_logins_per_minute",
    "max_bad_commands",
    "max_line_length",
    "max_passive_listeners",
    "listing_cache_mib",
    "login_timeout",
    "ban_after",
    "ban_window",
    "ban_time",
    "ban_user_names",
    "login_fail_delay",
    "ban_exempt",
    "allow",
    "deny",
    "upload_rate",
    "download_rate",
    "proxy_protocol_from",
    "metrics_listen",
    "xferlog",
    "audit_log",
    "run_as",
    "vhost",
];

/// Name toml gives the one key of the map it uses to hand out a datetime.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

/// A TOML value whose array elements keep their spans.
#[derive(Debug)]
enum TomlValue {
    String(String),
    Integer(i64),
    Float,
    Boolean(bool),
    Datetime,
    Array(Vec<Spanned<TomlValue>>),
    /// A table, its entries in document order (only `[[vhost]]` tables are read).
    Table(Vec<(String, Spanned<TomlValue>)>),
}

impl TomlValue {
    /// "a string", "an integer", ...: for "expected X, found Y" messages.
    fn kind(&self) -> &'static str {
        match self {
            TomlValue::String(_) => "a string",
            TomlValue::Integer(_) => "an integer",
            TomlValue::Float => "a float",
            TomlValue::Boolean(_) => "a boolean",
            TomlValue::Datetime => "a datetime",
            TomlValue::Array(_) => "an array",
            TomlValue::Table(_) => "a table",
        }
    }
}

impl<'de> Deserialize<'de> for TomlValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TomlValueVisitor)
    }
}

struct TomlValueVisitor;

impl<'de> Visitor<'de> for TomlValueVisitor {
    type Value = TomlValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<TomlValue, E> {
        Ok(TomlValue::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<TomlValue, E> {
        Ok(TomlValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<TomlValue, E> {
        i64::try_from(v)
            .map(TomlValue::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<TomlValue, E> {
        Ok(TomlValue::Float)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<TomlValue, E> {
        Ok(TomlValue::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<TomlValue, E> {
        Ok(TomlValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TomlValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<TomlValue>>()? {
            items.push(item);
        }
        Ok(TomlValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TomlValue, A::Error> {
        let mut entries = Vec::new();
        let mut datetime = false;
        // Keys are read unspanned: the map toml uses to hand out a datetime has a key that
        // carries no span, and a spanned key would fail to deserialize there.
        while let Some(key) = map.next_key::<String>()? {
            if key == TOML_DATETIME_KEY {
                datetime = true;
                map.next_value::<IgnoredAny>()?;
            } else {
                entries.push((key, map.next_value::<Spanned<TomlValue>>()?));
            }
        }
        Ok(if datetime {
            TomlValue::Datetime
        } else {
            TomlValue::Table(entries)
        })
    }
}

/// The top-level table, keys in document order.
struct Document(Vec<(Spanned<String>, Spanned<TomlValue>)>);

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<String>, Spanned<TomlValue>>()? {
            entries.push(entry);
        }
        Ok(Document(entries))
    }
}

/// Reads the config file at `path`. Returns what could be read and every problem found.
pub(crate) fn load(path: &Path) -> (RawServe, Vec<ConfigError>) {
    match read_bounded(path) {
        Ok(text) => parse(path, &text),
        Err(message) => (
            RawServe::default(),
            vec![ConfigError::new(Origin::Flag("--config"), message)],
        ),
    }
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "{} is larger than {MAX_CONFIG_BYTES} bytes",
            path.display()
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// Parses config text; `path` names the file in messages and anchors relative paths.
pub(crate) fn parse(path: &Path, text: &str) -> (RawServe, Vec<ConfigError>) {
    let file = FileRef {
        path: Arc::from(path),
        text,
    };
    let mut raw = RawServe::default();
    let mut errors = Vec::new();
    let doc = match toml::from_str::<Document>(text) {
        Ok(doc) => doc.0,
        Err(e) => {
            let origin = match e.span() {
                Some(span) => file.origin(&span, None),
                None => Origin::Flag("--config"),
            };
            // One line per problem: toml's message may span several.
            let message: Vec<&str> = e.message().lines().map(str::trim).collect();
            errors.push(ConfigError::new(origin, message.join(": ")));
            return (raw, errors);
        }
    };
    let base = path.parent().unwrap_or(Path::new(""));
    for (key, value) in doc {
        let key_span = key.span();
        let key = key.into_inner();
        let mut cx = KeyCx {
            file: &file,
            key: &key,
            errors: &mut errors,
        };
        match key.as_str() {
            "listen" => raw.listen = cx.string_list(value),
            "root" => raw.root = cx.path(value, base),
            "user" => {
                raw.user = cx.string_list(value).map(|list| {
                    list.into_iter()
                        .map(|l| Located {
                            value: UserArg::new(l.value),
                            origin: l.origin,
                        })
                        .collect()
                })
            }
            "users_file" => raw.users_file = cx.path(value, base),
            "anonymous" => raw.anonymous = cx.string(value),
            "passive_ports" => raw.passive_ports = cx.string(value),
            "public_host" => raw.public_host = cx.string(value),
            "log_format" => raw.log_format = cx.string(value),
            "log_level" => raw.log_level = cx.string(value),
            "idle_timeout" => raw.idle_timeout = cx.seconds(value),
            "data_timeout" => raw.data_timeout = cx.seconds(value),
            "shutdown_grace" => raw.shutdown_grace = cx.seconds(value),
            "greeting" => raw.greeting = cx.string(value),
            "tls" => raw.tls = cx.string(value),
            "tls_anonymous" => raw.tls_anonymous = cx.string(value),
            "tls_data" => raw.tls_data = cx.string(value),
            "allow_ccc" => raw.allow_ccc = cx.boolean(value),
            "cert" => raw.cert = cx.path(value, base),
            "key" => raw.key = cx.path(value, base),
            "state_dir" => raw.state_dir = cx.path(value, base),
            "implicit_listen" => raw.implicit_listen = cx.string_list(value),
            "tls_session_reuse" => raw.tls_session_reuse = cx.string(value),
            "client_ca" => raw.client_ca = cx.path(value, base),
            "client_cert" => raw.client_cert = cx.string(value),
            "client_cert_user" => raw.client_cert_user = cx.string_list(value),
            "anonymous_incoming" => raw.anonymous_incoming = cx.string(value),
            "max_sessions" => raw.max_sessions = cx.integer(value),
            "max_sessions_per_ip" => raw.max_sessions_per_ip = cx.integer(value),
            "max_sessions_per_user" => raw.max_sessions_per_user = cx.integer(value),
            "max_logins_per_minute" => raw.max_logins_per_minute = cx.integer(value),
            "max_bad_commands" => raw.max_bad_commands = cx.integer(value),
            "max_line_length" => raw.max_line_length = cx.integer(value),
            "max_passive_listeners" => raw.max_passive_listeners = cx.integer(value),
            "listing_cache_mib" => raw.listing_cache_mib = cx.integer(value),
            "login_timeout" => raw.login_timeout = cx.seconds(value),
            "ban_after" => raw.ban_after = cx.integer(value),
            "ban_window" => raw.ban_window = cx.seconds(value),
            "ban_time" => raw.ban_time = cx.seconds(value),
            "ban_user_names" => raw.ban_user_names = cx.boolean(value),
            "login_fail_delay" => raw.login_fail_delay = cx.seconds(value),
            "ban_exempt" => raw.ban_exempt = cx.string_list(value),
            "allow" => raw.allow = cx.string_list(value),
            "deny" => raw.deny = cx.string_list(value),
            "upload_rate" => raw.upload_rate = cx.rate(value),
            "download_rate" => raw.download_rate = cx.rate(value),
            "proxy_protocol_from" => raw.proxy_protocol_from = cx.string_list(value),
            "metrics_listen" => raw.metrics_listen = cx.string(value),
            "xferlog" => raw.xferlog = cx.path(value, base),
            "audit_log" => raw.audit_log = cx.path(value, base),
            "run_as" => raw.run_as = cx.string(value),
            "vhost" => raw.vhost = Some(vhosts(&file, value, base, &mut errors)),
            _ => errors.push(ConfigError::new(
                file.origin(&key_span, Some(&key)),
                format!("unknown key (known keys: {})", KNOWN_KEYS.join(", ")),
            )),
        }
    }
    (raw, errors)
}

/// `[[vhost]]`: an array of tables, one per virtual host.
fn vhosts(
    file: &FileRef<'_>,
    value: Spanned<TomlValue>,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<RawVhost> {
    let span = value.span();
    let items = match value.into_inner() {
        TomlValue::Array(items) => items,
        other => {
            errors.push(ConfigError::new(
                file.origin(&span, Some("vhost")),
                format!(
                    "expected [[vhost]] tables (an array of tables), found {}",
                    other.kind()
                ),
            ));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let item_span = item.span();
        match item.into_inner() {
            TomlValue::Table(entries) => {
                out.push(vhost_table(file, &item_span, entries, base, errors));
            }
            other => errors.push(ConfigError::new(
                file.origin(&item_span, Some("vhost")),
                format!("expected a [[vhost]] table, found {}", other.kind()),
            )),
        }
    }
    out
}

/// One `[[vhost]]` table; its keys are reported as `vhost.KEY`.
fn vhost_table(
    file: &FileRef<'_>,
    span: &Range<usize>,
    entries: Vec<(String, Spanned<TomlValue>)>,
    base: &Path,
    errors: &mut Vec<ConfigError>,
) -> RawVhost {
    let mut raw = RawVhost::new(file.origin(span, Some("vhost")));
    for (key, value) in entries {
        let key_span = key_span_before(file.text, &key, value.span().start);
        let key = format!("vhost.{key}");
        let mut cx = KeyCx {
            file,
            key: &key,
            errors,
        };
        match key.trim_start_matches("vhost.") {
            "name" => raw.names = cx.string_list(value),
            "names" => raw.names = cx.string_list(value),
            "root" => raw.root = cx.path(value, base),
            "users_file" => raw.users_file = cx.path(value, base),
            "anonymous" => raw.anonymous = cx.string(value),
            "cert" => raw.cert = cx.path(value, base),
            "key" => raw.key = cx.path(value, base),
            "greeting" => raw.greeting = cx.string(value),
            _ => errors.push(ConfigError::new(
                file.origin(&key_span, Some(&key)),
                format!(
                    "unknown key in [[vhost]] (known keys: {})",
                    VHOST_KEYS.join(", ")
                ),
            )),
        }
    }
    raw
}

/// Where `key` is written, looking back from its value at `value_start` (table keys are
/// read without spans); the value's own place when the key is not found.
fn key_span_before(text: &str, key: &str, value_start: usize) -> Range<usize> {
    let before = text.get(..value_start).unwrap_or(text);
    match before.rfind(key) {
        Some(at) => at..at + key.len(),
        None => value_start..value_start,
    }
}

/// The file being read: its name for messages and its text for line numbers.
struct FileRef<'a> {
    path: Arc<Path>,
    text: &'a str,
}

impl FileRef<'_> {
    fn origin(&self, span: &Range<usize>, key: Option<&str>) -> Origin {
        let (line, column) = line_col(self.text, span.start);
        Origin::File {
            path: self.path.clone(),
            line,
            column,
            key: key.map(str::to_string),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Converts the value of one key, recording type errors.
struct KeyCx<'a, 'f> {
    file: &'a FileRef<'f>,
    key: &'a str,
    errors: &'a mut Vec<ConfigError>,
}

impl KeyCx<'_, '_> {
    fn origin(&self, span: &Range<usize>) -> Origin {
        self.file.origin(span, Some(self.key))
    }

    fn wrong_type(&mut self, span: &Range<usize>, expected: &str, found: &TomlValue) {
        let origin = self.origin(span);
        self.errors.push(ConfigError::new(
            origin,
            format!("expected {expected}, found {}", found.kind()),
        ));
    }

    fn string(&mut self, value: Spanned<TomlValue>) -> Option<Located<String>> {
        let span = value.span();
        match value.into_inner() {
            TomlValue::String(s) => Some(Located {
                value: s,
                origin: self.origin(&span),
            }),
            other => {
                self.wrong_type(&span, "a string", &other);
                None
            }
        }
    }

    fn boolean(&mut self, value: Spanned<TomlValue>) -> Option<Located<bool>> {
        let span = value.span();
        match value.into_inner() {
            TomlValue::Boolean(b) => Some(Located {
                value: b,
                origin: self.origin(&span),
            }),
            other => {
                self.wrong_type(&span, "true or false", &other);
                None
            }
        }
    }

    /// An array of strings; a single string is taken as a one-element array.
    fn string_list(&mut self, value: Spanned<TomlValue>) -> Option<Vec<Located<String>>> {
        let span = value.span();
        match value.into_inner() {
            TomlValue::String(s) => Some(vec![Located {
                value: s,
                origin: self.origin(&span),
            }]),
            TomlValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let item_span = item.span();
                    match item.into_inner() {
                        TomlValue::String(s) => out.push(Located {
                            value: s,
                            origin: self.origin(&item_span),
                        }),
                        other => self.wrong_type(&item_span, "a string", &other),
                    }
                }
                Some(out)
            }
            other => {
                self.wrong_type(&span, "an array of strings", &other);
                None
            }
        }
    }

    /// A path, relative to the config file's directory when not absolute.
    fn path(&mut self, value: Spanned<TomlValue>, base: &Path) -> Option<Located<PathBuf>> {
        let s = self.string(value)?;
        Some(Located {
            value: base.join(&s.value),
            origin: s.origin,
        })
    }

    /// A whole number (and, with `text_too`, a string such as `"1MiB"`), kept as text for
    /// the shared validation; `expected` names the type in messages.
    fn number_text(
        &mut self,
        value: Spanned<TomlValue>,
        text_too: bool,
        expected: &str,
    ) -> Option<Located<String>> {
        let span = value.span();
        let text = match value.into_inner() {
            TomlValue::Integer(n) => n.to_string(),
            TomlValue::String(s) if text_too => s,
            other => {
                self.wrong_type(&span, expected, &other);
                return None;
            }
        };
        Some(Located {
            value: text,
            origin: self.origin(&span),
        })
    }

    /// A whole number, kept as text for the shared validation.
    fn integer(&mut self, value: Spanned<TomlValue>) -> Option<Located<String>> {
        self.number_text(value, false, "an integer")
    }

    /// A rate: bytes per second as an integer, or a string with a unit (`"1MiB"`).
    fn rate(&mut self, value: Spanned<TomlValue>) -> Option<Located<String>> {
        self.number_text(value, true, "bytes per second (e.g. 1048576 or \"1MiB\")")
    }

    /// A whole number of seconds, kept as text for the shared validation.
    fn seconds(&mut self, value: Spanned<TomlValue>) -> Option<Located<String>> {
        self.number_text(value, false, "an integer number of seconds")
    }
}

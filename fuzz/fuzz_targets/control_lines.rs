//! Any bytes as a control connection, in both directions: the line decoder, the command
//! parser and the reply parser must never panic, and memory stays bounded.
#![no_main]

use ferry_proto::line::{LineDecoder, LineEvent};
use ferry_proto::reply::ReplyParser;
use ferry_proto::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoder = LineDecoder::new();
    let mut replies = ReplyParser::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (n, event) = decoder.decode(rest);
        rest = rest.get(n..).unwrap_or_default();
        if let Some(LineEvent::Line(line)) = event {
            let _ = Command::parse(&line);
            let _ = replies.push_line(&line);
        }
        if n == 0 {
            break;
        }
    }
    assert!(decoder.pending() <= ferry_proto::line::MAX_LINE);
});

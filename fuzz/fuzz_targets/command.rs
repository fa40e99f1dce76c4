//! Any bytes as a command line: Command::parse never panics, and encode/parse round-trips.
//! The body is `ferry_proto::fuzzing::command`, also replayed on the committed corpus by
//! crates/ferry-proto/tests/fuzz_corpus.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_proto::fuzzing::command(data));

//! Any bytes as a control connection, in both directions: the line decoder, the command
//! parser and the reply parser never panic, and memory stays bounded.
//! The body is `ferry_proto::fuzzing::control_lines`, also replayed on the committed corpus by
//! crates/ferry-proto/tests/fuzz_corpus.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_proto::fuzzing::control_lines(data));

//! LIST, MLSD, NLST bodies and MLST replies through the client listing parsers.
//! The body is `ferry_proto::fuzzing::listing`, also replayed on the committed corpus by
//! crates/ferry-proto/tests/fuzz_corpus.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferry_proto::fuzzing::listing(data));

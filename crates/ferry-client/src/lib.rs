//! # ferry-client: Ferry's FTP/FTPS client library
//!
//! (Being written; see the crate docs once it lands.)

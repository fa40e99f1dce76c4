//! The server session state machine (in progress).

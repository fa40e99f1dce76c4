//! FTP layer (in progress).

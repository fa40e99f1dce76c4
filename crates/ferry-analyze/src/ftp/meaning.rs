//! What each FTP verb means (RFC 959 and its extensions), for every output.

/// A one-line explanation of a command verb (upper-case), e.g.
/// `"RETR: retrieve a file (download)"`. Unknown verbs get `"unknown command"`.
pub fn command_meaning(verb: &str) -> &'static str {
    match verb {
        "USER" => "USER: user name for login (RFC 959)",
        "PASS" => "PASS: password for login (RFC 959)",
        "ACCT" => "ACCT: account information (RFC 959)",
        "CWD" | "XCWD" => "CWD: change working directory (RFC 959)",
        "CDUP" | "XCUP" => "CDUP: change to parent directory (RFC 959)",
        "SMNT" => "SMNT: structure mount (RFC 959)",
        "QUIT" => "QUIT: log out and close the control connection (RFC 959)",
        "REIN" => "REIN: reinitialize the session (RFC 959)",
        "PORT" => "PORT: client announces an address for an active data connection (RFC 959)",
        "PASV" => "PASV: ask the server to listen for a passive data connection (RFC 959)",
        "EPRT" => "EPRT: extended PORT, IPv4 or IPv6 (RFC 2428)",
        "EPSV" => "EPSV: extended PASV, port only (RFC 2428)",
        "LPRT" => "LPRT: long PORT (RFC 1639)",
        "LPSV" => "LPSV: long PASV (RFC 1639)",
        "TYPE" => "TYPE: representation type, A=ASCII I=binary (RFC 959)",
        "STRU" => "STRU: file structure (RFC 959)",
        "MODE" => "MODE: transfer mode (RFC 959)",
        "RETR" => "RETR: retrieve a file (download) (RFC 959)",
        "STOR" => "STOR: store a file (upload) (RFC 959)",
        "STOU" => "STOU: store a file under a unique name (RFC 959)",
        "APPE" => "APPE: append to a file (upload) (RFC 959)",
        "ALLO" => "ALLO: allocate storage (RFC 959)",
        "REST" => "REST: restart the next transfer at this offset (RFC 959, RFC 3659)",
        "RNFR" => "RNFR: rename from (RFC 959)",
        "RNTO" => "RNTO: rename to (RFC 959)",
        "ABOR" => "ABOR: abort the transfer in progress (RFC 959)",
        "DELE" => "DELE: delete a file (RFC 959)",
        "RMD" | "XRMD" => "RMD: remove a directory (RFC 959)",
        "MKD" | "XMKD" => "MKD: make a directory (RFC 959)",
        "PWD" | "XPWD" => "PWD: print working directory (RFC 959)",
        "LIST" => "LIST: directory listing over a data connection (RFC 959)",
        "NLST" => "NLST: name list over a data connection (RFC 959)",
        "SITE" => "SITE: site-specific command (RFC 959)",
        "SYST" => "SYST: server operating system type (RFC 959)",
        "STAT" => "STAT: status (RFC 959)",
        "HELP" => "HELP: help (RFC 959)",
        "NOOP" => "NOOP: no operation (RFC 959)",
        "FEAT" => "FEAT: list extensions (RFC 2389)",
        "OPTS" => "OPTS: set options of a command (RFC 2389)",
        "AUTH" => "AUTH: start a security mechanism such as TLS (RFC 2228, RFC 4217)",
        "ADAT" => "ADAT: authentication/security data (RFC 2228)",
        "PBSZ" => "PBSZ: protection buffer size (RFC 2228)",
        "PROT" => "PROT: data channel protection level, C=clear P=private (RFC 2228)",
        "CCC" => "CCC: clear command channel (RFC 2228)",
        "MIC" | "CONF" | "ENC" => "protected command (RFC 2228)",
        "SIZE" => "SIZE: file size (RFC 3659)",
        "MDTM" => "MDTM: file modification time (RFC 3659)",
        "MLST" => "MLST: machine-readable facts about one file (RFC 3659)",
        "MLSD" => "MLSD: machine-readable directory listing over a data connection (RFC 3659)",
        "MFMT" => "MFMT: set file modification time (draft-somers-ftp-mfxx)",
        "LANG" => "LANG: language of replies (RFC 2640)",
        "HOST" => "HOST: virtual host name (RFC 7151)",
        "HASH" => "HASH: file checksum (draft-bryan-ftpext-hash)",
        "XMD5" | "XSHA1" | "XSHA256" | "XSHA512" | "XCRC" => "file checksum (non-standard)",
        "<overlong>" => "a command line longer than the limit (discarded)",
        _ => "unknown command",
    }
}

/// Transfer commands: those that use a data connection.
pub fn is_transfer(verb: &str) -> bool {
    matches!(
        verb,
        "LIST" | "NLST" | "MLSD" | "RETR" | "STOR" | "STOU" | "APPE"
    )
}

/// Directory listings.
pub fn is_listing(verb: &str) -> bool {
    matches!(verb, "LIST" | "NLST" | "MLSD")
}

/// Uploads.
pub fn is_upload(verb: &str) -> bool {
    matches!(verb, "STOR" | "STOU" | "APPE")
}

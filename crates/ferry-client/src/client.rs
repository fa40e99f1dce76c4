//! [`Client`]: one control connection and the data connections it opens.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::{
    ClientError, ConnectOptions, Features, RemoteEntry, RemoteHash, Reply, StoreMode, Trace,
};

/// A logged-in FTP/FTPS session.
pub struct Client {
    _todo: (),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

#[allow(unused_variables, clippy::unused_async)]
impl Client {
    /// Connects and logs in: greeting, `AUTH TLS`/`PBSZ 0`/`PROT P` when explicit FTPS,
    /// login, `FEAT`, `OPTS UTF8 ON` when offered, `TYPE I`.
    pub async fn connect(opts: ConnectOptions) -> Result<Client, ClientError> {
        todo!()
    }
    /// Installs (or removes) the protocol trace callback.
    pub fn set_trace(&mut self, trace: Option<Box<dyn FnMut(&Trace) + Send>>) {
        todo!()
    }
    /// The features from `FEAT` (empty if FEAT failed).
    pub fn features(&self) -> &Features {
        todo!()
    }
    /// The server's greeting (220).
    pub fn greeting(&self) -> &Reply {
        todo!()
    }
    /// True when the control connection is TLS.
    pub fn is_tls(&self) -> bool {
        todo!()
    }
    /// Sends one raw command line (`quote`) and returns its final reply, whatever its code.
    pub async fn raw(&mut self, line: &str) -> Result<Reply, ClientError> {
        todo!()
    }
    /// `PWD`: the current directory.
    pub async fn pwd(&mut self) -> Result<String, ClientError> {
        todo!()
    }
    /// `CWD path`.
    pub async fn cwd(&mut self, path: &str) -> Result<(), ClientError> {
        todo!()
    }
    /// `CDUP`.
    pub async fn cdup(&mut self) -> Result<(), ClientError> {
        todo!()
    }
    /// `MKD path`.
    pub async fn mkdir(&mut self, path: &str) -> Result<(), ClientError> {
        todo!()
    }
    /// `RMD path`.
    pub async fn rmdir(&mut self, path: &str) -> Result<(), ClientError> {
        todo!()
    }
    /// `DELE path`.
    pub async fn delete(&mut self, path: &str) -> Result<(), ClientError> {
        todo!()
    }
    /// `RNFR from` + `RNTO to`.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        todo!()
    }
    /// `SIZE path`.
    pub async fn size(&mut self, path: &str) -> Result<u64, ClientError> {
        todo!()
    }
    /// `MDTM path`: seconds since the Unix epoch (UTC).
    pub async fn mdtm(&mut self, path: &str) -> Result<i64, ClientError> {
        todo!()
    }
    /// `MFMT` when offered, else [`ClientError::NotSupported`].
    pub async fn set_mtime(&mut self, path: &str, mtime: i64) -> Result<(), ClientError> {
        todo!()
    }
    /// `TYPE A` (true) or `TYPE I` (false).
    pub async fn set_ascii(&mut self, ascii: bool) -> Result<(), ClientError> {
        todo!()
    }
    /// Directory entries: `MLSD` when offered (without `cdir`/`pdir`), else `LIST -a`
    /// parsed tolerantly (unparseable lines are skipped with a warning).
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<RemoteEntry>, ClientError> {
        todo!()
    }
    /// `LIST` output as the server sent it.
    pub async fn list_raw(&mut self, path: Option<&str>) -> Result<Vec<u8>, ClientError> {
        todo!()
    }
    /// `NLST`: names.
    pub async fn nlst(&mut self, path: Option<&str>) -> Result<Vec<String>, ClientError> {
        todo!()
    }
    /// `RETR` from `offset` (`REST` when > 0) into `out`; stops after `limit` bytes when
    /// given (then closes the data connection and consumes the final answer). `progress`
    /// is called with the byte count so far. Returns the bytes written to `out`.
    pub async fn retrieve<W: AsyncWrite + Unpin + Send>(
        &mut self,
        path: &str,
        offset: u64,
        limit: Option<u64>,
        out: &mut W,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ClientError> {
        todo!()
    }
    /// Uploads `input` to `path` (`STOR`, `APPE` or `REST n` + `STOR`). Returns the bytes
    /// sent.
    pub async fn store<R: AsyncRead + Unpin + Send>(
        &mut self,
        path: &str,
        mode: StoreMode,
        input: &mut R,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ClientError> {
        todo!()
    }
    /// The server's hash of `path` with the best algorithm it offers (`HASH`, `XSHA256`,
    /// `XSHA1`, `XMD5`, `XCRC`), else [`ClientError::NotSupported`].
    pub async fn hash(&mut self, path: &str) -> Result<RemoteHash, ClientError> {
        todo!()
    }
    /// `NOOP`.
    pub async fn noop(&mut self) -> Result<(), ClientError> {
        todo!()
    }
    /// `QUIT` and close.
    pub async fn quit(self) -> Result<(), ClientError> {
        todo!()
    }
}

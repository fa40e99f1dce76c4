//! The driver side of the extension commands: checksums for HASH and the X-hash family,
//! free space for AVBL, and the SITE UMASK modes of new files and directories.
//!
//! A checksum reads the file through [`Storage::open_read`] on tokio's blocking pool, in
//! chunks of [`CHUNK`] bytes (memory stays bounded whatever the file size), and checks a
//! cancel flag between chunks, so `ABOR` stops it within one chunk.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ferry_proto::client::HashAlgorithm;
use ferry_proto::server::{HashOutcome, HashRequest, OpError, TransferKind, TransferRequest};
use ferry_proto::VirtualPath;
use ferry_storage::{ReadHandle, Storage};
use sha1::Digest;

use crate::transfer::op_error;

/// Bytes read at a time while hashing.
pub(crate) const CHUNK: usize = 256 * 1024;

/// A running digest of one of the algorithms Ferry computes.
enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
}

impl Hasher {
    fn new(algorithm: HashAlgorithm) -> Option<Hasher> {
        Some(match algorithm {
            HashAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            HashAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            HashAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            _ => return None,
        })
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
            Hasher::Crc32(h) => h.update(data),
        }
    }

    /// The digest in lower-case hex (CRC-32: 8 digits, big-endian, as `crc32` tools show).
    fn finish_hex(self) -> String {
        match self {
            Hasher::Sha256(h) => hex(&h.finalize()),
            Hasher::Sha512(h) => hex(&h.finalize()),
            Hasher::Sha1(h) => hex(&h.finalize()),
            Hasher::Md5(h) => hex(&h.finalize()),
            Hasher::Crc32(h) => format!("{:08x}", h.finalize()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Computes the checksum `req` asks for. Setting `cancel` makes it end with
/// [`HashOutcome::Aborted`] after the chunk being read.
pub(crate) async fn hash_file(
    storage: Arc<dyn Storage>,
    req: HashRequest,
    cancel: Arc<AtomicBool>,
) -> HashOutcome {
    let Some(mut hasher) = Hasher::new(req.algorithm) else {
        return HashOutcome::Failed(OpError::new(504, "hash algorithm not supported"));
    };
    let handle = match storage.open_read(&req.path, req.start).await {
        Ok(h) => h,
        Err(e) if e.is_invalid_input() => {
            return HashOutcome::Failed(OpError::new(
                554,
                "start position beyond the end of the file",
            ))
        }
        Err(e) => return HashOutcome::Failed(op_error(&e)),
    };
    let (mut file, len) = match handle {
        ReadHandle::File { file, len, .. } => (file, len),
        #[allow(unreachable_patterns)]
        _ => {
            return HashOutcome::Failed(OpError::new(504, "this storage cannot be hashed"));
        }
    };
    let stop = req.end.unwrap_or(len).min(len);
    let mut left = stop.saturating_sub(req.start);
    let task = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; CHUNK];
        let mut done = 0u64;
        while left > 0 {
            if cancel.load(Ordering::Relaxed) {
                return HashOutcome::Aborted;
            }
            let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
            let Some(slice) = buf.get_mut(..want) else {
                break;
            };
            let n = match file.read(slice) {
                Ok(0) => break, // The file shrank meanwhile: hash what was there.
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return HashOutcome::Failed(op_error(&ferry_storage::StorageError::from_io(e)))
                }
            };
            hasher.update(buf.get(..n).unwrap_or_default());
            done += n as u64;
            left -= n as u64;
        }
        HashOutcome::Done {
            hex: hasher.finish_hex(),
            bytes: done,
        }
    });
    match task.await {
        Ok(outcome) => outcome,
        Err(_) => HashOutcome::Failed(OpError::new(451, "checksum task failed")),
    }
}

/// The bytes that can still be stored at `path`: the free space of the disk, or the room
/// left under the account's byte quota when that is smaller (or when the storage cannot
/// tell its free space).
pub(crate) async fn available(
    storage: &Arc<dyn Storage>,
    quotas: &crate::quota::Quotas,
    account: Option<&ferry_storage::Account>,
    path: &VirtualPath,
) -> Result<u64, OpError> {
    let disk = storage.available_space(path).await;
    let room = crate::quota::room(quotas, account, storage).await;
    match (disk, room) {
        (Ok(d), Some(r)) => Ok(d.min(r)),
        (Ok(d), None) => Ok(d),
        (Err(_), Some(r)) => Ok(r),
        (Err(e), None) => Err(op_error(&e)),
    }
}

/// The file an upload writes to, when it is known before the transfer (STOR, APPE).
pub(crate) fn upload_target(req: &TransferRequest) -> Option<&VirtualPath> {
    match &req.kind {
        TransferKind::Stor { path, .. } => Some(path),
        _ => None,
    }
}

/// The file an upload created, for its SITE UMASK mode: the STOR/APPE target when it did not
/// exist before (`existed`), or the name STOU chose.
pub(crate) fn created_file(
    req: &TransferRequest,
    existed: bool,
    unique_name: Option<&str>,
) -> Option<VirtualPath> {
    match (&req.kind, unique_name) {
        (TransferKind::Stor { path, .. }, _) if !existed => Some(path.clone()),
        (TransferKind::Stou { dir, .. }, Some(name)) => dir.join(name).ok(),
        _ => None,
    }
}

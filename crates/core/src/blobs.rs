//! Where artifact bytes live: a small storage trait, and the local file system behind it.
//!
//! Blobs are addressed by their SHA-256, computed while they stream in (never buffered whole),
//! so an upload of the same file twice stores it once and a stored blob can always be checked
//! against its name. The local store keeps `sha256/ab/abcdef…` under its root (by default
//! `artifacts/` in the data directory), writing to `tmp/` first and renaming into place once
//! the file is complete and synced. [`ObjectBlobs`] keeps them in an S3-compatible object store
//! instead (`--artifacts-url s3://bucket/prefix`).

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// A blob as stored: its SHA-256 (lower-case hex) and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: u64,
}

/// A byte stream, as requests and responses carry them.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

pub trait BlobStore: Send + Sync {
    /// Stores what `body` yields, hashing it on the way; the blob is only visible (under its
    /// hash) once complete. An error of the stream leaves nothing behind.
    fn put(&self, body: ByteStream) -> BoxFuture<'_, io::Result<StoredBlob>>;

    /// `len` bytes of a blob from `start`, as a stream.
    fn read<'a>(
        &'a self,
        sha256: &'a str,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<BoxStream<'static, io::Result<Bytes>>>>;
}

/// Blobs are named by their SHA-256 (lower-case hex), never by anything a caller chose.
fn check_sha256(sha256: &str) -> io::Result<()> {
    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "not a SHA-256"))
    }
}

/// Blobs as files under a directory.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

/// Bytes read per chunk when streaming a file out.
const READ_CHUNK: usize = 256 * 1024;

impl LocalBlobs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBlobs { root: root.into() }
    }

    fn path_of(&self, sha256: &str) -> io::Result<PathBuf> {
        check_sha256(sha256)?;
        Ok(self.root.join("sha256").join(&sha256[..2]).join(sha256))
    }

    async fn put_stream(&self, mut body: ByteStream) -> io::Result<StoredBlob> {
        let tmp_dir = self.root.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let tmp = tmp_dir.join(format!("upload-{}", ulid::Ulid::new()));
        let written = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut hasher = Sha256::new();
            let mut size: u64 = 0;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            file.sync_all().await?;
            Ok::<_, io::Error>(StoredBlob {
                sha256: hex::encode(hasher.finalize()),
                size,
            })
        }
        .await;
        let blob = match written {
            Ok(blob) => blob,
            Err(error) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(error);
            }
        };
        let path = self.path_of(&blob.sha256)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        // The same bytes stored before: keep the first copy.
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            tokio::fs::remove_file(&tmp).await?;
        } else {
            tokio::fs::rename(&tmp, &path).await?;
        }
        Ok(blob)
    }

    async fn open(
        &self,
        sha256: &str,
        start: u64,
        len: u64,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        let mut file = tokio::fs::File::open(self.path_of(sha256)?).await?;
        file.seek(io::SeekFrom::Start(start)).await?;
        let stream = futures::stream::unfold((file, len), |(mut file, left)| async move {
            if left == 0 {
                return None;
            }
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_CHUNK);
            let mut buffer = vec![0_u8; want];
            match file.read(&mut buffer).await {
                Ok(0) => Some((
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the stored file is shorter than recorded",
                    )),
                    (file, 0),
                )),
                Ok(n) => {
                    buffer.truncate(n);
                    Some((Ok(Bytes::from(buffer)), (file, left - n as u64)))
                }
                Err(error) => Some((Err(error), (file, 0))),
            }
        });
        Ok(stream.boxed())
    }
}

impl BlobStore for LocalBlobs {
    fn put(&self, body: ByteStream) -> BoxFuture<'_, io::Result<StoredBlob>> {
        Box::pin(self.put_stream(body))
    }

    fn read<'a>(
        &'a self,
        sha256: &'a str,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<BoxStream<'static, io::Result<Bytes>>>> {
        Box::pin(self.open(sha256, start, len))
    }
}

/// Blobs in an object store (S3 or compatible), under a prefix: `tmp/` while uploading (as a
/// multipart upload, parts of [`PART_SIZE`], a few in flight), then copied to `sha256/ab/…`.
#[derive(Debug, Clone)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

/// Bytes per part of a multipart upload (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 << 20;
/// Parts uploading at once: what an upload holds in memory is about this × [`PART_SIZE`].
const PARTS_IN_FLIGHT: usize = 2;

impl ObjectBlobs {
    /// The store a URL names, `s3://bucket/prefix`, with options such as `aws_endpoint`,
    /// `aws_access_key_id`, `aws_secret_access_key`, `aws_region`, `aws_allow_http` (the
    /// `AWS_*` environment variables, lower-cased).
    pub fn from_url(url: &str, options: &[(String, String)]) -> io::Result<Self> {
        let parsed = url::Url::parse(url).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("artifacts URL '{url}': {e}"),
            )
        })?;
        let (store, prefix) = object_store::parse_url_opts(&parsed, options.iter().cloned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(ObjectBlobs {
            store: Arc::from(store),
            prefix,
        })
    }

    fn path_of(&self, sha256: &str) -> io::Result<ObjectPath> {
        check_sha256(sha256)?;
        Ok(self
            .prefix
            .child("sha256")
            .child(&sha256[..2])
            .child(sha256))
    }

    async fn put_stream(&self, mut body: ByteStream) -> io::Result<StoredBlob> {
        let tmp = self
            .prefix
            .child("tmp")
            .child(format!("upload-{}", ulid::Ulid::new()));
        let upload = self
            .store
            .put_multipart(&tmp)
            .await
            .map_err(io::Error::other)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(error);
                }
            };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(io::Error::other(error));
            }
            writer.put(chunk);
        }
        writer.finish().await.map_err(io::Error::other)?;
        let blob = StoredBlob {
            sha256: hex::encode(hasher.finalize()),
            size,
        };
        let path = self.path_of(&blob.sha256)?;
        if self.store.head(&path).await.is_err() {
            self.store
                .copy(&tmp, &path)
                .await
                .map_err(io::Error::other)?;
        }
        self.store.delete(&tmp).await.map_err(io::Error::other)?;
        Ok(blob)
    }

    async fn open(
        &self,
        sha256: &str,
        start: u64,
        len: u64,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        if len == 0 {
            return Ok(futures::stream::empty().boxed());
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(start..start + len)),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&self.path_of(sha256)?, options)
            .await
            .map_err(io::Error::other)?;
        Ok(result
            .into_stream()
            .map(|c| c.map_err(io::Error::other))
            .boxed())
    }
}

impl BlobStore for ObjectBlobs {
    fn put(&self, body: ByteStream) -> BoxFuture<'_, io::Result<StoredBlob>> {
        Box::pin(self.put_stream(body))
    }

    fn read<'a>(
        &'a self,
        sha256: &'a str,
        start: u64,
        len: u64,
    ) -> BoxFuture<'a, io::Result<BoxStream<'static, io::Result<Bytes>>>> {
        Box::pin(self.open(sha256, start, len))
    }
}

/// A byte range asked for with `Range: bytes=…` (one range; the forms `a-b`, `a-`, `-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable Range header: the whole file.
    Whole,
    /// Inclusive byte positions within the file.
    Part { start: u64, end: u64 },
    /// Nothing of the file is in the range (416).
    Unsatisfiable,
}

/// Reads a `Range` header against a file of `size` bytes. Headers in another unit or with
/// several ranges are ignored (the whole file is sent), as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let (start, end) = match (first.is_empty(), last.is_empty()) {
        // The last n bytes.
        (true, false) => match parse(last) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            None => return RangeRequest::Whole,
        },
        (false, true) => match parse(first) {
            Some(start) => (start, size.saturating_sub(1)),
            None => return RangeRequest::Whole,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(start), Some(end)) if start <= end => (start, end.min(size.saturating_sub(1))),
            _ => return RangeRequest::Whole,
        },
        (true, true) => return RangeRequest::Whole,
    };
    if size == 0 || start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 100), Whole);
        assert_eq!(
            parse_range(Some("bytes=0-9"), 100),
            Part { start: 0, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=90-"), 100),
            Part { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range(Some("bytes=-10"), 100),
            Part { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range(Some("bytes=-1000"), 100),
            Part { start: 0, end: 99 }
        );
        assert_eq!(
            parse_range(Some("bytes=50-1000"), 100),
            Part { start: 50, end: 99 }
        );
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=9-1"), 100), Whole);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Whole);
        assert_eq!(parse_range(Some("items=0-1"), 100), Whole);
    }

    #[tokio::test]
    async fn blobs_stream_in_and_out_by_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::new(dir.path());
        let chunks: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ];
        let stored = blobs
            .put(futures::stream::iter(chunks).boxed())
            .await
            .unwrap();
        assert_eq!(stored.size, 11);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(b"hello world")));
        let part: Vec<Bytes> = blobs
            .read(&stored.sha256, 6, 5)
            .await
            .unwrap()
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert_eq!(part.concat(), b"world");
        // A failing upload leaves nothing behind.
        let failing: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"partial")),
            Err(io::Error::other("client went away")),
        ];
        assert!(blobs
            .put(futures::stream::iter(failing).boxed())
            .await
            .is_err());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}

//! Backups that outlive the runner (issue 11, item 6): after `apply` takes
//! its local backup, the backup and its catalog snapshot are encrypted to
//! `migrate.backup_recipient` with age and uploaded under
//! `<backup_to>/<environment>/`, older ones beyond `backup_retention` are
//! deleted; a restore whose local file is gone (or `migrate restore --from`)
//! downloads the object, checks its SHA-256, decrypts it with
//! `SHIPGATE_BACKUP_IDENTITY` and hands the file to the existing restore.
//!
//! Nothing unencrypted leaves the local backup directory. The S3 client is
//! `object_store` with the standard `AWS_*` environment variables; every
//! network operation has an overall deadline (`migrate.backup_timeout`).
//! Restoring the database is [`crate::db`]'s job.

use std::future::{Future, poll_fn};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{BackupUrl, Redactor, RemoteBackupConfig};
use crate::env;
use crate::exit::ExitStatus;
use crate::state::RemoteCopy;

/// Files above this size are uploaded in parts, read from disk part by part.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// The size of one uploaded part.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// How long connecting to the endpoint may take, within the overall deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The suffix of every encrypted object.
const AGE_SUFFIX: &str = ".age";
/// What the catalog snapshot's object adds to the backup's name (before `.age`).
const CATALOG_SUFFIX: &str = ".catalog.json";

/// Why uploading, downloading, verifying or decrypting a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The S3 client could not be configured (bad endpoint, region…).
    #[error("cannot set up the S3 client for `{url}`: {detail}")]
    Client {
        /// The bucket URL.
        url: String,
        /// The client's message.
        detail: String,
    },
    /// An S3 request failed.
    #[error("failed to {operation} `{url}`: {detail}")]
    Request {
        /// `upload`, `download`, `list` or `delete`.
        operation: &'static str,
        /// The object or prefix.
        url: String,
        /// The client's message.
        detail: String,
    },
    /// An S3 operation ran past its deadline.
    #[error("failed to {operation} `{url}`: no answer within {}", humantime::format_duration(*after))]
    TimedOut {
        /// `upload`, `download`, `list` or `delete`.
        operation: &'static str,
        /// The object or prefix.
        url: String,
        /// The deadline.
        after: Duration,
    },
    /// Reading or writing a local file failed.
    #[error("failed to {operation} `{}`", path.display())]
    Local {
        /// What was being done.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// Encrypting the backup failed.
    #[error("failed to encrypt `{}`: {detail}", path.display())]
    Encrypt {
        /// The local backup.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// `--from` is not an `s3://bucket/…/name.age` object URL.
    #[error("`{url}` is not the URL of an uploaded backup: {reason}")]
    InvalidObjectUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The downloaded object is not the one that was uploaded.
    #[error(
        "refusing to restore `{url}`: its SHA-256 is `{actual}` but `{recorded}` was recorded when it was uploaded; nothing was restored"
    )]
    DigestMismatch {
        /// The object.
        url: String,
        /// The digest recorded at upload.
        recorded: String,
        /// The digest of what was downloaded.
        actual: String,
    },
    /// Neither identity variable is set.
    #[error("cannot decrypt `{url}`: `SHIPGATE_BACKUP_IDENTITY` is not set")]
    NoIdentity {
        /// The object.
        url: String,
    },
    /// The identity variable holds no age X25519 secret key.
    #[error("`{variable}` does not hold an age secret key (`AGE-SECRET-KEY-1…`): {reason}")]
    InvalidIdentity {
        /// `SHIPGATE_BACKUP_IDENTITY` or `SHIPGATE_BACKUP_IDENTITY_FILE`.
        variable: &'static str,
        /// Why (never the value).
        reason: String,
    },
    /// The object was encrypted to another public key.
    #[error(
        "cannot decrypt `{url}`: the backup was encrypted to a different key: set SHIPGATE_BACKUP_IDENTITY to the private key matching backup_recipient; nothing was restored"
    )]
    WrongKey {
        /// The object.
        url: String,
    },
    /// The object is not a valid age file, or is damaged.
    #[error("cannot decrypt `{url}`: {detail}; nothing was restored")]
    Decrypt {
        /// The object.
        url: String,
        /// age's message.
        detail: String,
    },
}

impl RemoteError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            // The copy that was to save the day is not the one uploaded: a
            // human is needed.
            Self::DigestMismatch { .. } | Self::Decrypt { .. } => ExitStatus::RollbackFailed,
            Self::NoIdentity { .. }
            | Self::InvalidIdentity { .. }
            | Self::WrongKey { .. }
            | Self::InvalidObjectUrl { .. } => ExitStatus::Usage,
            Self::Client { .. }
            | Self::Request { .. }
            | Self::TimedOut { .. }
            | Self::Local { .. }
            | Self::Encrypt { .. } => ExitStatus::Infrastructure,
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Client { .. } => "check `migrate.backup_endpoint` (or `AWS_ENDPOINT_URL`) and `AWS_REGION`".to_owned(),
            Self::Request { .. } | Self::TimedOut { .. } => "check the endpoint, the bucket and the `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` the job passes; `migrate.backup_timeout` sets the deadline".to_owned(),
            Self::Local { .. } | Self::Encrypt { .. } => "check the space and permissions of `migrate.backup_dir`".to_owned(),
            Self::InvalidObjectUrl { .. } => "pass the `backup_remote` URL the migrate report printed, e.g. `--from s3://bucket/prefix/production/20260102T030405000Z-123.dump.age`".to_owned(),
            Self::DigestMismatch { .. } => "the object was changed or damaged after the upload: restore an older backup (`--from` with another object), or investigate who wrote to the bucket".to_owned(),
            Self::NoIdentity { .. } | Self::InvalidIdentity { .. } | Self::WrongKey { .. } => "set `SHIPGATE_BACKUP_IDENTITY` to the `AGE-SECRET-KEY-1…` line of the key pair whose public key is `migrate.backup_recipient` (in a workflow: `SHIPGATE_BACKUP_IDENTITY: ${{ secrets.SHIPGATE_BACKUP_IDENTITY }}`), or `SHIPGATE_BACKUP_IDENTITY_FILE` to its file".to_owned(),
            Self::Decrypt { .. } => "the object is damaged or not a shipgate backup: restore another one".to_owned(),
        })
    }
}

/// A bucket: the client and where it is, for messages.
struct Bucket {
    store: Arc<dyn ObjectStore>,
    name: String,
    timeout: Duration,
}

impl Bucket {
    /// A client for `bucket` from the `AWS_*` environment, at `endpoint`
    /// when given (else `AWS_ENDPOINT_URL`, else AWS).
    fn new(
        bucket: &str,
        endpoint: Option<&url::Url>,
        timeout: Duration,
    ) -> Result<Self, RemoteError> {
        // Through config keys, not `with_client_options`, which would drop
        // the client settings `from_env` read (`AWS_ALLOW_HTTP`, proxies…).
        let millis = |duration: Duration| format!("{}ms", duration.as_millis());
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                millis(timeout),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                millis(CONNECT_TIMEOUT.min(timeout)),
            );
        let endpoint = endpoint
            .map(ToString::to_string)
            .or_else(|| std::env::var(env::AWS_ENDPOINT_URL).ok());
        if let Some(endpoint) = &endpoint {
            builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
            if endpoint.starts_with("http://") {
                builder = builder.with_allow_http(true);
            }
        }
        let store = builder
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: timeout.min(Duration::from_secs(60)),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|error| RemoteError::Client {
                url: format!("s3://{bucket}"),
                detail: error.to_string(),
            })?;
        Ok(Self {
            store: Arc::new(store),
            name: bucket.to_owned(),
            timeout,
        })
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// Runs one S3 operation on `key` under the deadline.
    async fn within<T>(
        &self,
        operation: &'static str,
        key: &str,
        future: impl Future<Output = Result<T, object_store::Error>>,
    ) -> Result<T, RemoteError> {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(RemoteError::Request {
                operation,
                url: self.url(key),
                detail: with_causes(&error),
            }),
            Err(_) => Err(RemoteError::TimedOut {
                operation,
                url: self.url(key),
                after: self.timeout,
            }),
        }
    }

    /// Uploads the file at `path` to `key`: in one request when small, in
    /// parts read one at a time when large.
    async fn upload(&self, key: &str, path: &Path, bytes: u64) -> Result<(), RemoteError> {
        let location = ObjectPath::from(key);
        let local = |source| RemoteError::Local {
            operation: "read",
            path: path.to_owned(),
            source,
        };
        if bytes <= MULTIPART_THRESHOLD {
            let content = tokio::fs::read(path).await.map_err(local)?;
            self.within(
                "upload",
                key,
                self.store.put(&location, PutPayload::from(content)),
            )
            .await?;
            return Ok(());
        }
        let upload = self
            .within("upload", key, self.store.put_multipart(&location))
            .await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let result = self
            .within("upload", key, async {
                let mut file = match tokio::fs::File::open(path).await {
                    Ok(file) => file,
                    Err(error) => return Ok(Err(error)),
                };
                let mut buffer = vec![0_u8; PART_SIZE];
                loop {
                    writer.wait_for_capacity(4).await?;
                    let read = match file.read(&mut buffer).await {
                        Ok(0) => break,
                        Ok(read) => read,
                        Err(error) => return Ok(Err(error)),
                    };
                    writer.write(&buffer[..read]);
                }
                writer.finish().await.map(Ok)
            })
            .await;
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(local(error)),
            Err(error) => Err(error),
        }
    }

    /// Downloads `key` into `path`, streaming, and returns the SHA-256 of
    /// what was written; `None` when there is no such object.
    async fn download(&self, key: &str, path: &Path) -> Result<Option<String>, RemoteError> {
        let location = ObjectPath::from(key);
        let local = |source| RemoteError::Local {
            operation: "write",
            path: path.to_owned(),
            source,
        };
        let result = self
            .within("download", key, async {
                let response = match self.store.get(&location).await {
                    Ok(response) => response,
                    Err(object_store::Error::NotFound { .. }) => return Ok(Ok(None)),
                    Err(error) => return Err(error),
                };
                let mut stream = response.into_stream();
                let mut file = match tokio::fs::File::create(path).await {
                    Ok(file) => file,
                    Err(error) => return Ok(Err(error)),
                };
                let mut hasher = Sha256::new();
                while let Some(chunk) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                    let chunk = chunk?;
                    hasher.update(&chunk);
                    if let Err(error) = file.write_all(&chunk).await {
                        return Ok(Err(error));
                    }
                }
                if let Err(error) = file.sync_all().await {
                    return Ok(Err(error));
                }
                Ok(Ok(Some(hex::encode(hasher.finalize()))))
            })
            .await?;
        result.map_err(local)
    }

    /// Every key under `prefix` (which ends in `/`).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, RemoteError> {
        let location = ObjectPath::from(prefix);
        self.within("list", prefix, async {
            let mut stream = self.store.list(Some(&location));
            let mut keys = Vec::new();
            while let Some(meta) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                keys.push(meta?.location.to_string());
            }
            Ok(keys)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        self.within("delete", key, self.store.delete(&ObjectPath::from(key)))
            .await
    }
}

/// `error`'s message followed by its causes' that add something
/// (`object_store`'s own message often ends in a bare "builder error").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        let message = current.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = current.source();
    }
    text
}

/// The key of the catalog snapshot uploaded with the backup at `key`.
fn catalog_key(key: &str) -> String {
    let stem = key.strip_suffix(AGE_SUFFIX).unwrap_or(key);
    format!("{stem}{CATALOG_SUFFIX}{AGE_SUFFIX}")
}

/// Where the catalog snapshot of the local backup `path` lives (as
/// [`crate::db::postgres::catalog::Catalog::path_beside`] says).
fn snapshot_beside(path: &Path) -> PathBuf {
    crate::db::postgres::catalog::Catalog::path_beside(path)
}

/// The name an upload gets: `<UTC time to the millisecond>-<run>`, so
/// names sort by age. `<run>` is the GitHub Actions run id, else `local`.
fn object_stem() -> String {
    let now = jiff::Timestamp::now();
    let run = std::env::var(env::GITHUB_RUN_ID)
        .ok()
        .map(|id| {
            id.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect::<String>()
        })
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    format!(
        "{}{:03}Z-{run}",
        now.strftime("%Y%m%dT%H%M%S"),
        now.subsec_millisecond()
    )
}

/// The backup a group of objects belongs to: the file name up to its first
/// `.`, when it is one shipgate wrote (`<YYYYMMDD>T<HHMMSSmmm>Z-…`); other
/// objects under the prefix are never touched.
fn backup_group(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    let group = name.split('.').next()?;
    let (date, rest) = group.split_at_checked(8)?;
    let rest = rest.strip_prefix('T')?;
    let (time, rest) = rest.split_at_checked(9)?;
    let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    (digits(date) && digits(time) && rest.starts_with("Z-") && name.ends_with(AGE_SUFFIX))
        .then_some(group)
}

/// What to delete under an environment's prefix so that only the newest
/// `keep` backups stay, never the group `current`.
fn expired(keys: &[String], keep: usize, current: &str) -> Vec<String> {
    let mut groups: Vec<&str> = keys.iter().filter_map(|key| backup_group(key)).collect();
    groups.sort_unstable_by(|a, b| b.cmp(a));
    groups.dedup();
    let kept: Vec<&str> = std::iter::once(current)
        .chain(groups.iter().copied().filter(|group| *group != current))
        .take(keep.max(1))
        .collect();
    keys.iter()
        .filter(|key| backup_group(key).is_some_and(|group| !kept.contains(&group)))
        .cloned()
        .collect()
}

/// Writes to `inner`, hashing and counting what passes.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts `source` to `recipient` into `target`, streaming; returns the
/// SHA-256 (hex) and size of the encrypted file.
fn encrypt_file(
    source: &Path,
    target: &Path,
    recipient: &age::x25519::Recipient,
) -> Result<(String, u64), RemoteError> {
    let encrypt = |detail: String| RemoteError::Encrypt {
        path: source.to_owned(),
        detail,
    };
    let input = fs_err::File::open(source).map_err(|error| encrypt(error.to_string()))?;
    let output = fs_err::File::create(target).map_err(|error| encrypt(error.to_string()))?;
    let mut hashing = HashingWriter {
        inner: BufWriter::new(output),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|error| encrypt(error.to_string()))?;
    let mut writer = encryptor
        .wrap_output(&mut hashing)
        .map_err(|error| encrypt(error.to_string()))?;
    std::io::copy(&mut BufReader::new(input), &mut writer)
        .map_err(|error| encrypt(error.to_string()))?;
    writer
        .finish()
        .map_err(|error| encrypt(error.to_string()))?;
    hashing
        .flush()
        .map_err(|error| encrypt(error.to_string()))?;
    let HashingWriter {
        inner,
        hasher,
        bytes,
    } = hashing;
    inner
        .into_inner()
        .map_err(|error| encrypt(error.to_string()))?
        .sync_all()
        .map_err(|error| encrypt(error.to_string()))?;
    Ok((hex::encode(hasher.finalize()), bytes))
}

/// Decrypts `source` with `identity` into `target`, streaming. A damaged
/// file fails on its first bad chunk (age authenticates every chunk).
fn decrypt_file(
    source: &Path,
    target: &Path,
    identity: &age::x25519::Identity,
    url: &str,
) -> Result<(), RemoteError> {
    let failed = |detail: String| RemoteError::Decrypt {
        url: url.to_owned(),
        detail,
    };
    let input = fs_err::File::open(source).map_err(|error| RemoteError::Local {
        operation: "read",
        path: source.to_owned(),
        source: error,
    })?;
    let decryptor = age::Decryptor::new_buffered(BufReader::new(input))
        .map_err(|error| failed(error.to_string()))?;
    let mut reader = match decryptor.decrypt(std::iter::once(identity as &dyn age::Identity)) {
        Ok(reader) => reader,
        Err(age::DecryptError::NoMatchingKeys) => {
            return Err(RemoteError::WrongKey {
                url: url.to_owned(),
            });
        }
        Err(error) => return Err(failed(error.to_string())),
    };
    let output = fs_err::File::create(target).map_err(|source| RemoteError::Local {
        operation: "write",
        path: target.to_owned(),
        source,
    })?;
    let mut output = BufWriter::new(output);
    let copied = std::io::copy(&mut reader, &mut output)
        .map_err(|error| failed(error.to_string()))
        .and_then(|_| output.flush().map_err(|error| failed(error.to_string())));
    if let Err(error) = copied {
        drop(output);
        let _ = fs_err::remove_file(target);
        return Err(error);
    }
    Ok(())
}

/// Reads the restore's age identity from `SHIPGATE_BACKUP_IDENTITY` (else the
/// file `SHIPGATE_BACKUP_IDENTITY_FILE` names) and registers it as a secret.
fn identity(redactor: &Redactor, url: &str) -> Result<age::x25519::Identity, RemoteError> {
    let (variable, text) = if let Some(value) = std::env::var(env::SHIPGATE_BACKUP_IDENTITY)
        .ok()
        .filter(|value| !value.trim().is_empty())
    {
        (env::SHIPGATE_BACKUP_IDENTITY, value)
    } else if let Some(path) = std::env::var_os(env::SHIPGATE_BACKUP_IDENTITY_FILE) {
        let text = fs_err::read_to_string(&path).map_err(|error| RemoteError::InvalidIdentity {
            variable: env::SHIPGATE_BACKUP_IDENTITY_FILE,
            reason: error.to_string(),
        })?;
        (env::SHIPGATE_BACKUP_IDENTITY_FILE, text)
    } else {
        return Err(RemoteError::NoIdentity {
            url: url.to_owned(),
        });
    };
    // `age-keygen -o` writes comment lines, then the key.
    let key = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .unwrap_or_default();
    redactor.register(key);
    redactor.register(text.trim());
    key.parse::<age::x25519::Identity>()
        .map_err(|reason| RemoteError::InvalidIdentity {
            variable,
            reason: reason.to_owned(),
        })
}

/// Runs blocking file work off the runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RemoteError> + Send + 'static,
) -> Result<T, RemoteError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) => Err(RemoteError::Encrypt {
            path: PathBuf::new(),
            detail: format!("the worker stopped: {error} (this is a bug)"),
        }),
    }
}

/// What [`upload`] did.
#[derive(Debug)]
pub(super) struct Uploaded {
    /// The backup's encrypted copy.
    pub(super) copy: RemoteCopy,
    /// Whether its catalog snapshot was uploaded beside it.
    pub(super) with_snapshot: bool,
    /// How many objects retention deleted.
    pub(super) deleted: usize,
    /// Why retention could not list or delete, when it could not.
    pub(super) retention_failed: Option<String>,
}

/// Encrypts the local backup at `backup` (and its catalog snapshot, when
/// there is one), uploads both under `<backup_to>/<environment>/`, then
/// deletes the backups beyond `backup_retention`.
pub(super) async fn upload(
    remote: &RemoteBackupConfig,
    environment: &str,
    backup: &Path,
) -> Result<Uploaded, RemoteError> {
    let bucket = Bucket::new(&remote.url.bucket, remote.endpoint.as_ref(), remote.timeout)?;
    let extension = backup
        .extension()
        .and_then(|extension| extension.to_str())
        .filter(|extension| extension.bytes().all(|byte| byte.is_ascii_alphanumeric()))
        .unwrap_or("backup");
    let stem = object_stem();
    let environment_prefix = remote.url.key(&format!("{environment}/"));
    let key = format!("{environment_prefix}{stem}.{extension}{AGE_SUFFIX}");
    let dir = backup.parent().unwrap_or(Path::new("."));
    let encrypted = dir.join(format!(".{stem}.{extension}{AGE_SUFFIX}.tmp"));
    let snapshot = snapshot_beside(backup);
    let with_snapshot = snapshot.is_file();

    let (sha256, bytes) = {
        let (source, target, recipient) = (
            backup.to_owned(),
            encrypted.clone(),
            remote.recipient.clone(),
        );
        blocking(move || encrypt_file(&source, &target, &recipient)).await?
    };
    let result = async {
        bucket.upload(&key, &encrypted, bytes).await?;
        if with_snapshot {
            let (source, target, recipient) = (
                snapshot.clone(),
                encrypted.clone(),
                remote.recipient.clone(),
            );
            let (_, snapshot_bytes) =
                blocking(move || encrypt_file(&source, &target, &recipient)).await?;
            bucket
                .upload(&catalog_key(&key), &encrypted, snapshot_bytes)
                .await?;
        }
        Ok::<_, RemoteError>(())
    }
    .await;
    let _ = fs_err::remove_file(&encrypted);
    result?;

    // Retention after the upload succeeded: failing here leaves extra
    // copies, never a missing one, so it warns instead of stopping the run.
    let current = backup_group(&key).unwrap_or(&stem);
    let mut deleted = 0;
    let retention = async {
        let keys = bucket.list(&environment_prefix).await?;
        for old in expired(&keys, remote.retention, current) {
            bucket.delete(&old).await?;
            deleted += 1;
        }
        Ok::<_, RemoteError>(())
    }
    .await;
    Ok(Uploaded {
        copy: RemoteCopy {
            url: bucket.url(&key),
            sha256,
            bytes,
        },
        with_snapshot,
        deleted,
        retention_failed: retention.err().map(|error| error.to_string()),
    })
}

/// What [`download`] did.
#[derive(Debug)]
pub(super) struct Downloaded {
    /// The decrypted backup in the local backup directory.
    pub(super) path: PathBuf,
    /// The digest it was checked against, when one was recorded.
    pub(super) verified: Option<String>,
}

/// Downloads the backup at `url` into `dir`, refuses it unless its SHA-256
/// is `expected` (when known), decrypts it (and its catalog snapshot) with
/// the identity from the environment. Changes no database.
pub(super) async fn download(
    url: &str,
    expected: Option<&str>,
    endpoint: Option<&url::Url>,
    timeout: Duration,
    dir: &Path,
    redactor: &Redactor,
) -> Result<Downloaded, RemoteError> {
    let invalid = |reason: &str| RemoteError::InvalidObjectUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let location = BackupUrl::parse(url).map_err(|reason| invalid(&reason))?;
    let key = location.prefix;
    let name = key.rsplit('/').next().unwrap_or_default();
    let Some(plain_name) = name
        .strip_suffix(AGE_SUFFIX)
        .filter(|plain| !plain.is_empty())
    else {
        return Err(invalid("the object name does not end in `.age`"));
    };
    // Before any download: a missing key fails fast.
    let identity = identity(redactor, url)?;
    let bucket = Bucket::new(&location.bucket, endpoint, timeout)?;
    fs_err::create_dir_all(dir).map_err(|source| RemoteError::Local {
        operation: "create",
        path: dir.to_owned(),
        source,
    })?;
    let encrypted = dir.join(format!(".{name}.part"));
    let Some(actual) = bucket.download(&key, &encrypted).await? else {
        return Err(RemoteError::Request {
            operation: "download",
            url: url.to_owned(),
            detail: "no such object".to_owned(),
        });
    };
    if let Some(recorded) = expected {
        if !recorded.eq_ignore_ascii_case(&actual) {
            let _ = fs_err::remove_file(&encrypted);
            return Err(RemoteError::DigestMismatch {
                url: url.to_owned(),
                recorded: recorded.to_owned(),
                actual,
            });
        }
    }
    let path = dir.join(plain_name);
    let partial = dir.join(format!(".{plain_name}.part"));
    let decrypted = {
        let (source, target, identity, url) = (
            encrypted.clone(),
            partial.clone(),
            identity.clone(),
            url.to_owned(),
        );
        blocking(move || decrypt_file(&source, &target, &identity, &url)).await
    };
    let _ = fs_err::remove_file(&encrypted);
    decrypted?;

    // The catalog snapshot, when one was uploaded (PostgreSQL). On any
    // failure, nothing half-downloaded is left in `backup_dir`.
    let snapshot_key = catalog_key(&key);
    let snapshot_encrypted = dir.join(format!(".{name}{CATALOG_SUFFIX}.part"));
    let snapshot_partial = dir.join(format!(".{plain_name}{CATALOG_SUFFIX}.part"));
    let snapshot = async {
        if bucket
            .download(&snapshot_key, &snapshot_encrypted)
            .await?
            .is_some()
        {
            let snapshot_url = bucket.url(&snapshot_key);
            let (source, target) = (snapshot_encrypted.clone(), snapshot_partial.clone());
            blocking(move || decrypt_file(&source, &target, &identity, &snapshot_url)).await?;
            rename(&snapshot_partial, &snapshot_beside(&path))?;
        }
        Ok::<_, RemoteError>(())
    }
    .await;
    let _ = fs_err::remove_file(&snapshot_encrypted);
    if let Err(error) = snapshot {
        let _ = fs_err::remove_file(&snapshot_partial);
        let _ = fs_err::remove_file(&partial);
        return Err(error);
    }
    rename(&partial, &path)?;
    Ok(Downloaded {
        path,
        verified: expected.map(str::to_owned),
    })
}

fn rename(from: &Path, to: &Path) -> Result<(), RemoteError> {
    fs_err::rename(from, to).map_err(|source| RemoteError::Local {
        operation: "write",
        path: to.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_only_names_shipgate_wrote() {
        assert_eq!(
            backup_group("p/prod/20260102T030405123Z-42.dump.age"),
            Some("20260102T030405123Z-42")
        );
        assert_eq!(
            backup_group("p/prod/20260102T030405123Z-42.dump.catalog.json.age"),
            Some("20260102T030405123Z-42")
        );
        for other in [
            "p/prod/notes.txt",
            "p/prod/20260102T030405123Z-42.dump",
            "p/prod/2026010T030405123Z-42.dump.age",
            "p/prod/é.age",
        ] {
            assert_eq!(backup_group(other), None, "{other}");
        }
    }

    #[test]
    fn retention_keeps_the_newest_and_the_current_pair() {
        let keys: Vec<String> = (1..=5)
            .flat_map(|n| {
                [
                    format!("p/e/2026010{n}T000000000Z-local.dump.age"),
                    format!("p/e/2026010{n}T000000000Z-local.dump.catalog.json.age"),
                ]
            })
            .chain(["p/e/readme.txt".to_owned()])
            .collect();
        let deleted = expired(&keys, 2, "20260105T000000000Z-local");
        assert_eq!(deleted.len(), 6);
        assert!(
            deleted
                .iter()
                .all(|key| !key.contains("0105") && !key.contains("0104"))
        );
        // The current one stays even when the clock put it before others.
        let deleted = expired(&keys, 1, "20260101T000000000Z-local");
        assert_eq!(deleted.len(), 8);
        assert!(deleted.iter().all(|key| !key.contains("0101T")));
    }

    #[test]
    fn encrypts_and_decrypts_and_refuses_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.dump");
        fs_err::write(&plain, b"PGDMP backup bytes").unwrap();
        let identity = age::x25519::Identity::generate();
        let encrypted = dir.path().join("a.dump.age");
        let (digest, bytes) = encrypt_file(&plain, &encrypted, &identity.to_public()).unwrap();
        let content = fs_err::read(&encrypted).unwrap();
        assert!(content.starts_with(b"age-encryption.org/v1"));
        assert_eq!(bytes, content.len() as u64);
        assert_eq!(digest, hex::encode(Sha256::digest(&content)));
        let back = dir.path().join("back.dump");
        decrypt_file(&encrypted, &back, &identity, "s3://b/a").unwrap();
        assert_eq!(fs_err::read(&back).unwrap(), b"PGDMP backup bytes");
        let other = age::x25519::Identity::generate();
        let error = decrypt_file(&encrypted, &back, &other, "s3://b/a").unwrap_err();
        assert!(matches!(error, RemoteError::WrongKey { .. }), "{error:?}");
    }
}

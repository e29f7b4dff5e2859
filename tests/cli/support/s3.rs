//! A real local S3 endpoint for the `migrate.backup_to` tests: moto's
//! server (`python3 -m moto.server`, installed by `scripts/prerequisites`),
//! started on a free 127.0.0.1 port, waited for with a deadline, given a
//! bucket, and killed on drop. The tests read and write objects with the
//! same S3 client shipgate uses.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The credentials the tests pass (moto accepts any); the secret is
/// distinctive so a test can prove it never reaches the output.
pub const ACCESS_KEY_ID: &str = "test";
pub const SECRET_ACCESS_KEY: &str = "test-aws-secret-Zq7Xw2Lp9Vn4";
pub const REGION: &str = "us-east-1";

/// How long moto may take to start answering.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running moto server with one bucket.
pub struct S3Server {
    child: Child,
    port: u16,
    bucket: String,
}

impl S3Server {
    /// Starts moto and creates `bucket`; panics with the reason when moto
    /// cannot be started (a test never skips).
    #[track_caller]
    pub fn start(bucket: &str) -> Self {
        let port = super::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start `python3 -m moto.server` ({error}); run scripts/prerequisites")
            });
        let mut server = Self {
            child,
            port,
            bucket: bucket.to_owned(),
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().expect("poll moto") {
                panic!(
                    "`python3 -m moto.server` exited ({status}) before answering; is moto[server] installed? run scripts/prerequisites"
                );
            }
            if server
                .request("GET", "/")
                .is_some_and(|status| status == 200)
            {
                break;
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "moto did not answer on 127.0.0.1:{port} within {START_DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = server.request("PUT", &format!("/{bucket}"));
        assert_eq!(status, Some(200), "creating bucket `{bucket}` in moto");
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// One unsigned HTTP/1.1 request (moto does not check signatures);
    /// the status, or `None` when nothing answered.
    fn request(&self, method: &str, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.split_whitespace().nth(1)?.parse().ok()
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::new(
            AmazonS3Builder::new()
                .with_endpoint(self.endpoint())
                .with_allow_http(true)
                .with_bucket_name(&self.bucket)
                .with_access_key_id(ACCESS_KEY_ID)
                .with_secret_access_key(SECRET_ACCESS_KEY)
                .with_region(REGION)
                .build()
                .expect("S3 client for moto"),
        )
    }

    /// Runs `work` with a client on a runtime of its own thread.
    fn with_store<T: Send + 'static, F>(
        &self,
        work: impl FnOnce(Arc<dyn ObjectStore>) -> F + Send + 'static,
    ) -> T
    where
        F: std::future::Future<Output = T>,
    {
        let store = self.store();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(work(store))
        })
        .join()
        .expect("S3 thread")
    }

    /// Every key in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.with_store(|store| async move {
            let mut stream = store.list(None);
            let mut keys = Vec::new();
            while let Some(meta) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                keys.push(meta.expect("list moto").location.to_string());
            }
            keys.sort();
            keys
        })
    }

    /// The content of `key`.
    pub fn get(&self, key: &str) -> Vec<u8> {
        let key = key.to_owned();
        self.with_store(move |store| async move {
            store
                .get(&ObjectPath::from(key.as_str()))
                .await
                .expect("get from moto")
                .bytes()
                .await
                .expect("read from moto")
                .to_vec()
        })
    }

    /// Writes `content` to `key`.
    pub fn put(&self, key: &str, content: Vec<u8>) {
        let key = key.to_owned();
        self.with_store(move |store| async move {
            store
                .put(&ObjectPath::from(key.as_str()), PutPayload::from(content))
                .await
                .expect("put to moto");
        });
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

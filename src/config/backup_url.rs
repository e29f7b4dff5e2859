//! `[migrate] backup_to = "s3://bucket/prefix"`: where encrypted backups are
//! uploaded (issue 11, item 6). Parsing only; talking to the bucket is
//! [`crate::migrate`]'s job.

use std::fmt;

/// An `s3://bucket[/prefix]` location: a bucket and a key prefix without
/// leading or trailing `/` (empty for the bucket's root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupUrl {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix, segments joined by `/`; empty for none.
    pub prefix: String,
}

impl BackupUrl {
    /// Parses `s3://bucket[/prefix]`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err(match text.split_once("://") {
                Some((scheme, _)) => format!("scheme `{scheme}` is not `s3`"),
                None => "it does not start with `s3://`".to_owned(),
            });
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket)?;
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() {
            for segment in prefix.split('/') {
                check_segment(segment)?;
            }
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// The `s3://` URL of the object at `key`.
    pub fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl fmt::Display for BackupUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// S3's bucket naming rules (R2 and `MinIO` follow them): 3 to 63 lowercase
/// letters, digits, `.` and `-`, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.is_empty() {
        return Err("the bucket name is missing".to_owned());
    }
    let valid_chars = bucket.bytes().all(|byte| {
        byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'-')
    });
    let ends =
        |byte: Option<u8>| byte.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bucket.len())
        || !valid_chars
        || !ends(bucket.bytes().next())
        || !ends(bucket.bytes().last())
    {
        return Err(format!(
            "bucket `{bucket}` is not a valid bucket name (3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit)"
        ));
    }
    Ok(())
}

/// A prefix segment: not empty, not `.` or `..`, printable and without `\`.
fn check_segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("the prefix has an empty segment (`//`)".to_owned());
    }
    if segment == "." || segment == ".." {
        return Err(format!("the prefix has a `{segment}` segment"));
    }
    if segment
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '\\' | '*' | '?' | '#'))
    {
        return Err(format!(
            "prefix segment `{}` holds a space, control character, `\\`, `*`, `?` or `#`",
            segment.escape_default()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let url = BackupUrl::parse("s3://my-bucket/ship/gate/").unwrap();
        assert_eq!(
            (url.bucket.as_str(), url.prefix.as_str()),
            ("my-bucket", "ship/gate")
        );
        assert_eq!(url.to_string(), "s3://my-bucket/ship/gate");
        assert_eq!(url.key("a.age"), "ship/gate/a.age");
        let root = BackupUrl::parse("s3://bucket").unwrap();
        assert_eq!((root.prefix.as_str(), root.key("a")), ("", "a".to_owned()));
    }

    #[test]
    fn refuses_what_is_not_s3_bucket_prefix() {
        for (text, reason) in [
            ("https://bucket/p", "scheme `https` is not `s3`"),
            ("bucket/p", "does not start with `s3://`"),
            ("s3://", "bucket name is missing"),
            ("s3:///p", "bucket name is missing"),
            ("s3://Bad_Bucket/p", "not a valid bucket name"),
            ("s3://ab", "not a valid bucket name"),
            ("s3://bucket/a//b", "empty segment"),
            ("s3://bucket/a/../b", "`..` segment"),
            ("s3://bucket/a b", "holds a space"),
        ] {
            let error = BackupUrl::parse(text).unwrap_err();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in ".*") {
            let _ = BackupUrl::parse(&text);
        }

        #[test]
        fn never_panics_after_the_scheme(text in "s3://.*") {
            if let Ok(url) = BackupUrl::parse(&text) {
                prop_assert_eq!(BackupUrl::parse(&url.to_string()), Ok(url));
            }
        }

        #[test]
        fn valid_urls_round_trip(
            bucket in "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
            prefix in proptest::collection::vec("[A-Za-z0-9_=+-][A-Za-z0-9._=+-]{0,15}", 0..4),
        ) {
            let prefix = prefix.join("/");
            let text = if prefix.is_empty() {
                format!("s3://{bucket}")
            } else {
                format!("s3://{bucket}/{prefix}")
            };
            let url = BackupUrl::parse(&text).unwrap();
            prop_assert_eq!(&url.bucket, &bucket);
            prop_assert_eq!(&url.prefix, &prefix);
            prop_assert_eq!(url.to_string(), text);
        }
    }
}

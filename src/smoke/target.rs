//! Where a smoke check's request goes: a `path` joined to the base URL, or the
//! check's absolute `url`.
//!
//! Joining keeps the base URL's path prefix (`http://h/app` + `/api/health` is
//! `http://h/app/api/health`, unlike [`Url::join`], which would drop `app`) and
//! merges query strings, so a base URL that carries a bypass token keeps it.
//! Sending the request is left to `request.rs`.

use url::Url;

use crate::config::{CheckTarget, Masked, Redactor};

/// A resolved request URL: the real one to send, and the one to print.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedUrl {
    /// The URL the request is sent to (may carry secrets).
    pub(crate) url: Url,
    /// The same URL with secrets masked, for every output.
    pub(crate) shown: Masked,
}

/// Why a check's URL could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetFailure {
    /// The check uses `path` and there is no base URL.
    NoBaseUrl,
    /// The base URL cannot have a path joined to it (not http or https).
    UnsupportedBase,
    /// The check's absolute `url` does not parse.
    InvalidUrl(String),
}

/// Resolves `target` against `base`, masking the printable form with `redactor`.
pub(crate) fn resolve(
    target: &CheckTarget,
    base: Option<&Url>,
    redactor: &Redactor,
) -> Result<ResolvedUrl, TargetFailure> {
    match target {
        CheckTarget::Path(path) => {
            let base = base.ok_or(TargetFailure::NoBaseUrl)?;
            let url = join(base, path)?;
            let shown = Masked::new(url.to_string(), redactor);
            Ok(ResolvedUrl { url, shown })
        }
        CheckTarget::Url(masked) => {
            // `expose` only to send; printing uses the masked form as given.
            let url = Url::parse(masked.expose())
                .map_err(|error| TargetFailure::InvalidUrl(error.to_string()))?;
            // A captured value filled into `url` may make it something else.
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(TargetFailure::InvalidUrl(format!(
                    "`{masked}` is not an `http://` or `https://` URL"
                )));
            }
            Ok(ResolvedUrl {
                url,
                shown: masked.clone(),
            })
        }
    }
}

/// Appends `path` (which may carry `?query` and `#fragment`) to `base`'s path,
/// keeping its prefix and merging both query strings; the fragment is dropped
/// because it is never sent.
pub(crate) fn join(base: &Url, path: &str) -> Result<Url, TargetFailure> {
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(TargetFailure::UnsupportedBase);
    }
    let path = path.split_once('#').map_or(path, |(before, _)| before);
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    let relative = path.trim_start_matches('/');
    url.set_path(&format!("{prefix}/{relative}"));
    let queries: Vec<&str> = [base.query(), query]
        .into_iter()
        .flatten()
        .filter(|q| !q.is_empty())
        .collect();
    let query = queries.join("&");
    url.set_query(if query.is_empty() { None } else { Some(&query) });
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn joined(base: &str, path: &str) -> String {
        join(&Url::parse(base).unwrap(), path).unwrap().to_string()
    }

    #[test]
    fn joins_a_path_to_a_bare_host() {
        assert_eq!(
            joined("http://127.0.0.1:3000", "/api/health"),
            "http://127.0.0.1:3000/api/health"
        );
        assert_eq!(
            joined("http://127.0.0.1:3000/", "/api/health"),
            "http://127.0.0.1:3000/api/health"
        );
    }

    #[test]
    fn keeps_the_base_path_prefix() {
        assert_eq!(
            joined("http://h/app", "/api/health"),
            "http://h/app/api/health"
        );
        assert_eq!(
            joined("http://h/app/", "/api/health"),
            "http://h/app/api/health"
        );
        assert_eq!(joined("https://h/a/b//", "/c"), "https://h/a/b/c");
    }

    #[test]
    fn keeps_a_trailing_slash_of_the_path() {
        assert_eq!(joined("http://h/app", "/"), "http://h/app/");
        assert_eq!(joined("http://h", "/docs/"), "http://h/docs/");
    }

    #[test]
    fn merges_query_strings_and_drops_fragments() {
        assert_eq!(
            joined("http://h/app?bypass=1", "/api?full=true#top"),
            "http://h/app/api?bypass=1&full=true"
        );
        assert_eq!(
            joined("http://h/app?bypass=1", "/api"),
            "http://h/app/api?bypass=1"
        );
        assert_eq!(joined("http://h", "/api?"), "http://h/api");
    }

    #[test]
    fn refuses_bases_that_are_not_http() {
        let base = Url::parse("mailto:ops@example.com").unwrap();
        assert_eq!(join(&base, "/x"), Err(TargetFailure::UnsupportedBase));
        let base = Url::parse("file:///srv/app").unwrap();
        assert_eq!(join(&base, "/x"), Err(TargetFailure::UnsupportedBase));
    }

    #[test]
    fn resolves_paths_against_the_base_and_masks_secrets() {
        let redactor = Redactor::default();
        redactor.register("t0ken");
        let base = Url::parse("http://user:pw@h/app?key=t0ken").unwrap();
        let resolved = resolve(
            &CheckTarget::Path("/api/health".into()),
            Some(&base),
            &redactor,
        )
        .unwrap();
        assert_eq!(
            resolved.url.as_str(),
            "http://user:pw@h/app/api/health?key=t0ken"
        );
        assert_eq!(
            resolved.shown.to_string(),
            "http://user:***@h/app/api/health?key=***"
        );
    }

    #[test]
    fn a_path_without_a_base_is_refused() {
        let redactor = Redactor::default();
        let failure = resolve(&CheckTarget::Path("/x".into()), None, &redactor).unwrap_err();
        assert_eq!(failure, TargetFailure::NoBaseUrl);
    }

    #[test]
    fn absolute_urls_ignore_the_base() {
        let redactor = Redactor::default();
        let target = CheckTarget::Url(Masked::new(
            "https://status.example.com/ping".into(),
            &redactor,
        ));
        let base = Url::parse("http://h/app").unwrap();
        let resolved = resolve(&target, Some(&base), &redactor).unwrap();
        assert_eq!(resolved.url.as_str(), "https://status.example.com/ping");
        assert_eq!(
            resolved.shown.to_string(),
            "https://status.example.com/ping"
        );
    }
}

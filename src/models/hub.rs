//! Files from the Hugging Face hub, offline-first, in the cache layout Python's
//! `huggingface_hub` writes (`models--owner--name/{refs,snapshots,blobs}`), so a file a user
//! already downloaded with Python is found, and one downloaded here is found by Python.
//!
//! A download (feature `download`) asks the hub for the file's commit, size and checksum
//! (`X-Repo-Commit`, `X-Linked-Size`, `X-Linked-Etag`: the SHA-256 of an LFS file), streams it
//! into `blobs/<etag>.incomplete` (resuming with a `Range` request where an earlier attempt
//! stopped), verifies size and SHA-256, renames it to `blobs/<etag>`, and links
//! `snapshots/<commit>/<file>` to it. Two processes downloading the same file at once are not
//! coordinated (no lock file): the second rename wins with identical bytes.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where hub files are cached and fetched from.
#[derive(Clone)]
pub struct Hub {
    cache: PathBuf,
    endpoint: String,
    offline: bool,
    token: Option<String>,
}

/// Shows whether a token is set, never the token.
impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("cache", &self.cache)
            .field("endpoint", &self.endpoint)
            .field("offline", &self.offline)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// An `Err` unless `s` is a safe repository (`owner/name`) or file path: no empty, `.` or `..`
/// part and only the characters the hub allows, so a name never leaves the cache folder.
fn check_name(repo: &str, file: &str) -> Result<()> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let parts: Vec<&str> = repo.split('/').collect();
    let why = if parts.len() != 2 || !parts.iter().all(|p| ok_part(p)) {
        "the repository must be `owner/name` (letters, digits, `-`, `_`, `.`)"
    } else if !file.split('/').all(ok_part) {
        "the file must be a relative path of letters, digits, `-`, `_`, `.`"
    } else {
        return Ok(());
    };
    Err(Error::Hub {
        repo: repo.into(),
        file: file.into(),
        what: why.into(),
    })
}

impl Hub {
    /// The hub as `huggingface_hub` configures it: the cache `$HF_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub`; the server `$HF_ENDPOINT` (else huggingface.co); no network
    /// when `$HF_HUB_OFFLINE` is 1 / true / yes; `$HF_TOKEN` for gated or private repositories.
    pub fn from_env() -> Hub {
        let cache = env("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| env("HF_HOME").map(|h| Path::new(&h).join("hub")))
            .or_else(|| env("XDG_CACHE_HOME").map(|c| Path::new(&c).join("huggingface/hub")))
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache/huggingface/hub")))
            .unwrap_or_else(|| PathBuf::from(".cache/huggingface/hub"));
        let offline = env("HF_HUB_OFFLINE")
            .is_some_and(|v| ["1", "true", "yes", "on"].contains(&v.to_ascii_lowercase().as_str()));
        Hub {
            cache,
            endpoint: env("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into()),
            offline,
            token: env("HF_TOKEN"),
        }
    }

    /// A hub with its cache at `cache`, huggingface.co as the server, online, no token.
    pub fn new(cache: impl Into<PathBuf>) -> Hub {
        Hub {
            cache: cache.into(),
            endpoint: "https://huggingface.co".into(),
            offline: false,
            token: None,
        }
    }

    /// Another server (a mirror, or a local one in tests), without a trailing `/`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Hub {
        self.endpoint = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Never use the network: only cached files are found.
    pub fn offline(mut self, offline: bool) -> Hub {
        self.offline = offline;
        self
    }

    /// A token for gated or private repositories.
    pub fn token(mut self, token: Option<String>) -> Hub {
        self.token = token;
        self
    }

    /// The cache folder.
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.cache
            .join(format!("models--{}", repo.replace('/', "--")))
    }

    /// The URL of a file at a revision.
    pub fn url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/{revision}/{file}", self.endpoint)
    }

    /// The cached copy of `file` at `revision` (a branch, tag or commit), if there is one;
    /// never uses the network.
    pub fn cached(&self, repo: &str, revision: &str, file: &str) -> Result<Option<PathBuf>> {
        check_name(repo, file)?;
        check_name(repo, revision)?;
        let dir = self.repo_dir(repo);
        let commit = match std::fs::read_to_string(dir.join("refs").join(revision)) {
            Ok(c) => c.trim().to_string(),
            Err(_) if is_commit(revision) => revision.to_string(),
            Err(_) => return Ok(None),
        };
        if !is_commit(&commit) {
            return Ok(None);
        }
        let path = dir.join("snapshots").join(&commit).join(file);
        Ok(path.is_file().then_some(path))
    }

    /// `file` at `revision`: the cached copy, else (online, feature `download`) downloaded
    /// into the cache, `progress` getting (bytes so far, total). Without network and cache,
    /// an [`Error::Hub`] naming the URL to fetch and the folder to put it in.
    pub fn get(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        progress: impl FnMut(u64, u64),
    ) -> Result<PathBuf> {
        if let Some(p) = self.cached(repo, revision, file)? {
            return Ok(p);
        }
        let missing = |why: String| {
            Error::Hub {
            repo: repo.into(),
            file: file.into(),
            what: format!(
                "{why}. Fetch {} (or run `huggingface-cli download {repo} {file}`) into the cache {}, or pass the downloaded file itself",
                self.url(repo, revision, file),
                self.cache.display()
            ),
        }
        };
        if self.offline {
            return Err(missing("not in the cache, and the hub is offline".into()));
        }
        #[cfg(feature = "download")]
        {
            download::get(self, repo, revision, file, progress).map_err(|e| match e {
                download::Failure::Network(why) => missing(why),
                download::Failure::Other(e) => e,
            })
        }
        #[cfg(not(feature = "download"))]
        {
            let _ = progress;
            Err(missing(
                "not in the cache, and this build has no downloads (feature `download`)".into(),
            ))
        }
    }
}

fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(feature = "download")]
mod download;

//! The download half of [`Hub::get`]: metadata, resumable transfer, checksum, cache entry.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{is_commit, Hub};
use crate::error::{write_atomic, Error, Result};

/// Why a download failed: the network (the caller adds what to fetch by hand), or anything
/// else (a corrupt transfer, the cache folder), already an `Error`.
pub(super) enum Failure {
    Network(String),
    Other(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Other(e)
    }
}

/// What the hub says about a file before sending it.
struct Meta {
    commit: String,
    etag: String,
    size: u64,
    /// Where the bytes are (the CDN for LFS files).
    location: String,
}

/// An agent that returns every status as a response, following at most `redirects`.
fn agent(redirects: u32) -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(redirects)
        .http_status_as_error(false)
        .timeout_connect(Some(std::time::Duration::from_secs(20)))
        .timeout_per_read(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

fn header(r: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

/// `location` resolved against `base` (the hub sends relative redirects for renamed repos).
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let origin_end = base
        .find("://")
        .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(base.len());
    format!(
        "{}/{}",
        &base[..origin_end],
        location.trim_start_matches('/')
    )
}

fn request<B>(hub: &Hub, r: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
    let r = r
        .header("Accept-Encoding", "identity")
        .header("User-Agent", concat!("wgcnn/", env!("CARGO_PKG_VERSION")));
    match &hub.token {
        Some(t) => r.header("Authorization", format!("Bearer {t}")),
        None => r,
    }
}

/// The file's commit, checksum, size and location, following the hub's own (relative)
/// redirects but not the one to the CDN, whose answer lacks the hub's headers.
fn metadata(hub: &Hub, url: &str, repo: &str, file: &str) -> Result<Meta, Failure> {
    let agent = agent(0);
    let mut at = url.to_string();
    for _ in 0..5 {
        let r = request(hub, agent.head(&at))
            .call()
            .map_err(|e| Failure::Network(format!("cannot reach {at}: {e}")))?;
        let status = r.status().as_u16();
        let hub_err = |what: String| {
            Failure::Other(Error::Hub {
                repo: repo.into(),
                file: file.into(),
                what,
            })
        };
        match status {
            200..=399 => {}
            401 | 403 => {
                return Err(hub_err(format!(
                    "{at} answered {status}: the repository is gated or private; set HF_TOKEN"
                )))
            }
            404 => {
                return Err(hub_err(format!(
                    "{at} answered 404: no such repository or file"
                )))
            }
            _ => return Err(Failure::Network(format!("{at} answered {status}"))),
        }
        let location = header(&r, "location").map(|l| resolve(&at, &l));
        let etag = header(&r, "x-linked-etag").or_else(|| header(&r, "etag"));
        if (300..400).contains(&status) && header(&r, "x-repo-commit").is_none() {
            // A renamed repository: ask again where it points.
            at = location.ok_or_else(|| hub_err(format!("{at}: a redirect without Location")))?;
            continue;
        }
        let commit = header(&r, "x-repo-commit").filter(|c| is_commit(c));
        let size = header(&r, "x-linked-size")
            .or_else(|| header(&r, "content-length"))
            .and_then(|s| s.parse().ok());
        let etag = etag.map(|e| e.trim_start_matches("W/").trim_matches('"').to_string());
        let (Some(commit), Some(etag), Some(size)) = (commit, etag, size) else {
            return Err(hub_err(format!(
                "{at} did not send the file's commit, ETag and size: not a hub server?"
            )));
        };
        if etag.is_empty() || !etag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(hub_err(format!("{at} sent an unusable ETag `{etag}`")));
        }
        return Ok(Meta {
            commit,
            etag,
            size,
            location: location.unwrap_or(at),
        });
    }
    Err(Failure::Network(format!("{url}: too many redirects")))
}

/// Appends the bytes from `have` on to `part`; a server that ignores the range starts over.
fn transfer(
    hub: &Hub,
    meta: &Meta,
    part: &Path,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(), Failure> {
    let have = std::fs::metadata(part).map_or(0, |m| m.len());
    if have > meta.size {
        std::fs::remove_file(part).map_err(Error::io(part))?;
        return transfer(hub, meta, part, progress);
    }
    if have == meta.size {
        return Ok(());
    }
    let mut r = request(hub, agent(10).get(&meta.location));
    if have > 0 {
        r = r.header("Range", format!("bytes={have}-"));
    }
    let mut resp = r
        .call()
        .map_err(|e| Failure::Network(format!("cannot download {}: {e}", meta.location)))?;
    let (mut file, mut got) = match resp.status().as_u16() {
        206 if have > 0 => {
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(part)
                .map_err(Error::io(part))?;
            (f, have)
        }
        200 => (std::fs::File::create(part).map_err(Error::io(part))?, 0),
        s => {
            return Err(Failure::Network(format!(
                "{} answered {s} to the download",
                meta.location
            )))
        }
    };
    let mut body = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    progress(got, meta.size);
    loop {
        let n = body.read(&mut buf).map_err(|e| {
            Failure::Network(format!(
                "the download stopped after {got} of {} bytes ({e}); run again to resume",
                meta.size
            ))
        })?;
        if n == 0 {
            break;
        }
        if got + n as u64 > meta.size {
            drop(file);
            let _ = std::fs::remove_file(part);
            return Err(Error::format(part, "the server sent more bytes than the file has").into());
        }
        file.write_all(&buf[..n]).map_err(Error::io(part))?;
        got += n as u64;
        progress(got, meta.size);
    }
    file.sync_all().map_err(Error::io(part))?;
    if got < meta.size {
        return Err(Failure::Network(format!(
            "the download stopped after {got} of {} bytes; run again to resume",
            meta.size
        )));
    }
    Ok(())
}

fn sha256_hex(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `snapshots/<commit>/<file>` pointing at the blob: a relative symbolic link as
/// `huggingface_hub` makes, or a copy where links cannot be made.
fn link_snapshot(blob: &Path, pointer: &Path, file: &str) -> Result<()> {
    if let Some(dir) = pointer.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let _ = std::fs::remove_file(pointer);
    let up = "../".repeat(file.split('/').count() + 1);
    let blob_name = blob.file_name().map(|n| n.to_string_lossy().into_owned());
    #[cfg(unix)]
    if let Some(name) = &blob_name {
        let target = PathBuf::from(format!("{up}blobs/{name}"));
        if std::os::unix::fs::symlink(&target, pointer).is_ok() {
            return Ok(());
        }
    }
    let _ = (up, blob_name);
    let bytes = std::fs::read(blob).map_err(Error::io(blob))?;
    write_atomic(pointer, &bytes)
}

pub(super) fn get(
    hub: &Hub,
    repo: &str,
    revision: &str,
    file: &str,
    mut progress: impl FnMut(u64, u64),
) -> Result<PathBuf, Failure> {
    let meta = metadata(hub, &hub.url(repo, revision, file), repo, file)?;
    let dir = hub.repo_dir(repo);
    let blobs = dir.join("blobs");
    std::fs::create_dir_all(&blobs).map_err(Error::io(&blobs))?;
    let blob = blobs.join(&meta.etag);
    if !blob.is_file() {
        let part = blobs.join(format!("{}.incomplete", meta.etag));
        transfer(hub, &meta, &part, &mut progress)?;
        // An LFS file's ETag is its SHA-256: check it before the file enters the cache.
        let is_sha = meta.etag.len() == 64 && meta.etag.bytes().all(|b| b.is_ascii_hexdigit());
        if is_sha {
            let sum = sha256_hex(&part)?;
            if sum != meta.etag.to_ascii_lowercase() {
                let _ = std::fs::remove_file(&part);
                return Err(Error::Hub {
                    repo: repo.into(),
                    file: file.into(),
                    what: format!(
                        "the download is corrupt: its SHA-256 is {sum}, the hub says {}; it was deleted, run again",
                        meta.etag
                    ),
                }
                .into());
            }
        }
        std::fs::rename(&part, &blob).map_err(Error::io(&blob))?;
    }
    let pointer = dir.join("snapshots").join(&meta.commit).join(file);
    link_snapshot(&blob, &pointer, file)?;
    if revision != meta.commit {
        let r = dir.join("refs").join(revision);
        if let Some(d) = r.parent() {
            std::fs::create_dir_all(d).map_err(Error::io(d))?;
        }
        write_atomic(&r, meta.commit.as_bytes())?;
    }
    Ok(pointer)
}

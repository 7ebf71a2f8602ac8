//! A hub-shaped HTTP server on 127.0.0.1 for the download tests: `/{repo}/resolve/{rev}/{file}`
//! answers as huggingface.co does (a redirect to `/cdn/<sha256>` with `X-Repo-Commit`,
//! `X-Linked-Etag` and `X-Linked-Size` for LFS files, the bytes with an `ETag` for small ones),
//! `/cdn/<sha256>` serves the bytes with `Range` support, and a mode can corrupt the bytes or
//! cut the connection partway.

#![allow(dead_code)] // Each test binary uses part of it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// How the CDN answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Normal,
    /// One byte flipped.
    Corrupt,
    /// The connection closes after this many body bytes.
    CutAfter(usize),
}

pub struct File {
    pub repo: String,
    pub name: String,
    pub bytes: Vec<u8>,
    /// Served as an LFS file (redirect + SHA-256 ETag) or a small git file.
    pub lfs: bool,
}

#[derive(Default)]
pub struct State {
    pub files: Vec<File>,
    pub mode: Option<Mode>,
    /// Every request: method, path, Range header.
    pub log: Vec<(String, String, Option<String>)>,
}

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

pub fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Starts the server; returns its endpoint (`http://127.0.0.1:PORT`) and state.
pub fn start(files: Vec<File>) -> (String, Arc<Mutex<State>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(State {
        files,
        mode: Some(Mode::Normal),
        log: Vec::new(),
    }));
    let s = state.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let s = s.clone();
            std::thread::spawn(move || {
                let _ = answer(conn, &s);
            });
        }
    });
    (endpoint, state)
}

fn answer(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let mut st = state.lock().unwrap();
    st.log.push((method.clone(), path.clone(), range.clone()));
    let mode = st.mode.unwrap_or(Mode::Normal);
    let head = method == "HEAD";
    let found = st.files.iter().find(|f| {
        path == format!("/{}/resolve/main/{}", f.repo, f.name)
            || path == format!("/{}/resolve/{COMMIT}/{}", f.repo, f.name)
    });
    if let Some(f) = found {
        let sha = sha256(&f.bytes);
        if f.lfs {
            let h = format!(
                "HTTP/1.1 302 Found\r\nLocation: /cdn/{sha}\r\nX-Repo-Commit: {COMMIT}\r\nX-Linked-Etag: \"{sha}\"\r\nX-Linked-Size: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                f.bytes.len()
            );
            return conn.write_all(h.as_bytes());
        }
        let h = format!(
            "HTTP/1.1 200 OK\r\nETag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            &sha[..40],
            f.bytes.len()
        );
        conn.write_all(h.as_bytes())?;
        if !head {
            conn.write_all(&f.bytes)?;
        }
        return Ok(());
    }
    let cdn = path.strip_prefix("/cdn/").and_then(|sha| {
        st.files
            .iter()
            .find(|f| sha256(&f.bytes) == sha)
            .map(|f| f.bytes.clone())
    });
    drop(st);
    let Some(mut bytes) = cdn else {
        return conn.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    if mode == Mode::Corrupt {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
    }
    let n = bytes.len();
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let body = &bytes[start.min(n)..];
    let h = match start {
        0 => format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"),
        s => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{n}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            n - 1,
            body.len()
        ),
    };
    conn.write_all(h.as_bytes())?;
    if head {
        return Ok(());
    }
    match mode {
        Mode::CutAfter(k) => conn.write_all(&body[..k.min(body.len())]),
        _ => conn.write_all(body),
    }
}

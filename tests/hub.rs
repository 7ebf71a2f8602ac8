//! Hub files, offline-first, against a hub-shaped server on 127.0.0.1: an interrupted
//! download resumes, a corrupt one is refused and deleted, the cache has Python's layout and
//! serves offline, no network names what to fetch; pretrained models load from it with or
//! without their head.
#![cfg(feature = "download")]

#[path = "common/hub_server.rs"]
mod hub_server;

use std::path::{Path, PathBuf};

use hub_server::{sha256, start, File, Mode, COMMIT};
use wgcnn::models::hub::Hub;
use wgcnn::models::pretrained::{self, imagenet_classes, top_k, Pooling, PretrainedOptions};
use wgcnn::models::{resnet, ResNetDepth};
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::Model;
use wgcnn::Error;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wgcnn-hub-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hub_error(r: Result<PathBuf, Error>) -> String {
    match r {
        Err(e @ Error::Hub { .. }) => e.to_string(),
        r => panic!("expected a hub error, got {r:?}"),
    }
}

#[test]
fn downloads_resume_verify_and_fill_a_python_shaped_cache() {
    let weights: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let config = br#"{"architecture": "tiny"}"#.to_vec();
    let files = vec![
        File {
            repo: "org/tiny".into(),
            name: "model.safetensors".into(),
            bytes: weights.clone(),
            lfs: true,
        },
        File {
            repo: "org/tiny".into(),
            name: "config.json".into(),
            bytes: config.clone(),
            lfs: false,
        },
    ];
    let (endpoint, state) = start(files);
    let cache = dir("cache");
    let hub = Hub::new(&cache).endpoint(&endpoint);
    let sha = sha256(&weights);
    let repo_dir = cache.join("models--org--tiny");
    let part = repo_dir.join(format!("blobs/{sha}.incomplete"));

    // Cut after 100,000 bytes: an error that says so, the part kept.
    state.lock().unwrap().mode = Some(Mode::CutAfter(100_000));
    let e = hub_error(hub.get("org/tiny", "main", "model.safetensors", |_, _| {}));
    assert!(
        e.contains("100000 of 300000") && e.contains("resume"),
        "{e}"
    );
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 100_000);

    // Then it resumes from there, with progress up to the size.
    state.lock().unwrap().mode = Some(Mode::Normal);
    let mut last = (0, 0);
    let got = hub
        .get("org/tiny", "main", "model.safetensors", |a, b| {
            last = (a, b)
        })
        .unwrap();
    assert_eq!(last, (300_000, 300_000));
    let log = state.lock().unwrap().log.clone();
    let (method, path, range) = log.last().unwrap();
    assert_eq!(
        (method.as_str(), path.as_str(), range.as_deref()),
        ("GET", format!("/cdn/{sha}").as_str(), Some("bytes=100000-"))
    );
    assert_eq!(std::fs::read(&got).unwrap(), weights);
    assert!(!part.exists());
    // huggingface_hub's layout: the snapshot entry is a relative link to the blob.
    let pointer = repo_dir.join(format!("snapshots/{COMMIT}/model.safetensors"));
    assert_eq!(got, pointer);
    assert_eq!(
        std::fs::read_link(&pointer).unwrap(),
        Path::new(&format!("../../blobs/{sha}"))
    );
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );

    // A small (non-LFS) file has a git ETag: no SHA-256 to check, still cached.
    let c = hub
        .get("org/tiny", "main", "config.json", |_, _| {})
        .unwrap();
    assert_eq!(std::fs::read(c).unwrap(), config);

    // Offline, the cache answers, by branch and by commit, and nothing is asked.
    let asked = state.lock().unwrap().log.len();
    let offline = Hub::new(&cache)
        .endpoint("http://127.0.0.1:9")
        .offline(true);
    for rev in ["main", COMMIT] {
        let p = offline.get("org/tiny", rev, "model.safetensors", |_, _| {});
        assert_eq!(p.unwrap(), pointer);
    }
    assert_eq!(state.lock().unwrap().log.len(), asked);

    // A corrupt transfer is refused and nothing of it stays.
    let cache2 = dir("corrupt");
    state.lock().unwrap().mode = Some(Mode::Corrupt);
    let hub2 = Hub::new(&cache2).endpoint(&endpoint);
    let e = hub_error(hub2.get("org/tiny", "main", "model.safetensors", |_, _| {}));
    assert!(e.contains("corrupt") && e.contains(&sha), "{e}");
    let blobs: Vec<_> = std::fs::read_dir(cache2.join("models--org--tiny/blobs"))
        .unwrap()
        .collect();
    assert!(blobs.is_empty(), "{blobs:?}");
    state.lock().unwrap().mode = Some(Mode::Normal);

    // No such file; names that would leave the cache.
    let e = hub_error(hub.get("org/tiny", "main", "missing.bin", |_, _| {}));
    assert!(e.contains("404"), "{e}");
    for (repo, file) in [
        ("../x", "a"),
        ("org/tiny", "../../etc/passwd"),
        ("org", "a"),
    ] {
        hub_error(hub.get(repo, "main", file, |_, _| {}));
    }
}

#[test]
fn without_network_or_cache_the_error_says_what_to_fetch_and_where() {
    let cache = dir("none");
    let url = "https://huggingface.co/org/tiny/resolve/main/model.safetensors";
    let e = hub_error(Hub::new(&cache).offline(true).get(
        "org/tiny",
        "main",
        "model.safetensors",
        |_, _| {},
    ));
    assert!(
        e.contains(url) && e.contains(cache.to_str().unwrap()),
        "{e}"
    );
    // A refused connection (nothing listens on port 9).
    let hub = Hub::new(&cache).endpoint("http://127.0.0.1:9");
    let e = hub_error(hub.get("org/tiny", "main", "model.safetensors", |_, _| {}));
    assert!(
        e.contains("http://127.0.0.1:9/org/tiny/resolve/main/model.safetensors"),
        "{e}"
    );
}

#[test]
fn pretrained_models_load_from_the_hub_with_or_without_their_head() {
    let gpu = gpu();
    // A ResNet-18 with random weights stands in for timm's file.
    let src = resnet(ResNetDepth::R18, 64, 1000, 5).unwrap();
    assert_eq!(
        src.summary().trainable,
        pretrained::spec("resnet18").unwrap().params
    );
    let mut m = Model::new(&gpu, src).unwrap();
    let work = dir("pretrained");
    let file = work.join("model.safetensors");
    m.save(&file).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let (endpoint, _state) = start(vec![File {
        repo: "timm/resnet18.tv_in1k".into(),
        name: "model.safetensors".into(),
        bytes,
        lfs: true,
    }]);
    let opts = PretrainedOptions {
        hub: Hub::new(work.join("cache")).endpoint(&endpoint),
        size: Some(64),
        ..PretrainedOptions::default()
    };
    let x = Rng::new(2).vec(2 * 3 * 64 * 64);
    let want = m.predict(&x, 2).unwrap().swap_remove(0);

    let mut full = pretrained::pretrained(&gpu, "timm/resnet18.tv_in1k", &opts, |_, _| {}).unwrap();
    assert!(full.report.unexpected.is_empty() && full.report.missing.is_empty());
    assert_eq!(full.model.predict(&x, 2).unwrap()[0], want);
    let best = top_k(&want[..1000], 3);
    assert_eq!(best.len(), 3);
    assert!(best[0].1 >= best[1].1 && best[1].1 >= best[2].1);

    let headless = |pooling| PretrainedOptions {
        include_top: false,
        pooling,
        ..opts.clone()
    };
    let mut maps =
        pretrained::pretrained(&gpu, "resnet18", &headless(Pooling::None), |_, _| {}).unwrap();
    assert_eq!(maps.report.unexpected, ["fc.bias", "fc.weight"]);
    let f = maps.model.predict(&x, 2).unwrap().swap_remove(0);
    assert_eq!(f.len(), 2 * 512 * 2 * 2, "512 maps of 2 × 2 at 64 px");
    for (pooling, reduce) in [
        (
            Pooling::Avg,
            (|v: &[f32]| v.iter().sum::<f32>() / 4.0) as fn(&[f32]) -> f32,
        ),
        (Pooling::Max, |v: &[f32]| {
            v.iter().copied().fold(f32::MIN, f32::max)
        }),
    ] {
        let mut p =
            pretrained::pretrained(&gpu, "resnet18", &headless(pooling), |_, _| {}).unwrap();
        let got = p.model.predict(&x, 2).unwrap().swap_remove(0);
        assert_eq!(got.len(), 2 * 512);
        for (g, w) in got.iter().zip(f.chunks(4)) {
            assert!(
                (g - reduce(w)).abs() <= 1e-5 * reduce(w).abs().max(1.0),
                "{pooling:?}"
            );
        }
    }
    // A file of another architecture is refused, naming a missing tensor.
    let other = PretrainedOptions {
        weights: Some(file.clone()),
        ..opts.clone()
    };
    match pretrained::pretrained(&gpu, "resnet34", &other, |_, _| {}) {
        Err(e) => assert!(e.to_string().contains("missing"), "{e}"),
        Ok(_) => panic!("resnet18 weights loaded as resnet34"),
    }
    assert!(pretrained::spec("resnet9000").is_err());
    let names = imagenet_classes();
    assert_eq!(
        (names.len(), names[0], names[281]),
        (1000, "tench", "tabby")
    );
}

//! `Hub::from_env` honours `HF_HUB_CACHE` and `HF_HUB_OFFLINE` and finds a cache that Python's
//! `huggingface_hub` wrote. Alone in its binary: it sets environment variables.

use std::path::PathBuf;

use wgcnn::models::hub::Hub;
use wgcnn::Error;

const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

#[test]
fn a_python_cache_is_found_through_the_environment() {
    let py: PathBuf = std::env::temp_dir().join(format!("wgcnn-hub-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&py);
    // What `huggingface_hub` writes: the blob, a relative link to it, the branch's commit.
    let repo = py.join("models--timm--resnet18.tv_in1k");
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join(format!("snapshots/{COMMIT}"))).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("blobs/abc"), b"weights").unwrap();
    std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
    let link = repo.join(format!("snapshots/{COMMIT}/model.safetensors"));
    std::os::unix::fs::symlink("../../blobs/abc", &link).unwrap();
    std::env::set_var("HF_HUB_CACHE", &py);
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let hub = Hub::from_env();
    assert_eq!(hub.cache_dir(), py);
    let found = hub.get(
        "timm/resnet18.tv_in1k",
        "main",
        "model.safetensors",
        |_, _| {},
    );
    assert_eq!(std::fs::read(found.unwrap()).unwrap(), b"weights");
    // Offline, a file not in the cache is an error naming it, without a connection.
    match hub.get(
        "timm/resnet34.tv_in1k",
        "main",
        "model.safetensors",
        |_, _| {},
    ) {
        Err(e @ Error::Hub { .. }) => assert!(e.to_string().contains("offline"), "{e}"),
        r => panic!("{r:?}"),
    }
    // HF_HOME/hub when HF_HUB_CACHE is unset.
    std::env::remove_var("HF_HUB_CACHE");
    std::env::set_var("HF_HOME", "/somewhere");
    assert_eq!(Hub::from_env().cache_dir(), PathBuf::from("/somewhere/hub"));
    std::fs::remove_dir_all(&py).unwrap();
}

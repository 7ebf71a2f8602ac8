//! Adapter choice through the environment; in its own test binary because it sets a variable.

use wgcnn::{Error, Gpu};

#[test]
fn unknown_adapter_name_is_a_clear_error() {
    std::env::set_var("WGCNN_ADAPTER", "no-such-adapter-xyz");
    let r = Gpu::new();
    std::env::remove_var("WGCNN_ADAPTER");
    match r {
        Err(e @ Error::NoAdapter { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("no-such-adapter-xyz") && msg.contains("WGCNN_ADAPTER"),
                "{msg}"
            );
        }
        other => panic!("expected NoAdapter, got {other:?}"),
    }
    // And without the filter an adapter opens (tests fail, never skip, without one).
    let gpu =
        Gpu::new().expect("an adapter: install mesa-vulkan-drivers on machines without a GPU");
    assert!(gpu.limits().max_storage_buffer_binding_size >= 128 << 20);
}

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

/// The driver and its known quirks are recorded and shown by `describe()`: gallivm before
/// Mesa 25 has the loop limit (worked around) and is slow (warned); newer drivers have none.
#[test]
fn driver_quirks_are_visible() {
    let gpu = wgcnn::testing::shared_gpu().expect("a GPU test needs an adapter");
    let d = gpu.driver();
    let text = gpu.describe();
    println!("{text}");
    assert!(!d.name.is_empty());
    let old_gallivm = gpu.is_software()
        && gpu.adapter_info().name.contains("llvmpipe")
        && d.mesa.is_some_and(|(major, _, _)| major < 25);
    if old_gallivm {
        assert!(d.quirks.contains(&wgcnn::gpu::driver::Quirk::LoopLimit));
        assert!(
            text.contains("quirks:") && text.contains("65,535"),
            "{text}"
        );
    } else {
        assert!(d.quirks.is_empty() && !text.contains("quirks:"), "{text}");
    }
}

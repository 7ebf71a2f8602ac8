//! The model zoo: parameter counts against the published ones, summaries, shape errors naming
//! the layer, and every model training on the GPU with its loss falling.

use wgcnn::graph::{Graph, Sequential};
use wgcnn::models::{self, ResNetDepth, VggDepth};
use wgcnn::nn::{BatchNorm1d, Conv2d, Dense, Flatten, Reshape};
use wgcnn::ops::optim::Optimizer;
use wgcnn::testing::{gpu, Rng};
use wgcnn::train::{Dataset, FitOptions, Loss, Model};
use wgcnn::{ConvTuning, Error};

fn trainable(g: &Graph) -> usize {
    g.summary().trainable
}

#[test]
fn parameter_counts_match_the_published_ones() {
    assert_eq!(trainable(&models::lenet5(10, false, 0).unwrap()), 61_706);
    assert_eq!(trainable(&models::simple_cnn(10, 0).unwrap()), 122_570);
    // Keras's `model.summary()` of the seeds' Fashion-MNIST CNN (Géron, ch. 14).
    assert_eq!(
        trainable(&models::fashion_mnist_cnn(10, 0).unwrap()),
        1_413_834
    );
    // He et al.'s ResNet-20 is 0.27 M; the 1×1 projections add 2,752 to option A's 269,722.
    assert_eq!(trainable(&models::resnet_cifar(3, 10, 0).unwrap()), 272_474);
    // torchvision's `sum(p.numel() for p in model.parameters())`.
    let r18 = models::resnet(ResNetDepth::R18, 224, 1000, 0).unwrap();
    assert_eq!(trainable(&r18), 11_689_512);
    assert_eq!(
        trainable(&models::resnet(ResNetDepth::R34, 224, 1000, 0).unwrap()),
        21_797_672
    );
    assert_eq!(
        trainable(&models::resnet(ResNetDepth::R50, 224, 1000, 0).unwrap()),
        25_557_032
    );
    assert_eq!(
        trainable(&models::vgg(VggDepth::V11, false, false, 1000, 0).unwrap()),
        132_863_336
    );
    assert_eq!(
        trainable(&models::vgg(VggDepth::V16, false, false, 1000, 0).unwrap()),
        138_357_544
    );
    assert_eq!(
        trainable(&models::vgg(VggDepth::V16, true, false, 1000, 0).unwrap()),
        138_365_992
    );
    assert_eq!(
        trainable(&models::vgg(VggDepth::V19, false, false, 1000, 0).unwrap()),
        143_667_240
    );
    assert_eq!(
        trainable(&models::vgg(VggDepth::V19, true, false, 1000, 0).unwrap()),
        143_678_248
    );
    assert_eq!(
        trainable(&models::resnet(ResNetDepth::R101, 224, 1000, 0).unwrap()),
        44_549_160
    );
    assert_eq!(
        trainable(&models::resnet(ResNetDepth::R152, 224, 1000, 0).unwrap()),
        60_192_808
    );
    assert_eq!(
        trainable(&models::mobilenet_v2(224, 1000, 0).unwrap()),
        3_504_872
    );
    assert_eq!(
        trainable(&models::alexnet(1000, false, false, 0).unwrap()),
        61_100_840
    );
    // Batch-norm running statistics are buffers: ResNet-18 has 9,600 of them (4,800 channels).
    assert_eq!(r18.summary().non_trainable, 9_600);
    // torchvision's names, so its safetensors exports line up.
    let names: Vec<&str> = r18.params().iter().map(|p| p.name.as_str()).collect();
    for n in [
        "conv1.weight",
        "bn1.running_var",
        "layer2.0.downsample.0.weight",
        "layer4.1.bn2.bias",
        "fc.weight",
    ] {
        assert!(names.contains(&n), "missing {n}");
    }
}

#[test]
fn a_layer_that_does_not_fit_is_named() {
    let e = Sequential::new([3, 8, 8])
        .add(Conv2d::new(4, 3))
        .add(Dense::new(10))
        .build()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Layer { ref layer, .. } if layer == "dense_1"),
        "{msg}"
    );
    assert!(msg.contains("Flatten"), "{msg}");
    let e = Sequential::new([3, 4, 4])
        .add(Conv2d::new(4, 5))
        .build()
        .unwrap_err();
    assert!(e.to_string().starts_with("layer `conv2d_1`"), "{e}");
    let ok = Sequential::new([3, 8, 8])
        .add(Conv2d::new(4, 3))
        .add(Flatten)
        .add(Dense::new(10))
        .build();
    assert!(ok.is_ok());
}

/// `Reshape` infers its one −1 and refuses what cannot be; `BatchNorm1d` takes `[n, c]` and
/// `[n, c, l]` only, and its buffers go into checkpoints with PyTorch's names.
#[test]
fn reshape_and_batch_norm_1d_check_their_shapes() {
    let g = Sequential::new([3, 4, 4])
        .add(Reshape::new(&[-1, 8]))
        .add(BatchNorm1d::new())
        .add(Flatten)
        .add(BatchNorm1d::new())
        .build()
        .unwrap();
    assert_eq!(g.shape(g.outputs()[0]).dims(), &[48]);
    for dims in [&[5, -1][..], &[-1, -1], &[0, 48], &[-2, 24], &[7], &[]] {
        let r = Sequential::new([3, 4, 4]).add(Reshape::new(dims)).build();
        assert!(r.is_err(), "{dims:?}");
    }
    assert!(Sequential::new([3, 4, 4])
        .add(BatchNorm1d::new())
        .build()
        .is_err());
    let gpu = gpu();
    let m = Model::new(&gpu, g).unwrap();
    let path = std::env::temp_dir().join(format!("wgcnn-bn1d-{}.safetensors", std::process::id()));
    m.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
    for name in ["running_var", "num_batches_tracked"] {
        assert!(text.contains(name), "{name} not saved");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn summary_lists_layers_and_planned_memory() {
    let gpu = gpu();
    let mut m = Model::new(&gpu, models::resnet_cifar(3, 10, 0).unwrap()).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.1))
        .unwrap();
    let s = m.summary(64).unwrap();
    let text = s.to_string();
    assert!(
        text.contains("layer3.2.conv2 (conv2d)") && text.contains("(None, 64, 8, 8)"),
        "{text}"
    );
    assert!(text.contains("Trainable params: 272474"), "{text}");
    let mem = s.memory.unwrap();
    assert!(mem.training_activations > mem.inference_activations);
    assert!(mem.training_dispatches > mem.inference_dispatches);
}

#[test]
fn vgg16_inference_needs_about_two_consecutive_activations() {
    // Without Winograd's workspace (its transformed tensors come on top, see the limit's docs);
    // a Gpu of its own, as the limit holds for every plan compiled on it.
    let gpu = wgcnn::Gpu::new().unwrap();
    gpu.set_autotune(false);
    gpu.set_conv_workspace_limit(0);
    let g = models::vgg(VggDepth::V16, true, true, 10, 0).unwrap();
    let mut m = Model::new(&gpu, g).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::sgd(0.1))
        .unwrap();
    let batch = 16;
    let mem = m.summary(batch).unwrap().memory.unwrap();
    // The batch and targets buffers are not activations of a layer.
    let io = (batch * (3 * 32 * 32 + 1) * 4) as u64;
    let acts = mem.inference_activations - io;
    // Beside the two large buffers: small per-layer temporaries (the loss's per-row terms),
    // the folded weights of a conv whose batch norm is folded in (only where its weights
    // are at most 1/16 of its output: here the 64-channel layers' 64·64·9 floats), and the
    // temporary of a conv whose reduction runs in K-slices (gpu::loops; the later slices add
    // up there): at most one largest conv output, 64 channels of 32×32.
    let folded = 64 * 64 * 9 * 4;
    let k_slices = (batch * 64 * 32 * 32 * 4) as u64;
    assert!(
        acts <= mem.two_largest_consecutive + folded + k_slices + (64 << 10),
        "inference pool {acts} B > two largest consecutive layers {} B",
        mem.two_largest_consecutive
    );
    assert!(
        mem.training_activations > 4 * acts,
        "training keeps what backward needs"
    );
}

/// Trains `g` for a few steps on one fixed random batch; the loss must fall. Models with
/// dropout and no batch norm are judged by the inference-mode loss (dropout makes training
/// losses noisy); the others by the mean training-mode loss of the first two steps against the
/// last two (batch norm's running statistics lag behind after a few steps).
fn loss_falls(g: Graph, batch: usize, steps: usize) {
    use wgcnn::nn::Layer;
    let has = |f: fn(&Layer) -> bool| g.nodes().iter().any(|n| f(&n.layer));
    let by_eval =
        has(|l| matches!(l, Layer::Dropout(_))) && !has(|l| matches!(l, Layer::BatchNorm2d(_)));
    let what = format!(
        "{} layers, {} parameters",
        g.nodes().len(),
        g.summary().total()
    );
    let gpu = gpu();
    let input = g.shape(g.inputs()[0]).clone();
    let classes = g.shape(g.outputs()[0]).numel();
    let mut rng = Rng::new(5);
    let x = rng.vec(batch * input.numel());
    let y: Vec<f32> = (0..batch).map(|i| (i % classes) as f32).collect();
    let mut m = Model::new(&gpu, g).unwrap();
    m.compile(Loss::SparseCategoricalCrossentropy, Optimizer::adam(1e-3))
        .unwrap();
    let labels = y.iter().map(|&v| v as u32).collect();
    let data = Dataset::classification(x, input, labels, classes).unwrap();
    // Training-mode losses (batch norm's running statistics lag behind after a few steps,
    // so an inference-mode loss would not show the progress).
    let opts = FitOptions {
        epochs: steps,
        batch_size: batch,
        ..FitOptions::default()
    };
    let first = m.evaluate(&data, batch).unwrap().loss;
    let h = m.fit(&data, None, &opts, |_| ()).unwrap();
    let loss = |e: usize| h.epochs[e].train.loss;
    let (before, after) = match by_eval {
        true => (first, m.evaluate(&data, batch).unwrap().loss),
        false => (
            (loss(0) + loss(1)) / 2.0,
            (loss(steps - 2) + loss(steps - 1)) / 2.0,
        ),
    };
    assert!(after < before, "{what}: loss {before} → {after}");
}

#[test]
fn small_zoo_models_train_on_the_gpu() {
    loss_falls(models::lenet5(10, false, 1).unwrap(), 8, 5);
    loss_falls(models::lenet5(10, true, 1).unwrap(), 8, 5);
    loss_falls(models::simple_cnn(10, 1).unwrap(), 8, 5);
    loss_falls(models::fashion_mnist_cnn(10, 1).unwrap(), 4, 5);
    loss_falls(models::alexnet(10, true, true, 1).unwrap(), 4, 5);
    loss_falls(models::two_head_cnn([3, 16, 16], 5, 1).unwrap(), 4, 5);
}

#[test]
fn deep_zoo_models_train_on_the_gpu() {
    loss_falls(models::resnet_cifar(3, 10, 1).unwrap(), 4, 4);
    loss_falls(models::vgg(VggDepth::V11, true, true, 10, 1).unwrap(), 4, 4);
    loss_falls(
        models::vgg(VggDepth::V16, false, true, 10, 1).unwrap(),
        4,
        4,
    );
    loss_falls(models::googlenet_small(10, 1).unwrap(), 2, 6);
    // torchvision's ResNets on 64×64 inputs, to keep lavapipe's time in bounds.
    loss_falls(models::resnet(ResNetDepth::R18, 64, 10, 1).unwrap(), 2, 4);
    loss_falls(models::resnet(ResNetDepth::R50, 64, 10, 1).unwrap(), 2, 4);
}

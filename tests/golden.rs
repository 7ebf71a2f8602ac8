//! The committed PyTorch goldens (tests/golden, made by tools/gen_golden.py) pass, and the
//! runner rejects corrupt cases instead of passing them.

use std::path::Path;

use wgcnn::testing::golden::{run_dir, Status};
use wgcnn::testing::gpu;

/// A fresh folder under the temp dir holding copies of the committed cases `names`, and their
/// manifest entries (to edit before writing `cases.json`).
fn copy_cases(tag: &str, names: &[&str]) -> (std::path::PathBuf, Vec<serde_json::Value>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let tmp = std::env::temp_dir().join(format!("wgcnn-golden-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("cases.json")).unwrap()).unwrap();
    let mut entries = Vec::new();
    for case in names {
        std::fs::create_dir_all(tmp.join(case)).unwrap();
        for f in std::fs::read_dir(src.join(case)).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), tmp.join(case).join(f.file_name())).unwrap();
        }
        let all = manifest["cases"].as_array().unwrap();
        entries.push(all.iter().find(|c| c["name"] == *case).unwrap().clone());
    }
    (tmp, entries)
}

/// Writes `cases` as the folder's manifest.
fn write_manifest(dir: &Path, cases: Vec<serde_json::Value>) {
    let doc = serde_json::json!({ "cases": cases });
    std::fs::write(dir.join("cases.json"), doc.to_string()).unwrap();
}

#[test]
fn committed_pytorch_cases_pass() {
    let gpu = gpu();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let outcomes = run_dir(&gpu, &dir).expect("tests/golden/cases.json is readable");
    assert!(outcomes.len() >= 55, "only {} cases", outcomes.len());
    let mut bad = Vec::new();
    for o in &outcomes {
        match &o.status {
            Status::Passed { worst } => println!("{} {worst:.3}", o.name),
            other => bad.push(format!("{}: {other:?}", o.name)),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn truncated_and_wrong_cases_fail() {
    let gpu = gpu();
    let case = "conv_k3_s2_p1";
    let (tmp, mut entries) = copy_cases("bad", &[case]);
    let mut other_op = entries[0].clone();
    other_op["name"] = "unsupported".into();
    other_op["op"] = "lrn".into();
    entries.push(other_op);
    write_manifest(&tmp, entries);

    let status = |dir: &Path| {
        run_dir(&gpu, dir)
            .unwrap()
            .into_iter()
            .map(|o| o.status)
            .collect::<Vec<_>>()
    };
    let s = status(&tmp);
    assert!(matches!(s[0], Status::Passed { .. }), "{s:?}");
    assert!(matches!(s[1], Status::Skipped), "{s:?}");

    // A wrong expected value fails.
    let y = tmp.join(case).join("y.f32");
    let mut bytes = std::fs::read(&y).unwrap();
    bytes[0..4].copy_from_slice(&100.0f32.to_le_bytes());
    std::fs::write(&y, &bytes).unwrap();
    assert!(matches!(status(&tmp)[0], Status::Failed { .. }));

    // A truncated file fails with a message, never a panic.
    std::fs::write(&y, &bytes[..bytes.len() - 3]).unwrap();
    match &status(&tmp)[0] {
        Status::Failed { why, .. } => assert!(why.contains("bytes"), "{why}"),
        other => panic!("{other:?}"),
    }

    // A broken manifest is an error for the whole run.
    std::fs::write(tmp.join("cases.json"), "{ not json").unwrap();
    assert!(run_dir(&gpu, &tmp).is_err());
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// `Padding::Same` resolves to the pads PyTorch's `same_tf` cases were computed with.
#[test]
fn same_padding_matches_the_tensorflow_rule_of_the_goldens() {
    use wgcnn::{Conv2dParams, Padding, Shape};
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/cases.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    let mut checked = 0;
    for case in manifest["cases"].as_array().unwrap() {
        let p = &case["params"];
        if p["pad_kind"] != "same_tf" {
            continue;
        }
        let u = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
        let pair = |k: &str| (u(&p[k][0]), u(&p[k][1]));
        let params = Conv2dParams::new(pair("kernel"))
            .stride(pair("stride"))
            .dilation(pair("dilation"))
            .groups(u(&p["groups"]))
            .padding(Padding::Same);
        let x = Shape::new([u(&p["N"]), u(&p["C_in"]), u(&p["H"]), u(&p["W"])]);
        let (kh, kw) = pair("kernel");
        let w = Shape::new([u(&p["C_out"]), u(&p["C_in"]) / u(&p["groups"]), kh, kw]);
        let g = params.resolve(&x, &w).unwrap();
        let pads: Vec<usize> = p["padding"].as_array().unwrap().iter().map(u).collect();
        assert_eq!(
            vec![g.pad_top, g.pad_bottom, g.pad_left, g.pad_right],
            pads,
            "{}",
            case["name"]
        );
        assert_eq!((g.h_out, g.w_out), (u(&p["H_out"]), u(&p["W_out"])));
        checked += 1;
    }
    assert!(checked >= 2);
}

/// A `batch_norm2d_eval` case without `momentum` (evaluation does not use it) passes.
#[test]
fn eval_batch_norm_needs_no_momentum() {
    let gpu = gpu();
    let (tmp, mut entries) = copy_cases("bn", &["bn_eval"]);
    assert!(
        entries[0]["params"]["momentum"].is_number(),
        "{}",
        entries[0]
    );
    entries[0]["params"]
        .as_object_mut()
        .unwrap()
        .remove("momentum");
    write_manifest(&tmp, entries);
    let outcomes = run_dir(&gpu, &tmp).unwrap();
    assert!(
        matches!(outcomes[0].status, Status::Passed { .. }),
        "{:?}",
        outcomes[0].status
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Golden cases may carry NaN where PyTorch defines the result: a NaN input of ReLU and of
/// max pooling gives NaN (and the pool's index points at it), checked exactly; a finite value
/// where the golden one is NaN fails.
#[test]
fn cases_with_nan_pass_exactly() {
    let gpu = gpu();
    let (tmp, cases) = copy_cases("nan", &["relu_nf", "maxpool_k2_s2"]);
    let read = |case: &str, t: &str| -> Vec<f32> {
        std::fs::read(tmp.join(case).join(format!("{t}.f32")))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let write = |case: &str, t: &str, v: &[f32]| {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(tmp.join(case).join(format!("{t}.f32")), bytes).unwrap();
    };
    // ReLU: x[5] = NaN gives y[5] = NaN, and the gradient passes there.
    let (mut x, mut y, dy, mut dx) = (
        read("relu_nf", "x"),
        read("relu_nf", "y"),
        read("relu_nf", "dy"),
        read("relu_nf", "dx"),
    );
    (x[5], y[5], dx[5]) = (f32::NAN, f32::NAN, dy[5]);
    write("relu_nf", "x", &x);
    write("relu_nf", "y", &y);
    write("relu_nf", "dx", &dx);
    // Max pooling 2×2 / 2: x[0] = NaN wins window 0 of the first plane.
    let (mut x, mut y, mut idx, dy, mut dx) = (
        read("maxpool_k2_s2", "x"),
        read("maxpool_k2_s2", "y"),
        read("maxpool_k2_s2", "idx"),
        read("maxpool_k2_s2", "dy"),
        read("maxpool_k2_s2", "dx"),
    );
    dx[idx[0] as usize] = 0.0;
    (x[0], y[0], idx[0], dx[0]) = (f32::NAN, f32::NAN, 0.0, dy[0]);
    for (t, v) in [("x", &x), ("y", &y), ("idx", &idx), ("dx", &dx)] {
        write("maxpool_k2_s2", t, v);
    }
    write_manifest(&tmp, cases);
    for o in run_dir(&gpu, &tmp).unwrap() {
        assert!(
            matches!(o.status, Status::Passed { .. }),
            "{}: {:?}",
            o.name,
            o.status
        );
    }
    // A number where the golden value is NaN fails.
    y[0] = 1.0;
    write("maxpool_k2_s2", "y", &y);
    let s = run_dir(&gpu, &tmp).unwrap();
    assert!(
        matches!(s[1].status, Status::Failed { .. }),
        "{:?}",
        s[1].status
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

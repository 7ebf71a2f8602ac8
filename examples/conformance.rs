//! Runs a directory of outside-framework golden cases (GOLDEN_FORMAT.md) against the GPU ops.
//!
//! `cargo run --release --example conformance -- tests/golden`
//!
//! One line per case (name, op, worst error as a fraction of its bound), then
//! `N passed, M failed, K skipped`; exits non-zero when any case failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use wgcnn::testing::golden::{run_dir, Status};
use wgcnn::Gpu;

#[derive(Parser)]
struct Args {
    /// Folder holding cases.json and one sub-folder per case.
    dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcomes = match Gpu::new().and_then(|gpu| {
        println!("adapter: {}", gpu.describe());
        run_dir(&gpu, &args.dir)
    }) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for o in &outcomes {
        match &o.status {
            Status::Passed { worst } => {
                passed += 1;
                println!("{:<40} {:<24} ok    {worst:.3} of bound", o.name, o.op);
            }
            Status::Failed { worst, why } => {
                failed += 1;
                println!(
                    "{:<40} {:<24} FAIL  {worst:.3} of bound: {why}",
                    o.name, o.op
                );
            }
            Status::Skipped => {
                skipped += 1;
                println!("{:<40} {:<24} skip  (op not supported yet)", o.name, o.op);
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

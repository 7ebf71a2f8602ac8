//! The examples' process: one adapter and, built with `--features mpi`, the MPI job it is a
//! rank of (a world of one when started without `mpirun`).

#[cfg(feature = "mpi")]
use std::sync::Arc;

use wgcnn::train::Model;
use wgcnn::Gpu;

/// This process's adapter and place in the job.
pub struct Ranks {
    pub gpu: Gpu,
    #[cfg(feature = "mpi")]
    world: Arc<wgcnn::dist::World>,
}

impl Ranks {
    /// Opens the adapter: under MPI the one of this rank on its machine.
    pub fn open() -> wgcnn::Result<Ranks> {
        #[cfg(feature = "mpi")]
        {
            let world = Arc::new(wgcnn::dist::World::init()?);
            let gpu = world.gpu()?;
            Ok(Ranks { gpu, world })
        }
        #[cfg(not(feature = "mpi"))]
        Ok(Ranks { gpu: Gpu::new()? })
    }

    /// (rank, ranks).
    pub fn world(&self) -> (usize, usize) {
        #[cfg(feature = "mpi")]
        return (self.world.rank(), self.world.size());
        #[cfg(not(feature = "mpi"))]
        (0, 1)
    }

    /// Whether this process prints and writes files.
    pub fn root(&self) -> bool {
        self.world().0 == 0
    }

    /// Makes `model`'s `fit` data-parallel over the job when it has more than one rank.
    pub fn distribute(&self, model: &mut Model) -> wgcnn::Result<()> {
        #[cfg(feature = "mpi")]
        if self.world.size() > 1 {
            model.distribute(self.world.clone())?;
        }
        let _ = model;
        Ok(())
    }

    /// Runs `f` on rank 0 first, then on the others (a download or a cache that one rank
    /// fills and the rest read).
    pub fn root_first<T>(&self, f: impl FnOnce() -> T) -> wgcnn::Result<T> {
        #[cfg(feature = "mpi")]
        if !self.root() {
            self.world.barrier()?;
            return Ok(f());
        }
        let out = f();
        #[cfg(feature = "mpi")]
        self.world.barrier()?;
        Ok(out)
    }
}

//! Processes under MPI (feature `mpi`): [`World`] is the job `mpirun` (or a cluster's
//! launcher) started, one process per adapter, and the [`Collective`] that data-parallel
//! training ([`Model::distribute`](crate::train::Model::distribute)) reduces over.
//!
//! ```no_run
//! # fn main() -> wgcnn::error::Result<()> {
//! use std::sync::Arc;
//! let world = Arc::new(wgcnn::dist::World::init()?);
//! let gpu = world.gpu()?; // this process's adapter, by its rank on the machine
//! # let graph = wgcnn::models::lenet5(10, false, 1)?;
//! let mut model = wgcnn::train::Model::new(&gpu, graph)?;
//! model.distribute(world.clone())?;
//! # Ok(()) }
//! ```
//!
//! MPI is initialised with `MPI_THREAD_SERIALIZED` and every call goes through one lock, so
//! a `World` can be shared between threads. A panic on any rank aborts the whole job
//! (`MPI_Abort`) rather than leaving the others waiting in a collective.

use std::sync::{Mutex, Once};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use mpi::Threading;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::train::Collective;

/// The MPI job this process belongs to.
pub struct World {
    /// Finalises MPI when the last reference goes.
    universe: Mutex<Universe>,
    rank: usize,
    size: usize,
    local_rank: usize,
    local_size: usize,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("local_rank", &self.local_rank)
            .field("local_size", &self.local_size)
            .finish()
    }
}

// SAFETY: MPI runs at MPI_THREAD_SERIALIZED (checked in `init`) and every MPI call of a
// `World` holds `universe`'s lock, so no two threads call MPI at once, which is all that
// level asks. The communicator handles are rebuilt per call (`SimpleCommunicator::world`).
unsafe impl Send for World {}
// SAFETY: as for `Send`: shared access goes through the same lock.
unsafe impl Sync for World {}

impl World {
    /// Initialises MPI from the environment `mpirun` set (a process started without it is a
    /// world of one). An `Err` when MPI was initialised before in this process or cannot
    /// give serialised threading.
    pub fn init() -> Result<World> {
        let (universe, level) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| Error::Model("MPI is already initialised in this process".into()))?;
        if level < Threading::Serialized {
            return Err(Error::Model(format!(
                "this MPI library gives {level:?} threading; wgcnn needs Serialized"
            )));
        }
        let world = universe.world();
        let local = world.split_shared(world.rank());
        let w = World {
            rank: world.rank() as usize,
            size: world.size() as usize,
            local_rank: local.rank() as usize,
            local_size: local.size() as usize,
            universe: Mutex::new(universe),
        };
        abort_on_panic();
        Ok(w)
    }

    /// This process's rank in the job, `0..size()`.
    pub fn rank(&self) -> usize {
        self.rank
    }
    /// Processes in the job.
    pub fn size(&self) -> usize {
        self.size
    }
    /// This process's rank among the job's processes on this machine.
    pub fn local_rank(&self) -> usize {
        self.local_rank
    }
    /// The job's processes on this machine.
    pub fn local_size(&self) -> usize {
        self.local_size
    }
    /// Whether this is rank 0, the one that reports.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// This process's adapter: [`Gpu::for_local_rank`] at its local rank, so `mpirun -np 4`
    /// on a machine with four GPUs uses each once (`WGCNN_ADAPTER` overrides).
    pub fn gpu(&self) -> Result<Gpu> {
        Gpu::for_local_rank(self.local_rank)
    }

    /// Waits until every rank has called it.
    pub fn barrier(&self) -> Result<()> {
        self.with(|w| w.barrier())
    }

    /// Ends the whole job with `code` (`MPI_Abort`): what a rank does with an `Err` the
    /// others cannot know of, so none is left waiting in a collective.
    pub fn abort(&self, code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }

    fn with<T>(&self, f: impl FnOnce(&SimpleCommunicator) -> T) -> Result<T> {
        let _held = self
            .universe
            .lock()
            .map_err(|_| Error::Model("an MPI call panicked on another thread".into()))?;
        Ok(f(&SimpleCommunicator::world()))
    }
}

/// Ends the whole job with `code` when this process belongs to one of several processes (MPI
/// initialised and not yet finalised); else returns, for the caller to exit as it would. For a program's error
/// path: a rank that returns from `main` with MPI running would wait for the others in
/// `MPI_Finalize` while they wait for it in a collective.
pub fn abort_job(code: i32) {
    let running = mpi::environment::is_initialized() && !mpi::environment::is_finalized();
    // A world of one has no one to leave waiting: the caller exits as usual.
    if running && SimpleCommunicator::world().size() > 1 {
        SimpleCommunicator::world().abort(code)
    }
}

/// A panic on one rank aborts the job (after the usual report) instead of leaving the other
/// ranks blocked in their next collective.
fn abort_on_panic() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            abort_job(101);
        }));
    });
}

impl Collective for World {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<()> {
        self.with(|w| {
            let send = values.to_vec();
            w.all_reduce_into(&send[..], values, SystemOperation::sum());
        })
    }
    fn all_reduce_sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.with(|w| {
            let send = values.to_vec();
            w.all_reduce_into(&send[..], values, SystemOperation::sum());
        })
    }
    fn all_gather_f64(&self, values: &[f64]) -> Result<Vec<f64>> {
        self.with(|w| {
            let mut all = vec![0.0; values.len() * self.size];
            w.all_gather_into(values, &mut all[..]);
            all
        })
    }
    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<()> {
        if root >= self.size {
            return Err(Error::invalid(
                "broadcast",
                "root",
                root,
                format!("the job has {} ranks", self.size),
            ));
        }
        self.with(|w| w.process_at_rank(root as i32).broadcast_into(values))
    }
}

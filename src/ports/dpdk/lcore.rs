//! Jobs on worker lcores, launched in a scope as `std::thread::scope` spawns
//! threads: every lcore launched in [`scope`] is waited for before `scope`
//! returns (or unwinds), so a job may borrow what outlives the scope, such as
//! the mempool and the ports its queues came from. A job must be `Send`: it
//! is moved to the lcore's thread.

use super::eal::Eal;
use super::error::{errno_of, DpdkError, Returns};
use dpdk_sys as sys;
use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::fmt;
use std::marker::PhantomData;

/// A worker lcore of the EAL (never the main one). Only [`Eal::worker_lcores`]
/// makes these, so launching on one never indexes past DPDK's lcore table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lcore(u32);

impl Lcore {
    pub(super) fn new(id: u32) -> Lcore {
        Lcore(id)
    }

    /// The lcore id.
    pub fn id(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Lcore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a job's lcore returns when the job panicked.
const PANICKED: c_int = -1;

/// Runs on the lcore: takes back the job that [`LcoreScope::launch`] boxed
/// for this lcore alone, and runs it. A panic is caught (it must not unwind
/// into C) and reported to [`scope`] through the return value.
extern "C" fn trampoline<F: FnOnce() + Send>(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<F> leaked by `launch` for this call alone,
    // and F is the type it was made with (this function is instantiated for
    // that F).
    let job = unsafe { Box::from_raw(arg.cast::<F>()) };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
        Ok(()) => 0,
        Err(_) => PANICKED,
    }
}

/// Launches jobs on worker lcores; see [`scope`].
pub struct LcoreScope<'env> {
    launched: RefCell<Vec<Lcore>>,
    /// Invariant in 'env (as std's Scope): a job can borrow nothing that
    /// lives shorter than the `scope` call. Not Sync: launching happens on
    /// the thread that called `scope`.
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'env> LcoreScope<'env> {
    /// Runs `job` on `lcore`. Fails if the lcore is busy or the caller is not
    /// the main lcore (which alone may launch).
    pub fn launch<F>(&self, lcore: Lcore, job: F) -> Result<(), DpdkError>
    where
        F: FnOnce() + Send + 'env,
    {
        // SAFETY: reads the calling thread's lcore id and the EAL's main
        // lcore (EAL is initialised: `scope` took an &Eal).
        if unsafe { sys::rte_lcore_id() != sys::rte_get_main_lcore() } {
            return Err(DpdkError::NotMainLcore);
        }
        let arg = Box::into_raw(Box::new(job)).cast::<c_void>();
        // SAFETY: `lcore` is an enabled worker lcore (see `Lcore`) and we
        // are on the main lcore; `arg` is a Box<F> that `trampoline::<F>`
        // takes back; F is Send, and every borrow in it outlives the wait at
        // the end of `scope`.
        let rc = unsafe { sys::rte_eal_remote_launch(Some(trampoline::<F>), arg, lcore.0) };
        if let Err(errno) = errno_of(rc, Returns::NegErrno) {
            // SAFETY: the launch failed, so the box was not handed over.
            drop(unsafe { Box::from_raw(arg.cast::<F>()) });
            return Err(DpdkError::Launch {
                lcore: lcore.0,
                errno,
            });
        }
        self.launched.borrow_mut().push(lcore);
        Ok(())
    }
}

/// Waits for every lcore a scope launched; runs at the end of [`scope`],
/// also when it unwinds.
struct WaitAll<'a, 'env>(&'a LcoreScope<'env>);

impl WaitAll<'_, '_> {
    /// Waits; the lcores whose job panicked.
    fn wait(&self) -> Vec<Lcore> {
        let mut panicked = Vec::new();
        for l in self.0.launched.borrow_mut().drain(..) {
            // SAFETY: `l` is a worker lcore this scope launched a job on.
            if unsafe { sys::rte_eal_wait_lcore(l.0) } == PANICKED {
                panicked.push(l);
            }
        }
        panicked
    }
}

impl Drop for WaitAll<'_, '_> {
    fn drop(&mut self) {
        self.wait();
    }
}

/// Runs `f`, in which jobs can be launched on worker lcores, then waits for
/// all of them. Stopping the jobs (a flag they poll) is the caller's: make
/// sure every way out of `f` stops them, or this waits for ever. Panics,
/// after the wait, if a job panicked (as `std::thread::scope` does).
pub fn scope<'env, R>(_eal: &Eal, f: impl FnOnce(&LcoreScope<'env>) -> R) -> R {
    let s = LcoreScope {
        launched: RefCell::new(Vec::new()),
        _env: PhantomData,
    };
    let wait = WaitAll(&s);
    let r = f(&s);
    let panicked = wait.wait();
    if !panicked.is_empty() {
        let ids: Vec<u32> = panicked.iter().map(|l| l.0).collect();
        panic!("the job on lcore {ids:?} panicked");
    }
    r
}

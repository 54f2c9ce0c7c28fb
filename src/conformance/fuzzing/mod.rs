//! The fuzz targets' checks (feature `fuzzing`), shared by the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/`) and by the replay of committed inputs in the crate's tests
//! (`tests/fuzz_regressions.rs`), so that an input found by fuzzing is replayed through exactly
//! the code that found it.
//!
//! Every target is a function from bytes to `Ok(())` or a [`Finding`]: a property the oracle
//! must keep and did not (a disagreement, a pass it did not verify, an answer for input it
//! should refuse). A panic is a finding too; the fuzzer reports it as a crash, the replay test
//! as a failure. Adding a target is one entry in [`TARGETS`], one function, one three-line file
//! in `fuzz/fuzz_targets/` and one `[[bin]]` in `fuzz/Cargo.toml`.
//!
//! Every allocation of a fuzz binary and of the replay is capped at [`ALLOCATION_CAP`] bytes:
//! each installs [`CappedAllocator`] as its global allocator (a library cannot do that for
//! them). The inputs are a few kilobytes, so a larger request means the oracle sized something
//! by what a file declares rather than by what it holds.

pub mod problems;
pub mod readers;

use std::alloc::{GlobalAlloc, Layout, System};

/// A violated property, in words.
pub type Finding = String;

/// One fuzz target: its name (the cargo-fuzz binary and the folders under `fuzz/seeds/` and
/// `fuzz/regressions/`) and its check.
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]) -> Result<(), Finding>,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "fixture_file",
        check: readers::fixture_file,
    },
    Target {
        name: "npy_file",
        check: readers::npy_file,
    },
    Target {
        name: "json_array",
        check: readers::json_array,
    },
    Target {
        name: "results_file",
        check: readers::results_file,
    },
    Target {
        name: "evaluate",
        check: problems::evaluate,
    },
    Target {
        name: "differential",
        check: problems::differential,
    },
];

/// Runs a target's check as a fuzz target does: a finding becomes a panic, which the fuzzer
/// records as a crash with its input.
pub fn fuzz(name: &str, data: &[u8]) {
    let target = TARGETS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no fuzz target `{name}`"));
    if let Err(finding) = (target.check)(data) {
        panic!("{name}: {finding}");
    }
}

/// The largest single allocation a check may make: far above what a few kilobytes of input
/// need, far below what a declared shape could ask for.
pub const ALLOCATION_CAP: usize = 256 << 20;

/// The system allocator, refusing any request above [`ALLOCATION_CAP`] (the process then
/// aborts with "memory allocation of N bytes failed", which the fuzzer records as a crash).
pub struct CappedAllocator;

unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_CAP {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_CAP {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOCATION_CAP {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

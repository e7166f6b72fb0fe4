//! The binary's allocator: the system's, asking Linux to back large blocks with transparent
//! huge pages.
//!
//! Why: a cold `predict` reads a 20+ MB model file and builds 15 MB of weights, and training
//! allocates multi-megabyte arrays; on 4 KB pages every first touch of a page is a fault, about
//! 2 µs each on the virtual machines measured here (10,000 faults, a quarter of a cold
//! `predict` of a full SST-2 model). `madvise(MADV_HUGEPAGE)` on a fresh block lets the kernel
//! fault its 2 MB-aligned part in 2 MB pages, 512 times fewer faults. It changes no value: where
//! huge pages are off the call does nothing, and where they are on for everything it was so
//! already. Only the binary installs it; the library does not choose an allocator.

use std::alloc::{GlobalAlloc, Layout, System};

/// Asks glibc's malloc to keep freed memory for reuse instead of handing it back to the
/// kernel, which would fault it in again page by page on the next batch: blocks below 64 MB
/// come from the heap instead of fresh maps, and the heap is trimmed only when 256 MB lie
/// free at its top. glibc otherwise raises these limits only as it sees blocks freed, and
/// per-thread arenas still give memory back; training's per-batch arrays then paid tens of
/// thousands of faults per epoch. Call it first thing, before any thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's tuning parameters; it is called before any other
    // thread exists. A refused value (return 0) leaves glibc's defaults, which are correct.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// The system allocator plus `madvise(MADV_HUGEPAGE)` on blocks of [`HUGE_BLOCK`] bytes or more.
pub struct HugePages;

/// Blocks at least this large are advised (smaller ones cannot hold an aligned huge page).
const HUGE_BLOCK: usize = HUGE_PAGE;

/// The size and alignment of a huge page on x86-64 and arm64 Linux.
const HUGE_PAGE: usize = 2 << 20;

/// Advises the 2 MB-aligned interior of `[ptr, ptr + len)`; a failure only means 4 KB pages.
fn advise(ptr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        if ptr.is_null() || len < HUGE_BLOCK {
            return;
        }
        let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
        let end = (ptr as usize + len) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: [start, end) lies inside a block the allocator just handed out and
            // that the caller owns; MADV_HUGEPAGE changes how pages are backed, never their
            // contents, so it cannot invalidate anything the program holds.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

// SAFETY: every call is forwarded to `System` with the same arguments, so `HugePages` keeps
// all of `GlobalAlloc`'s contracts; `advise` only adds a hint on the returned memory.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let ptr = unsafe { System.alloc(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let ptr = unsafe { System.alloc_zeroed(layout) };
        advise(ptr, layout.size());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        advise(new, new_size);
        new
    }
}

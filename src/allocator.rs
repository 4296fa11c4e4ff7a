//! The binary's global allocator: mimalloc, called the way the C library expects.
//!
//! The `mimalloc` crate's `GlobalAlloc` passes every request to `mi_malloc_aligned` and
//! `mi_realloc_aligned`, even for the alignments of 1 to 16 bytes that plain `mi_malloc`
//! already guarantees. The aligned entry points check the alignment, look for a block that
//! happens to be aligned and fall back to a slower generic path: over `screen` of the 20k
//! feed, allocation took 150.7M instructions that way and 91.0M through plain `mi_malloc`
//! (callgrind, BENCHMARKS.md "Allocator calls and bounds of names with initials").
//! Here, as Rust's own `System` allocator does with `malloc`, a request that plain
//! `mi_malloc` serves correctly (alignment at most `MAX_PLAIN_ALIGN` and at most the size)
//! goes to `mi_malloc`/`mi_realloc`; any other to the aligned functions.
//!
//! Set in `main.rs`, so that the library leaves the choice to its users (the heap tests
//! count bytes through a wrapper of their own around this one).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as ffi;

/// The alignment every `mi_malloc` block of at least this many bytes has
/// (`MI_MAX_ALIGN_SIZE`, `sizeof(max_align_t)` on the 64-bit targets we build for). Smaller
/// blocks are aligned to their size class, which is why the size is checked too.
const MAX_PLAIN_ALIGN: usize = 16;

/// mimalloc as the global allocator (see the module documentation).
pub struct Allocator;

/// Whether `mi_malloc(size)` returns a block aligned to `align`.
#[inline]
fn plain_is_aligned(align: usize, size: usize) -> bool {
    align <= MAX_PLAIN_ALIGN && align <= size
}

// SAFETY: every request goes to mimalloc, which returns blocks of at least the size asked
// for, aligned as asked (plain entry points only where their guaranteed alignment covers
// the layout's); `mi_free` takes any block either kind of call returned.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain_is_aligned(layout.align(), layout.size()) {
            unsafe { ffi::mi_malloc(layout.size()) as *mut u8 }
        } else {
            unsafe { ffi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8 }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain_is_aligned(layout.align(), layout.size()) {
            unsafe { ffi::mi_zalloc(layout.size()) as *mut u8 }
        } else {
            unsafe { ffi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8 }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, pointer: *mut u8, _layout: Layout) {
        unsafe { ffi::mi_free(pointer as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain_is_aligned(layout.align(), new_size) {
            unsafe { ffi::mi_realloc(pointer as *mut c_void, new_size) as *mut u8 }
        } else {
            unsafe {
                ffi::mi_realloc_aligned(pointer as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(block: *mut u8, size: usize) {
        for offset in 0..size {
            unsafe { *block.add(offset) = (offset % 251) as u8 };
        }
    }

    fn holds_pattern(block: *const u8, size: usize) -> bool {
        (0..size).all(|offset| unsafe { *block.add(offset) } == (offset % 251) as u8)
    }

    /// Every alignment up to a page, with sizes around each: blocks come back aligned, keep
    /// their contents when grown or shrunk, and zeroed blocks are zero.
    #[test]
    fn blocks_are_aligned_and_keep_their_contents_through_realloc() {
        let allocator = Allocator;
        for align in (0..=12).map(|shift| 1usize << shift) {
            for size in [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 100, 1024, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                for new_size in [size / 2 + 1, size * 3] {
                    unsafe {
                        let block = allocator.alloc(layout);
                        assert!(!block.is_null(), "size {size}, align {align}");
                        assert_eq!(block as usize % align, 0, "size {size}, align {align}");
                        fill(block, size);
                        let moved = allocator.realloc(block, layout, new_size);
                        assert!(!moved.is_null());
                        assert_eq!(
                            moved as usize % align,
                            0,
                            "{size} → {new_size}, align {align}"
                        );
                        assert!(holds_pattern(moved, size.min(new_size)));
                        allocator.dealloc(moved, Layout::from_size_align(new_size, align).unwrap());
                    }
                }
                unsafe {
                    let zeroed = allocator.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0, "zeroed {size}, align {align}");
                    assert!((0..size).all(|offset| *zeroed.add(offset) == 0));
                    allocator.dealloc(zeroed, layout);
                }
            }
        }
    }
}

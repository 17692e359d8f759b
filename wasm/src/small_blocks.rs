//! The component's global allocator: free lists of small blocks in front
//! of the system allocator (wasi-libc's dlmalloc).
//!
//! Design note: signing a message makes about twenty short-lived
//! allocations (the message, the header spans, the `h=` list, the field,
//! the header data, ...), and in wasmtime each goes through four calls
//! (`__rust_alloc`, `__rdl_alloc`, `malloc`, `dlmalloc`), every one of which
//! also pays an interruption check, and the same again to free it. Here a
//! small block (up to [`MAX_SMALL`] bytes) comes from a free list of its
//! size class: a pointer popped or pushed, in one call. Blocks are taken
//! from the system allocator in class sizes when a list is empty, and go
//! back to it when a list already keeps [`KEEP`] blocks, so the lists hold
//! at most 828 KiB however the messages allocate; larger or
//! over-aligned requests go to the system allocator directly.
//!
//! This is the only hand-written `unsafe` code of the crate. The target is
//! single-threaded (`wasm32-wasip2` without the `atomics` feature), which is
//! what makes the unsynchronized lists sound.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// The largest request served from the lists.
pub const MAX_SMALL: usize = 4096;
/// Blocks a list keeps before returning them to the system allocator.
pub const KEEP: usize = 32;
/// Alignment of every block (the system allocator's on wasm32).
const ALIGN: usize = 8;

/// Block sizes, each at most a quarter larger than the one before.
const CLASSES: [usize; 32] = [
    8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640,
    768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
];

/// The class of each size, by `(size + 7) / 8`.
const CLASS_OF: [u8; MAX_SMALL / 8 + 1] = {
    let mut t = [0u8; MAX_SMALL / 8 + 1];
    let mut i = 0;
    let mut c = 0;
    while i < t.len() {
        while CLASSES[c] < i * 8 {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
};

/// The size class of a request the lists serve, or `None`.
fn class(layout: &Layout) -> Option<usize> {
    if layout.align() > ALIGN {
        return None;
    }
    CLASS_OF
        .get(layout.size().div_ceil(8))
        .map(|c| usize::from(*c))
}

/// A free block: its first bytes point to the next one.
struct Free {
    next: *mut Free,
}

struct Lists {
    heads: [*mut Free; CLASSES.len()],
    counts: [usize; CLASSES.len()],
}

/// Free lists in front of [`System`].
pub struct SmallBlocks(UnsafeCell<Lists>);

impl SmallBlocks {
    /// Empty lists.
    pub const fn new() -> Self {
        SmallBlocks(UnsafeCell::new(Lists {
            heads: [ptr::null_mut(); CLASSES.len()],
            counts: [0; CLASSES.len()],
        }))
    }
}

/// Returns the listed blocks (a global allocator is never dropped; a
/// local one, as in the tests, leaves nothing behind).
impl Drop for SmallBlocks {
    fn drop(&mut self) {
        let lists = self.0.get_mut();
        for (c, head) in lists.heads.iter_mut().enumerate() {
            while !head.is_null() {
                let block = *head;
                // SAFETY: a listed block is ours, with a valid `next`, and
                // came from System in its class layout
                unsafe {
                    *head = (*block).next;
                    System.dealloc(block.cast(), class_layout(c));
                }
            }
        }
    }
}

impl Default for SmallBlocks {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: wasm32-wasip2 without `atomics` runs one thread; no two calls
// can touch the lists at once (and the allocator is never reentered: it
// calls only the system allocator).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for SmallBlocks {}

fn class_layout(c: usize) -> Layout {
    // a multiple of ALIGN, far below isize::MAX
    Layout::from_size_align(CLASSES[c], ALIGN).unwrap_or(Layout::new::<u64>())
}

unsafe impl GlobalAlloc for SmallBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(&layout) else {
            // SAFETY: the caller's layout, as given
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: single-threaded, not reentered (see `Sync`)
        let lists = unsafe { &mut *self.0.get() };
        let head = lists.heads[c];
        if head.is_null() {
            // SAFETY: a non-zero size
            return unsafe { System.alloc(class_layout(c)) };
        }
        // SAFETY: a block on the list is ours, unused, with a valid `next`
        lists.heads[c] = unsafe { (*head).next };
        lists.counts[c] -= 1;
        head.cast()
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(c) = class(&layout) else {
            // SAFETY: allocated by System with this layout (see `alloc`)
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: single-threaded, not reentered (see `Sync`)
        let lists = unsafe { &mut *self.0.get() };
        if lists.counts[c] >= KEEP {
            // SAFETY: every block of class `c` came from System in its
            // class layout
            return unsafe { System.dealloc(block, class_layout(c)) };
        }
        let free = block.cast::<Free>();
        // SAFETY: the block holds at least 8 bytes, aligned to 8, and is
        // no longer used by the caller
        unsafe {
            free.write(Free {
                next: lists.heads[c],
            })
        };
        lists.heads[c] = free;
        lists.counts[c] += 1;
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = class(&layout);
        // SAFETY: the alignment of a valid layout, a non-zero size
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = class(&new_layout);
        match (old, new) {
            // the block already has room
            (Some(a), Some(b)) if a == b => block,
            // both large: the system allocator may grow in place
            // SAFETY: allocated by System with `layout`
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: a valid layout; the blocks do not overlap; the old
                // one is freed with the layout it was allocated with
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_every_small_size_with_little_waste() {
        for size in 1..=MAX_SMALL {
            let c = class(&Layout::from_size_align(size, 1).unwrap()).unwrap();
            assert!(CLASSES[c] >= size, "{size}");
            assert!(
                c == 0 || CLASSES[c - 1] < size,
                "{size}: not the smallest class"
            );
            assert!(
                size <= 8 || CLASSES[c] * 4 <= size * 5 + 32,
                "{size}: {}",
                CLASSES[c]
            );
        }
        assert_eq!(
            class(&Layout::from_size_align(MAX_SMALL + 1, 1).unwrap()),
            None
        );
        assert_eq!(class(&Layout::from_size_align(8, 16).unwrap()), None);
    }

    /// Random allocations, reallocations (growing and shrinking, within
    /// a class and across it and the small limit) and frees, every live
    /// block filled with its own byte and checked before it changes hands:
    /// a block handed out twice, or data lost by a move, shows. Run under
    /// Miri too (scripts/test-all.sh), which also finds leaks and any
    /// undefined behaviour.
    #[test]
    fn random_alloc_realloc_free_keep_every_block_intact() {
        let a = SmallBlocks::new();
        // Miri interprets every byte access: fewer steps, smaller blocks
        let (steps, large) = if cfg!(miri) {
            (400, 64)
        } else {
            (200_000, 3 * MAX_SMALL)
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        // (pointer, layout, fill byte)
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let check = |p: *mut u8, l: Layout, fill: u8| unsafe {
            assert!(
                std::slice::from_raw_parts(p, l.size())
                    .iter()
                    .all(|b| *b == fill),
                "block {p:?} of {} bytes changed",
                l.size()
            );
        };
        for step in 0..steps {
            let fill = (step % 251) as u8 + 1;
            // sizes mostly small, some past the small limit; alignments
            // up to 16 (over-aligned requests go to the system allocator)
            let size = match next(10) {
                0 => MAX_SMALL + next(large),
                1 => MAX_SMALL - 8 + next(16),
                _ => 1 + next(600),
            };
            let align = [1, 2, 4, 8, 16][next(5)];
            match next(3) {
                0 if live.len() < 400 => unsafe {
                    let l = Layout::from_size_align(size, align).unwrap();
                    let p = a.alloc(l);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0);
                    p.write_bytes(fill, size);
                    live.push((p, l, fill));
                },
                1 if !live.is_empty() => unsafe {
                    let (p, l, old) = live.swap_remove(next(live.len()));
                    check(p, l, old);
                    let q = a.realloc(p, l, size);
                    assert!(!q.is_null());
                    let kept = l.size().min(size);
                    assert!(
                        std::slice::from_raw_parts(q, kept)
                            .iter()
                            .all(|b| *b == old),
                        "realloc lost data"
                    );
                    let l2 = Layout::from_size_align(size, l.align()).unwrap();
                    q.write_bytes(fill, size);
                    live.push((q, l2, fill));
                },
                _ if !live.is_empty() => unsafe {
                    let (p, l, old) = live.swap_remove(next(live.len()));
                    check(p, l, old);
                    a.dealloc(p, l);
                },
                _ => {}
            }
        }
        for (p, l, fill) in live {
            check(p, l, fill);
            unsafe { a.dealloc(p, l) };
        }
        // the lists never keep more than KEEP blocks each
        let lists = unsafe { &*a.0.get() };
        assert!(lists.counts.iter().all(|c| *c <= KEEP));
    }

    #[test]
    fn blocks_are_reused_kept_and_moved() {
        let a = SmallBlocks::new();
        unsafe {
            let l = Layout::from_size_align(100, 4).unwrap();
            let p = a.alloc(l);
            p.write_bytes(7, 100);
            a.dealloc(p, l);
            // the same class gets the same block back
            let q = a.alloc(Layout::from_size_align(97, 8).unwrap());
            assert_eq!(p, q);
            // growing within the class stays, beyond it moves with the data
            q.write_bytes(9, 97);
            let r = a.realloc(q, Layout::from_size_align(97, 8).unwrap(), 112);
            assert_eq!(r, q);
            let s = a.realloc(r, Layout::from_size_align(112, 8).unwrap(), 5000);
            assert!(std::slice::from_raw_parts(s, 97).iter().all(|b| *b == 9));
            let t = a.realloc(s, Layout::from_size_align(5000, 8).unwrap(), 20);
            assert!(std::slice::from_raw_parts(t, 20).iter().all(|b| *b == 9));
            a.dealloc(t, Layout::from_size_align(20, 8).unwrap());
            // a list keeps at most KEEP blocks
            let l = Layout::from_size_align(40, 8).unwrap();
            let blocks: Vec<*mut u8> = (0..KEEP + 10).map(|_| a.alloc(l)).collect();
            for b in &blocks {
                a.dealloc(*b, l);
            }
            let lists = &*a.0.get();
            assert_eq!(lists.counts[class(&l).unwrap()], KEEP);
        }
    }
}

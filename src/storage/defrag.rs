//! Active defragmentation: what the allocator knows about its pages, and moving a block
//! out of a sparse one.
//!
//! jemalloc keeps small allocations in slabs of one size class and gives a slab's pages
//! back only once every region in it is free. A load that grows slot arrays through
//! several classes, or deletions and evictions that hit keys at random, leave slabs
//! partly used: memory held but not used. A defragmentation pass looks only at the size
//! classes that have such waste, asks the allocator about each block of those classes
//! (`experimental.utilization.query`: how full its slab is, how full the class is on
//! average), and moves a block whose slab is emptier than the average into a fresh
//! allocation taken past the thread cache, so it lands in the fullest slabs; emptied
//! slabs are then given back. Everything unsafe about it lives in this file and in the
//! blocks' own `relocate` methods.

use std::sync::OnceLock;

use tikv_jemalloc_sys as sys;

use super::entry::size_class;

/// Size classes with free regions worth a pass, answerable by request size without
/// asking the allocator (a pass checks every key's block length against it).
#[derive(Debug, Default, Clone)]
pub struct Classes {
    /// Whether a request of `i` bytes lands in one of the classes, for every `i` up to
    /// the largest class.
    by_len: Vec<bool>,
}

impl Classes {
    fn new(sizes: &[usize]) -> Classes {
        let Some(&max) = sizes.iter().max() else { return Classes::default() };
        let by_len = (0..=max).map(|len| sizes.contains(&size_class(len))).collect();
        Classes { by_len }
    }

    /// Whether a block requested with `len` bytes sits in one of the classes.
    pub fn holds(&self, len: usize) -> bool {
        self.by_len.get(len).copied().unwrap_or(false)
    }

    pub fn is_empty(&self) -> bool {
        !self.by_len.contains(&true)
    }
}

/// What a defragmentation step looked at and moved: allocations of any kind (`hits`,
/// `misses`, Redis's active_defrag_hits/misses) and, among them, key blocks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DefragCount {
    pub hits: u64,
    pub misses: u64,
    pub key_hits: u64,
    pub key_misses: u64,
}

impl DefragCount {
    pub fn count(&mut self, moved: bool, key: bool) {
        match (moved, key) {
            (true, true) => self.key_hits += 1,
            (false, true) => self.key_misses += 1,
            _ => {}
        }
        if moved {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }

    pub fn add(&mut self, o: DefragCount) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.key_hits += o.key_hits;
        self.key_misses += o.key_misses;
    }
}

/// Free bytes in partly used slabs, per small size class, from the allocator's merged
/// statistics as of the last `epoch` refresh.
#[derive(Debug, Default, Clone)]
pub struct Waste {
    /// Sum over the classes.
    pub bytes: u64,
    /// (region size, free bytes in its slabs, bytes of its slabs).
    pub per_class: Vec<(usize, u64, u64)>,
}

impl Waste {
    /// The classes where at least `min_share` percent of the slabs' bytes are free and
    /// that share is worth a page or more.
    pub fn classes(&self, min_share: u64) -> Classes {
        let sizes: Vec<usize> = self
            .per_class
            .iter()
            .filter(|&&(_, free, total)| free >= 4096 && free * 100 >= total * min_share)
            .map(|&(size, ..)| size)
            .collect();
        Classes::new(&sizes)
    }
}

fn read<T: Copy>(name: &str) -> Option<T> {
    let name = format!("{name}\0");
    // SAFETY: the names below are jemalloc's, with the value types it documents.
    unsafe { tikv_jemalloc_ctl::raw::read::<T>(name.as_bytes()) }.ok()
}

/// A small size class: its region size, regions per slab, and where its current
/// counts are read (management-information bases, looked up once).
struct Bin {
    size: usize,
    nregs: usize,
    curregs: [usize; 6],
    curslabs: [usize; 6],
}

fn bins() -> &'static [Bin] {
    static BINS: OnceLock<Vec<Bin>> = OnceLock::new();
    BINS.get_or_init(|| {
        let nbins: u32 = read("arenas.nbins").unwrap_or(0);
        let mib = |name: String| {
            let mut m = [0usize; 6];
            tikv_jemalloc_ctl::raw::name_to_mib(format!("{name}\0").as_bytes(), &mut m).ok().map(|_| m)
        };
        (0..nbins)
            .filter_map(|j| {
                Some(Bin {
                    size: read::<usize>(&format!("arenas.bin.{j}.size"))?,
                    nregs: read::<u32>(&format!("arenas.bin.{j}.nregs"))? as usize,
                    curregs: mib(format!("stats.arenas.4096.bins.{j}.curregs"))?,
                    curslabs: mib(format!("stats.arenas.4096.bins.{j}.curslabs"))?,
                })
            })
            .collect()
    })
}

/// The allocator's small-class waste, as of the last statistics epoch.
pub fn waste() -> Waste {
    let mut w = Waste::default();
    for bin in bins() {
        // SAFETY: both counters are size_t.
        let counts = unsafe {
            (
                tikv_jemalloc_ctl::raw::read_mib::<usize>(&bin.curregs),
                tikv_jemalloc_ctl::raw::read_mib::<usize>(&bin.curslabs),
            )
        };
        let (Ok(curregs), Ok(curslabs)) = counts else { continue };
        let regions = curslabs * bin.nregs;
        let free = (regions.saturating_sub(curregs) * bin.size) as u64;
        w.bytes += free;
        w.per_class.push((bin.size, free, (regions * bin.size) as u64));
    }
    w
}

/// The management-information base of `experimental.utilization.query`, looked up once.
fn query_mib() -> Option<&'static [usize; 3]> {
    static MIB: OnceLock<Option<[usize; 3]>> = OnceLock::new();
    MIB.get_or_init(|| {
        let mut mib = [0usize; 3];
        let mut len = mib.len();
        let name = b"experimental.utilization.query\0";
        // SAFETY: mib has room for `len` components.
        let rc = unsafe { sys::mallctlnametomib(name.as_ptr().cast(), mib.as_mut_ptr(), &mut len) };
        (rc == 0 && len == 3).then_some(mib)
    })
    .as_ref()
}

/// Whether the block at `ptr` (a live small allocation) sits in a slab emptier than its
/// class's average, and not in the slab the class is filling now: moving it helps that
/// slab empty out.
pub fn worth_moving(ptr: *const u8) -> bool {
    let Some(mib) = query_mib() else { return false };
    // slabcur address, then nfree, nregs, slab bytes, class nfree, class nregs.
    let mut out = [0usize; 6];
    let mut out_len = std::mem::size_of_val(&out);
    let mut arg = ptr;
    // SAFETY: the output buffer has the documented size (a pointer and five size_t);
    // the input is a pointer to the queried address.
    let rc = unsafe {
        sys::mallctlbymib(
            mib.as_ptr(),
            mib.len(),
            out.as_mut_ptr().cast(),
            &mut out_len,
            (&mut arg as *mut *const u8).cast(),
            std::mem::size_of::<*const u8>(),
        )
    };
    if rc != 0 {
        return false;
    }
    let [slabcur, nfree, nregs, slab_bytes, bin_nfree, bin_nregs] = out;
    let addr = ptr as usize;
    if nregs <= 1 || nfree == 0 || bin_nregs == 0 || (slabcur <= addr && addr < slabcur + slab_bytes) {
        return false;
    }
    // (used / nregs) < (bin used / bin nregs), in integers.
    (nregs - nfree) * bin_nregs < (bin_nregs - bin_nfree) * nregs
}

/// `size` bytes taken past the thread cache, so they come from the class's fullest
/// slabs rather than wherever the cache's last free was. Aborts on exhaustion, as the
/// global allocator does.
///
/// # Safety
/// The caller frees the block with the same size (through the global allocator or
/// [`free_direct`]).
pub unsafe fn alloc_direct(size: usize) -> *mut u8 {
    // SAFETY: size is non-zero (callers move live blocks).
    let p = unsafe { sys::mallocx(size.max(1), sys::MALLOCX_TCACHE_NONE) }.cast::<u8>();
    if p.is_null() {
        std::alloc::handle_alloc_error(std::alloc::Layout::from_size_align(size.max(1), 1).expect("layout"));
    }
    p
}

/// Frees a block straight into its slab (past the thread cache), so a slab emptied by
/// moves is seen empty at once.
///
/// # Safety
/// `ptr` must be a live allocation of `size` bytes, not used afterwards.
pub unsafe fn free_direct(ptr: *mut u8, size: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { sys::sdallocx(ptr.cast(), size.max(1), sys::MALLOCX_TCACHE_NONE) };
}

//! jemalloc's slab utilization query, as active defragmentation uses it, on blocks of
//! one size class. Its own test binary: the measurements need a process where no other
//! test allocates from the same class meanwhile.

use slotcache::storage::defrag;
use slotcache::storage::entry::size_class;

#[test]
fn sparse_slabs_are_found_and_emptied_by_moves() {
    // Fill slabs of one class (odd size, so nothing else in the process uses it
    // much), then free one block in two of the first half and seven in eight of the
    // second: the second half's survivors sit in slabs emptier than the average.
    const SIZE: usize = 3000;
    let mut blocks: Vec<*mut u8> = (0..4000)
        // SAFETY: freed below with the same size.
        .map(|_| unsafe { defrag::alloc_direct(SIZE) })
        .collect();
    let mut kept = Vec::new();
    for (i, p) in blocks.drain(..).enumerate() {
        if (i < 2000 && i % 2 == 0) || i % 8 == 0 {
            kept.push(p);
        } else {
            // SAFETY: allocated above with SIZE, freed once.
            unsafe { defrag::free_direct(p, SIZE) };
        }
    }
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let class = size_class(SIZE);
    let before = defrag::waste();
    let (_, free, total) = *before.per_class.iter().find(|c| c.0 == class).expect("class listed");
    assert!(free * 2 >= total, "two thirds freed: {free} of {total}");
    let classes = before.classes(50);
    assert!(classes.holds(SIZE) && classes.holds(class) && !classes.holds(class + 1));
    // Moving every block the query points at fills slabs up again.
    let mut moved = 0;
    for p in kept.iter_mut() {
        if defrag::worth_moving(*p) {
            // SAFETY: a live block of SIZE bytes; the copy replaces it.
            unsafe {
                let n = defrag::alloc_direct(SIZE);
                std::ptr::copy_nonoverlapping(*p, n, SIZE);
                defrag::free_direct(*p, SIZE);
                *p = n;
            }
            moved += 1;
        }
    }
    assert!(moved > 0);
    let _ = tikv_jemalloc_ctl::epoch::advance();
    let after = defrag::waste();
    let (_, free_after, total_after) = *after.per_class.iter().find(|c| c.0 == class).unwrap();
    assert!(total_after < total, "slabs given back: {total_after} < {total}");
    assert!(free_after * 2 < free, "waste {free} -> {free_after}");
    for p in kept {
        // SAFETY: each kept block is live with SIZE bytes.
        unsafe { defrag::free_direct(p, SIZE) };
    }
}

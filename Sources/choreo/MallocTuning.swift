import CChoreoSystem

/// glibc's allocator hands memory back to the kernel whenever 128 KiB sit free at the top of a
/// heap, and every burst of finished jobs then faulted its pages in again: `madvise` and page
/// faults were ~8-12% of `choreo run`'s CPU on the firehose benchmark. Up to 32 MiB free memory
/// now stays with the process (peak RSS of 10,000 streams unchanged, firehose CPU ~8% lower).
/// `MALLOC_TRIM_THRESHOLD_` in the environment still wins.
enum MallocTuning {
    static func apply() { _ = choreo_malloc_trim_threshold(32 << 20) }
}

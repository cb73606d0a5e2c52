/*
 * The TSDB's self-metrics under Prometheus' names (prometheus_tsdb_*), from
 * ts_db_stats: head series, chunks and appends, out-of-order and too-old
 * rejections, blocks, storage and WAL bytes, failed WAL writes, compactions
 * and size-based retention; and Tessera's own (tessera_tsdb_*) where
 * Prometheus has no equivalent, e.g. the head chunks' memory-mapped files.
 */
#include "pkg/tsdb/db.h"

void
ts_db_write_metrics(void *db, ts_metrics_writer *w)
{
    ts_db_stats st;
    ts_db_stats_get(db, &st);
    ts_mw_gauge(w, "prometheus_tsdb_head_series", "Total number of series in the head block.",
                (double)st.head.num_series);
    ts_mw_gauge(w, "prometheus_tsdb_head_chunks", "Total number of chunks in the head block.",
                (double)st.head.num_chunks);
    ts_mw_counter(w, "prometheus_tsdb_head_samples_appended_total",
                  "Total number of appended samples.", (double)st.head.appended_total);
    ts_mw_counter(w, "prometheus_tsdb_head_series_created_total",
                  "Total number of series created in the head",
                  (double)st.head.series_created_total);
    ts_mw_counter(w, "prometheus_tsdb_head_series_removed_total",
                  "Total number of series removed in the head",
                  (double)st.head.series_removed_total);
    ts_mw_counter(w, "prometheus_tsdb_out_of_order_samples_total",
                  "Total number of out of order samples ingestion failed attempts.",
                  (double)st.head.out_of_order_total);
    ts_mw_counter(w, "prometheus_tsdb_out_of_bound_samples_total",
                  "Total number of out of bound samples ingestion failed attempts.",
                  (double)st.head.too_old_total);
    ts_mw_gauge(w, "prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks",
                (double)st.num_blocks);
    ts_mw_gauge(w, "prometheus_tsdb_storage_blocks_bytes",
                "The number of bytes that are currently used for local storage by all blocks.",
                (double)st.blocks_bytes);
    ts_mw_gauge(w, "prometheus_tsdb_wal_storage_size_bytes", "Size of the write log directory.",
                (double)st.wal_bytes);
    ts_mw_counter(w, "prometheus_tsdb_wal_writes_failed_total",
                  "Total number of WAL writes that failed.", (double)st.wal_writes_failed_total);
    ts_mw_counter(w, "tessera_tsdb_head_samples_unlogged_total",
                  "Samples kept in the head although writing them to the WAL failed (a full "
                  "disk): lost by a restart before the next head compaction.",
                  (double)st.head_samples_unlogged_total);
    /* completed head chunks' bytes (ts_head_opts.chunks_dir); the closest
     * Prometheus metric is prometheus_tsdb_head_chunks_storage_size_bytes */
    ts_mw_gauge(w, "tessera_tsdb_head_chunks_mapped_bytes",
                "Size of the memory-mapped head chunk segment files in chunks_head.",
                (double)st.head.chunk_segment_bytes);
    ts_mw_gauge(w, "tessera_tsdb_head_chunk_segments",
                "Number of memory-mapped head chunk segment files in chunks_head.",
                (double)st.head.chunk_segments);
    ts_mw_gauge(w, "tessera_tsdb_head_chunks_in_memory_bytes",
                "Bytes of completed head chunks kept in anonymous memory (no usable segment).",
                (double)st.head.chunk_bytes_heap);
    ts_mw_counter(w, "tessera_tsdb_head_chunks_unmapped_total",
                  "Completed head chunks kept in memory because no chunks_head segment could "
                  "be created (full disk, read-only file system...).",
                  (double)st.head.chunks_unmapped_total);
    ts_mw_counter(w, "prometheus_tsdb_compactions_total",
                  "Total number of compactions that were executed for the partition.",
                  (double)(st.head_compactions_total + st.block_merges_total));
    ts_mw_counter(w, "prometheus_tsdb_compactions_failed_total",
                  "Total number of compactions that failed for the partition.",
                  (double)st.compaction_failures_total);
    ts_mw_counter(w, "prometheus_tsdb_size_retentions_total",
                  "The number of times that blocks were deleted because the maximum number of "
                  "bytes was exceeded.",
                  (double)st.retention_deletions_total);
}

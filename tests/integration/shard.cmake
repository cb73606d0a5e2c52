# tessera shard against real peers (node_exporter, promtool, prometheus);
# count_file: scaling out 2 -> 3 shards through --shard.count-file, no restart;
# disk_full: a full data disk (a tmpfs it mounts: needs root) loses nothing.
foreach(t basic vs_prometheus restart count_file disk_full)
    add_test(NAME shard_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/shard/${t}.sh)
    set_tests_properties(shard_${t} PROPERTIES LABELS integration TIMEOUT 180
        ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
endforeach()
# disk_full waits for compaction rounds on both sides of the full disk
set_tests_properties(shard_disk_full PROPERTIES TIMEOUT 300)

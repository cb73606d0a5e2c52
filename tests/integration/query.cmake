# The querier over real shards (HA pairs, sharding, partial response).
foreach(t ha move global_api)
    add_test(NAME query_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/query/${t}.sh)
    set_tests_properties(query_${t} PROPERTIES LABELS integration TIMEOUT 300
        ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
endforeach()

# Faults on a 2 shards x 2 replicas cluster (query/cluster.sh), one test each;
# the network ones need root (network namespaces, tc netem), as CI runs.
foreach(t fault_kill fault_stop fault_delay fault_partition fault_restart_hole fault_sd
          fault_shard_down limits store_tls)
    add_test(NAME query_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/query/${t}.sh)
    set_tests_properties(query_${t} PROPERTIES LABELS integration TIMEOUT 300
        ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
endforeach()

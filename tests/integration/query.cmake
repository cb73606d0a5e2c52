# The querier over real shards (HA pairs, sharding, partial response).
foreach(t ha move)
    add_test(NAME query_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/query/${t}.sh)
    set_tests_properties(query_${t} PROPERTIES LABELS integration TIMEOUT 300
        ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
endforeach()

# The querier over real shards (HA pairs, sharding, partial response).
add_test(NAME query_ha COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/query/ha.sh)
set_tests_properties(query_ha PROPERTIES LABELS integration TIMEOUT 300
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")

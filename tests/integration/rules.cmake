# Rule evaluation in tessera shard against real peers (prometheus, node_exporter).
foreach(t vs_prometheus alertmanager sharded ruler ruler_partial ruler_alerts)
    add_test(NAME rules_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/rules/${t}.sh)
    set_tests_properties(rules_${t} PROPERTIES LABELS integration TIMEOUT 180
        ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
endforeach()

# The Helm chart (charts/tessera) and the shard feature it relies on.
# chart_expand_labels: --enable-feature=expand-external-labels on real shards
# behind a querier (replica label from POD_NAME, as the chart sets it).
add_test(NAME chart_expand_labels COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/chart/expand_labels.sh)
set_tests_properties(chart_expand_labels PROPERTIES LABELS integration TIMEOUT 120
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")

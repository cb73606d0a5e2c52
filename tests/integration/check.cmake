# tessera check config next to promtool check config.
add_test(NAME check_config COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check/config.sh)
set_tests_properties(check_config PROPERTIES LABELS integration TIMEOUT 60
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")

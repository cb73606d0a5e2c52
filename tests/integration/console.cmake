# The web console in a real browser (Debian's chromium via playwright-core):
# a shard scraping a node_exporter and a querier over it.  Screenshots of
# every page are kept in the build tree (console-screenshots/).
add_test(NAME console_browser COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/console/console.sh)
set_tests_properties(console_browser PROPERTIES LABELS integration TIMEOUT 300
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>;TS_SOURCE_DIR=${PROJECT_SOURCE_DIR};TS_CONSOLE_OUT=${PROJECT_BINARY_DIR}/console-screenshots")

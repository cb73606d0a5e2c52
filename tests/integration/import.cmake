# tessera tsdb import openmetrics / tsdb inspect, checked against promtool
# (tests/integration/import/import_test.sh).  Needs promtool (Debian's
# prometheus package); the data comes from scripts/bench/gen_openmetrics.c.
add_executable(ts_gen_openmetrics ${PROJECT_SOURCE_DIR}/scripts/bench/gen_openmetrics.c)
target_link_libraries(ts_gen_openmetrics PRIVATE m)
add_test(NAME integration_import
         COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/import/import_test.sh
                 $<TARGET_FILE:tessera> $<TARGET_FILE:ts_gen_openmetrics>)
set_tests_properties(integration_import PROPERTIES LABELS integration TIMEOUT 120)

# pkg/textparse against the real Prometheus scrape path: the same edge-case
# payloads are accepted or rejected by both (tests/integration/import/scrape_conformance.sh).
add_executable(ts_scrape_check ${CMAKE_CURRENT_LIST_DIR}/import/scrape_check.c)
target_link_libraries(ts_scrape_check PRIVATE ts_textparse)
add_test(NAME integration_textparse_scrape
         COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/import/scrape_conformance.sh $<TARGET_FILE:ts_scrape_check>)
set_tests_properties(integration_textparse_scrape PROPERTIES LABELS integration TIMEOUT 120)

# Smoke run of the benchmark harness (scripts/bench/compare.sh --quick) against
# Debian's prometheus: it must complete and measure all six figures; the figures
# themselves are not judged (tests/integration/bench/compare_quick.sh).
add_test(NAME integration_bench_compare_quick
         COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/bench/compare_quick.sh $<TARGET_FILE:tessera>)
set_tests_properties(integration_bench_compare_quick PROPERTIES LABELS integration TIMEOUT 420)

# PromQL conformance (helper area: pkg/promql/engine).
#
# Included by tests/conformance/CMakeLists.txt, this registers:
#  - promql_conformance: `tessera promql-test` over Prometheus 2.42's own test
#    files in ${PROJECT_SOURCE_DIR}/../shared/promql-tests (used in place, never
#    copied), when that folder exists.  It passes when no eval fails, or, if
#    promql_baseline.txt lists a known number of failures, when the run has at
#    least the baseline's passes and at most its failures (so a regression
#    fails CI while known gaps are tracked honestly in that file).
#  - promql_own: `tessera promql-test` over tests/promql/*.test; no failures allowed.
#  - promql_own_vs_promtool: the expected values in tests/promql/*.test checked
#    against real Prometheus (Debian's promtool 2.42, `promtool test rules`),
#    through tests/promql/to_promtool.py, when promtool and python3 exist.
#  - promql_diff_vs_promtool: tests/promql/diff_promtool.py, a differential test
#    of ~5000 query answers of tessera against promtool's own evaluation (our
#    corpus, plus the upstream files' data and expressions at more times).
#  - promql_range_vs_prometheus: tests/promql/diff_prometheus_range.py, range
#    queries compared with a real `prometheus` (started on a free loopback port
#    over blocks made by promtool, stopped at the end).
#  - promql_rate_bits_vs_prometheus: tests/promql/rate_bits_vs_prometheus.py, rate and
#    its relatives over the same imported data in tessera shard and prometheus, equal
#    to the last bit.
#
# Run with `cmake -P` (CMAKE_SCRIPT_MODE_FILE set), the same file is the checker:
#   cmake -DTESSERA=... -DBASELINE=... -DFILES="a;b" -P conformance.cmake
if(CMAKE_SCRIPT_MODE_FILE AND MODE STREQUAL "promtool")
    file(REMOVE_RECURSE ${OUT})
    file(MAKE_DIRECTORY ${OUT})
    execute_process(COMMAND ${PYTHON} ${CONVERTER} ${OUT} ${FILES} OUTPUT_VARIABLE ymls
                    RESULT_VARIABLE rc)
    string(STRIP "${ymls}" ymls)
    string(REPLACE "\n" ";" ymls "${ymls}")
    if(NOT rc EQUAL 0 OR NOT ymls)
        message(FATAL_ERROR "converting to promtool test files failed")
    endif()
    execute_process(COMMAND ${PROMTOOL} test rules ${ymls} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "promtool disagrees with tests/promql expectations")
    endif()
    return()
endif()
if(CMAKE_SCRIPT_MODE_FILE)
    execute_process(COMMAND ${TESSERA} promql-test ${FILES}
                    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
    message("${out}${err}")
    string(REGEX MATCH "([0-9]+) passed, ([0-9]+) failed[^\n]*\n?$" last "${out}")
    if(NOT last)
        message(FATAL_ERROR "promql-test did not print its summary line (exit ${rc})")
    endif()
    set(passed ${CMAKE_MATCH_1})
    set(failed ${CMAKE_MATCH_2})
    if(failed EQUAL 0 AND rc EQUAL 0)
        return()
    endif()
    if(BASELINE AND EXISTS "${BASELINE}")
        file(STRINGS "${BASELINE}" lines REGEX "^(passed|failed)=")
        foreach(l IN LISTS lines)
            string(REGEX REPLACE "=.*" "" k "${l}")
            string(REGEX REPLACE ".*=" "" v "${l}")
            set(base_${k} ${v})
        endforeach()
        if(passed GREATER_EQUAL base_passed AND failed LESS_EQUAL base_failed)
            message("within baseline: ${passed} passed (>= ${base_passed}), "
                    "${failed} failed (<= ${base_failed})")
            return()
        endif()
        message(FATAL_ERROR "regression against baseline: ${passed} passed (baseline "
                            "${base_passed}), ${failed} failed (baseline ${base_failed})")
    endif()
    message(FATAL_ERROR "${failed} PromQL evals failed")
endif()

set(ts_promql_upstream_dir ${PROJECT_SOURCE_DIR}/../shared/promql-tests)
file(GLOB ts_promql_upstream_tests ${ts_promql_upstream_dir}/*.test)
if(ts_promql_upstream_tests)
    add_test(NAME promql_conformance
             COMMAND ${CMAKE_COMMAND} -DTESSERA=$<TARGET_FILE:tessera>
                     -DBASELINE=${CMAKE_CURRENT_LIST_DIR}/promql_baseline.txt
                     "-DFILES=${ts_promql_upstream_tests}"
                     -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(promql_conformance PROPERTIES LABELS promql TIMEOUT 600)
endif()
file(GLOB ts_promql_own_tests ${PROJECT_SOURCE_DIR}/tests/promql/*.test)
if(ts_promql_own_tests)
    add_test(NAME promql_own
             COMMAND ${CMAKE_COMMAND} -DTESSERA=$<TARGET_FILE:tessera>
                     "-DFILES=${ts_promql_own_tests}" -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(promql_own PROPERTIES LABELS promql TIMEOUT 300)
endif()

file(GLOB ts_promql_own_tests ${PROJECT_SOURCE_DIR}/tests/promql/*.test)
find_program(TS_PROMTOOL promtool)
find_program(TS_PYTHON3 python3)
if(ts_promql_own_tests AND TS_PROMTOOL AND TS_PYTHON3)
    add_test(NAME promql_own_vs_promtool
             COMMAND ${CMAKE_COMMAND} -DMODE=promtool -DPYTHON=${TS_PYTHON3}
                     -DPROMTOOL=${TS_PROMTOOL}
                     -DCONVERTER=${PROJECT_SOURCE_DIR}/tests/promql/to_promtool.py
                     -DOUT=${CMAKE_CURRENT_BINARY_DIR}/promql_own_promtool
                     "-DFILES=${ts_promql_own_tests}" -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(promql_own_vs_promtool PROPERTIES LABELS promql TIMEOUT 120)
endif()
if(TS_PROMTOOL AND TS_PYTHON3)
    add_test(NAME promql_diff_vs_promtool
             COMMAND ${TS_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/promql/diff_promtool.py
                     $<TARGET_FILE:tessera> ${TS_PROMTOOL} ${CMAKE_CURRENT_BINARY_DIR}
                     ${PROJECT_SOURCE_DIR}/../shared/promql-tests)
    set_tests_properties(promql_diff_vs_promtool PROPERTIES LABELS promql TIMEOUT 300)
endif()
find_program(TS_PROMETHEUS prometheus)
if(TS_PROMTOOL AND TS_PYTHON3 AND TS_PROMETHEUS)
    add_test(NAME promql_range_vs_prometheus
             COMMAND ${TS_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/promql/diff_prometheus_range.py
                     $<TARGET_FILE:tessera> ${TS_PROMETHEUS} ${TS_PROMTOOL}
                     ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(promql_range_vs_prometheus PROPERTIES LABELS promql TIMEOUT 180)
    add_test(NAME promql_rate_bits_vs_prometheus
             COMMAND ${TS_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/promql/rate_bits_vs_prometheus.py
                     $<TARGET_FILE:tessera> ${TS_PROMETHEUS} ${TS_PROMTOOL}
                     ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(promql_rate_bits_vs_prometheus PROPERTIES LABELS promql TIMEOUT 300)
endif()

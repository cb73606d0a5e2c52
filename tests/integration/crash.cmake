# Crash test (tests/integration/crash): SIGKILL a writer at random moments,
# verify every committed sample survives; damaged WAL tails open cleanly.
add_executable(crash_writer ${CMAKE_CURRENT_LIST_DIR}/crash/crash_writer.c)
target_link_libraries(crash_writer PRIVATE ts_tsdb)
add_test(NAME crash_sigkill
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/crash/crash_test.sh $<TARGET_FILE:crash_writer> 25)
set_tests_properties(crash_sigkill PROPERTIES LABELS integration TIMEOUT 180)

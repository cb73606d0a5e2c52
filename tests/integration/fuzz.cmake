# The libFuzzer targets' smoke run (fuzz/, scripts/fuzz.sh): a clang build of the targets in
# its own directory (fuzz_build, the slow part, bounded separately), then each target for 10 s
# on a temporary copy of its seed corpus; any crash fails the test and prints the input's path.
add_test(NAME fuzz_build
    COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh --build-only
            --build-dir=${PROJECT_BINARY_DIR}/fuzz-build)
set_tests_properties(fuzz_build PROPERTIES LABELS integration TIMEOUT 900
    FIXTURES_SETUP fuzz_targets)
add_test(NAME fuzz_smoke
    COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh --smoke
            --build-dir=${PROJECT_BINARY_DIR}/fuzz-build)
set_tests_properties(fuzz_smoke PROPERTIES LABELS integration TIMEOUT 300
    FIXTURES_REQUIRED fuzz_targets)

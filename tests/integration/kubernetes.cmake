# kubernetes_sd_configs against a stand-in API server (apiserver.py).
add_test(NAME kubernetes_sd COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/kubernetes/sd.sh)
set_tests_properties(kubernetes_sd PROPERTIES LABELS integration TIMEOUT 300
    ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")

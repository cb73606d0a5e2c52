# kubernetes_sd_configs against a stand-in API server (kubernetes/apiserver.py).
foreach(t sd incluster)
    add_test(NAME kubernetes_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/kubernetes/${t}.sh)
    set_tests_properties(kubernetes_${t} PROPERTIES LABELS integration TIMEOUT 300
        ENVIRONMENT "TESSERA=$<TARGET_FILE:tessera>")
endforeach()

# The container image (scripts/image.sh): built with a private dockerd (Debian's
# docker.io, no bridge/NAT), a shard and a querier run from it with --network
# host --read-only --user 65534.  The image's Release binary is built in
# <build>/image-build.  Needs root (dockerd); exits 77 (skipped) otherwise.
add_test(NAME image_run
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/image/image.sh ${PROJECT_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR}/image-build)
set_tests_properties(image_run PROPERTIES LABELS integration TIMEOUT 900 SKIP_RETURN_CODE 77)

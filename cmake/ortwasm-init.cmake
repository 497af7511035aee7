# ortwasm's shared initial cache: what every variant's configure sets on top of ORT's own build.py defines
# (patches/<version>/build-py-defines.txt), whatever the variant.  The per-variant keys (SIMD, threads, MEMORY64,
# JSEP, MEMFS, exceptions, emscripten settings, dependency dirs) are computed in ortwasm/configure/plan.py, which
# reads this file and writes both into each build dir's ortwasm-init-cache.cmake (`cmake -C`).
#
# One `set(KEY VALUE CACHE TYPE "" FORCE)` per line: ortwasm parses exactly that form.
set(onnxruntime_BUILD_UNIT_TESTS "OFF" CACHE BOOL "" FORCE)  # ON makes onnxruntime_unittests.cmake look for npm
set(onnxruntime_BUILD_SHARED_LIB "OFF" CACHE BOOL "" FORCE)
set(onnxruntime_ENABLE_PYTHON "OFF" CACHE BOOL "" FORCE)
set(onnxruntime_USE_FULL_PROTOBUF "OFF" CACHE BOOL "" FORCE)
set(onnxruntime_BUILD_WEBASSEMBLY_STATIC_LIB "OFF" CACHE BOOL "" FORCE)
set(onnxruntime_WEBASSEMBLY_RUN_TESTS_IN_BROWSER "OFF" CACHE BOOL "" FORCE)
set(onnxruntime_ENABLE_WEBASSEMBLY_DEBUG_INFO "OFF" CACHE BOOL "" FORCE)
set(onnxruntime_ENABLE_WEBASSEMBLY_PROFILING "OFF" CACHE BOOL "" FORCE)
set(ONNX_CUSTOM_PROTOC_EXECUTABLE "/usr/bin/protoc" CACHE STRING "" FORCE)  # onnx's generator runs on the host
set(CMAKE_EXPORT_COMPILE_COMMANDS "ON" CACHE BOOL "" FORCE)

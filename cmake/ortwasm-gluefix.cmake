# The wasm64 + pthreads glue fix for emscripten < 3.1.71, as a post-build step of onnxruntime_webassembly that
# Ninja runs right after the link (ortwasm/configure/plan.py hooks it in; ortwasm/toolchain/gluefix.py says why).
#
#   cmake -DGLUE=<the linked .mjs> -P ortwasm-gluefix.cmake
#
# 3.1.69 creates the shared 64-bit memory with {..., index: "i64"}; Node 24 and current Chrome read only the later
# name, `address`, and then reject the memory as 32-bit.  Every occurrence is rewritten (the feature probe and the
# constructor), none may survive, and `<GLUE>.ortwasm-gluefix` records how many were rewritten for the manifest.
# The pattern is ortwasm/checks/glue.py's OLD_INDEX_KEY (CMake regexes have no look-behind or back-references, so
# the three quotings are spelled out); tests/test_toolchain_errors.py runs this script against that pattern.
cmake_minimum_required(VERSION 3.17)
if(NOT DEFINED GLUE OR NOT EXISTS "${GLUE}")
  message(FATAL_ERROR "ortwasm-gluefix: pass -DGLUE=<the linked .mjs>; got '${GLUE}'")
endif()
file(READ "${GLUE}" text)
set(lead "(^|[^A-Za-z0-9_$])")
set(sep "([ \t\r\n]*:[ \t\r\n]*)")
set(fixed "${text}")
foreach(q "" "\"" "'")
  foreach(v "\"" "'")
    string(REGEX REPLACE "${lead}${q}index${q}${sep}${v}i64${v}" "\\1${q}address${q}\\2${v}i64${v}" fixed "${fixed}")
  endforeach()
endforeach()
string(LENGTH "${text}" before)
string(LENGTH "${fixed}" after)
math(EXPR count "(${after} - ${before}) / 2")  # `address` is two characters longer than `index`
foreach(q "" "\"" "'")
  foreach(v "\"" "'")
    if(fixed MATCHES "${lead}${q}index${q}${sep}${v}i64${v}")
      message(FATAL_ERROR "ortwasm-gluefix: `index:\"i64\"` survived the rewrite in ${GLUE}; report this emscripten")
    endif()
  endforeach()
endforeach()
if(count GREATER 0)
  file(WRITE "${GLUE}" "${fixed}")
endif()
file(WRITE "${GLUE}.ortwasm-gluefix" "${count}\n")
message(STATUS "ortwasm gluefix: rewrote ${count} index:\"i64\" to address:\"i64\" in ${GLUE}")

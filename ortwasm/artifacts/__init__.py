"""Stage 6, artifacts: ``OUT/<variant>/`` written atomically, the wasm64 glue fix, and ``manifest.json``,
the typed contract every later stage reads."""

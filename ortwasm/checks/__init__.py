"""Stage 7, checks: judge finished artifacts (wasm structure, glue facts, sizes and budgets) as a library
(``rules.check_dir`` returns a ``CheckReport``); ``report`` renders it for people and CI."""

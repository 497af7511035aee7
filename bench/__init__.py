"""Benchmarks and proofs, run from the repository root as ``python -m bench.<name> ...``.

Not tests: each module measures something about real builds (minutes to hours) and writes its figures through
``bench.results_io.write_results`` to ``bench/results/<bench>-<ORT version>.json``.  ``bench/README.md`` maps each
result file to the claim it backs and the command that makes it; ``python -m bench.render`` turns the results into
``docs/measurements.md``.
"""

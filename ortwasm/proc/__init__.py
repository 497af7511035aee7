"""Infrastructure every stage shares to run programs: where they run (the host or the toolchain's chroot), the one
runner that logs, times and explains a failure, and Ninja's progress display.  It imports no stage, so any stage
can use it (tests/test_layers.py enforces that)."""

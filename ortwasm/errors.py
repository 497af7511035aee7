"""One error boundary for the whole tool.

Each failure kind carries its own exit code, so CI scripts can tell "the
artifacts broke a rule" (CheckFailed) from "the input could not be checked"
(CannotCheck) or "the toolchain is missing" (ToolchainError) without parsing
text.  The code belongs to the kind, not to the command: a rule that fails
exits 8 from ``check``, ``build`` and ``package`` alike (``package`` raises
its refusals as PackageError subclasses that keep the check's code).  Every
error carries a hint: the message says what is wrong, the hint says what to
do about it.

| code | kind |
|---:|---|
| 1 | any other OrtWasmError |
| 2 | UsageError: bad arguments, unknown variant or version |
| 3 | ToolchainError: no (or an unusable) emscripten |
| 4 | SourceError: no or unsupported ONNX Runtime tree |
| 5 | PatchError: the patch set does not apply, or the toolchain is unproven |
| 6 | DependencyError: a dependency dir is missing or at the wrong pin |
| 7 | BuildError: configure, compile or link failed |
| 8 | CheckFailed: artifacts read and a rule broken (check, build, package) |
| 9 | CannotCheck: input that cannot be judged (check, build, package) |
| 10 | PackageError: a packaging refusal that is not a check (no JS, JS from another tree, ...) |
| 11 | LockBusy: another run holds the sources, build, out or --dest dir, and --no-wait was given |
| 12 | EnvironmentProblem: the machine refused a file operation (read-only, full disk, permission, missing path) |
| 130 | Interrupted |
"""

from __future__ import annotations


class OrtWasmError(Exception):
    """Base of every error that main() turns into one line plus a hint."""

    return_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(OrtWasmError):
    return_code = 2


class ToolchainError(OrtWasmError):
    return_code = 3


class SourceError(OrtWasmError):
    return_code = 4


class PatchError(OrtWasmError):
    return_code = 5


class DependencyError(OrtWasmError):
    return_code = 6


class BuildError(OrtWasmError):
    return_code = 7


class CheckFailed(OrtWasmError):
    """The artifacts were read and broke a rule (budget, FS presence, ...)."""

    return_code = 8


class CannotCheck(OrtWasmError):
    """The input could not be checked at all (truncated wasm, empty dir, ...)."""

    return_code = 9


class PackageError(OrtWasmError):
    return_code = 10


class PackageCheckFailed(PackageError, CheckFailed):
    """``package`` refused because a rule failed: a packaging refusal, with the rule's exit code."""

    return_code = CheckFailed.return_code


class PackageCannotCheck(PackageError, CannotCheck):
    """``package`` refused an input it cannot judge (unreadable manifest, bad wasm): CannotCheck's exit code."""

    return_code = CannotCheck.return_code


class LockBusy(OrtWasmError):
    """Another run holds the dir's lock (``ortwasm.lock``) and ``--no-wait`` said not to wait for it."""

    return_code = 11


class EnvironmentProblem(OrtWasmError):
    """An OSError a user can cause and fix: a read-only or full file system, a permission, a missing path.

    Why its own kind and not the stage's: the fix is on the machine (free space, a writable ORTWASM_HOME), never in
    the sources, the patches or the artifacts, whichever stage hit it.  ``cli.main`` turns any OSError that reaches
    it into one of these, naming the path.
    """

    return_code = 12


class Interrupted(OrtWasmError):
    return_code = 130

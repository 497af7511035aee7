"""One error boundary for the whole tool.

Each failure kind carries its own exit code, so CI scripts can tell "the
artifacts broke a rule" (CheckFailed) from "the input could not be checked"
(CannotCheck) or "the toolchain is missing" (ToolchainError) without parsing
text.  Every error carries a hint: the message says what is wrong, the hint
says what to do about it.
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


class Interrupted(OrtWasmError):
    return_code = 130

"""ccache's remote storage: the one URL a team shares, read once, shown masked, probed once, and its counters.

Why a module of its own: the URL is a secret (a Redis or HTTP password), and it crosses the CLI, the build's
environment (inside the chroot too), the doctor, the summary and the warnings.  Every one of them takes it from
here, as a ``Remote`` whose ``str``/``repr`` is the masked form, so no caller can print the password by accident.
Only ``Remote.env`` (what ccache reads) carries it in clear.

What ccache does with it (measured with the three ccaches we run: 4.7.5 on the bookworm host, 4.11.2 in the trixie
chroot, 4.14.2 in the sid chroot; each has redis, redis+unix and http storage): a compile looks in the local cache,
then in the remote; a miss in both is compiled and written to both.  The remote is asked with ccache's own
timeouts, which we always set explicitly (``connect-timeout``/``operation-timeout`` attributes, in ms; 4.14 reads
the ``|`` attributes as its ``@`` ones and still honours them).  A remote that fails during a compile is counted
(``remote_storage_error``/``remote_storage_timeout``) and that compile goes on with the local cache: a build never
fails for it.  What we add: a probe at the start of a build, so a remote that is down from the start is said
once and left out, instead of costing every compile a connect attempt.

ccache's own URL quirk: ``redis://:PASSWORD@host`` (the usual Redis URI) is read by all three as *no* password
(measured: every compile then fails to authenticate); ccache wants ``redis://PASSWORD@host`` or
``redis://USER:PASSWORD@host``.  ``parse`` rewrites the first form to the second.

HTTPS is refused: the built-in HTTP backend of every ccache we run says "HTTPS is not supported".
"""

from __future__ import annotations

import base64
import difflib
import http.client
import os
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote

from .errors import UsageError
from .proc.execenv import ExecEnv

ENV = "ORTWASM_CCACHE_REMOTE"
FLAG = "--ccache-remote"
SCHEMES = ("redis", "redis+unix", "http")
# ccache's defaults are 100 ms and 10 s.  100 ms is a LAN's connect: a CI runner reaching a team's server across
# the internet needs more.  5 s bounds what a server that accepts but stops answering costs each compile (ccache
# gives up on the remote for the rest of that compile after one failure).
CONNECT_TIMEOUT_MS = 1000
OPERATION_TIMEOUT_MS = 5000
PROBE_TIMEOUT_S = 3.0
MASK = "****"
HINT = "docs/remote-cache.md"

# The attributes ccache 4.7-4.14's built-in backends read (ccache's manual, "Remote storage backends"), by scheme.
_COMMON = ("read-only", "shards")
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "redis": (*_COMMON, "connect-timeout", "operation-timeout"),
    "redis+unix": (*_COMMON, "connect-timeout", "operation-timeout"),
    "http": (*_COMMON, "connect-timeout", "operation-timeout", "bearer-token", "keep-alive", "layout", "header"),
}
_SECRET_ATTRIBUTES = ("bearer-token", "header")  # a header may be `Authorization=...`
_BOOLEAN_ATTRIBUTES = ("read-only", "keep-alive")
_LAYOUTS = ("bazel", "flat", "subdirs")
_TIMEOUTS = {"connect-timeout": CONNECT_TIMEOUT_MS, "operation-timeout": OPERATION_TIMEOUT_MS}
# Directories of the toolchain's chroot that a bind over would hide from the compilers (see ``chroot_binds``).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/sys", "/dev",
                "/boot", "/var/lib")


@dataclass(frozen=True, repr=False)
class Remote:
    """One ccache remote storage URL, split into what the probe and the masking need.

    ``userinfo`` is what ccache reads before the ``@`` (``PASSWORD`` or ``USER:PASSWORD``); ``path`` is the HTTP
    path, the Redis ``/DBNUMBER``, or the socket of ``redis+unix``; ``attributes`` include our timeouts.
    """

    scheme: str
    userinfo: str = ""
    host: str = ""
    port: int | None = None
    path: str = ""
    query: str = ""
    attributes: tuple[tuple[str, str | None], ...] = field(default=())

    def _url(self, masked: bool) -> str:
        user = ""
        if self.userinfo:
            name, colon, _ = self.userinfo.partition(":")
            user = (f"{name}:{MASK}" if colon else MASK) if masked else self.userinfo
            user += "@"
        if self.scheme == "redis+unix":
            base = f"redis+unix://{user}localhost{self.path}" if user else f"redis+unix:{self.path}"
        else:
            port = f":{self.port}" if self.port is not None else ""
            base = f"{self.scheme}://{user}{self.host}{port}{self.path}"
        attrs = "".join(f"|{k}" + ("" if v is None else f"={MASK if masked and _bare(k) in _SECRET_ATTRIBUTES else v}")
                        for k, v in self.attributes)
        return base + self.query + attrs

    @property
    def masked(self) -> str:
        """The URL as every log line, warning, summary and doctor line shows it: no password, no token."""
        return self._url(masked=True)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Remote({self.masked!r})"

    def env(self) -> dict[str, str]:
        """What ccache reads (the one place the URL is in clear): the environment, never a command line."""
        return {"CCACHE_REMOTE_STORAGE": self._url(masked=False)}

    def attribute(self, key: str) -> str | None:
        return next((v if v is not None else "true" for k, v in self.attributes if _bare(k) == key), None)

    @property
    def read_only(self) -> bool:
        return (self.attribute("read-only") or "false") == "true"

    def shards(self) -> list[Remote]:
        """Each server a ``shards`` URL names (its ``*`` replaced by a shard's name), else just this one."""
        names = self.attribute("shards")
        if not names:
            return [self]
        out = []
        for item in names.split(","):
            name = re.sub(r"\(.*\)$", "", item.strip())
            out.append(Remote(self.scheme, self.userinfo, self.host.replace("*", name), self.port,
                              self.path.replace("*", name), self.query,
                              tuple(a for a in self.attributes if a[0] != "shards")))
        return out


def _bare(key: str) -> str:
    """ccache 4.14 spells a backend's own attributes ``@key``, older ones ``key`` only; 4.14 still reads ``|key``
    (as ``@key`` when it is not one of its properties), so ``parse`` writes every attribute the old way."""
    return key.removeprefix("@")


def mask(text: str) -> str:
    """Any string that may hold a URL (a refusal's message), with what is between ``scheme:`` and the last ``@`` of
    its URL masked, and secret attributes' values: for text that ``parse`` refused, so even a malformed URL is never
    echoed with its password."""
    def one(m: re.Match[str]) -> str:
        name, colon, _ = m.group(2).partition(":")
        return f"{m.group(1)}{name + ':' + MASK if colon else MASK}@"
    text = re.sub(r"([A-Za-z][A-Za-z0-9+.-]*:/{0,3})([^\s|]*)@", one, text)
    return re.sub(r"(@?(?:bearer-token|header)=)[^|\s]*", rf"\g<1>{MASK}", text)


def _refuse(problem: str, source: str, text: str, hint: str) -> UsageError:
    return UsageError(f"{source} {mask(text)!r}: {problem}", hint)


def parse(text: str, source: str = FLAG) -> Remote | None:
    """The remote ``text`` names, with our timeouts added unless given; None for an empty value (no remote).

    ``source`` (the flag or the env var) is named in a refusal, whose message shows the URL masked (and a value
    that is not a URL not at all: it may be a bare password).
    """
    text = text.strip()
    if not text:
        return None
    usage = (f"one URL: redis://[[USER:]PASSWORD@]HOST[:PORT][/DB], redis+unix:/SOCKET or "
             f"http://[USER:PASSWORD@]HOST[:PORT][/PATH], then |key=value attributes ({HINT})")
    base, *attr_items = text.split("|")
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*):(\S*)", base.split()[0] if base.split() else "")
    if not m:
        raise UsageError(f"{source}: not a URL (it does not start with a scheme such as redis:)", usage)
    if re.search(r"\s", text):
        raise _refuse("a space in the URL: ortwasm passes one remote, with its attributes after '|'", source, text,
                      usage)
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme in ("https", "rediss"):
        raise _refuse(f"{scheme}:// (TLS) is not supported by the built-in backends of ccache 4.7 to 4.14 (their "
                      "manual: \"HTTPS is not supported\"; Redis has no TLS there)", source, text,
                      "use http:// or redis:// on a private network, or through a TLS tunnel (stunnel, ssh -L) to "
                      f"a local port ({HINT})")
    if scheme not in SCHEMES:
        raise _refuse(f"scheme {scheme}: is not one ortwasm passes to ccache (choices: "
                      f"{', '.join(s + ':' for s in SCHEMES)})", source, text, usage)
    attributes = _attributes(scheme, attr_items, source, text)
    if scheme == "redis+unix":
        remote = _unix(rest, source, text, usage)
    else:
        remote = _network(scheme, rest, source, text, usage)
    given = {_bare(k) for k, _ in attributes}
    attributes += tuple((k, str(v)) for k, v in _TIMEOUTS.items() if k not in given)
    out = Remote(remote.scheme, remote.userinfo, remote.host, remote.port, remote.path, remote.query, attributes)
    if out.attribute("shards") is not None and "*" not in out.host + out.path:
        raise _refuse("a shards attribute needs a '*' in the URL (ccache replaces it by each shard's name)", source,
                      text, "e.g. redis://cache-*.example.com|shards=a,b")
    return out


def _attributes(scheme: str, items: list[str], source: str, text: str) -> tuple[tuple[str, str | None], ...]:
    known = ATTRIBUTES[scheme]
    out: list[tuple[str, str | None]] = []
    for item in items:
        key, eq, value = item.partition("=")
        bare = _bare(key)
        if bare not in known:
            near = difflib.get_close_matches(bare, known, n=1)
            raise _refuse(f"unknown {scheme} attribute {key!r}" + (f" (did you mean {near[0]!r}?)" if near else ""),
                          source, text, f"{scheme} attributes ccache reads: {', '.join(known)}")
        val: str | None = value if eq else None
        if bare in _TIMEOUTS and not (val or "").isdigit():
            raise _refuse(f"{bare} must be milliseconds (digits), as every ccache we run reads it", source, text,
                          f"e.g. |{bare}={_TIMEOUTS[bare]}")
        if bare in _BOOLEAN_ATTRIBUTES and val not in (None, "true", "false"):
            raise _refuse(f"{bare} must be true or false", source, text, f"write |{bare} or |{bare}=false")
        if bare == "layout" and val not in _LAYOUTS:
            raise _refuse(f"layout must be one of {', '.join(_LAYOUTS)}", source, text, "e.g. |layout=subdirs")
        out.append((bare, val))
    return tuple(out)


def _userinfo(scheme: str, raw: str) -> str:
    """``:PASSWORD`` (an empty user name, the usual Redis URI) is ``PASSWORD`` to ccache; see the module doc."""
    if scheme.startswith("redis") and raw.startswith(":"):
        return raw[1:]
    return raw


def _network(scheme: str, rest: str, source: str, text: str, usage: str) -> Remote:
    if not rest.startswith("//"):
        raise _refuse(f"{scheme}: must be followed by //HOST", source, text, usage)
    rest = rest[2:]
    slash = rest.find("/", rest.rfind("@") + 1)
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        userinfo, hostport = "", authority
    if hostport.startswith("["):
        host, _, after = hostport.partition("]")
        host, port_text, colon = host + "]", after.removeprefix(":"), after.startswith(":")
        if after and not colon:
            raise _refuse("junk after the IPv6 address", source, text, usage)
    else:
        host, colon_text, port_text = hostport.partition(":")
        colon = bool(colon_text)
        if ":" in port_text:
            raise _refuse("an IPv6 address must be in brackets ([::1])", source, text, usage)
    if host in ("", "[]"):
        raise _refuse("no host", source, text, usage)
    port = None
    if colon:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _refuse(f"the port must be a number from 1 to 65535, not {port_text!r}", source, text, usage)
        port = int(port_text)
    if scheme == "redis" and path not in ("", "/") and not re.fullmatch(r"/\d+", path):
        raise _refuse(f"a redis:// URL's path is its database number (/0), not {path!r}", source, text, usage)
    return Remote(scheme, _userinfo(scheme, userinfo), host, port, path)


def _unix(rest: str, source: str, text: str, usage: str) -> Remote:
    userinfo = ""
    if rest.startswith("//"):
        rest = rest[2:]
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            if not rest.startswith("localhost/"):
                raise _refuse("a redis+unix:// URL with a password names the host localhost, then the socket",
                              source, text, "write redis+unix://PASSWORD@localhost/run/redis/redis.sock")
            rest = rest.removeprefix("localhost")
    path, q, query = rest.partition("?")
    if not path.startswith("/"):
        raise _refuse("the socket path must be absolute", source, text, "e.g. redis+unix:/run/redis/redis.sock")
    if q and not re.fullmatch(r"db=\d+", query):
        raise _refuse("the only query of redis+unix is ?db=NUMBER", source, text, usage)
    sock = Path(path)
    resolved = str(sock.parent.resolve() / sock.name)  # the dir bound into a chroot is this one (chroot_binds)
    return Remote("redis+unix", _userinfo("redis+unix", userinfo), "", None, resolved, q + query)


def configured(flag: str | None) -> Remote | None:
    """The build's remote: ``--ccache-remote`` when given (an empty one turns the env's off), else
    ORTWASM_CCACHE_REMOTE; empty or unset means none (a CI secret that is not set is an empty variable)."""
    if flag is not None:
        return parse(flag, FLAG)
    return parse(os.environ.get(ENV, ""), ENV)


def chroot_binds(remote: Remote | None, exec_env: ExecEnv) -> tuple[Path, ...]:
    """The directory a ``redis+unix`` socket is in, to bind into the toolchain's chroot so ccache there reaches it.

    None needed for TCP (the chroot shares the host's network), on the host, or when a bind already shows it.
    Refused when the socket sits in a directory of the chroot's own system (binding the host's ``/run`` is fine;
    binding over ``/usr`` or ``/`` would hide the chroot's compilers)."""
    if remote is None or remote.scheme != "redis+unix" or not exec_env.is_chroot:
        return ()
    where = Path(remote.path).parent
    if any(where == b or where.is_relative_to(b) for b in exec_env.binds):
        return ()
    if where == Path("/") or any(where == Path(d) or where.is_relative_to(d) for d in _SYSTEM_DIRS):
        raise UsageError(f"ccache remote {remote.masked}: the socket's directory {where} cannot be bound into the "
                         f"toolchain's chroot ({exec_env.root}) without hiding the chroot's own {where}",
                         "put the socket in a directory of its own (redis.conf: unixsocket /run/redis/redis.sock), "
                         "or use redis://127.0.0.1:PORT (the chroot shares the host's network)")
    return (where,)


# --- the probe --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the probe found: ``ok`` when the server answered as ccache needs it to; ``detail`` says how."""

    ok: bool
    detail: str


def _resp(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def _read_reply(f: IO[bytes]) -> bytes:
    """One RESP reply: a simple string or error line, an integer, or a bulk string's bytes."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("the connection closed mid-reply")
    if line[:1] == b"$":
        n = int(line[1:-2])
        return b"" if n < 0 else f.read(n + 2)[:-2]
    return line[:-2]


def redis_call(remote: Remote, *commands: tuple[str, ...], timeout: float = PROBE_TIMEOUT_S) -> list[bytes]:
    """Send ``commands`` to a redis/redis+unix remote (after AUTH and SELECT as ccache does them); their replies.

    Why our own few lines of RESP: the probe must not need a client library; the tests and the benchmark ask
    the same server its DBSIZE and INFO through this."""
    if remote.scheme == "redis+unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(remote.path)
    else:
        sock = socket.create_connection((remote.host.strip("[]"), remote.port or 6379), timeout=timeout)
    prelude: list[tuple[str, ...]] = []
    if remote.userinfo:
        user, colon, password = remote.userinfo.partition(":")
        prelude.append(("AUTH", unquote(user), unquote(password)) if colon else ("AUTH", unquote(user)))
    db = remote.path.lstrip("/") if remote.scheme == "redis" else remote.query.removeprefix("?db=")
    if db:
        prelude.append(("SELECT", db))
    with sock, sock.makefile("rb") as f:
        sock.sendall(b"".join(_resp(*c) for c in (*prelude, *commands)))
        replies = [_read_reply(f) for _ in (*prelude, *commands)]
    for cmd, reply in zip(prelude, replies, strict=False):
        if reply.startswith(b"-"):
            what = "the password" if cmd[0] == "AUTH" else f"database {db}"
            raise PermissionError(f"refused {what}: {reply[1:].decode(errors='replace')}")
    return replies[len(prelude):]


def _probe_redis(remote: Remote, timeout: float) -> str:
    (pong,) = redis_call(remote, ("PING",), timeout=timeout)
    if pong != b"+PONG":
        raise PermissionError(f"PING answered {pong.decode(errors='replace')[:80]!r}")
    return "PING: PONG"


def _probe_http(remote: Remote, timeout: float) -> str:
    conn = http.client.HTTPConnection(remote.host.strip("[]"), remote.port or 80, timeout=timeout)
    headers: dict[str, str] = {}
    if ":" in remote.userinfo:
        headers["Authorization"] = "Basic " + base64.b64encode(unquote(remote.userinfo).encode()).decode()
    token = remote.attribute("bearer-token")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for k, v in remote.attributes:
        if _bare(k) == "header" and v and "=" in v:
            name, _, value = v.partition("=")
            headers[name] = value
    try:
        conn.request("HEAD", remote.path or "/", headers=headers)
        status = conn.getresponse().status
    finally:
        conn.close()
    if status in (401, 407):
        raise PermissionError(f"refused the credentials (HTTP {status})")
    return f"HTTP {status}"


def probe(remote: Remote, timeout: float = PROBE_TIMEOUT_S) -> Answer:
    """Ask the remote once, the way ccache will (Redis: AUTH, SELECT, PING; HTTP: a HEAD of its path with its
    credentials): any HTTP status but 401/407 counts as answering, since a cache's base path may well be a 404."""
    started = time.monotonic()
    try:
        said = [(_probe_http if remote.scheme == "http" else _probe_redis)(one, timeout) for one in remote.shards()]
        return Answer(True, f"{', '.join(dict.fromkeys(said))} in {(time.monotonic() - started) * 1000:.0f} ms")
    except TimeoutError:
        return Answer(False, f"no answer within {timeout:g} s")
    except ConnectionRefusedError:
        return Answer(False, "connection refused")
    except FileNotFoundError:
        return Answer(False, f"no socket at {remote.path}")
    except socket.gaierror as exc:
        return Answer(False, f"cannot resolve {remote.host}: {exc.strerror or exc}")
    except (PermissionError, http.client.HTTPException, ValueError) as exc:
        return Answer(False, str(exc) or type(exc).__name__)
    except OSError as exc:
        return Answer(False, exc.strerror or str(exc))


def unreachable_warning(remote: Remote, answer: Answer) -> str:
    return (f"ccache remote {remote.masked} does not answer ({answer.detail}): this build continues on the local "
            f"cache only, without it")


# --- counters ---------------------------------------------------------------------------------------------------

# `ccache --print-stats` keys (the same in 4.7.5, 4.11.2 and 4.14.2): one compile counts in exactly one of the first
# three; local_* and remote_* say where a hit came from, remote_storage_error/timeout that the remote failed it.
COUNTERS = ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss", "local_storage_hit", "local_storage_miss",
            "remote_storage_hit", "remote_storage_miss", "remote_storage_error", "remote_storage_timeout")


def parse_stats(text: str) -> dict[str, int]:
    """The COUNTERS of ``ccache --print-stats`` (tab-separated key, value lines)."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition("\t")
        if key in COUNTERS and value.strip().isdigit():
            counts[key] = int(value)
    return counts


def delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """What one variant's compile added to the shared cache dir's counters."""
    return {k: after[k] - before.get(k, 0) for k in after}


def _percent(hits: int, total: int) -> str:
    return f"{100 * hits / total:.1f}%" if total else "n/a"


def _rate(hits: int, total: int) -> str:
    return f"{hits}/{total} ({_percent(hits, total)})"


@dataclass(frozen=True)
class Usage:
    """A variant's ccache counters, as the summary and the manifest read them."""

    hits: int = 0
    misses: int = 0
    local_hits: int = 0
    local_misses: int = 0
    remote_hits: int = 0
    remote_misses: int = 0
    remote_errors: int = 0
    remote_timeouts: int = 0

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Usage:
        g = counts.get
        return cls(g("direct_cache_hit", 0) + g("preprocessed_cache_hit", 0), g("cache_miss", 0),
                   g("local_storage_hit", 0), g("local_storage_miss", 0), g("remote_storage_hit", 0),
                   g("remote_storage_miss", 0), g("remote_storage_error", 0), g("remote_storage_timeout", 0))

    @property
    def remote_failures(self) -> int:
        return self.remote_errors + self.remote_timeouts

    @property
    def remote_lookups(self) -> int:
        """Compiles that asked the remote (a local miss): its hits, misses and failures."""
        return self.remote_hits + self.remote_misses

    def line(self, remote: bool) -> str:
        """``ccache: H/T hits (r%)``, then with a remote where the hits came from."""
        total = self.hits + self.misses
        out = f"ccache: {self.hits}/{total} hits ({_percent(self.hits, total)})"
        if remote:
            out += (f"; local {_rate(self.local_hits, self.local_hits + self.local_misses)}, "
                    f"remote {_rate(self.remote_hits, self.remote_lookups)}")
            if self.remote_failures:
                out += f", remote failed {self.remote_errors} errors + {self.remote_timeouts} timeouts"
        return out

    def timings(self, remote: bool) -> dict[str, float]:
        """The manifest's ``timings`` keys (numbers, so the package never ships them): hits and misses overall
        (as always), local, and with a remote its hits, misses, errors and timeouts; rates follow from them."""
        out = {"ccache_hits": float(self.hits), "ccache_misses": float(self.misses),
               "ccache_local_hits": float(self.local_hits), "ccache_local_misses": float(self.local_misses)}
        if remote:
            out |= {"ccache_remote_hits": float(self.remote_hits), "ccache_remote_misses": float(self.remote_misses),
                    "ccache_remote_errors": float(self.remote_errors),
                    "ccache_remote_timeouts": float(self.remote_timeouts)}
        return out


def remote_failure_warning(remote: str, usages: Mapping[str, Usage]) -> str | None:
    """One warning for the whole build when the remote failed compiles after the start probe (it died, hung or
    refused mid-build), naming each variant it hurt; None when it never failed.  ``remote`` is the masked URL."""
    hurt = {name: u for name, u in usages.items() if u.remote_failures}
    if not hurt:
        return None
    each = "; ".join(f"{name}: {u.remote_errors} errors and {u.remote_timeouts} timeouts in "
                     f"{u.hits + u.misses} compiles" for name, u in hurt.items())
    return (f"ccache remote {remote} failed during the build ({each}): those compiles used the local cache only "
            "and were not shared through it; the artifacts are not affected.  Check the server; the next build "
            "probes it again")

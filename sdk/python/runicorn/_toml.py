"""TOML loading: stdlib tomllib on Python ≥ 3.11, else a small parser for the subset config files use."""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List

try:
    import tomllib as _tomllib  # type: ignore[import-not-found]
except ImportError:  # Python < 3.11
    _tomllib = None

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def loads(text: str) -> Dict[str, Any]:
    """Parse TOML text into a dict (ValueError on syntax the fallback parser does not know)."""
    if _tomllib is not None:
        return _tomllib.loads(text)
    return _MiniToml(text).parse()


class _MiniToml:
    """Tables, dotted/quoted keys, strings, numbers, booleans, arrays and inline tables (no dates, no arrays of tables)."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def parse(self) -> Dict[str, Any]:
        root: Dict[str, Any] = {}
        cur = root
        while True:
            self._skip_ws_comments(newlines=True)
            if self.i >= len(self.s):
                return root
            if self.s[self.i] == "[":
                if self.s.startswith("[[", self.i):
                    raise ValueError("arrays of tables are not supported without tomllib")
                self.i += 1
                keys = self._key()
                self._expect("]")
                cur = root
                for k in keys:
                    nxt = cur.setdefault(k, {})
                    if not isinstance(nxt, dict):
                        raise ValueError("key %r is not a table" % k)
                    cur = nxt
            else:
                keys = self._key()
                self._expect("=")
                val = self._value()
                tgt = cur
                for k in keys[:-1]:
                    tgt = tgt.setdefault(k, {})
                tgt[keys[-1]] = val
            self._skip_ws_comments(newlines=False)
            if self.i < len(self.s) and self.s[self.i] not in "\r\n":
                raise ValueError("unexpected %r at offset %d" % (self.s[self.i], self.i))

    def _skip_ws_comments(self, newlines: bool) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(s) and s[self.i] not in "\r\n":
                    self.i += 1
            else:
                return

    def _expect(self, ch: str) -> None:
        self._skip_ws_comments(newlines=False)
        if not self.s.startswith(ch, self.i):
            raise ValueError("expected %r at offset %d" % (ch, self.i))
        self.i += len(ch)

    def _key(self) -> List[str]:
        keys = []
        while True:
            self._skip_ws_comments(newlines=False)
            c = self.s[self.i:self.i + 1]
            if c in ('"', "'"):
                keys.append(self._string())
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise ValueError("bad key at offset %d" % self.i)
                keys.append(m.group(0))
                self.i = m.end()
            self._skip_ws_comments(newlines=False)
            if self.s.startswith(".", self.i):
                self.i += 1
                continue
            return keys

    def _string(self) -> str:
        s = self.s
        if s.startswith('"""', self.i) or s.startswith("'''", self.i):
            q = s[self.i:self.i + 3]
            end = s.index(q, self.i + 3)
            raw = s[self.i + 3:end].lstrip("\n") if True else ""
            self.i = end + 3
            return raw if q == "'''" else json.loads('"%s"' % raw.replace("\n", "\\n").replace('"', '\\"'))
        q = s[self.i]
        if q == "'":
            end = s.index("'", self.i + 1)
            val = s[self.i + 1:end]
            self.i = end + 1
            return val
        j = self.i + 1
        while s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        val = json.loads(s[self.i:j + 1])
        self.i = j + 1
        return val

    def _value(self) -> Any:
        self._skip_ws_comments(newlines=False)
        s = self.s
        c = s[self.i:self.i + 1]
        if c in ('"', "'"):
            return self._string()
        if c == "[":
            self.i += 1
            out = []
            while True:
                self._skip_ws_comments(newlines=True)
                if s.startswith("]", self.i):
                    self.i += 1
                    return out
                out.append(self._value())
                self._skip_ws_comments(newlines=True)
                if s.startswith(",", self.i):
                    self.i += 1
        if c == "{":
            self.i += 1
            tbl: Dict[str, Any] = {}
            while True:
                self._skip_ws_comments(newlines=False)
                if s.startswith("}", self.i):
                    self.i += 1
                    return tbl
                keys = self._key()
                self._expect("=")
                tgt = tbl
                for k in keys[:-1]:
                    tgt = tgt.setdefault(k, {})
                tgt[keys[-1]] = self._value()
                self._skip_ws_comments(newlines=False)
                if s.startswith(",", self.i):
                    self.i += 1
        m = re.compile(r"[^\s,\]\}#]+").match(s, self.i)
        if not m:
            raise ValueError("bad value at offset %d" % self.i)
        tok = m.group(0)
        self.i = m.end()
        if tok == "true":
            return True
        if tok == "false":
            return False
        t = tok.replace("_", "")
        for conv in (int, float):
            try:
                return conv(t, 0) if conv is int and t[:2].lower() in ("0x", "0o", "0b") else conv(t)
            except ValueError:
                continue
        if t in ("inf", "+inf", "-inf", "nan", "+nan", "-nan"):
            return float(t)
        raise ValueError("unsupported value %r" % tok)

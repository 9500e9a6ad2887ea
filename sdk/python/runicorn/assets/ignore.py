"""`.gitignore`/`.rnignore` rules for code snapshots, with anchored rules fixed for top-level entries."""
from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Iterable, List, NamedTuple, Optional

DEFAULT_RNIGNORE = [".git/", ".venv/", "__pycache__/", "*.pyc", ".idea/", "node_modules/"]


class IgnoreRule(NamedTuple):
    """One parsed ignore line."""

    pattern: str
    negated: bool
    anchored: bool
    dir_only: bool


def parse_ignore_lines(lines: Iterable[str]) -> List[IgnoreRule]:
    """Parse gitignore-style lines: `#` comments, `!` negation, leading `/` anchors, trailing `/` = directories only."""
    out: List[IgnoreRule] = []
    for raw in lines:
        s = raw.rstrip("\r\n")
        if not s or s.lstrip().startswith("#"):
            continue
        neg = s.startswith("!")
        if neg:
            s = s[1:]
        s = s.strip()
        anchored = s.startswith("/")
        if anchored:
            s = s[1:]
        dir_only = s.endswith("/")
        if dir_only:
            s = s[:-1]
        if s:
            out.append(IgnoreRule(s, neg, anchored, dir_only))
    return out


class IgnoreMatcher:
    """Last matching rule wins; unanchored rules match any suffix of the path's segments."""

    def __init__(self, rules: List[IgnoreRule]) -> None:
        self.rules = rules

    def is_ignored(self, rel_posix: str, is_dir: bool) -> bool:
        """Whether the workspace-relative POSIX path is excluded."""
        rel = rel_posix[2:] if rel_posix.startswith("./") else rel_posix  # spec §10.12: anchored rules must match top level
        parts = [p for p in rel.split("/") if p]
        ignored = False
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.anchored:
                hit = fnmatch.fnmatchcase(rel, rule.pattern)
            else:
                hit = any(fnmatch.fnmatchcase("/".join(parts[i:]), rule.pattern) for i in range(len(parts)))
            if hit:
                ignored = not rule.negated
        return ignored


def load_ignore_matcher(root: Path, rnignore_name: str = ".rnignore", gitignore_name: str = ".gitignore",
                        extra_excludes: Optional[List[str]] = None) -> IgnoreMatcher:
    """Rules from <root>/.gitignore, then <root>/.rnignore (its defaults when absent), then extra_excludes."""
    rules: List[IgnoreRule] = []
    for name, fallback in ((gitignore_name, None), (rnignore_name, DEFAULT_RNIGNORE)):
        p = Path(root) / name
        try:
            rules.extend(parse_ignore_lines(p.read_text(encoding="utf-8", errors="ignore").splitlines()))
        except OSError:
            if fallback:
                rules.extend(parse_ignore_lines(fallback))
    if extra_excludes:
        rules.extend(parse_ignore_lines(list(extra_excludes)))
    return IgnoreMatcher(rules)

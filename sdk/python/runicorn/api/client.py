"""HTTP client for the Runicorn viewer API (urllib only; pandas optional for DataFrames)."""
from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, List, Optional, Union

from .exceptions import (AuthenticationError, BadRequestError, ConflictError, ConnectionError, FilterError, HostKeyConfirmationRequired,
                         NotFoundError, RateLimitError, RunicornError, ServerError, ValidationError)

DEFAULT_URL = "http://127.0.0.1:23300"
_RETRY_STATUSES = {502, 503, 504}


def _detail_message(detail: Any, fallback: str) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict) and isinstance(detail.get("message"), str):
        return detail["message"]
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, dict):
            loc = ".".join(str(x) for x in first.get("loc") or [])
            return "%s: %s" % (loc, first.get("msg") or first.get("message") or first) if loc else str(first.get("msg") or first)
    return fallback


def _error_for(status: int, body: bytes, headers: Any, endpoint: str) -> RunicornError:
    detail: Any = None
    payload: Any = None
    try:
        payload = json.loads(body.decode("utf-8")) if body else None
        detail = payload.get("detail") if isinstance(payload, dict) else payload
    except (ValueError, UnicodeDecodeError):
        detail = body.decode("utf-8", "replace")[:500] if body else None
    msg = "%s (HTTP %d %s)" % (_detail_message(detail, "request failed"), status, endpoint)
    if status == 400:
        return BadRequestError(msg, status, detail)
    if status == 422:
        return ValidationError(msg, status, detail)
    if status in (401, 403):
        return AuthenticationError(msg, status, detail)
    if status == 404:
        return NotFoundError(msg, status, detail)
    if status == 409:
        if isinstance(detail, dict) and detail.get("code") == "HOST_KEY_CONFIRMATION_REQUIRED":
            return HostKeyConfirmationRequired(msg, status, detail)
        return ConflictError(msg, status, detail)
    if status == 429:
        ra: Optional[float] = None
        try:
            ra = float(headers.get("Retry-After") or (payload or {}).get("retry_after"))
        except (TypeError, ValueError, AttributeError):
            ra = None
        return RateLimitError(msg, status, detail, retry_after=ra)
    if status >= 500:
        return ServerError(msg, status, detail)
    return RunicornError(msg, status, detail)


def _ids(run_ids: Union[str, Iterable[str]]) -> List[str]:
    return [run_ids] if isinstance(run_ids, str) else [str(r) for r in run_ids]


def _q(segment: str) -> str:
    return urllib.parse.quote(str(segment), safe="")


class RunicornClient:
    """A connection to one viewer. Methods return the server's JSON (dicts/lists) and raise typed RunicornErrors."""

    def __init__(self, base_url: str = DEFAULT_URL, timeout: float = 30.0, max_retries: int = 3, token: Optional[str] = None,
                 verify: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.token = token if token is not None else os.environ.get("RUNICORN_TOKEN") or None
        self._remote: Optional[RemoteAPI] = None
        if verify:
            self._verify_connection()

    # ------------------------------------------------------------------ transport

    def _verify_connection(self) -> None:
        try:
            data = self._request("GET", "/api/health", timeout=min(5.0, self.timeout), retries=0)
        except RunicornError as e:
            if isinstance(e, ConnectionError):
                raise
            raise ConnectionError("Viewer at %s is not healthy: %s" % (self.base_url, e), e.status, e.detail)
        # spec §10.3: the original client wanted "healthy" while every viewer says "ok".
        if not isinstance(data, dict) or data.get("status") not in ("ok", "healthy"):
            raise ConnectionError("Viewer at %s is not healthy: %r" % (self.base_url, data))
        self.server_version = data.get("version")

    def _url(self, endpoint: str, params: Optional[Dict[str, Any]] = None) -> str:
        url = self.base_url + (endpoint if endpoint.startswith("/") else "/" + endpoint)
        if params:
            clean = {k: ("true" if v is True else "false" if v is False else v) for k, v in params.items() if v is not None}
            if clean:
                url += "?" + urllib.parse.urlencode(clean, doseq=True)
        return url

    def _request(self, method: str, endpoint: str, params: Optional[Dict[str, Any]] = None, json_body: Any = None,
                 raw: bool = False, timeout: Optional[float] = None, retries: Optional[int] = None) -> Any:
        url = self._url(endpoint, params)
        data = None
        headers = {"Accept": "application/json", "User-Agent": "runicorn-python"}
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        attempts = 1 + (self.max_retries if retries is None else retries) if method in ("GET", "HEAD") else 1
        last: Optional[RunicornError] = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(4.0, 0.5 * (2 ** (attempt - 1))))
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                    body = resp.read()
                    if raw:
                        return body
                    if not body:
                        return None
                    ctype = resp.headers.get("Content-Type", "")
                    if "json" not in ctype and not body.lstrip()[:1] in (b"{", b"["):
                        return body
                    return json.loads(body.decode("utf-8"))
            except urllib.error.HTTPError as e:
                try:
                    err_body = e.read()
                except Exception:
                    err_body = b""
                last = _error_for(e.code, err_body, e.headers, endpoint)
                if e.code not in _RETRY_STATUSES:
                    raise last from None  # the server's answer says it all; urllib's traceback adds nothing
            except (urllib.error.URLError, socket.timeout, OSError) as e:
                reason = getattr(e, "reason", e)
                last = ConnectionError("Cannot reach Runicorn viewer at %s: %s" % (self.base_url, reason))
        assert last is not None
        raise last from None

    def get(self, endpoint: str, params: Optional[Dict[str, Any]] = None) -> Any:
        """GET `endpoint` and return the decoded JSON."""
        return self._request("GET", endpoint, params=params)

    def post(self, endpoint: str, json: Any = None, params: Optional[Dict[str, Any]] = None) -> Any:  # noqa: A002
        """POST a JSON body."""
        return self._request("POST", endpoint, params=params, json_body=json if json is not None else {})

    def put(self, endpoint: str, json: Any = None) -> Any:  # noqa: A002
        """PUT a JSON body."""
        return self._request("PUT", endpoint, json_body=json if json is not None else {})

    def patch(self, endpoint: str, json: Any = None) -> Any:  # noqa: A002
        """PATCH a JSON body."""
        return self._request("PATCH", endpoint, json_body=json if json is not None else {})

    def delete(self, endpoint: str, params: Optional[Dict[str, Any]] = None) -> Any:
        """DELETE `endpoint`."""
        return self._request("DELETE", endpoint, params=params)

    # ------------------------------------------------------------------ runs

    def health_check(self) -> Dict[str, Any]:
        """GET /api/health."""
        return self.get("/api/health")

    def list_runs(self, *, path: Optional[str] = None, status: Optional[str] = None, q: Optional[str] = None,
                  limit: Optional[int] = None, offset: Optional[int] = None, sort: Optional[str] = None,
                  order: Optional[str] = None, include: Optional[Iterable[str]] = None, filter: Optional[str] = None,  # noqa: A002
                  as_dataframe: Optional[bool] = None) -> Any:
        """List runs (GET /api/runs).

        Args:
            path: only runs under this path, e.g. "cv/resnet".
            status: only runs with this status ("running", "finished", "failed", ...).
            q: text to search for in ids, paths and aliases.
            limit, offset: paging.
            sort, order: the field to sort by and "asc"/"desc".
            include: extra fields per run, e.g. ["config", "summary", "metrics"]; a viewer that does
                not know them simply leaves them out. "metrics" adds per metric key its last/min/max/count
                (the `metric.<key>.<stat>` filter fields).
            filter: a filter expression, e.g. 'config.lr <= 0.001 and summary.final_acc > 0.8'; a
                malformed one raises FilterError (a ValueError) with the server's message and column.
            as_dataframe: True → a pandas DataFrame with config/summary/metrics flattened into
                `config.x` / `summary.y` / `metric.loss.min` columns; False → a list of dicts; None
                (default) → a DataFrame when a filter is given and pandas is installed, else the list.

        Example::

            runs = client.list_runs(path="cv", status="finished", include=["summary"])
            df = client.list_runs(filter='config.optimizer == "adam"', include=["config", "summary"])
            df = client.list_runs(filter="metric.loss.min < 0.5", include=["config", "metrics"])
        """
        inc = None
        if include is not None:
            items = [include] if isinstance(include, str) else [str(i) for i in include]
            inc = ",".join(i.strip() for i in items if i.strip()) or None
        params = {"path": path, "status": status, "q": q, "limit": limit, "offset": offset, "sort": sort, "order": order,
                  "include": inc, "filter": filter}
        try:
            data = self.get("/api/runs", params=params)
        except BadRequestError as e:
            if filter is None:
                raise
            raise FilterError(str(e), e.status, e.detail) from None
        runs: List[Dict[str, Any]] = []
        if isinstance(data, dict):
            for key in ("runs", "items", "data"):
                if isinstance(data.get(key), list):
                    runs = data[key]
                    break
        elif isinstance(data, list):
            runs = data
        if as_dataframe is None:
            as_dataframe = filter is not None and _has_pandas()
        return runs_to_dataframe(runs) if as_dataframe else runs

    def compare_series(self, run_ids: Iterable[str], key: Union[str, Iterable[str]], *,
                       group_by: Optional[Union[str, Iterable[str]]] = None, agg: Optional[Iterable[str]] = None,
                       x: str = "step", points: Optional[int] = None, as_dataframe: bool = False) -> Any:
        """Grouped, aggregated series (GET /api/compare/series with run_ids): the runs grouped by the
        values of `group_by` fields (e.g. "config.lr"), each metric in `key` aligned on steps and
        aggregated per group (mean, std, min, max, and count of runs at each point).

        Args:
            run_ids: the runs (at most 1000).
            key: a metric key, or several.
            group_by: a field or several ("config.lr", "config.optimizer", "path"); None → one group of all runs.
            agg: some of "mean", "std", "min", "max" (default all).
            x: "step" or "time" (seconds since each run's first row).
            points: at most this many points per group (2..10000, default 1000).
            as_dataframe: True → a long pandas DataFrame: one row per key, group and x, with one
                column per group_by field and per aggregate, plus `runs` (the group's run count).

        Returns the server's answer: {"x", "group_by", "agg", "points", "series": [{"key", "groups":
        [{"key": {field: value}, "runs": [...], "x": [...], "mean": [...], ..., "count": [...]}]}],
        "missing_runs", "pending_runs"}. Bad input raises BadRequestError with the server's detail.

        Example::

            df = client.compare_series(ids, "loss", group_by="config.lr", as_dataframe=True)
        """
        ids = [run_ids] if isinstance(run_ids, str) else [str(i) for i in run_ids]
        keys = [key] if isinstance(key, str) else [str(k) for k in key]
        groups = None if group_by is None else ([group_by] if isinstance(group_by, str) else [str(g) for g in group_by])
        params = {"run_ids": ",".join(ids), "keys": ",".join(keys), "x": x, "points": points,
                  "group_by": ",".join(groups) if groups else None,
                  "agg": ",".join(agg) if agg is not None else None}
        data = self.get("/api/compare/series", params=params)
        return series_to_dataframe(data) if as_dataframe else data

    def list_experiments(self, project: Optional[str] = None, name: Optional[str] = None, status: Optional[str] = None,
                         limit: Optional[int] = None, offset: Optional[int] = None, *, path: Optional[str] = None,
                         q: Optional[str] = None, sort: Optional[str] = None, order: Optional[str] = None) -> List[Dict[str, Any]]:
        """0.6 signature kept: `project`/`name` become the path filter "project/name"; same as list_runs."""
        if path is None and project:
            path = project + ("/" + name if name else "")
        return self.list_runs(path=path, status=status, q=q, limit=limit, offset=offset, sort=sort, order=order)

    def get_run(self, run_id: str) -> Dict[str, Any]:
        """GET /api/runs/{run_id}; NotFoundError if unknown."""
        return self.get("/api/runs/" + _q(run_id))

    get_experiment = get_run

    def update_run(self, run_id: str, *, alias: Any = ..., tags: Optional[List[str]] = None) -> Dict[str, Any]:
        """PATCH /api/runs/{run_id} with alias and/or tags."""
        body: Dict[str, Any] = {}
        if alias is not ...:
            body["alias"] = alias
        if tags is not None:
            body["tags"] = list(tags)
        return self.patch("/api/runs/" + _q(run_id), json=body)

    def get_metrics(self, run_id: str, downsample: Optional[int] = None, *, as_dataframe: bool = False) -> Any:
        """A run's metrics by step: {"columns", "rows", "total", "sampled"}, or a pandas DataFrame.

        Args:
            run_id: the run's id.
            downsample: at most this many rows (100..50000), keeping each metric's shape and extremes.
            as_dataframe: return a pandas DataFrame (needs pandas).

        A logged "epoch" is included as a column after "global_step".

        Example::

            df = client.get_metrics("20260101_120000_ab12cd", downsample=1000, as_dataframe=True)
        """
        if downsample is not None:
            if isinstance(downsample, bool) or not isinstance(downsample, int) or not 100 <= downsample <= 50000:
                raise ValidationError("downsample must be an integer from 100 to 50000 (or None for every row), got %r" % (downsample,),
                                      None, [{"loc": ["query", "downsample"], "msg": "must be 100..50000", "input": downsample}])
        data = self.get("/api/runs/%s/metrics_step" % _q(run_id), params={"downsample": downsample})
        if isinstance(data, dict):
            self._add_epoch(run_id, data)
        return metrics_to_dataframe(data) if as_dataframe else data

    def _add_epoch(self, run_id: str, data: Dict[str, Any]) -> None:
        """metrics_step leaves a logged epoch out (as Runicorn 0.6 did): put it back from the series endpoint."""
        cols = data.get("columns") or []
        rows = data.get("rows") or []
        if "epoch" in cols or not rows:
            return
        try:
            keys = self.get("/api/runs/%s/keys" % _q(run_id))
            if not any(k.get("key") == "epoch" for k in (keys or {}).get("keys") or []):
                return
            first, last = rows[0].get("global_step"), rows[-1].get("global_step")
            series = self.get("/api/runs/%s/series" % _q(run_id),
                              params={"keys": "epoch", "from": first, "to": last, "points": 100000})
        except RunicornError:
            return  # an older viewer without these endpoints: the rows stay as they are
        by_step = dict(zip(series.get("x") or [], (series.get("series") or {}).get("epoch") or []))
        fill = bool(series.get("sampled"))
        cur = None
        for row in rows:
            step = row.get("global_step")
            v = by_step.get(step)
            if v is not None:
                cur = v
            row["epoch"] = v if not fill else cur
        data["columns"] = [cols[0], "epoch"] + list(cols[1:]) if cols else ["global_step", "epoch"]

    def get_metrics_df(self, run_id: str, downsample: Optional[int] = None) -> Any:
        """get_metrics(..., as_dataframe=True)."""
        return self.get_metrics(run_id, downsample, as_dataframe=True)

    def list_paths(self, include_stats: bool = False) -> Dict[str, Any]:
        """GET /api/paths → {"paths", "tree"[, "stats"]}."""
        return self.get("/api/paths", params={"include_stats": include_stats})

    def list_projects(self) -> List[str]:
        """GET /api/projects → first path segments."""
        data = self.get("/api/projects")
        return data.get("projects", []) if isinstance(data, dict) else data

    def soft_delete(self, run_ids: Union[str, Iterable[str]]) -> Dict[str, Any]:
        """POST /api/runs/soft-delete: move runs to the recycle bin."""
        return self.post("/api/runs/soft-delete", json={"run_ids": _ids(run_ids)})

    def restore(self, run_ids: Union[str, Iterable[str]]) -> Dict[str, Any]:
        """POST /api/recycle-bin/restore."""
        return self.post("/api/recycle-bin/restore", json={"run_ids": _ids(run_ids)})

    def list_deleted(self) -> List[Dict[str, Any]]:
        """GET /api/recycle-bin → deleted runs."""
        data = self.get("/api/recycle-bin")
        return data.get("deleted_runs", []) if isinstance(data, dict) else data

    def export(self, path: str, format: str = "json", *, exact: bool = False, out: Optional[str] = None) -> Any:  # noqa: A002
        """GET /api/paths/export: JSON dict, or zip bytes (written to `out` and its path returned when given)."""
        params = {"path": path, "exact": exact, "format": format}
        if format == "json":
            return self.get("/api/paths/export", params=params)
        body = self._request("GET", "/api/paths/export", params=params, raw=True)
        if out is None:
            return body
        with open(out, "wb") as f:
            f.write(body)
        return out

    export_experiment = export

    def get_config(self) -> Dict[str, Any]:
        """GET /api/config."""
        return self.get("/api/config")

    def close(self) -> None:
        """Nothing to release (urllib opens a connection per request)."""
        return None

    def __enter__(self) -> "RunicornClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def remote(self) -> "RemoteAPI":
        """The Remote (SSH) viewer endpoints."""
        if self._remote is None:
            self._remote = RemoteAPI(self)
        return self._remote


def _parse_connection_id(connection_id: str) -> Dict[str, Any]:
    """`user@host:port` as the server forms it (split at the last ':' and the first '@')."""
    head, _, port = connection_id.rpartition(":")
    user, _, host = head.partition("@")
    if not head or not user or not host or not port.isdigit():
        raise ValueError("Invalid connection_id format: %s" % connection_id)
    return {"username": user, "host": host, "port": int(port)}


class RemoteAPI:
    """`client.remote.*`: SSH connections and remote viewers."""

    def __init__(self, client: RunicornClient) -> None:
        self._c = client

    @staticmethod
    def _ssh_body(host: str, username: str, port: int, password: Optional[str], private_key: Optional[str],
                  private_key_path: Optional[str], passphrase: Optional[str], use_agent: bool) -> Dict[str, Any]:
        body: Dict[str, Any] = {"host": host, "port": int(port), "username": username, "use_agent": bool(use_agent)}
        for k, v in (("password", password), ("private_key", private_key), ("private_key_path", private_key_path),
                     ("passphrase", passphrase)):
            if v is not None:
                body[k] = v
        return body

    def connect(self, host: str, port: int = 22, username: Optional[str] = None, password: Optional[str] = None,
                private_key_path: Optional[str] = None, passphrase: Optional[str] = None, *, private_key: Optional[str] = None,
                use_agent: bool = True) -> Dict[str, Any]:
        """POST /api/remote/connect; HostKeyConfirmationRequired when the host key must be accepted first."""
        if not username:
            raise ValueError("username is required")
        return self._c.post("/api/remote/connect", json=self._ssh_body(host, username, port, password, private_key,
                                                                        private_key_path, passphrase, use_agent))

    def disconnect(self, host: str, port: int = 22, username: Optional[str] = None, *, connection_id: Optional[str] = None) -> Dict[str, Any]:
        """POST /api/remote/disconnect with host, port and username (or a connection_id "user@host:port")."""
        if connection_id:
            body = _parse_connection_id(connection_id)
        else:
            if not username:
                raise ValueError("username is required")
            body = {"host": host, "port": int(port), "username": username}
        return self._c.post("/api/remote/disconnect", json=body)

    def list_sessions(self) -> List[Dict[str, Any]]:
        """GET /api/remote/sessions → pooled SSH connections."""
        return self._c.get("/api/remote/sessions").get("sessions", [])

    def list_conda_envs(self, connection_id: str) -> List[Dict[str, Any]]:
        """GET /api/remote/conda-envs → Python environments on the server."""
        return self._c.get("/api/remote/conda-envs", params={"connection_id": connection_id}).get("envs", [])

    def get_config(self, connection_id: str, conda_env: str = "system") -> Dict[str, Any]:
        """GET /api/remote/config → runicorn version, default storage root and suggested port on the server."""
        return self._c.get("/api/remote/config", params={"connection_id": connection_id, "conda_env": conda_env})

    def list_directory(self, connection_id: str, path: str = "~") -> List[Dict[str, Any]]:
        """GET /api/remote/fs/list → entries {name, is_dir, size, mtime} (the original read a non-existent key)."""
        return self._c.get("/api/remote/fs/list", params={"connection_id": connection_id, "path": path}).get("items", [])

    list_remote_directory = list_directory

    def check_path(self, connection_id: str, path: str) -> Dict[str, Any]:
        """GET /api/remote/fs/exists → {path, exists, is_dir}."""
        return self._c.get("/api/remote/fs/exists", params={"connection_id": connection_id, "path": path})

    check_remote_path = check_path

    def start_viewer(self, connection_id: Optional[str] = None, remote_root: Optional[str] = None, local_port: Optional[int] = None,
                     remote_port: Optional[int] = None, *, host: Optional[str] = None, username: Optional[str] = None, port: int = 22,
                     password: Optional[str] = None, private_key: Optional[str] = None, private_key_path: Optional[str] = None,
                     passphrase: Optional[str] = None, use_agent: bool = True, conda_env: Optional[str] = None) -> Dict[str, Any]:
        """POST /api/remote/viewer/start (SSH fields + remote_root); returns {"ok", "session", "message"}."""
        if not remote_root:
            raise ValueError("remote_root is required")
        if connection_id:
            parsed = _parse_connection_id(connection_id)
            host, username, port = host or parsed["host"], username or parsed["username"], parsed["port"]
        if not host or not username:
            raise ValueError("host and username (or connection_id) are required")
        body = self._ssh_body(host, username, port, password, private_key, private_key_path, passphrase, use_agent)
        body["remote_root"] = remote_root
        for k, v in (("local_port", local_port), ("remote_port", remote_port), ("conda_env", conda_env)):
            if v is not None:
                body[k] = v
        return self._c.post("/api/remote/viewer/start", json=body)

    def stop_viewer(self, session_id: str) -> Dict[str, Any]:
        """POST /api/remote/viewer/stop."""
        return self._c.post("/api/remote/viewer/stop", json={"session_id": session_id})

    def list_viewer_sessions(self) -> List[Dict[str, Any]]:
        """GET /api/remote/viewer/sessions → RemoteSession objects (camelCase keys)."""
        return self._c.get("/api/remote/viewer/sessions").get("sessions", [])

    def get_viewer_status(self, session_id: str) -> Dict[str, Any]:
        """GET /api/remote/viewer/status/{session_id}."""
        return self._c.get("/api/remote/viewer/status/" + _q(session_id))

    def get_remote_status(self) -> Dict[str, Any]:
        """GET /api/remote/status."""
        return self._c.get("/api/remote/status")

    def accept_host_key(self, host_key: Dict[str, Any]) -> Dict[str, Any]:
        """POST /api/remote/known-hosts/accept with the host_key of a HostKeyConfirmationRequired error."""
        body = {k: host_key[k] for k in ("host", "port", "key_type", "public_key", "fingerprint_sha256") if k in host_key}
        return self._c.post("/api/remote/known-hosts/accept", json=body)

    def list_known_hosts(self) -> List[Dict[str, Any]]:
        """GET /api/remote/known-hosts/list."""
        return self._c.get("/api/remote/known-hosts/list").get("entries", [])

    def remove_known_host(self, host: str, port: int, key_type: str) -> Dict[str, Any]:
        """POST /api/remote/known-hosts/remove."""
        return self._c.post("/api/remote/known-hosts/remove", json={"host": host, "port": int(port), "key_type": key_type})


def _has_pandas() -> bool:
    try:
        import pandas  # type: ignore  # noqa: F401
    except ImportError:
        return False
    return True


def flatten_run(run: Dict[str, Any]) -> Dict[str, Any]:
    """One run of list_runs as a flat row: nested `config`/`summary` dicts become `config.a.b` / `summary.x` keys."""
    out: Dict[str, Any] = {}

    def put(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                put(prefix + "." + str(k), v)
        else:
            out[prefix] = value

    for key, value in run.items():
        if key in ("config", "summary") and isinstance(value, dict):
            put(key, value)
        elif key == "metrics" and isinstance(value, dict):
            # the filter's field names: metric.<key>.<stat> (a key may hold "/" or ".")
            for name, stats in value.items():
                if isinstance(stats, dict):
                    for stat, v in stats.items():
                        out["metric." + str(name) + "." + str(stat)] = v
        elif key == "metrics" and value is None:
            continue  # metrics still being ingested: no columns rather than a column of None
        else:
            out[key] = value
    return out


def runs_to_dataframe(runs: List[Dict[str, Any]]) -> Any:
    """Runs of list_runs as a pandas DataFrame, config/summary flattened (ImportError with a hint without pandas)."""
    try:
        import pandas as pd  # type: ignore
    except ImportError:
        raise ImportError("pandas is required for DataFrames: pip install pandas") from None
    return pd.DataFrame([flatten_run(r) for r in runs])


def series_to_dataframe(data: Dict[str, Any]) -> Any:
    """compare_series' answer as a long pandas DataFrame (ImportError with a hint without pandas)."""
    try:
        import pandas as pd  # type: ignore
    except ImportError:
        raise ImportError("pandas is required for DataFrames: pip install pandas") from None
    fields = list(data.get("group_by") or [])
    aggs = list(data.get("agg") or [])
    rows: List[Dict[str, Any]] = []
    for series in data.get("series") or []:
        for g in series.get("groups") or []:
            for i, xv in enumerate(g.get("x") or []):
                row: Dict[str, Any] = {"key": series.get("key")}
                for f in fields:
                    row[f] = (g.get("key") or {}).get(f)
                row["x"] = xv
                for a in aggs:
                    row[a] = g[a][i] if a in g else None
                row["count"] = g["count"][i]
                row["runs"] = len(g.get("runs") or [])
                rows.append(row)
    return pd.DataFrame(rows, columns=["key"] + fields + ["x"] + aggs + ["count", "runs"])


def metrics_to_dataframe(metrics: Dict[str, Any]) -> Any:
    """{"columns", "rows"} of metrics_step as a pandas DataFrame (ImportError with a hint without pandas)."""
    try:
        import pandas as pd  # type: ignore
    except ImportError:
        raise ImportError("pandas is required for DataFrames: pip install pandas")
    cols = metrics.get("columns") or []
    return pd.DataFrame(metrics.get("rows") or [], columns=cols)


def connect(base_url: str = DEFAULT_URL, timeout: float = 30.0, max_retries: int = 3, token: Optional[str] = None) -> RunicornClient:
    """Connect to a viewer (checks GET /api/health answers status "ok")."""
    return RunicornClient(base_url, timeout=timeout, max_retries=max_retries, token=token)

"""runicorn.api against a stdlib HTTP stub: health check, request shapes and the mapping of errors to exceptions."""
from __future__ import annotations

import json
import socket
import threading
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple

from tests.support import TempDirCase

import runicorn.api as api  # noqa: E402

HOST_KEY = {"host": "127.0.0.1", "port": 22222, "known_hosts_host": "[127.0.0.1]:22222", "key_type": "ssh-ed25519",
            "fingerprint_sha256": "SHA256:abc", "public_key": "ssh-ed25519 AAAA", "reason": "unknown"}


class Stub:
    """A tiny viewer: answers from a route table and records every request."""

    def __init__(self) -> None:
        self.routes: Dict[Tuple[str, str], Tuple[int, Any, Dict[str, str]]] = {}
        self.requests: List[Dict[str, Any]] = []
        self.flaky = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                return None

            def _do(self) -> None:
                u = urllib.parse.urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                stub.requests.append({"method": self.command, "path": u.path, "query": urllib.parse.parse_qs(u.query),
                                      "body": body, "auth": self.headers.get("Authorization")})
                if u.path == "/api/flaky" and stub.flaky > 0:
                    stub.flaky -= 1
                    status, payload, headers = 503, {"detail": "busy"}, {}
                else:
                    status, payload, headers = stub.routes.get((self.command, u.path), (404, {"detail": "Not Found"}, {}))
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/zip" if isinstance(payload, bytes) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ClientAgainstStub(TempDirCase):
    def setUp(self) -> None:
        super().setUp()
        self.stub = Stub()
        self.stub.routes[("GET", "/api/health")] = (200, {"status": "ok", "version": "0.7.0"}, {})
        self.client = api.connect(self.stub.url, max_retries=2)

    def tearDown(self) -> None:
        self.stub.close()
        super().tearDown()

    def test_connect_accepts_the_viewers_ok_status(self) -> None:
        self.assertEqual(self.client.server_version, "0.7.0")
        self.assertEqual(self.client.health_check()["status"], "ok")

    def test_connect_refuses_an_unhealthy_viewer_and_an_unreachable_port(self) -> None:
        self.stub.routes[("GET", "/api/health")] = (200, {"status": "degraded"}, {})
        with self.assertRaises(api.ConnectionError):
            api.connect(self.stub.url)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with self.assertRaises(api.ConnectionError):
            api.connect("http://127.0.0.1:%d" % port, max_retries=0)

    def test_http_errors_become_typed_exceptions_with_the_detail(self) -> None:
        r = self.stub.routes
        r[("GET", "/api/runs/nope")] = (404, {"detail": "Run not found"}, {})
        r[("POST", "/api/runs/soft-delete")] = (400, {"detail": "Invalid run_id format: x"}, {})
        r[("GET", "/api/runs/a/metrics_step")] = (422, {"detail": [{"loc": ["query", "downsample"], "msg": "too small"}]}, {})
        r[("POST", "/api/remote/connect")] = (409, {"detail": {"code": "HOST_KEY_CONFIRMATION_REQUIRED", "message": "Host key verification failed", "host_key": HOST_KEY}}, {})
        r[("GET", "/api/paths")] = (429, {"detail": "Rate limit exceeded", "retry_after": 7}, {"Retry-After": "7"})
        r[("GET", "/api/config")] = (500, {"detail": "Internal server error"}, {})
        r[("GET", "/api/projects")] = (401, {"detail": "token required"}, {})
        c = self.client
        with self.assertRaises(api.NotFoundError) as nf:
            c.get_run("nope")
        self.assertEqual((nf.exception.status, nf.exception.detail), (404, "Run not found"))
        with self.assertRaises(api.BadRequestError) as br:
            c.soft_delete(["x"])
        self.assertIn("Invalid run_id format: x", str(br.exception))
        with self.assertRaises(api.ValidationError):
            c.get_metrics("a", downsample=5)
        with self.assertRaises(api.HostKeyConfirmationRequired) as hk:
            c.remote.connect("127.0.0.1", 22222, username="u")
        self.assertEqual(hk.exception.host_key["fingerprint_sha256"], "SHA256:abc")
        with self.assertRaises(api.RateLimitError) as rl:
            c.list_paths()
        self.assertEqual(rl.exception.retry_after, 7.0)
        with self.assertRaises(api.ServerError):
            c.get_config()
        with self.assertRaises(api.AuthenticationError):
            c.list_projects()
        for exc in (nf, br, hk, rl):
            self.assertIsInstance(exc.exception, api.RunicornError)
            self.assertIsInstance(exc.exception, api.RunicornAPIError)

    def test_gets_are_retried_on_503_but_posts_are_not(self) -> None:
        self.stub.routes[("GET", "/api/flaky")] = (200, {"ok": True}, {})
        self.stub.flaky = 2
        self.assertEqual(self.client.get("/api/flaky"), {"ok": True})
        self.stub.flaky = 1
        with self.assertRaises(api.ServerError):
            self.client.post("/api/flaky", json={})

    def test_run_queries_send_the_filters_and_unwrap_lists(self) -> None:
        self.stub.routes[("GET", "/api/runs")] = (200, [{"id": "r1"}], {})
        self.assertEqual(self.client.list_runs(path="cv", status="finished", limit=10, offset=5, sort="created_time", order="desc", q="res"), [{"id": "r1"}])
        q = self.stub.requests[-1]["query"]
        self.assertEqual({k: v[0] for k, v in q.items()}, {"path": "cv", "status": "finished", "limit": "10", "offset": "5",
                                                          "sort": "created_time", "order": "desc", "q": "res"})
        self.stub.routes[("GET", "/api/runs")] = (200, {"runs": [{"id": "r2"}], "total": 1}, {})
        self.assertEqual(self.client.list_experiments(project="cv", name="yolo"), [{"id": "r2"}])
        self.assertEqual(self.stub.requests[-1]["query"]["path"], ["cv/yolo"])

    def test_list_runs_passes_include_through_and_a_viewer_without_it_still_answers(self) -> None:
        self.stub.routes[("GET", "/api/runs")] = (200, [{"id": "r1"}], {})
        self.assertEqual(self.client.list_runs(include=["config", "summary"]), [{"id": "r1"}])
        self.assertEqual(self.stub.requests[-1]["query"]["include"], ["config,summary"])
        self.client.list_runs(include="summary")
        self.assertEqual(self.stub.requests[-1]["query"]["include"], ["summary"])

    def test_flatten_run_names_metric_columns_like_the_filter_fields(self) -> None:
        row = api.flatten_run({"id": "r1", "config": {"lr": 0.1, "model": {"depth": 50}},
                               "metrics": {"train/loss": {"last": 0.2, "min": 0.1, "max": 2.0, "count": 7}}})
        self.assertEqual(row, {"id": "r1", "config.lr": 0.1, "config.model.depth": 50, "metric.train/loss.last": 0.2,
                               "metric.train/loss.min": 0.1, "metric.train/loss.max": 2.0, "metric.train/loss.count": 7})
        self.assertEqual(api.flatten_run({"id": "r2", "metrics": None}), {"id": "r2"})

    def test_compare_series_sends_the_grouped_query(self) -> None:
        body = {"x": "step", "group_by": ["config.lr"], "agg": ["mean"], "points": 10, "series": [], "missing_runs": [], "pending_runs": []}
        self.stub.routes[("GET", "/api/compare/series")] = (200, body, {})
        self.assertEqual(self.client.compare_series(["a", "b"], "loss", group_by=["config.lr", "config.opt"], agg=["mean"], points=10), body)
        q = {k: v[0] for k, v in self.stub.requests[-1]["query"].items()}
        self.assertEqual(q, {"run_ids": "a,b", "keys": "loss", "group_by": "config.lr,config.opt", "agg": "mean", "x": "step", "points": "10"})

    def test_a_downsample_out_of_range_is_a_clear_error_without_a_urllib_traceback(self) -> None:
        n = len(self.stub.requests)
        for bad in (5, 50001, 1.5, "100", True):
            with self.assertRaisesRegex(api.ValidationError, "downsample must be an integer from 100 to 50000") as cm:
                self.client.get_metrics("a", downsample=bad)  # type: ignore[arg-type]
            self.assertIsNone(cm.exception.__context__)
        self.assertEqual(len(self.stub.requests), n)  # refused before asking the viewer
        with self.assertRaises(api.NotFoundError) as nf:
            self.client.get_run("missing")
        self.assertTrue(nf.exception.__suppress_context__)
        self.assertIsNone(nf.exception.__cause__)

    def test_metrics_and_ids_in_urls_are_escaped(self) -> None:
        payload = {"columns": ["global_step", "loss"], "rows": [{"global_step": 1, "loss": 0.5}], "total": 1, "sampled": 1}
        self.stub.routes[("GET", "/api/runs/a%2Fb/metrics_step")] = (200, payload, {})
        self.assertEqual(self.client.get_metrics("a/b"), payload)
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaises(ImportError):
                self.client.get_metrics("a/b", as_dataframe=True)
        else:
            df = self.client.get_metrics("a/b", as_dataframe=True)
            self.assertEqual(list(df.columns), ["global_step", "loss"])

    def test_recycle_and_export_requests(self) -> None:
        r = self.stub.routes
        r[("POST", "/api/runs/soft-delete")] = (200, {"deleted_count": 1}, {})
        r[("POST", "/api/recycle-bin/restore")] = (200, {"restored_count": 1}, {})
        r[("GET", "/api/paths/export")] = (200, b"PK\x03\x04zip", {})
        self.client.soft_delete("20260101_000000_abcdef")
        self.assertEqual(self.stub.requests[-1]["body"], {"run_ids": ["20260101_000000_abcdef"]})
        self.client.restore(["a", "b"])
        self.assertEqual(self.stub.requests[-1]["body"], {"run_ids": ["a", "b"]})
        out = self.tmp / "e.zip"
        self.assertEqual(self.client.export("cv", format="zip", out=str(out)), str(out))
        self.assertEqual(out.read_bytes(), b"PK\x03\x04zip")
        self.assertEqual({k: v[0] for k, v in self.stub.requests[-1]["query"].items()}, {"path": "cv", "exact": "false", "format": "zip"})

    def test_remote_helpers_send_the_documented_payloads(self) -> None:
        r = self.stub.routes
        for path in ("/api/remote/viewer/start", "/api/remote/disconnect", "/api/remote/viewer/stop"):
            r[("POST", path)] = (200, {"ok": True}, {})
        r[("GET", "/api/remote/fs/list")] = (200, {"path": "/home/u", "items": [{"name": "a", "is_dir": True}]}, {})
        rem = self.client.remote
        rem.start_viewer("u@gpu:2222", remote_root="/data", local_port=8000, conda_env="base", password="pw")
        self.assertEqual(self.stub.requests[-1]["body"], {"host": "gpu", "port": 2222, "username": "u", "use_agent": True,
                                                          "password": "pw", "remote_root": "/data", "local_port": 8000, "conda_env": "base"})
        rem.disconnect("gpu", 2222, username="u")
        self.assertEqual(self.stub.requests[-1]["body"], {"host": "gpu", "port": 2222, "username": "u"})
        rem.stop_viewer("abcd1234")
        self.assertEqual(self.stub.requests[-1]["body"], {"session_id": "abcd1234"})
        self.assertEqual(rem.list_directory("u@gpu:2222", "~"), [{"name": "a", "is_dir": True}])
        with self.assertRaises(ValueError):
            rem.start_viewer("not-an-id", remote_root="/x")

    def test_a_token_is_sent_as_a_bearer_header(self) -> None:
        c = api.connect(self.stub.url, token="s3cret")
        c.health_check()
        self.assertEqual(self.stub.requests[-1]["auth"], "Bearer s3cret")


if __name__ == "__main__":
    unittest.main()

"""A local stand-in for the Hugging Face Hub endpoints the model manager uses, with fault injection.

Serves model info (with blob metadata), paths-info, tree, auth-check and resolve (HEAD/GET, with a
302 to a "CDN" path for LFS files, Range, If-Range, ETag, X-Linked-Size, X-Repo-Commit), and gated
repos that need a token. Faults are queued per file and consumed one request at a time. A fault whose
pattern starts with "/api/" targets the metadata routes instead, matched against the request path
(e.g. "/api/models/*/auth-check", "/api/models/*/revision/*" for model info, "/api/models/*/paths-info/*").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

BASE_REPO = "black-forest-labs/FLUX.1-dev"
LORA_REPO = "Insta360-Research/DiT360-Panorama-Image-Generation"
TOKEN = "hf_test_token"
LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".ckpt")
# Faults answered with an error status (and the hub's X-Error-Code for it).
STATUS_FAULTS = {"401": "GatedRepo", "404": "EntryNotFound", "429": "", "500": "", "503": ""}
FAULT_KINDS = frozenset(
    {"drop", "stall", "ignore_range", "416", "html200", "wrong_size", "corrupt", *STATUS_FAULTS}
)
API_PREFIX = "/api/"


@dataclass
class RepoFile:
    path: str
    source: Path | bytes

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        if isinstance(self.source, bytes):
            return self.source[start:end]
        with self.source.open("rb") as handle:
            handle.seek(start)
            return handle.read((end if end is not None else self.size) - start)

    @property
    def lfs(self) -> bool:
        return self.path.endswith(LFS_SUFFIXES) or self.size > 10_000

    def sha256(self) -> str:
        h = hashlib.sha256()
        if isinstance(self.source, bytes):
            h.update(self.source)
        else:
            with self.source.open("rb") as handle:
                while chunk := handle.read(1 << 22):
                    h.update(chunk)
        return h.hexdigest()

    def git_sha1(self) -> str:
        return hashlib.sha1(f"blob {self.size}\0".encode() + self.read()).hexdigest()


@dataclass
class Repo:
    repo_id: str
    files: dict[str, RepoFile]
    commit: str
    gated: bool = False
    hashes: dict[str, str] = field(default_factory=dict)

    def sha256(self, path: str) -> str:
        if path not in self.hashes:
            self.hashes[path] = self.files[path].sha256()
        return self.hashes[path]


@dataclass
class Fault:
    kind: str
    pattern: str = "*"
    times: int = 1
    after_bytes: int = 0  # drop/stall/corrupt: bytes of the body sent before the fault
    stall_s: float = 5.0
    retry_after: str | None = None  # 429/503: sent as the Retry-After header


def make_hf_cache(src: Path, cache: Path, repo_id: str, commit: str = "b" * 40) -> Path:
    """The real cache layout: content-addressed blobs, snapshot folders of relative symlinks, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for file in sorted(p for p in src.rglob("*") if p.is_file()):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def repo_from_folder(repo_id: str, folder: Path, *, gated: bool = False, commit: str | None = None) -> Repo:
    files = {
        p.relative_to(folder).as_posix(): RepoFile(p.relative_to(folder).as_posix(), p)
        for p in folder.rglob("*")
        if p.is_file()
    }
    commit = commit or hashlib.sha1(repo_id.encode()).hexdigest()
    return Repo(repo_id=repo_id, files=files, commit=commit, gated=gated)


class HubEmulator:
    def __init__(self, *, tokens: tuple[str, ...] = ("hf_test_token",)) -> None:
        self.repos: dict[str, Repo] = {}
        self.tokens = set(tokens)
        self.faults: list[Fault] = []
        self.throttle_bps: int | None = None
        self.drop_blob_metadata = False
        self.bytes_sent: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def add_repo(self, repo: Repo) -> Repo:
        self.repos[repo.repo_id] = repo
        return repo

    def add_fault(self, kind: str, pattern: str = "*", **kwargs: object) -> Fault:
        assert kind in FAULT_KINDS, kind
        assert not pattern.startswith(API_PREFIX) or kind in {"drop", "stall", *STATUS_FAULTS}, kind
        fault = Fault(kind, pattern, **kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, path: str) -> Fault | None:
        # "/api/" patterns and file patterns never match each other's requests, so a file fault with the
        # default pattern "*" is not used up by the listing that comes before the download.
        api = path.startswith(API_PREFIX)
        with self._lock:
            for fault in self.faults:
                if (
                    fault.times > 0
                    and fault.pattern.startswith(API_PREFIX) == api
                    and fnmatch(path, fault.pattern)
                ):
                    fault.times -= 1
                    return fault
        return None

    def count(self, path: str, n: int) -> None:
        with self._lock:
            self.bytes_sent[path] = self.bytes_sent.get(path, 0) + n

    def log(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, headers))

    def api_requests(self, pattern: str) -> list[str]:
        """Paths of the metadata requests matching ``pattern``, e.g. "/api/models/*/auth-check"."""
        return [p for _m, p, _h in self.requests if p.startswith(API_PREFIX) and fnmatch(p, pattern)]

    def gets(self, suffix: str) -> list[dict[str, str]]:
        """Headers of every file GET (resolve or CDN) whose repo path ends with ``suffix``."""
        return [h for m, p, h in self.requests if m == "GET" and p.endswith(suffix) and "/api/" not in p]


def _make_handler(hub: HubEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        # --- helpers -------------------------------------------------------------------------------
        def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if self.close_connection:
                # Say so, or the client pools the connection and its next request meets a closed socket.
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _error(self, status: int, code: str, message: str = "", fault: Fault | None = None) -> None:
            headers = {"X-Error-Code": code}
            if message:
                headers["X-Error-Message"] = message
            if fault is not None and fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            self._json(status, {"error": message or code}, headers)

        def _api_fault(self, path: str) -> bool:
            """Answer an injected fault on a metadata route; True when it was answered."""
            fault = hub.take_fault(path)
            if fault is None:
                return False
            # The request body (paths-info) is left unread, so this connection cannot carry another.
            self.close_connection = True
            if fault.kind == "drop":
                return True  # closed without a response, as a reset connection looks to the client
            if fault.kind == "stall":
                time.sleep(fault.stall_s)  # a slow hub: then the normal answer
                return False
            code = "RepoNotFound" if fault.kind == "404" else STATUS_FAULTS[fault.kind]
            self._error(int(fault.kind), code, "injected", fault)
            return True

        def _authorised(self, repo: Repo) -> int:
            """0 when allowed, else the HTTP status to answer."""
            if not repo.gated:
                return 0
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                return 401
            return 0 if auth[len("Bearer ") :] in hub.tokens else 403

        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return None
            status = self._authorised(repo)
            if status:
                self._error(status, "GatedRepo", f"Access to model {repo_id} is restricted.")
                return None
            return repo

        # --- routes --------------------------------------------------------------------------------
        def do_GET(self) -> None:
            self._route()

        def do_HEAD(self) -> None:
            self._route()

        def do_POST(self) -> None:
            self._route()

        def _route(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            hub.log(self.command, path, dict(self.headers.items()))
            segments = path.strip("/").split("/")
            if path.startswith(API_PREFIX) and self._api_fault(path):
                return
            if segments[:2] == ["api", "models"] and len(segments) >= 4:
                repo_id = "/".join(segments[2:4])
                rest = segments[4:]
                if rest == ["auth-check"]:
                    if self._repo(repo_id):
                        self._json(200, {})
                    return
                repo = self._repo(repo_id)
                if repo is None:
                    return
                if not rest or (rest[0] == "revision" and len(rest) == 2):
                    self._model_info(repo, "blobs" in parse_qs(parts.query))
                    return
                if rest[0] == "paths-info":
                    length = int(self.headers.get("Content-Length") or 0)
                    form = parse_qs(self.rfile.read(length).decode())
                    self._paths_info(repo, form.get("paths", []))
                    return
                if rest[0] == "tree":
                    self._json(200, [self._entry(repo, p) for p in sorted(repo.files)])
                    return
            if segments[0] == "cdn" and len(segments) >= 4:
                repo = hub.repos.get("/".join(segments[1:3]))
                file_path = "/".join(segments[3:])
                if repo is None or file_path not in repo.files:
                    self._error(404, "EntryNotFound")
                    return
                self._serve(repo, file_path)
                return
            if len(segments) >= 5 and segments[2] == "resolve":
                repo = self._repo("/".join(segments[:2]))
                if repo is None:
                    return
                revision, file_path = segments[3], "/".join(segments[4:])
                if revision not in (repo.commit, "main"):
                    self._error(404, "RevisionNotFound")
                    return
                if file_path not in repo.files:
                    self._error(404, "EntryNotFound", "Entry not found")
                    return
                self._resolve(repo, file_path)
                return
            self._error(404, "RepoNotFound", "Not found")

        def _entry(self, repo: Repo, path: str) -> dict:
            file = repo.files[path]
            entry: dict = {"type": "file", "path": path, "size": file.size, "oid": file.git_sha1()}
            if file.lfs:
                entry["lfs"] = {"oid": repo.sha256(path), "size": file.size, "pointerSize": 134}
            return entry

        def _model_info(self, repo: Repo, blobs: bool) -> None:
            siblings = []
            for path in sorted(repo.files):
                sibling: dict = {"rfilename": path}
                if blobs and not hub.drop_blob_metadata:
                    file = repo.files[path]
                    sibling.update(size=file.size, blobId=file.git_sha1())
                    if file.lfs:
                        sibling["lfs"] = {"sha256": repo.sha256(path), "size": file.size, "pointerSize": 134}
                siblings.append(sibling)
            self._json(
                200,
                {
                    "id": repo.repo_id,
                    "sha": repo.commit,
                    "gated": "manual" if repo.gated else False,
                    "private": False,
                    "siblings": siblings,
                },
            )

        def _paths_info(self, repo: Repo, paths: list[str]) -> None:
            self._json(200, [self._entry(repo, p) for p in paths if p in repo.files])

        def _resolve(self, repo: Repo, path: str) -> None:
            file = repo.files[path]
            fault = hub.take_fault(path)
            if fault is not None and fault.kind in STATUS_FAULTS:
                self._error(int(fault.kind), STATUS_FAULTS[fault.kind], "injected", fault)
                return
            headers = {"X-Repo-Commit": repo.commit, "X-Linked-Size": str(file.size)}
            if file.lfs:
                headers["X-Linked-Etag"] = f'"{repo.sha256(path)}"'
                if fault is not None:
                    # Not consumed by the redirect: the CDN request takes it. Given back before the
                    # response goes out, or the client's CDN request could race past it.
                    with hub._lock:
                        fault.times += 1
                self.send_response(302)
                # Another host name for the same server, like the hub's redirect to its CDN: the client
                # must not forward the token there.
                port = hub.server.server_address[1]
                self.send_header(
                    "Location", f"http://localhost:{port}/cdn/{repo.repo_id}/{quote(path)}?signed=1"
                )
                self.send_header("Content-Length", "0")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                return
            self._serve(repo, path, fault=fault, extra=headers, fault_taken=True)

        def _serve(
            self,
            repo: Repo,
            path: str,
            *,
            fault: Fault | None = None,
            extra: dict | None = None,
            fault_taken: bool = False,
        ) -> None:
            if not fault_taken:
                fault = hub.take_fault(path)
            file = repo.files[path]
            size = file.size
            etag = f'"{repo.sha256(path)}"' if file.lfs else f'"{file.git_sha1()}"'
            kind = fault.kind if fault else None
            if kind in STATUS_FAULTS:
                code = "GatedRepo" if kind == "401" else ""
                self._error(int(kind), code, "injected", fault)
                return
            if kind == "html200":
                page = b"<!DOCTYPE html><html><body><h1>Rate limited</h1></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            start, end = 0, size
            range_header = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            partial = False
            if range_header and kind != "ignore_range" and (if_range is None or if_range == etag):
                spec = range_header.split("=", 1)[1]
                first, _, last = spec.partition("-")
                start = int(first)
                end = int(last) + 1 if last else size
                if kind == "416" or start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                partial = True
            length = end - start
            announced = length + 7 if kind == "wrong_size" else length
            self.send_response(206 if partial else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(announced))
            if partial:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            self._body(file, path, start, end, fault, announced)

        def _body(
            self, file: RepoFile, path: str, start: int, end: int, fault: Fault | None, announced: int
        ) -> None:
            kind = fault.kind if fault else None
            cut = start + fault.after_bytes if kind in ("drop", "stall", "corrupt") else None
            if kind is None and hub.throttle_bps is None and isinstance(file.source, Path):
                # Fast path for benchmarks: the kernel copies the file to the socket.
                with file.source.open("rb") as handle:
                    sent = self.connection.sendfile(handle, offset=start, count=end - start)
                hub.count(path, sent)
                return
            pos = start
            step = 1 << 20 if hub.throttle_bps is None else max(1024, hub.throttle_bps // 20)
            while pos < end:
                n = min(step, end - pos)
                if cut is not None and pos < cut <= pos + n:
                    n = max(cut - pos, 0)
                data = file.read(pos, pos + n)
                if kind == "corrupt" and pos + n == cut and n:
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                    kind = None
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:
                    return
                hub.count(path, len(data))
                pos += n
                if cut is not None and pos == cut and kind in ("drop", "stall"):
                    if kind == "stall":
                        hub._stop.wait(fault.stall_s)
                    self.close_connection = True
                    return
                if hub.throttle_bps is not None:
                    time.sleep(n / hub.throttle_bps)
            if announced > end - start:
                # wrong_size: the body is shorter than announced; close so the client sees a short read.
                self.close_connection = True

    return Handler


def serve_forever_cli() -> None:
    """``python tests/models/hub_emulator.py REPO_ID=FOLDER ...``: a standalone emulator (benchmarks)."""
    import sys

    hub = HubEmulator()
    for arg in sys.argv[1:]:
        repo_id, folder = arg.split("=", 1)
        hub.add_repo(repo_from_folder(repo_id, Path(folder)))
    hub.start()
    sys.stdout.write(hub.url + "\n")
    sys.stdout.flush()
    threading.Event().wait()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    serve_forever_cli()

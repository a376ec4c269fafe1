"""Hub metadata calls (auth check, model info, paths-info): transient failures are retried, others not."""

from __future__ import annotations

import email.utils
import threading
import time
from pathlib import Path

import pytest
from hub_emulator import BASE_REPO, LORA_REPO, TOKEN, HubEmulator
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled

from dit360_desktop.cli import main
from dit360_desktop.cli.exit_codes import exit_code_for
from dit360_desktop.models import hub as hub_module
from dit360_desktop.models.downloads import DownloadManager
from dit360_desktop.models.errors import (
    AuthRequiredError,
    DownloadCancelled,
    NetworkError,
    RemoteNotFoundError,
)
from dit360_desktop.models.hub import MetadataRetry, is_transient, retry_after_s
from dit360_desktop.models.transfer import TransferSettings

FAST = MetadataRetry(attempts=4, backoff_s=0.01, backoff_max_s=0.02)

AUTH_CHECK = f"/api/models/{BASE_REPO}/auth-check"
BASE_INFO = f"/api/models/{BASE_REPO}/revision/*"
LORA_INFO = f"/api/models/{LORA_REPO}/revision/*"
LORA_PATHS_INFO = f"/api/models/{LORA_REPO}/paths-info/*"


def _manager(
    hub: HubEmulator, tmp_path: Path, settings: TransferSettings, retry: MetadataRetry = FAST
) -> DownloadManager:
    return DownloadManager(
        tmp_path / "models", endpoint=hub.url, token=TOKEN, settings=settings, metadata_retry=retry
    )


@pytest.mark.parametrize(
    ("component", "route", "kind"),
    [
        ("flux1-dev", AUTH_CHECK, "500"),
        ("flux1-dev", BASE_INFO, "503"),
        ("dit360-lora", LORA_INFO, "500"),
        ("dit360-lora", LORA_INFO, "429"),
        ("dit360-lora", LORA_INFO, "drop"),
        ("dit360-lora", LORA_PATHS_INFO, "500"),
    ],
)
def test_transient_failure_twice_then_ok(
    hub: HubEmulator,
    tmp_path: Path,
    fast_settings: TransferSettings,
    component: str,
    route: str,
    kind: str,
) -> None:
    # Without blob metadata in model info the plan needs paths-info, so that route is exercised too.
    hub.drop_blob_metadata = route == LORA_PATHS_INFO
    hub.add_fault(kind, route, times=2)
    plans = _manager(hub, tmp_path, fast_settings).plan([component])
    assert plans[0].snapshot.files and all(f.size > 0 for f in plans[0].snapshot.files)
    assert len(hub.api_requests(route)) == 3


def test_download_succeeds_after_model_info_failed_twice(
    hub: HubEmulator, tmp_path: Path, tiny_lora_dir: Path, fast_settings: TransferSettings
) -> None:
    hub.add_fault("500", LORA_INFO, times=2)
    report = _manager(hub, tmp_path, fast_settings).download(["dit360-lora"])
    assert report.ok, report.failures
    assert report.completed == ["dit360-lora"]
    assert len(hub.api_requests(LORA_INFO)) == 3
    weights = tmp_path / "models" / "dit360-lora" / "adapter_model.safetensors"
    assert weights.read_bytes() == (tiny_lora_dir / "adapter_model.safetensors").read_bytes()


@pytest.mark.parametrize(
    ("component", "route", "kind", "reason"),
    [
        ("dit360-lora", LORA_INFO, "500", "HTTP 500"),
        ("flux1-dev", AUTH_CHECK, "503", "HTTP 503"),
        ("dit360-lora", LORA_INFO, "drop", "Server disconnected"),
    ],
)
def test_failing_every_time_is_a_network_error_after_every_attempt(
    hub: HubEmulator,
    tmp_path: Path,
    fast_settings: TransferSettings,
    component: str,
    route: str,
    kind: str,
    reason: str,
) -> None:
    hub.add_fault(kind, route, times=100)
    retry = MetadataRetry(attempts=3, backoff_s=0.01, backoff_max_s=0.02)
    with pytest.raises(NetworkError) as info:
        _manager(hub, tmp_path, fast_settings, retry).plan([component])
    # Not "not found": the alias repository is not tried for an endpoint that keeps failing.
    assert not isinstance(info.value, RemoteNotFoundError)
    assert exit_code_for(info.value) == 5
    message = str(info.value)
    assert hub.url in message and "3 attempts" in message and reason in message
    assert "Check the connection" in message and "run the download again" in message
    assert len(hub.api_requests(route)) == 3
    assert hub.bytes_sent == {}


@pytest.mark.parametrize(
    ("component", "route", "kind", "error"),
    [
        ("flux1-dev", AUTH_CHECK, "401", AuthRequiredError),
        ("flux1-dev", BASE_INFO, "401", AuthRequiredError),
        ("flux1-dev", BASE_INFO, "404", RemoteNotFoundError),
        ("dit360-lora", LORA_INFO, "404", RemoteNotFoundError),
    ],
)
def test_permanent_errors_are_not_retried(
    hub: HubEmulator,
    tmp_path: Path,
    fast_settings: TransferSettings,
    component: str,
    route: str,
    kind: str,
    error: type[Exception],
) -> None:
    hub.add_fault(kind, route, times=100)
    started = time.monotonic()
    with pytest.raises(error):
        _manager(hub, tmp_path, fast_settings, MetadataRetry(backoff_s=5.0)).plan([component])
    assert time.monotonic() - started < 4.0  # no backoff wait either
    assert len(hub.api_requests(route)) == 1


def test_retry_after_is_honoured(hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings) -> None:
    hub.add_fault("429", LORA_INFO, times=1, retry_after="1")
    started = time.monotonic()
    _manager(hub, tmp_path, fast_settings).plan(["dit360-lora"])
    assert time.monotonic() - started >= 0.95  # the header's second, not FAST's 10 ms
    assert len(hub.api_requests(LORA_INFO)) == 2


def test_long_retry_after_is_capped(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    hub.add_fault("503", LORA_INFO, times=1, retry_after="3600")
    retry = MetadataRetry(backoff_s=0.01, backoff_max_s=0.02, retry_after_max_s=0.05)
    started = time.monotonic()
    _manager(hub, tmp_path, fast_settings, retry).plan(["dit360-lora"])
    assert time.monotonic() - started < 4.0
    assert len(hub.api_requests(LORA_INFO)) == 2


def test_backoff_doubles_up_to_the_cap() -> None:
    retry = MetadataRetry(backoff_s=1.0, backoff_max_s=3.0, retry_after_max_s=10.0)
    assert [retry.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    assert retry.delay(1, retry_after_s=5.0) == 5.0
    assert retry.delay(3, retry_after_s=0.0) == 3.0  # never shorter than the backoff
    assert retry.delay(1, retry_after_s=60.0) == 10.0


def _http_error(status: int, headers: dict[str, str] | None = None, cls: type = HfHubHTTPError):
    httpx2 = pytest.importorskip("httpx2")  # the HTTP client of the huggingface_hub we pin
    request = httpx2.Request("GET", "http://127.0.0.1/api/models/a/b")
    return cls("injected", response=httpx2.Response(status, headers=headers, request=request))


def test_what_is_retried() -> None:
    for status in (408, 429, 500, 502, 503, 504):
        assert is_transient(_http_error(status)), status
    for status in (400, 401, 403, 404, 501):
        assert not is_transient(_http_error(status)), status
    assert not is_transient(_http_error(401, cls=GatedRepoError))
    httpx2 = pytest.importorskip("httpx2")
    assert not is_transient(OfflineModeIsEnabled("offline"))  # a ConnectionError, but set on purpose
    assert is_transient(httpx2.ConnectError("refused")) and is_transient(httpx2.ReadTimeout("slow"))
    assert is_transient(ConnectionResetError())
    assert not is_transient(httpx2.UnsupportedProtocol("ftp://")) and not is_transient(PermissionError())


def test_retry_after_seconds_and_date() -> None:
    assert retry_after_s(_http_error(429, {"Retry-After": "7"})) == 7.0
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_s(_http_error(503, {"Retry-After": date})) <= 30  # type: ignore[operator]
    assert retry_after_s(_http_error(500, {"Retry-After": "7"})) is None
    assert retry_after_s(_http_error(429, {"Retry-After": "soon"})) is None
    assert retry_after_s(_http_error(429)) is None


def _start_when_info_is_asked(hub: HubEmulator, call) -> tuple[threading.Thread, list[object]]:
    """Run ``call`` in a thread (its result or exception lands in the list) until the hub sees the
    LoRA's model-info request."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not hub.api_requests(LORA_INFO):
        assert time.monotonic() < deadline, "the model info request never came"
        time.sleep(0.01)
    return thread, outcome


def test_pause_all_cuts_the_wait_before_a_retry_short(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    hub.add_fault("500", LORA_INFO, times=100)
    manager = _manager(hub, tmp_path, fast_settings, MetadataRetry(backoff_s=30.0, backoff_max_s=30.0))
    thread, outcome = _start_when_info_is_asked(hub, lambda: manager.plan(["dit360-lora"]))
    time.sleep(0.1)  # into the 30 s wait
    stopped = time.monotonic()
    manager.pause_all()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - stopped < 4.0
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled) and outcome[0].paused
    assert LORA_REPO in str(outcome[0])
    assert len(hub.api_requests(LORA_INFO)) == 1


def test_pause_all_during_a_metadata_request_starts_nothing(
    hub: HubEmulator, tmp_path: Path, fast_settings: TransferSettings
) -> None:
    hub.add_fault("stall", LORA_INFO, stall_s=1.0)
    manager = _manager(hub, tmp_path, fast_settings)
    thread, outcome = _start_when_info_is_asked(hub, lambda: manager.download(["dit360-lora"]))
    manager.pause_all()  # while the hub is still answering
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled) and outcome[0].paused
    assert "nothing was downloaded" in str(outcome[0]) and LORA_REPO in str(outcome[0])
    assert hub.gets(".safetensors") == [], "no file transfer started"
    assert len(hub.api_requests(LORA_INFO)) == 1


def _cli(capsys: pytest.CaptureFixture[str], hub: HubEmulator, tmp_path: Path) -> tuple[int, str]:
    args = ["models", "download", "dit360-lora", "--models-dir", str(tmp_path / "m"), "--endpoint", hub.url]
    code = main([*args, "--stall-timeout", "0.5", "--retries", "2"])
    return code, capsys.readouterr().err


def test_cli_exit_code_when_metadata_keeps_failing(
    hub: HubEmulator, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "DEFAULT_METADATA_RETRY", FAST)
    hub.add_fault("500", LORA_INFO, times=100)
    code, err = _cli(capsys, hub, tmp_path)
    assert code == 5
    # --retries 2 covers the metadata calls too: 3 attempts in all (the default would be 4).
    assert hub.url in err and "3 attempts" in err and "HTTP 500" in err and "Check the connection" in err
    assert len(hub.api_requests(LORA_INFO)) == 3


def test_cli_succeeds_after_transient_metadata_failures(
    hub: HubEmulator, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "DEFAULT_METADATA_RETRY", FAST)
    hub.add_fault("503", LORA_INFO, times=2)
    code, err = _cli(capsys, hub, tmp_path)
    assert code == 0, err
    assert "Done: dit360-lora" in err
    assert len(hub.api_requests(LORA_INFO)) == 3

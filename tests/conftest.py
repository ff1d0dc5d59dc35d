from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from imagegen import Settings, Studio
from imagegen.catalog import _load
from tests.fakes.openai_server import FakeImagesAPI
from tests.postgres import PostgresServer
from ui import runtime

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


@pytest.fixture(autouse=True)
def fresh_catalog() -> None:
    """Each test reads models.toml anew, so that a change to how it is read is seen by every test."""
    _load.cache_clear()


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    """A server reads its environment once; each test sets its own, so each reads it anew."""
    runtime._read.cache_clear()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> pytest.MonkeyPatch:
    """The environment a page test's server reads: offline, local sign-in as ann, this test's data folder."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "IMAGEGEN_PROVIDER", "IMAGEGEN_STORAGE", "IMAGEGEN_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGEGEN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("IMAGEGEN_OFFLINE_DELAY", "0")
    monkeypatch.setenv("IMAGEGEN_LOCAL_USER", "ann")
    return monkeypatch


@pytest.fixture
def offline_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, provider="offline", offline_delay=0)


@pytest.fixture
def studio(offline_settings: Settings) -> Studio:
    return Studio(offline_settings)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test alone."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The test runs once on each database: "" is the SQLite file under the data dir."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def db_target(tmp_path: Path, database_url: str) -> str | Path:
    """What a Database opens, on each database in turn: the PostgreSQL URL or a SQLite file."""
    return database_url or tmp_path / "l.db"


@pytest.fixture
def db_settings(data_dir: Path, database_url: str) -> Settings:
    """Offline settings on each database in turn."""
    return Settings(data_dir=data_dir, provider="offline", offline_delay=0, database_url=database_url)


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeImagesAPI]:
    api = FakeImagesAPI().start()
    yield api
    api.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeImagesAPI) -> FakeImagesAPI:
    fake_openai_server.reset()
    return fake_openai_server


@pytest.fixture
def openai_settings(data_dir: Path, fake_openai: FakeImagesAPI) -> Settings:
    return Settings(
        data_dir=data_dir,
        provider="openai",
        openai_api_key="sk-test",
        openai_base_url=fake_openai.base_url,
        provider_timeout=1.0,
        daily_budget_usd=Decimal("5"),
    )


@pytest.fixture
def openai_studio(openai_settings: Settings) -> Studio:
    return Studio(openai_settings)


@pytest.fixture
def azure_studio(data_dir: Path, fake_openai: FakeImagesAPI) -> Studio:
    """A studio on Azure OpenAI, whose endpoint is the protocol fake (which then asks for Azure's key)."""
    fake_openai.api_key = "az-key"
    return Studio(
        Settings(
            data_dir=data_dir,
            provider="azure",
            azure_endpoint=fake_openai.base_url.removesuffix("/v1"),
            azure_api_key="az-key",
            openai_api_version="2025-04-01-preview",
            provider_timeout=2.0,
        )
    )


class MotoServer:
    """moto's S3 as a real HTTP endpoint on 127.0.0.1, which tests can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def aws_credentials() -> None:
    """moto accepts any credentials, but boto3 signs nothing without some."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def moto(aws_credentials: None) -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(moto: MotoServer) -> str:
    import boto3

    name = f"imagegen-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto.endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_settings(data_dir: Path, moto: MotoServer, bucket: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        provider="offline",
        offline_delay=0,
        storage="s3",
        s3_bucket=bucket,
        s3_endpoint_url=moto.endpoint,
    )


@pytest.fixture
def s3_studio(s3_settings: Settings) -> Studio:
    return Studio(s3_settings)


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagegen", *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEGEN_", "OPENAI_", "AZURE_"))}
    env.update(IMAGEGEN_DATA_DIR=str(data_dir), IMAGEGEN_OFFLINE_DELAY="0", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env

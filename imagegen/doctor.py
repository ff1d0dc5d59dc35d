"""Checks that a deployment works, one line each: `python -m imagegen doctor`, and at the server's start."""

from __future__ import annotations

import shutil
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imagegen.errors import ImagegenError
from imagegen.redact import redact
from imagegen.schema import MIGRATIONS, open_database
from imagegen.settings import Settings
from imagegen.spool import Spool
from imagegen.storage import make_object_store

SECRETS_FILE = Path(".streamlit/secrets.toml")
OIDC_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


class Failed(Exception):
    """A check's failure, in words that say which setting to fix."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name:9} {self.detail}"


def check_setup(settings: Settings, *, secrets_file: Path = SECRETS_FILE) -> list[Check]:
    checks: list[tuple[str, Callable[[], str]]] = [
        ("provider", lambda: check_provider(settings)),
        ("storage", lambda: check_storage(settings)),
        ("database", lambda: check_database(settings)),
        ("spool", lambda: check_spool(settings)),
        ("auth", lambda: check_auth(settings, secrets_file)),
    ]
    results = []
    for name, probe in checks:
        try:
            results.append(Check(name, True, probe()))
        except Exception as exc:  # every failure is a line, never a crash
            if isinstance(exc, ImagegenError):
                detail = exc.message
            elif isinstance(exc, Failed):
                detail = str(exc)
            else:
                detail = f"{type(exc).__name__}: {exc}"
            results.append(Check(name, False, redact(detail)))
    return results


def check_provider(settings: Settings) -> str:
    if settings.provider == "offline":
        return "offline renderer: no credentials needed (set OPENAI_API_KEY for real renders)"
    from imagegen.providers.openai_images import make_client

    client, _, _ = make_client(settings, azure=settings.provider == "azure")
    try:
        client.with_options(timeout=10).models.list()
    except Exception as exc:
        where = settings.azure_endpoint if settings.provider == "azure" else (settings.openai_base_url or "OpenAI")
        raise Failed(
            f"{where} refused an authenticated call ({type(exc).__name__}: {getattr(exc, 'message', exc)}); "
            "check the API key and base URL"
        ) from None
    return f"{settings.provider}: the key is accepted" + (
        f" at {settings.openai_base_url}" if settings.openai_base_url else ""
    )


def check_storage(settings: Settings) -> str:
    store = make_object_store(settings)
    key = f"{settings.s3_prefix}.doctor/probe-{uuid.uuid4().hex}"
    where = f"s3://{settings.s3_bucket}" if settings.storage == "s3" else str(settings.local_store_dir)
    fix = (
        "IMAGEGEN_S3_BUCKET, the AWS_* credentials and AWS_ENDPOINT_URL"
        if settings.storage == "s3"
        else "IMAGEGEN_DATA_DIR"
    )
    try:
        store.put(key, b"probe", "text/plain", "no-cache")
        if store.get(key) != b"probe":
            raise Failed("the probe read back differently")
        store.delete([key])
    except Exception as exc:
        detail = exc.message if isinstance(exc, ImagegenError) else str(exc)
        raise Failed(f"{where}: cannot write, read and delete a probe ({detail}); check {fix}") from None
    return f"{where}: wrote, read and deleted a probe"


def check_database(settings: Settings) -> str:
    db = open_database(settings.database)
    try:
        with db.write() as conn:
            applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        missing = [name for name, _ in MIGRATIONS if name not in applied]
        if missing:
            raise Failed(f"{db.describe()}: migrations not applied: {', '.join(missing)}")
        return f"{db.describe()}: writable, {len(applied)} migrations current"
    finally:
        db.close()


def check_spool(settings: Settings) -> str:
    Spool(settings.spool_dir).check_room(0)
    free = shutil.disk_usage(settings.spool_dir).free
    return f"{settings.spool_dir}: writable, {free // 2**30} GiB free"


def check_auth(settings: Settings, secrets_file: Path) -> str:
    if settings.auth == "local":
        return f"local: everyone is {settings.local_user!r}, an admin; serve on 127.0.0.1 only (make run does)"
    if settings.auth == "proxy":
        return f"proxy: identities only with the {settings.proxy_secret_header} header's secret"
    try:
        section = tomllib.loads(secrets_file.read_text()).get("auth", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise Failed(f"oidc needs {secrets_file} with an [auth] section ({exc})") from None
    missing = [k for k in OIDC_KEYS if not section.get(k)]
    if missing:
        raise Failed(f"oidc: {secrets_file} [auth] lacks {', '.join(missing)}")
    import authlib  # noqa: F401  (st.login needs it)

    admins = "admins by " + ("claim " + settings.admin_claim if settings.admin_claim else "verified email")
    return f"oidc at {section['server_metadata_url']}; {admins}"

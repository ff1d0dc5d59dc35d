"""Every setting, read from the environment in one place and validated once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from imagegen.checks import is_user_name
from imagegen.errors import SettingsError
from imagegen.localtime import today

PROVIDERS = ("offline", "openai", "azure")
STORAGES = ("local", "s3")
AUTH_MODES = ("local", "oidc", "proxy")
DATABASE_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    #: empty: the SQLite file under data_dir; postgresql://...: the database several replicas share
    database_url: str = field(default="", repr=False)
    provider: str = "offline"
    model: str = ""
    #: the writing Director's text model ("": the offline rewriter offline, else the catalog's default)
    rewrite_model_id: str = ""
    offline_delay: float = 3.0
    openai_api_key: str = field(default="", repr=False)
    openai_base_url: str = ""
    azure_endpoint: str = ""
    azure_api_key: str = field(default="", repr=False)
    openai_api_version: str = ""
    provider_timeout: float = 120.0
    storage: str = "local"
    s3_bucket: str = ""
    s3_prefix: str = "imagegen/"
    s3_endpoint_url: str = ""
    daily_quota: int = 5
    daily_budget_usd: Decimal = Decimal("10")
    timezone: str = "UTC"
    reservation_ttl: float = 900.0
    workers: int = 4
    #: a running job whose process has not beaten its heart for this long is settled by another process
    job_stale_seconds: float = 60.0
    auth: str = "local"
    local_user: str = "me"
    admins: tuple[str, ...] = ()
    admin_claim: str = ""
    admin_claim_value: str = ""
    proxy_secret: str = field(default="", repr=False)
    proxy_secret_header: str = "X-Imagegen-Proxy-Secret"  # noqa: S105 (a header name, not a secret)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self) -> date:
        """Today in the team's time zone: the one day quotas, budgets and model lifecycles are counted in."""
        return today(self.tz)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "imagegen.db"

    @property
    def database(self) -> str | Path:
        """What imagegen.db.Database opens: the shared database's URL, or the SQLite file."""
        return self.database_url or self.db_path

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def local_store_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def previews_dir(self) -> Path:
        return self.data_dir / "previews"

    @property
    def rewrite_model(self) -> str:
        if self.rewrite_model_id:
            return self.rewrite_model_id
        return "offline-rewriter" if self.provider == "offline" else "gpt-5.4-mini"

    @property
    def default_model(self) -> str:
        if self.model:
            return self.model
        return "offline" if self.provider == "offline" else "gpt-image-2.6-flare"

    def is_admin(self, user: str) -> bool:
        """For the local user and the command line; signed-in users' rights come from their claims."""
        if self.auth == "local" and user == self.local_user:
            return True
        return user.strip().lower() in {a.lower() for a in self.admins}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = _Reader(env)
        api_key = reader.text("OPENAI_API_KEY")
        azure_key = reader.text("AZURE_OPENAI_API_KEY")
        azure_endpoint = reader.text("AZURE_OPENAI_ENDPOINT")
        default_provider = "offline"
        if azure_endpoint and azure_key:
            default_provider = "azure"
        if api_key:
            default_provider = "openai"
        settings = cls(
            data_dir=Path(reader.text("IMAGEGEN_DATA_DIR") or "data"),
            database_url=reader.text("IMAGEGEN_DATABASE_URL"),
            provider=reader.choice("IMAGEGEN_PROVIDER", PROVIDERS, default_provider),
            model=reader.text("IMAGEGEN_MODEL"),
            rewrite_model_id=reader.text("IMAGEGEN_REWRITE_MODEL"),
            offline_delay=reader.number("IMAGEGEN_OFFLINE_DELAY", 3.0, low=0, high=600),
            openai_api_key=api_key,
            openai_base_url=reader.text("OPENAI_BASE_URL"),
            azure_endpoint=azure_endpoint,
            azure_api_key=azure_key,
            openai_api_version=reader.text("OPENAI_API_VERSION"),
            provider_timeout=reader.number("IMAGEGEN_PROVIDER_TIMEOUT", 120.0, low=1, high=3600),
            storage=reader.choice("IMAGEGEN_STORAGE", STORAGES, "local"),
            s3_bucket=reader.text("IMAGEGEN_S3_BUCKET"),
            s3_prefix=_normalise_prefix(reader.text("IMAGEGEN_S3_PREFIX") or "imagegen/"),
            s3_endpoint_url=reader.text("AWS_ENDPOINT_URL_S3") or reader.text("AWS_ENDPOINT_URL"),
            daily_quota=int(reader.number("IMAGEGEN_DAILY_QUOTA", 5, low=0, high=100_000, whole=True)),
            daily_budget_usd=reader.money("IMAGEGEN_DAILY_BUDGET_USD", Decimal("10")),
            timezone=reader.timezone("IMAGEGEN_TIMEZONE", "UTC"),
            reservation_ttl=reader.number("IMAGEGEN_RESERVATION_TTL", 900.0, low=1, high=86_400),
            workers=int(reader.number("IMAGEGEN_WORKERS", 4, low=1, high=64, whole=True)),
            job_stale_seconds=reader.number("IMAGEGEN_JOB_STALE_SECONDS", 60.0, low=3, high=3600),
            auth=reader.choice("IMAGEGEN_AUTH", AUTH_MODES, "local"),
            local_user=reader.text("IMAGEGEN_LOCAL_USER") or "me",
            admins=tuple(a.strip() for a in reader.text("IMAGEGEN_ADMINS").split(",") if a.strip()),
            admin_claim=reader.text("IMAGEGEN_ADMIN_CLAIM"),
            admin_claim_value=reader.text("IMAGEGEN_ADMIN_CLAIM_VALUE"),
            proxy_secret=reader.text("IMAGEGEN_PROXY_SECRET"),
            proxy_secret_header=reader.text("IMAGEGEN_PROXY_SECRET_HEADER") or "X-Imagegen-Proxy-Secret",
        )
        settings.check()
        return settings

    def check(self) -> None:
        if not is_user_name(self.local_user):
            raise SettingsError(
                "IMAGEGEN_LOCAL_USER must be 1 to 200 printable characters, with no tab, line break or control."
            )
        if self.provider == "openai" and not self.openai_api_key:
            raise SettingsError(
                "IMAGEGEN_PROVIDER=openai needs OPENAI_API_KEY: set the key, or use IMAGEGEN_PROVIDER=offline."
            )
        if self.provider == "azure" and not (self.azure_endpoint and self.azure_api_key):
            raise SettingsError(
                "IMAGEGEN_PROVIDER=azure needs AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY (and OPENAI_API_VERSION)."
            )
        if self.auth == "proxy" and len(self.proxy_secret) < 16:
            raise SettingsError(
                "IMAGEGEN_AUTH=proxy needs IMAGEGEN_PROXY_SECRET (16 characters or more), a secret your SSO proxy "
                "adds to every request as the IMAGEGEN_PROXY_SECRET_HEADER header (see the README)."
            )
        if bool(self.admin_claim) != bool(self.admin_claim_value):
            raise SettingsError(
                "IMAGEGEN_ADMIN_CLAIM and IMAGEGEN_ADMIN_CLAIM_VALUE go together: the claim (such as groups) and "
                "the value that makes an admin (such as imagegen-admins)."
            )
        if self.database_url and not self.database_url.startswith(DATABASE_SCHEMES):
            # The URL itself is not repeated: it may hold a password.
            raise SettingsError(
                "IMAGEGEN_DATABASE_URL must start with postgresql:// (or be unset for the SQLite file in "
                "IMAGEGEN_DATA_DIR)."
            )
        if self.storage == "s3" and not self.s3_bucket:
            raise SettingsError("IMAGEGEN_STORAGE=s3 needs IMAGEGEN_S3_BUCKET, the bucket to keep images in.")
        if self.model and self.provider == "offline" and self.model != "offline":
            raise SettingsError(
                f"IMAGEGEN_MODEL={self.model} needs a real provider: set OPENAI_API_KEY "
                "(or IMAGEGEN_PROVIDER=azure), or unset IMAGEGEN_MODEL."
            )


def _normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip().strip("/")
    parts = prefix.split("/")
    if any(part in ("", ".", "..") or not re.fullmatch(r"[A-Za-z0-9._-]+", part) for part in parts):
        raise SettingsError(
            "IMAGEGEN_S3_PREFIX must be a plain path of letters, digits, '.', '_' and '-', such as 'imagegen/'."
        )
    return prefix + "/"


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str:
        return self.env.get(name, "").strip()

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name).lower() or default
        if value not in allowed:
            raise SettingsError(f"{name}={value!r} is not valid: use one of {', '.join(allowed)}.")
        return value

    def number(self, name: str, default: float, *, low: float, high: float, whole: bool = False) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise SettingsError(f"{name}={raw!r} is not {kind}.") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}={raw} is out of range: use {low:g} to {high:g}.")
        return value

    def money(self, name: str, default: Decimal) -> Decimal:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise SettingsError(f"{name}={raw!r} is not an amount in US dollars, such as 10 or 2.50.") from None
        if not value.is_finite() or value < 0 or value > 1_000_000:
            raise SettingsError(f"{name}={raw} is out of range: use 0 to 1000000 dollars.")
        return value

    def timezone(self, name: str, default: str) -> str:
        value = self.text(name) or default
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"{name}={value!r} is not a time zone name such as UTC or Europe/Paris.") from None
        return value


def is_loopback(address: str) -> bool:
    """Whether a server bound to this address is reachable from this machine only ("" means everywhere)."""
    return address.strip().lower() in ("localhost", "127.0.0.1", "::1", "[::1]")

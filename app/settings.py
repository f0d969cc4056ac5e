"""Configuration from the environment. Every setting has a default that works on a fresh clone."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.kit.protection import SourceTextAccess

# The seed corpus ships inside the package, so an installed `testimony` finds it as a checkout
# does.
SEED_DIR = Path(str(files("app").joinpath("seed")))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded server is started under data_dir.",
    )
    data_dir: Path = Field(
        default_factory=lambda: Path.cwd() / ".data",
        description="Where the embedded server and the generated cursor secret live; "
        "default .data in the current directory.",
    )
    database_name: str = Field(
        default="testimony", description="Database used inside the embedded server."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Proxies trusted to set X-Forwarded-For (comma-separated addresses, or *). "
        "Unset: none, so a client cannot pick the address its rate limit is counted against.",
    )
    public_base_url: str | None = Field(
        default=None,
        description="Base URL used in permalinks; defaults to the URL the request came in on.",
    )
    cursor_secret: str | None = Field(
        default=None,
        description="Secret(s) from which the keys that seal pagination cursors are derived, "
        "comma-separated: the first seals, all open (rotation). Unset: one is generated in "
        "data_dir/cursor-secret, and only a server on a loopback address may start.",
    )
    database_replica_url: str | None = Field(
        default=None,
        description="A streaming replica of DATABASE_URL. Set: reads (GET and HEAD) are served "
        "from it while it is up and caught up with what the client wrote; writes, and reads "
        "while it is not, go to DATABASE_URL.",
    )
    database_replica_max_lag: float = Field(
        default=5.0,
        gt=0,
        description="Seconds the replica may lag behind the primary before reads leave it.",
    )
    database_pgbouncer: bool = Field(
        default=False,
        description="The database URLs name a PgBouncer in transaction mode: no prepared "
        "statements are kept, and per-connection settings are made per transaction.",
    )
    seed_dir: Path = Field(default=SEED_DIR, description="The seed corpus to load.")
    database_pool_size: int = 5
    database_statement_timeout: float = Field(
        default=15.0,
        gt=0,
        description="Seconds a statement of a request may run before the server cancels it "
        "(PostgreSQL statement_timeout); the request then answers 503.",
    )
    database_connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a new database connection."
    )
    database_pool_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a request waits for a free pooled connection before a 503.",
    )
    graceful_shutdown_seconds: int = Field(
        default=20,
        gt=0,
        description="On SIGTERM, seconds `testimony serve` lets requests in flight finish "
        "before cancelling them (their transactions are rolled back).",
    )
    rate_limit_anonymous: str = Field(
        default="120/minute", description="Requests allowed to each anonymous client address."
    )
    rate_limit_key: str = Field(default="1200/minute", description="Requests allowed to each key.")
    rate_limit_storage: str = Field(
        default="async+memory://",
        description="Where rate-limit counters live: a `limits` storage URI such as "
        "redis://host:6379 (shared by every API process; the async client is used whatever "
        "the spelling). While it cannot be reached, requests are let through unlimited.",
    )
    idempotency_hours: int = Field(
        default=24, ge=1, description="How long a POST's Idempotency-Key is remembered."
    )
    body_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        description="Largest JSON body a create or update accepts (a source's archived text "
        "is the largest field).",
    )
    import_max_bytes: int = Field(
        default=200 * 1024 * 1024, description="Largest body POST /v1/import accepts."
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="`json`: one JSON object a line (a line per request among them); `text`: "
        "plain lines for a terminal.",
    )
    log_level: str = Field(default="INFO", description="Least severe level logged.")
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")
    metrics_allowed_networks: str = Field(
        default="127.0.0.0/8,::1/128",
        description="Client networks that may read /metrics (comma-separated CIDR, or * for "
        "anyone); others get a 403. Behind a proxy, the address it forwards "
        "(FORWARDED_ALLOW_IPS).",
    )
    otel_enabled: bool = Field(
        default=False,
        description="Trace requests and queries with OpenTelemetry, exported over OTLP/HTTP as "
        "the standard OTEL_* variables say (needs the `tracing` extra). Also on when "
        "OTEL_EXPORTER_OTLP_ENDPOINT is set.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="Base URL of the OTLP/HTTP collector (the standard variable); setting it "
        "turns tracing on.",
    )
    cors_origins: str = Field(
        default="*",
        description="Origins whose pages may call the API from a browser (comma-separated, or "
        "*). Empty: no cross-origin access.",
    )
    cors_methods: str = Field(
        default="GET,HEAD",
        description="Methods allowed cross-origin (comma-separated). Writes are not, unless "
        "listed here.",
    )
    source_text_access: SourceTextAccess = Field(
        default=SourceTextAccess.keys,
        description="Who is served a source's full archived text (GET /v1/sources/{id}/text "
        "and the source's revisions): public (every client shown the source), keys (clients "
        "with an API key) or restricted (keys with read:restricted). See LICENSE-data.md.",
    )
    small_cell_threshold: int = Field(
        default=5,
        ge=1,
        description="Counts of testimonies below this are reported as '<N' to clients without "
        "read:restricted.",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()

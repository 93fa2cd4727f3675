"""The gateway's configuration: read once, from the environment and an optional YAML file, into
frozen objects that are passed to whatever needs them.

With no file at all the gateway starts from the ecosystem's own variables::

    OPENAI_API_KEY / OPENAI_BASE_URL        an OpenAI-compatible provider (OpenAI, xAI, vLLM, Ollama …)
    ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL  Anthropic
    GEMINI_API_KEY / GEMINI_BASE_URL        Gemini
    REDLINE_API_KEY                          the key clients send (Bearer or x-api-key)
    REDLINE_DB                               the SQLite ledger (default ./redline.db)
    REDLINE_CONFIG                           a config file (same as --config)
    REDLINE_SCREEN_CACHE                     how many screened texts' vectors to keep (default 16384; 0: off)
    REDLINE_RATE_LIMIT                       requests per second for the env-configured tenant (default 1000)

and routes models by their usual prefixes: ``claude-*`` to Anthropic, ``gemini-*`` to Gemini, the rest
to the OpenAI-compatible provider. A config file adds tenants, providers, routes and contracts::

    ledger: ./redline.db
    providers:
      - name: vllm                  # referred to by routes
        type: openai                # openai | anthropic | gemini
        base_url: http://10.0.0.5:8000/v1
        api_key_env: VLLM_KEY       # or api_key: "..." (the env form keeps secrets out of the file)
        timeout: 60                 # seconds
    routes:                         # first match wins; model is a glob
      - model: "llama-*"
        providers: [vllm, openai]   # failover order
        shadow: anthropic           # optional: gets a copy of the traffic, never answers the client
    tenants:
      - name: ministry
        keys: ["sha256:9f86d0…"]    # SHA-256 of each key; `redline keys hash` prints one
        contract: ./contract.yaml   # default: the shipped default contract
        rate_limit: 50              # requests per second, with bursts of twice that
        store_texts: false          # keep the screened texts in the ledger
    retries: 1                      # per provider, for connection errors, timeouts, 429 and 5xx
    breaker: {failures: 5, cooldown: 30}

Providers named in the environment exist under the names ``openai``, ``anthropic`` and ``gemini`` and
can be used in routes without being declared.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from redline.contract import Contract, load_contract
from redline.errors import ConfigError, ContractError
from redline.yamlfile import load_model

ProviderType = Literal["openai", "anthropic", "gemini"]

_DEFAULT_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderConfig(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    type: ProviderType
    base_url: str = ""
    api_key: str | None = Field(default=None, repr=False)
    api_key_env: str | None = None
    timeout: float = Field(default=60.0, gt=0)

    @property
    def url(self) -> str:
        return (self.base_url or _DEFAULT_URLS[self.type]).rstrip("/")

    def key(self, env: Mapping[str, str]) -> str | None:
        if self.api_key:
            return self.api_key
        return env.get(self.api_key_env) if self.api_key_env else None


class RouteConfig(_Frozen):
    model: str = Field(min_length=1)  # a glob
    providers: tuple[str, ...] = Field(min_length=1)
    shadow: str | None = None


class TenantConfig(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    keys: tuple[str, ...] = Field(min_length=1)
    contract: str | None = None
    rate_limit: float = Field(default=100.0, gt=0)
    store_texts: bool = False

    @model_validator(mode="after")
    def _hashed(self) -> TenantConfig:
        for key in self.keys:
            if not (key.startswith("sha256:") and len(key) == 71):
                raise ValueError(
                    "keys are stored hashed: 'sha256:' and 64 hex digits (see `redline keys hash`)"
                )
        return self


class BreakerConfig(_Frozen):
    failures: int = Field(default=5, ge=1)
    cooldown: float = Field(default=30.0, gt=0)


class FileConfig(_Frozen):
    ledger: str | None = None
    providers: tuple[ProviderConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    tenants: tuple[TenantConfig, ...] = ()
    retries: int = Field(default=1, ge=0, le=5)
    breaker: BreakerConfig = BreakerConfig()


class Tenant(_Frozen):
    name: str
    key_hashes: frozenset[str]
    contract: Contract
    rate_limit: float
    store_texts: bool


class Settings(_Frozen):
    """Everything the gateway needs, resolved: providers with their keys, routes, tenants with
    their contracts loaded."""

    ledger: str
    providers: tuple[ProviderConfig, ...]
    routes: tuple[RouteConfig, ...]
    tenants: tuple[Tenant, ...]
    retries: int = 1
    breaker: BreakerConfig = BreakerConfig()
    screen_cache: int = 16384  # texts whose vectors are kept; 0 turns the cache off
    generated_key: str | None = Field(default=None, repr=False)  # set when REDLINE_API_KEY was not
    env: Mapping[str, str] = Field(default_factory=dict, repr=False)

    def route(self, model: str) -> RouteConfig | None:
        for route in self.routes:
            if fnmatch.fnmatchcase(model, route.model):
                return route
        return None

    def tenant_for_key(self, key: str) -> Tenant | None:
        digest = hash_key(key)
        for tenant in self.tenants:
            if digest in tenant.key_hashes:
                return tenant
        return None


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _env_providers(env: Mapping[str, str]) -> list[ProviderConfig]:
    found = []
    for kind in ("openai", "anthropic", "gemini"):
        prefix = kind.upper()
        if env.get(f"{prefix}_API_KEY") or env.get(f"{prefix}_BASE_URL"):
            found.append(
                ProviderConfig(
                    name=kind,
                    type=kind,
                    base_url=env.get(f"{prefix}_BASE_URL", ""),
                    api_key_env=f"{prefix}_API_KEY",
                )
            )
    return found


def _default_routes(providers: Mapping[str, ProviderConfig]) -> list[RouteConfig]:
    routes = []
    for pattern, kind in (("claude-*", "anthropic"), ("gemini-*", "gemini")):
        if kind in providers:
            routes.append(RouteConfig(model=pattern, providers=(kind,)))
    if "openai" in providers:
        routes.append(RouteConfig(model="*", providers=("openai",)))
    return routes


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    path = path or env.get("REDLINE_CONFIG")
    source = str(path) if path else "<environment>"
    file = FileConfig()
    if path:
        file = _read_file(Path(path))
    providers: dict[str, ProviderConfig] = {p.name: p for p in _env_providers(env)}
    for provider in file.providers:
        providers[provider.name] = provider
    routes = list(file.routes) + _default_routes(providers)
    for i, route in enumerate(file.routes):
        for name in (*route.providers, *([route.shadow] if route.shadow else [])):
            if name not in providers:
                raise ConfigError(f"no provider named {name!r}", source=source, field=f"routes.{i}")
    generated = None
    tenants: list[Tenant] = []
    base = Path(path).parent if path else Path.cwd()
    for i, tenant in enumerate(file.tenants):
        try:
            contract = load_contract(base / tenant.contract) if tenant.contract else Contract.default()
        except ContractError as exc:
            raise ConfigError(f"contract: {exc}", source=source, field=f"tenants.{i}.contract") from None
        tenants.append(
            Tenant(
                name=tenant.name,
                key_hashes=frozenset(tenant.keys),
                contract=contract,
                rate_limit=tenant.rate_limit,
                store_texts=tenant.store_texts,
            )
        )
    if not tenants:
        key = env.get("REDLINE_API_KEY")
        if not key:
            key = generated = "rl-" + secrets.token_urlsafe(24)
        tenants.append(
            Tenant(
                name="default",
                key_hashes=frozenset({hash_key(key)}),
                contract=Contract.default(),
                rate_limit=float(env.get("REDLINE_RATE_LIMIT", "1000")),
                store_texts=False,
            )
        )
    return Settings(
        ledger=env.get("REDLINE_DB") or file.ledger or "redline.db",
        providers=tuple(providers.values()),
        routes=tuple(routes),
        tenants=tuple(tenants),
        retries=file.retries,
        breaker=file.breaker,
        screen_cache=int(env.get("REDLINE_SCREEN_CACHE", "16384")),
        generated_key=generated,
        env=env,
    )


def _read_file(path: Path) -> FileConfig:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=str(path)) from None
    return load_model(text, FileConfig, source=str(path), error=ConfigError, what="the configuration")


__all__ = ["ProviderConfig", "RouteConfig", "Settings", "Tenant", "TenantConfig", "hash_key", "load_settings"]

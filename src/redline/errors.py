"""Every error Redline raises on purpose derives from :class:`RedlineError`.

The tree::

    RedlineError                 exit code 1 unless a subclass says otherwise
    ├── ContractError            a contract file is malformed (exit 3); carries source, field, line
    ├── InputError               a text or an input line cannot be screened (exit 4); carries source, line
    ├── ModelError               the shipped heads are missing or do not fit the encoder (exit 5)
    ├── CorpusError              a corpus file is malformed (exit 6); carries source, line
    ├── LedgerError              the ledger cannot be opened or written (exit 7)
    ├── ConfigError              the gateway configuration is malformed (exit 8); source, field, line
    └── RequestError             a client request cannot be served (HTTP status, error code, message)
        └── ProviderError        no provider of the route gave an answer (HTTP 502 or 504)

Errors carry data (which file, which line, which field) so that the CLI and, later, the gateway can
say exactly what is wrong and where without parsing messages. The CLI maps ``exit_code`` to the
process exit status.
"""

from __future__ import annotations


class RedlineError(Exception):
    """Base of every error Redline raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _where(source: str | None, line: int | None) -> str:
    if source and line is not None:
        return f"{source}, line {line}: "
    if source:
        return f"{source}: "
    if line is not None:
        return f"line {line}: "
    return ""


class _LocatedError(RedlineError):
    """An error in a file: names the file, the field (dotted path) and the line."""

    def __init__(
        self, message: str, *, source: str | None = None, field: str | None = None, line: int | None = None
    ) -> None:
        self.source, self.field, self.line = source, field, line
        prefix = _where(source, line) + (f"{field}: " if field else "")
        super().__init__(prefix + message)


class ContractError(_LocatedError):
    """A contract is malformed: names the file, the field (dotted path) and the line."""

    exit_code = 3


class InputError(RedlineError):
    """A text cannot be screened as given (empty, too long, not UTF-8, not a JSON object …)."""

    exit_code = 4

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        self.source, self.line = source, line
        super().__init__(_where(source, line) + message)


class ModelError(RedlineError):
    """The screen's heads are missing, corrupt or were trained for another encoder."""

    exit_code = 5


class LedgerError(RedlineError):
    """The ledger cannot be opened or written."""

    exit_code = 7


class ConfigError(_LocatedError):
    """The gateway configuration is malformed: names the file, the field and the line."""

    exit_code = 8


class RequestError(RedlineError):
    """A client request the gateway refuses: the HTTP status, an error code for the client's SDK
    (``invalid_request_error``, ``RL-SURV`` …) and extra fields for the error body."""

    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra


class ProviderError(RequestError):
    """No provider of the route answered (connection errors, timeouts, 429 and 5xx, all retried)."""

    def __init__(self, message: str, *, status: int = 502, attempts: tuple[str, ...] = ()) -> None:
        super().__init__(status, "provider_unavailable", message, attempts=list(attempts))
        self.attempts = attempts


class CorpusError(RedlineError):
    """A corpus file is malformed."""

    exit_code = 6

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        self.source, self.line = source, line
        super().__init__(_where(source, line) + message)

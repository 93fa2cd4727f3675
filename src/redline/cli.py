"""The ``redline`` command line."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from redline.contract import Contract, load_contract
from redline.errors import InputError, RedlineError

if TYPE_CHECKING:
    from redline.screen import Screen, Verdict

BATCH = 128


class _Fail(click.ClickException):
    """A RedlineError for click: its message on stderr, its exit code as the status."""

    def __init__(self, error: RedlineError) -> None:
        super().__init__(error.message)
        # click declares exit_code on the class; each error carries its own.
        object.__setattr__(self, "exit_code", error.exit_code)


def _screen(contract_path: str | None) -> Screen:
    from redline.screen import Screen

    contract = load_contract(contract_path) if contract_path else None
    return Screen.default(contract)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="redline")
def main() -> None:
    """Redline: enforce an AI usage contract's red lines (RL-SURV, RL-AUTO)."""


@main.command()
@click.argument("text", required=False)
@click.option(
    "--jsonl",
    "jsonl",
    type=click.Path(dir_okay=False, allow_dash=True),
    help='Screen a JSONL file of {"id", "text"} objects ("-" for stdin); one JSON verdict per line.',
)
@click.option("--contract", "contract_path", type=click.Path(dir_okay=False), help="A contract YAML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict of TEXT as JSON.")
def check(text: str | None, jsonl: str | None, contract_path: str | None, as_json: bool) -> None:
    """Screen TEXT, or every line of --jsonl, against the contract."""
    if (text is None) == (jsonl is None):
        raise click.UsageError("give either TEXT or --jsonl FILE")
    try:
        screen = _screen(contract_path)
        if jsonl is not None:
            failed = _check_jsonl(screen, jsonl)
            if failed:
                click.echo(f"{failed} line(s) could not be screened (see above)", err=True)
                sys.exit(InputError.exit_code)
            return
        assert text is not None
        verdict = screen.check(text)
    except RedlineError as exc:
        raise _Fail(exc) from None
    if as_json:
        click.echo(json.dumps(verdict.to_dict(), ensure_ascii=False))
    else:
        click.echo(_describe(verdict, screen.contract))


def _describe(verdict: Verdict, contract: Contract) -> str:
    if verdict.decision == "allowed":
        head = click.style("allowed", fg="green", bold=True)
        if verdict.action != "allow":
            head += f" ({verdict.action}: the contract's rule for languages the screen does not cover)"
    else:
        name = contract.clause(verdict.decision).name
        head = click.style(f"{verdict.decision}", fg="red", bold=True) + f" — {name} ({verdict.action})"
    lines = [head]
    for clause, score in verdict.scores.items():
        bar = "█" * round(score * 20)
        lines.append(f"  {clause:10} {score:5.3f} {bar}")
    top = verdict.reasons[0]
    lines.append(f"  strongest window ({top.clause}, {top.view}): {top.excerpt!r}")
    if top.conditions:
        lines.append(f"  {top.clause}'s conditions in that window:")
        lines += [f"    {score:4.2f}  {name}" for name, score in top.conditions]
    lang = verdict.language
    note = "" if verdict.confident else "  — not a language the encoder was trained on: low confidence"
    lines.append(f"  language: {lang.code}{note}")
    if verdict.disguises:
        lines.append(f"  disguises undone: {', '.join(verdict.disguises)}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    id: Any
    text: str | None
    error: str | None
    extra: dict[str, Any]


def _read_jsonl(stream: IO[bytes], source: str, *, need_label: bool = False) -> Iterator[_Line]:
    for number, raw in enumerate(stream, 1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _Line(number, None, None, f"not valid UTF-8 (byte {exc.start})", {})
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield _Line(number, None, None, f"not valid JSON: {exc.msg} (column {exc.colno})", {})
            continue
        if not isinstance(obj, dict):
            yield _Line(number, None, None, f"expected a JSON object, got {type(obj).__name__}", {})
            continue
        ident = obj.get("id", number)
        text = obj.get("text")
        if not isinstance(text, str):
            problem = 'no "text" field' if text is None else f'"text" is {type(text).__name__}, not a string'
            yield _Line(number, ident, None, problem, obj)
            continue
        if need_label and not isinstance(obj.get("label"), str):
            yield _Line(number, ident, None, 'no "label" field', obj)
            continue
        yield _Line(number, ident, text, None, obj)


def _batches(lines: Iterator[_Line], size: int) -> Iterator[list[_Line]]:
    batch: list[_Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _screen_lines(
    screen: Screen, path: str, *, need_label: bool = False
) -> Iterator[tuple[_Line, Verdict | InputError]]:
    """Yield (line, verdict or None); reports each bad line on stderr and goes on."""
    source = "<stdin>" if path == "-" else path
    with contextlib.ExitStack() as stack:
        if path == "-":
            stream, total = sys.stdin.buffer, None
        else:
            stream = stack.enter_context(Path(path).open("rb"))
            total = sum(1 for raw in stream if raw.strip())
            stream.seek(0)
        bar = stack.enter_context(
            click.progressbar(length=total or 0, label="screening", file=sys.stderr, hidden=total is None)
        )
        for batch in _batches(_read_jsonl(stream, source, need_label=need_label), BATCH):
            good: list[tuple[_Line, str]] = []
            results: dict[int, Verdict | InputError] = {}
            for line in batch:
                if line.text is None:
                    results[line.number] = InputError(
                        line.error or "no text", source=source, line=line.number
                    )
                    continue
                try:
                    screen.validate(line.text)
                    good.append((line, line.text))
                except InputError as exc:
                    message = exc.message.replace("text 0 ", "text ")
                    results[line.number] = InputError(message, source=source, line=line.number)
            verdicts = screen.check_many([text for _, text in good])
            results.update({line.number: v for (line, _), v in zip(good, verdicts, strict=True)})
            for line in batch:
                result = results[line.number]
                if isinstance(result, InputError):
                    click.echo(result.message, err=True)
                yield line, result
            bar.update(len(batch))


def _check_jsonl(screen: Screen, path: str) -> int:
    failed = 0
    for line, verdict in _screen_lines(screen, path):
        if isinstance(verdict, InputError):
            failed += 1
            error = verdict.message.split(": ", 1)[-1]
            click.echo(json.dumps({"id": line.id, "line": line.number, "error": error}, ensure_ascii=False))
            continue
        click.echo(
            json.dumps(
                {
                    "id": line.id,
                    "decision": verdict.decision,
                    "scores": {k: round(v, 4) for k, v in verdict.scores.items()},
                },
                ensure_ascii=False,
            )
        )
    return failed


@main.command(name="eval")
@click.option(
    "--jsonl",
    "jsonl",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help='Labelled JSONL: {"text", "label"} with optional "lang", "kind", "id".',
)
@click.option("--contract", "contract_path", type=click.Path(dir_okay=False), help="A contract YAML file.")
@click.option(
    "--report",
    "report_path",
    default="redline-eval.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the HTML report.",
)
def evaluate(jsonl: str, contract_path: str | None, report_path: str) -> None:
    """Measure recall and false positives on a labelled JSONL file."""
    from redline.evaluate import Report, Scored

    try:
        screen = _screen(contract_path)
        rows = [
            Scored(
                label=line.extra["label"],
                decision=verdict.decision,
                scores=dict(verdict.scores),
                lang=str(line.extra.get("lang") or verdict.language.code),
                kind=str(line.extra.get("kind", "-")),
            )
            for line, verdict in _screen_lines(screen, jsonl, need_label=True)
            if not isinstance(verdict, InputError)
        ]
    except RedlineError as exc:
        raise _Fail(exc) from None
    if not rows:
        raise click.ClickException(f"{jsonl}: no labelled texts could be screened")
    report = Report(rows)
    click.echo(report.to_text())
    Path(report_path).write_text(report.to_html(f"Redline screen evaluation: {jsonl}"), "utf-8")
    click.echo(f"\nHTML report: {report_path}")


@main.command()
@click.option("--corpus", "corpus_dir", default="corpus", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--out", "out_dir", default="src/redline/data", show_default=True, type=click.Path(file_okay=False)
)
@click.option(
    "--target-fpr",
    default=None,
    type=click.FloatRange(0.001, 0.5),
    help="Share of the lawful twins allowed to cross, out of fold (default: redline.train.TARGET_FPR).",
)
def train(corpus_dir: str, out_dir: str, target_fpr: float | None) -> None:
    """Rebuild the screen's heads from the corpus (deterministic)."""
    from redline.encoder import UseEncoder
    from redline.train import TARGET_FPR, write
    from redline.train import train as run_training

    try:
        result = run_training(corpus_dir, UseEncoder(), target_fpr=target_fpr or TARGET_FPR)
    except RedlineError as exc:
        raise _Fail(exc) from None
    for path in write(result, out_dir):
        click.echo(f"wrote {path}")
    click.echo(f"{result.items} training items, {result.examples} examples; bias shifts {result.shifts}")
    oof = result.heads.meta["out_of_fold_hard_lawful_fpr"]
    click.echo(f"out-of-fold false positives on hard lawful items: {oof}")


@main.group()
def contract() -> None:
    """Inspect and validate contracts."""


@contract.command(name="validate")
@click.argument("path", type=click.Path(dir_okay=False))
def contract_validate(path: str) -> None:
    """Check a contract file; print its hash if it is valid."""
    try:
        loaded = load_contract(path)
    except RedlineError as exc:
        raise _Fail(exc) from None
    click.echo(f"{path}: valid, {len(loaded.clauses)} clause(s), {loaded.hash}")


@contract.command(name="show")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def contract_show(path: str | None) -> None:
    """Print a contract (the default one without PATH) as JSON, with its hash."""
    try:
        loaded = load_contract(path) if path else Contract.default()
    except RedlineError as exc:
        raise _Fail(exc) from None
    click.echo(
        json.dumps({"hash": loaded.hash, **loaded.model_dump(mode="json")}, indent=2, ensure_ascii=False)
    )


__all__ = ["main"]


@main.group()
def corpus() -> None:
    """Build evaluation files from the corpus."""


@corpus.command(name="export")
@click.option("--corpus", "corpus_dir", default="corpus", show_default=True, type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["dev", "train"]), default="dev", show_default=True)
@click.option(
    "--out", "out_path", default="eval/dev.jsonl", show_default=True, type=click.Path(dir_okay=False)
)
def corpus_export(corpus_dir: str, split: str, out_path: str) -> None:
    """Write a split as labelled JSONL, with its disguised copies and long documents made from it."""
    from redline.corpus import disguised, load_corpus, long_documents

    try:
        items = [item for item in load_corpus(corpus_dir) if item.split == split]
    except RedlineError as exc:
        raise _Fail(exc) from None
    made = disguised(items) + long_documents(items)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with Path(out_path).open("w", encoding="utf-8") as out:
        for item in items + made:
            row = {
                "id": item.id,
                "lang": item.lang,
                "label": item.label,
                "kind": item.kind,
                "text": item.text,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    click.echo(f"wrote {out_path}: {len(items)} written items, {len(made)} made from them")


@corpus.command(name="xstest")
@click.argument("csv_path", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
def corpus_xstest(csv_path: str, out_path: str) -> None:
    """Turn XSTest's prompts CSV into labelled JSONL: all 450 are lawful under the default contract."""
    import csv

    with Path(csv_path).open(encoding="utf-8") as src, Path(out_path).open("w", encoding="utf-8") as out:
        count = 0
        for row in csv.DictReader(src):
            obj = {
                "id": f"xstest-{row['id']}",
                "lang": "en",
                "label": "allowed",
                "kind": f"xstest-{row['label']}",
                "text": row["prompt"],
            }
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            count += 1
    click.echo(f"wrote {out_path}: {count} prompts")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="REDLINE_CONFIG",
    help="Gateway configuration file (tenants, providers, routes); see the README.",
)
@click.option("--log-level", default="warning", show_default=True)
def serve(host: str, port: int, config_path: str | None, log_level: str) -> None:
    """Run the gateway: OpenAI and Anthropic endpoints that enforce the contract."""
    import uvicorn

    from redline.config import load_settings

    try:
        settings = load_settings(config_path)
    except RedlineError as exc:
        raise _Fail(exc) from None
    if settings.generated_key:
        click.echo(
            f"REDLINE_API_KEY is not set; clients must use this key for this run: {settings.generated_key}",
            err=True,
        )
    providers = ", ".join(f"{p.name} ({p.url})" for p in settings.providers) or "none (set OPENAI_API_KEY …)"
    click.echo(
        f"redline gateway on http://{host}:{port}  ledger: {settings.ledger}  providers: {providers}",
        err=True,
    )
    # One process: the SQLite ledger has one writer, which keeps the hash chain linear.
    from redline.gateway import create_app

    app = create_app(settings)
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, loop="uvloop", http="httptools", access_log=False
    )


@main.group()
def audit() -> None:
    """Check and read a ledger, offline."""


@audit.command(name="verify")
@click.option("--db", "db", required=True, type=click.Path(dir_okay=False), help="The ledger's SQLite file.")
def audit_verify(db: str) -> None:
    """Walk the hash chain; exit 0 if every record is intact, 2 at the first one that is not."""
    from redline.ledger import open_for_audit

    try:
        ledger = open_for_audit(db)
    except RedlineError as exc:
        raise _Fail(exc) from None
    try:
        result = ledger.verify()
    finally:
        ledger.close()
    if result.ok:
        click.echo(f"{db}: intact, {result.records} record(s), head {result.head}")
        return
    click.echo(
        f"{db}: BROKEN at record {result.first_bad}: {result.problem} "
        f"({result.records - 1} record(s) before it are intact)",
        err=True,
    )
    sys.exit(2)


@audit.command(name="show")
@click.option("--db", "db", required=True, type=click.Path(dir_okay=False), help="The ledger's SQLite file.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record.")
@click.option("--tenant", default=None, help="Only this tenant's records.")
@click.option("--limit", default=None, type=int, help="At most this many records.")
def audit_show(db: str, as_json: bool, tenant: str | None, limit: int | None) -> None:
    """List the ledger's records, oldest first."""
    from redline.ledger import open_for_audit

    try:
        ledger = open_for_audit(db)
    except RedlineError as exc:
        raise _Fail(exc) from None
    try:
        for record in ledger.records(tenant=tenant, limit=limit):
            if as_json:
                click.echo(json.dumps(record.to_dict(), ensure_ascii=False))
            else:
                body = record.body
                click.echo(
                    f"{record.id:>6}  {record.time}  {record.tenant:12} {record.kind:15} "
                    f"{body.get('decision', '-'):8} {body.get('action', '-'):6} {body.get('model', '')}"
                )
    finally:
        ledger.close()


@main.group()
def keys() -> None:
    """API keys for the config file."""


@keys.command(name="hash")
@click.argument("key")
def keys_hash(key: str) -> None:
    """Print the hashed form of KEY for a tenant's 'keys' list."""
    from redline.config import hash_key

    click.echo(hash_key(key))

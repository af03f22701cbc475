"""``aurea ...`` (the console script of ``pip install .``) and ``flask --app wsgi aurea ...``:
the same commands, for cron and operators."""

from __future__ import annotations

import getpass
import math
import os
import sys
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, ScriptInfo
from marshmallow import ValidationError

from aurea.app import create_app
from aurea.app_context import service_context
from aurea.clock import now
from aurea.domain.scoring import Weights
from aurea.domain.windows import WINDOWS, parse_age
from aurea.errors import AureaError
from aurea.schemas import ModelCreateSchema
from aurea.services import registry
from aurea.services import tokens as token_service
from aurea.services.aggregates import prune_raw_rows, rebuild_aggregates
from aurea.services.optimize import OPTIMIZED, optimize_weights
from aurea.services.partitions import DAYS_AHEAD, ensure_partitions, is_partitioned
from aurea.services.scope import Scope
from aurea.settings import MIGRATIONS_DIR, Config
from aurea.simulation.names import POLICIES
from aurea.storage.extensions import db
from aurea.storage.models import TOKEN_ROLES

aurea_cli = AppGroup(
    "aurea",
    help="Aurea: serve, migrate and maintain. The database comes from AUREA_DATABASE_URL.",
)
tokens_cli = AppGroup("tokens", help="API tokens: create, list, revoke.")
aurea_cli.add_command(tokens_cli)
models_cli = AppGroup("models", help="The model registry: list, set-price.")
aurea_cli.add_command(models_cli)


def cli_actor() -> str:
    """Name the person at the terminal in weight_history."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _format(weights: Weights) -> str:
    return f"cost={weights.cost:.4f} quality={weights.quality:.4f} latency={weights.latency:.4f}"


@aurea_cli.command("optimize")
@click.option("--dry-run", is_flag=True, help="Show the proposal; change nothing.")
@click.option(
    "--window", type=click.Choice(list(WINDOWS)), default=None, help="Default: AUREA_WINDOW."
)
def optimize_command(dry_run: bool, window: str | None) -> None:
    """Re-tune the weights from each criterion's variation across models (run weekly)."""
    ctx = service_context()
    scope = Scope.from_request(ctx.config, window=window)
    result = optimize_weights(ctx, scope, dry_run=dry_run, actor=cli_actor())
    click.echo(f"status:    {result.status}")
    click.echo(f"window:    {result.window}")
    click.echo(f"old:       {_format(result.previous_weights)}")
    click.echo(f"new:       {_format(result.weights)}")
    variation = " ".join(f"{name}={cv:.4f}" for name, cv in result.variation.items())
    click.echo(f"variation: {variation}")
    click.echo(f"why:       {result.reason}")
    if dry_run:
        click.echo("dry run:   nothing was changed")
    elif result.status == OPTIMIZED:
        click.echo(f"saved as weight_history row {result.history_id}")


@aurea_cli.command("rebuild-aggregates")
def rebuild_command() -> None:
    """Recompute the hourly aggregates from the raw request_metrics rows."""
    report = rebuild_aggregates(db.session)
    if report.since is None:
        click.echo("no raw rows: aggregates left as they are")
        return
    click.echo(
        f"rebuilt from {report.raw_rows} raw rows since {report.since.isoformat()}: "
        f"{report.stats_rows} hourly stats rows, {report.histogram_rows} histogram rows"
    )


def _age(_ctx, _param, value: str):
    try:
        return parse_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@aurea_cli.command("prune")
@click.option("--older-than", required=True, callback=_age, help="Age such as 90d, 12h or 4w.")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(min=1))
def prune_command(older_than, batch_size: int) -> None:
    """Delete raw rows older than an age (PostgreSQL: whole day partitions, then batches);
    the hourly aggregates stay."""
    report = prune_raw_rows(db.session, older_than, now(), batch_size=batch_size)
    click.echo(
        f"deleted {report.deleted} raw rows recorded before {report.cutoff.isoformat()} "
        f"in {report.batches} batches and {report.partitions} day partitions; aggregates kept"
    )


@aurea_cli.command("partitions")
@click.option("--days-ahead", default=DAYS_AHEAD, show_default=True, type=click.IntRange(0))
def partitions_command(days_ahead: int) -> None:
    """Create request_metrics' day partitions up to some days ahead (PostgreSQL; run daily)."""
    session = db.session()
    if not is_partitioned(session):
        click.echo("request_metrics is not partitioned here (SQLite): nothing to do")
        return
    today = now().date()
    created = ensure_partitions(session, today, today + timedelta(days=days_ahead))
    click.echo(
        f"created {len(created)} partitions" + (f": {', '.join(created)}" if created else "")
    )


@tokens_cli.command("create")
@click.option("--name", required=True, help="Who or what uses it; shown in audit logs.")
@click.option("--role", required=True, type=click.Choice(TOKEN_ROLES))
def tokens_create(name: str, role: str) -> None:
    """Create a token and print it once; only its SHA-256 is stored."""
    try:
        token = token_service.create_token(service_context(), name, role)
    except AureaError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(token)
    click.echo(f"created {role} token {name!r}: store it now, it is not shown again", err=True)


@tokens_cli.command("list")
def tokens_list() -> None:
    """List tokens (never their values)."""
    for t in token_service.list_tokens(service_context()):
        state = f"revoked {t.revoked_at.isoformat()}" if t.revoked_at else "active"
        click.echo(f"{t.name}\t{t.role}\tcreated {t.created_at.isoformat()}\t{state}")


@tokens_cli.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke a token by name; it stays listed for the audit trail."""
    try:
        token_service.revoke_token(service_context(), name)
    except AureaError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"revoked {name!r}")


class TokenPrice(click.ParamType):
    """USD per million tokens: a non-negative finite number, or ``none`` to clear it."""

    name = "USD|none"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        if str(value).strip().lower() == "none":
            return None
        try:
            price = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number (or 'none')", param, ctx)
        if not math.isfinite(price) or not 0 <= price <= 1e9:
            self.fail(f"{value!r} must be a finite number from 0 to 1e9", param, ctx)
        return price


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@models_cli.command("list")
def models_list() -> None:
    """List registered models: state and token prices (USD per million input/output tokens)."""
    at = now()
    click.echo("name\tstate\tinput_usd_per_million_tokens\toutput_usd_per_million_tokens")
    for m in registry.list_models(service_context()):
        prices = (_price(m.input_usd_per_million_tokens), _price(m.output_usd_per_million_tokens))
        click.echo("\t".join((m.name, m.state(at), *prices)))


@models_cli.command("set-price")
@click.argument("name")
@click.option("--input", "input_price", type=TokenPrice(), help="USD per million input tokens.")
@click.option("--output", "output_price", type=TokenPrice(), help="USD per million output tokens.")
@click.option("--register", is_flag=True, help="Register the model if it is not registered yet.")
def models_set_price(name: str, input_price, output_price, register: bool) -> None:
    """Set a model's token prices (`none` clears one); records and spans that carry token
    counts but no cost are priced from them."""
    source = click.get_current_context().get_parameter_source
    changes = {}
    if source("input_price") != click.core.ParameterSource.DEFAULT:
        changes["input_usd_per_million_tokens"] = input_price
    if source("output_price") != click.core.ParameterSource.DEFAULT:
        changes["output_usd_per_million_tokens"] = output_price
    if not changes:
        raise click.UsageError("give --input and/or --output")
    try:
        info = registry.update_model(service_context(), name, **changes)
    except registry.ModelNotFound as exc:
        if not register:
            raise click.ClickException(f"{exc.message} Add --register to register it.") from None
        try:  # a new name follows the API's rules
            ModelCreateSchema().load({"name": name})
        except ValidationError as invalid:
            message = "; ".join(invalid.messages["name"])
            raise click.BadParameter(message, param_hint="NAME") from None
        try:
            info = registry.create_model(service_context(), name, **changes)
        except AureaError as refused:
            raise click.ClickException(refused.message) from None
        click.echo(f"registered {name!r}")
    click.echo(
        f"{info.name}: input {_price(info.input_usd_per_million_tokens)}, "
        f"output {_price(info.output_usd_per_million_tokens)} USD per million tokens"
    )


def _settings(_ctx, _param, values) -> dict:
    settings = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.startswith("AUREA_"):
            raise click.BadParameter(f"expected AUREA_NAME=VALUE, got {item!r}")
        for kind in (int, float):
            try:
                settings[key] = kind(raw)
                break
            except ValueError:
                continue
        else:
            settings[key] = raw
    return settings


@aurea_cli.command("simulate")
@click.argument("scenario")
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Choice(POLICIES),
    help="Repeat to compare several (default: all).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", type=click.Path(file_okay=False), help="Write NAME.json and NAME.png.")
@click.option("--hours", type=click.FloatRange(min=1), help="Shorten the scenario.")
@click.option("--requests-per-hour", type=click.FloatRange(min=0.1), help="Change the traffic.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    callback=_settings,
    metavar="AUREA_X=VALUE",
    help="A setting for every Aurea policy (repeatable), e.g. AUREA_WINDOW=24h.",
)
def simulate_command(scenario, policies, seed, out, hours, requests_per_hour, settings) -> None:
    """Compare routing policies on a simulated SCENARIO (a file, or a name in scenarios/).

    Each Aurea policy runs the real service code on its own throwaway SQLite database;
    the database in AUREA_DATABASE_URL is not touched.
    """
    from aurea.simulation.report import build_report, plot, table, write_json
    from aurea.simulation.runner import simulate
    from aurea.simulation.scenario import load_scenario, rescale, resolve_scenario

    try:
        loaded = load_scenario(resolve_scenario(scenario))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"cannot load scenario {scenario!r}: {exc}") from None
    loaded = rescale(loaded, hours=hours, requests_per_hour=requests_per_hour)
    try:
        steps, runs = simulate(loaded, policies or POLICIES, seed, settings)
    except (RuntimeError, ValueError) as exc:  # a setting the app refuses
        raise click.ClickException(str(exc)) from None
    result = build_report(loaded, steps, runs, seed)
    if settings:
        result["settings"] = settings
    click.echo(table(result))
    if out:
        directory = Path(out)
        directory.mkdir(parents=True, exist_ok=True)
        write_json(result, directory / f"{loaded.name}.json")
        plot(result, directory / f"{loaded.name}.png")
        click.echo(f"wrote {directory / loaded.name}.json and .png")


@aurea_cli.command("replay")
@click.option(
    "--hours",
    default=168.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Replay the calls logged in the last HOURS.",
)
@click.option(
    "--limit",
    default=20000,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many calls (the newest).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the draws.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    callback=_settings,
    metavar="AUREA_X=VALUE",
    help="A change to try (repeatable): adds the policy aurea-changed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def replay_command(hours, limit, seed, settings, as_json) -> None:
    """Estimate what Aurea, a changed Aurea and the baselines would have earned on this
    deployment's own logged calls (off-policy replay; see docs/replay.md)."""
    import json

    from aurea.services.replay import logged_calls, replay_policies
    from aurea.simulation.replay import table

    ctx = service_context()
    calls = logged_calls(ctx, hours, limit)
    if not calls:
        raise click.ClickException(f"no calls logged in the last {hours:g} hours")
    try:
        estimates = replay_policies(ctx, calls, settings, seed)
    except (RuntimeError, ValueError) as exc:  # a setting the app refuses
        raise click.ClickException(str(exc)) from None
    if as_json:
        payload = {
            "calls": len(calls),
            "from": calls[0].at.isoformat(),
            "to": calls[-1].at.isoformat(),
            "settings": settings,
            "policies": [e.as_dict() for e in estimates],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(
        f"{len(calls)} calls from {calls[0].at:%Y-%m-%d %H:%M} to {calls[-1].at:%Y-%m-%d %H:%M} UTC"
    )
    click.echo(table(estimates))


@aurea_cli.command("migrate")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to reach.")
def migrate_command(revision: str) -> None:
    """Bring the database to the current schema (flask db upgrade)."""
    from flask_migrate import upgrade

    upgrade(directory=str(MIGRATIONS_DIR), revision=revision)


@aurea_cli.command(
    "serve",
    with_appcontext=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve_command(gunicorn_args: tuple[str, ...]) -> None:
    """Serve on HOST:PORT (default 127.0.0.1:8000) under gunicorn, with make run's settings.

    Further arguments go to gunicorn (e.g. aurea serve --workers 4). The process becomes
    gunicorn's master, so Ctrl-C and SIGTERM reach it directly. Run aurea migrate first.
    """
    # By path, not python:aurea.gunicorn_conf: importing the aurea package in the master
    # would load prometheus_client before on_starting sets PROMETHEUS_MULTIPROC_DIR, and the
    # workers would then count in single-process mode.
    config = str(Path(__file__).with_name("gunicorn_conf.py"))
    argv = [sys.executable, "-m", "gunicorn", "--config", config]
    argv += [*gunicorn_args, "aurea.app:create_app()"]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def create_app_with_commands(config_class: type[Config] = Config) -> Flask:
    """The application with the ``aurea`` command group on its ``flask`` CLI."""
    app = create_app(config_class)
    app.cli.add_command(aurea_cli)
    return app


def main() -> None:
    """The ``aurea`` console script: the ``flask aurea`` group, on the app create_app builds."""
    aurea_cli.main(prog_name="aurea", obj=ScriptInfo(create_app=create_app_with_commands))

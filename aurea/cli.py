"""``flask aurea ...`` commands, for cron and operators."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from aurea.scoring import Weights
from aurea.services.optimize import OPTIMIZED, optimize_weights

aurea_cli = AppGroup("aurea", help="Aurea maintenance commands.")


def _format(weights: Weights) -> str:
    return f"cost={weights.cost:.4f} quality={weights.quality:.4f} latency={weights.latency:.4f}"


@aurea_cli.command("optimize")
@click.option("--dry-run", is_flag=True, help="Show the proposal; change nothing.")
def optimize_command(dry_run: bool) -> None:
    """Re-tune the weights from each criterion's variation across models (run weekly)."""
    result = optimize_weights(dry_run=dry_run)
    click.echo(f"status:    {result.status}")
    click.echo(f"old:       {_format(result.previous_weights)}")
    click.echo(f"new:       {_format(result.weights)}")
    variation = " ".join(f"{name}={cv:.4f}" for name, cv in result.variation.items())
    click.echo(f"variation: {variation}")
    click.echo(f"why:       {result.reason}")
    if dry_run:
        click.echo("dry run:   nothing was changed")
    elif result.status == OPTIMIZED:
        click.echo(f"saved as weight_history row {result.history_id}")

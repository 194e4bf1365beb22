"""The ``latentops`` command line (Typer): parse, call a flow or the Store, report.

Exit codes: 0 ok, 1 a LatentOpsError (bad input, missing artifact), 2 bad usage.
"""

from __future__ import annotations

import sys

import typer

from latentops.cli import _catalog, _pipeline, _query
from latentops.cli._common import err_console
from latentops.errors import LatentOpsError

app = typer.Typer(
    name="latentops",
    help=(
        "Latent space manipulation as a versioned, queryable pipeline.\n\n"
        "Examples:\n\n"
        "  latentops demo\n\n"
        "  latentops train --dataset dsprites --model vae --latent-dim 10 --beta 4 --epochs 5\n\n"
        "  latentops encode --model vae@1\n\n"
        "  latentops directions fit --table dsprites_vae_v1 --label shape==2 --method logistic --name heart\n\n"
        "  latentops sql \"SELECT shape, count(*) FROM latents.dsprites_vae_v1 GROUP BY shape\""
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
_pipeline.register(app)
_query.register(app)
app.add_typer(_catalog.directions_app, name="directions")
app.add_typer(_catalog.models_app, name="models")

_DEBUG = "--debug"


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """latentops: encode, direct, edit, evaluate and query latent spaces."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: map LatentOpsError to a one-line red message and exit 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args, prog_name="latentops", standalone_mode=False)
    except LatentOpsError as exc:
        if _DEBUG in args:
            raise
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise SystemExit(1) from None
    except typer.Abort:
        err_console.print("[yellow]aborted[/yellow]")
        raise SystemExit(1) from None
    except (typer.BadParameter, typer.Exit) as exc:  # pragma: no cover - click handles most
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, click.exceptions.Exit):
            raise SystemExit(exc.exit_code) from None
        raise


__all__ = ["app", "main"]

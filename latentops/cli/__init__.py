"""The ``latentops`` command line (Typer): parse, call a flow or the Store, report.

Exit codes: 0 ok, 1 a LatentOpsError (bad input, missing artifact), 2 bad usage.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from latentops import __version__
from latentops.cli import _catalog, _edit, _judges, _models, _pipeline, _query, _report, _serve
from latentops.cli._common import err_console, set_debug, set_threads
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
        '  latentops sql "SELECT shape, count(*) FROM latents.dsprites_vae_v1 GROUP BY shape"'
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
_pipeline.register(app)
_edit.register(app)
_judges.register(app)
_query.register(app)
_serve.register(app)
_report.register(app)
app.add_typer(_catalog.directions_app, name="directions")
app.add_typer(_models.models_app, name="models")

_DEBUG = "--debug"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"latentops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    threads: int = typer.Option(
        None,
        "--threads",
        min=1,
        help="CPU threads for torch and BLAS (default: $OMP_NUM_THREADS, else half the cores).",
        show_default=False,
    ),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """latentops: encode, direct, edit, evaluate and query latent spaces."""
    set_debug(debug)
    set_threads(threads)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: map LatentOpsError to a one-line red message and exit 1.

    Typer (standalone mode) already turns usage errors into exit 2 and --help into exit 0.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args, prog_name="latentops")
    except LatentOpsError as exc:
        if _DEBUG in args:
            raise
        # The message holds user data (names, SQL, paths): print it literally, on one line.
        err_console.print(
            f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise SystemExit(1) from None


__all__ = ["app", "main"]

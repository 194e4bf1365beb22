"""The ``latentops`` command line (Typer): parse, call a flow or the Store, report.

Exit codes: 0 ok, 1 a LatentOpsError (bad input, missing artifact), 2 bad usage.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from latentops import __version__
from latentops.cli import (
    _catalog,
    _edit,
    _explain,
    _generate,
    _judges,
    _models,
    _pipeline,
    _query,
    _report,
    _serve,
    _store,
)
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
        "  latentops sample --model vae@1 --n 5000 --table gen\n\n"
        "  latentops label --table gen --judge dsprites-judge\n\n"
        '  latentops sql "SELECT shape, count(*) FROM latents.dsprites_vae_v1 GROUP BY shape"'
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
_pipeline.register(app)
_edit.register(app)
_generate.register(app)
_judges.register(app)
_query.register(app)
_serve.register(app)
_report.register(app)
_store.register(app)
_explain.register(_catalog.directions_app)
app.add_typer(_catalog.directions_app, name="directions")
app.add_typer(_models.models_app, name="models")

_DEBUG = "--debug"
# Click's exceptions, from wherever this Typer takes Click (recent Typers vendor it).
_click = sys.modules[typer.BadParameter.__module__]


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
    """Console entry point: every error is one line on stderr; exit 1 (LatentOpsError) or 2 (usage).

    Usage mistakes (a bad option value, a missing option, a file that does not exist) name
    the command's --help instead of drawing Typer's multi-line panel; --debug keeps the trace.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args, prog_name="latentops", standalone_mode=False)
    except _click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: Typer printed its help
            raise SystemExit(exc.exit_code) from None
        where = exc.ctx.command_path if exc.ctx is not None else "latentops"
        _error(f"{exc.format_message()} (see `{where} --help`)")
        raise SystemExit(exc.exit_code) from None
    except _click.ClickException as exc:  # e.g. a file Click could not open
        _error(exc.format_message())
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:  # Ctrl-C at a prompt
        _error("aborted")
        raise SystemExit(1) from None
    except LatentOpsError as exc:
        if _DEBUG in args:
            raise
        _error(str(exc))
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def _error(message: str) -> None:
    """One red ``error:`` line; the message holds user data (names, SQL, paths): literal."""
    err_console.print(
        f"[bold red]error:[/bold red] {escape(' '.join(message.split()))}",
        highlight=False,
        soft_wrap=True,
    )


__all__ = ["app", "main"]

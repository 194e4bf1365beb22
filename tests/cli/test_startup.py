"""Start-up: read-only commands skip Prefect, --version, --threads, literal errors, clean exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from latentops.cli import main

READ_ONLY = """
import sys
from latentops.cli import main
store = sys.argv[1]
for argv in (["tables"], ["models", "list"], ["models", "show", "vae@9"], ["directions", "list"],
             ["judges", "list"], ["sql", "SELECT 1 AS one"], ["evaluate", "--run", "r1"],
             ["--version"]):
    try:
        main([*argv, *([] if argv[0].startswith("-") else ["--store", store])])
    except SystemExit:
        pass
print("PREFECT LOADED" if any(m.split(".")[0] == "prefect" for m in sys.modules) else "NO PREFECT")
"""


def test_read_only_commands_do_not_import_prefect(cli_env, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", READ_ONLY, str(tmp_path / "s")],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "NO PREFECT"
    assert "latentops 0.1.0" in out.stdout  # --version ran too


THREADS = """
import sys, torch
from latentops.cli import main
try:
    main([*sys.argv[2:], "models", "list", "--store", sys.argv[1]])
except SystemExit:
    pass
print(torch.get_num_threads())
"""


@pytest.mark.parametrize(("argv", "expected"), [(["--threads", "3"], 3), ([], None)])
def test_threads_default_and_option(cli_env, tmp_path, argv, expected):
    from latentops.cli._common import default_threads

    env = {k: v for k, v in cli_env.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", THREADS, str(tmp_path / "s"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip().splitlines()[-1]) == (expected or default_threads())


def test_error_text_is_printed_literally_on_one_line(capsys, tmp_path):
    from latentops.storage import Store

    Store.open(tmp_path)  # read commands refuse a path that holds no store
    with pytest.raises(SystemExit) as exc:
        main(["directions", "show", "[b]x[/b][link=http://e.vil]y", "--store", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 1
    assert "[b]x[/b][link=http://e.vil]y" in err and len(err.strip().splitlines()) == 1


CARD = """
import sys
from latentops.storage import Store
print(Store.open(sys.argv[1]).models.card("vae")["ref"])
"""


def test_python_api_script_exits_cleanly(trained_store, cli_env):
    # Arrow reader threads once freed Python-backed buffers during interpreter exit (SIGABRT).
    codes = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", CARD, str(trained_store)],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        codes.append((out.returncode, out.stdout.strip(), out.stderr[-200:]))
    assert all(c == (0, "vae@1", "") for c in codes), codes

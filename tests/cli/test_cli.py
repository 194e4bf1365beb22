"""The console entry point: help, exit codes (0 ok / 1 LatentOpsError / 2 usage), messages."""

from __future__ import annotations

import pytest

from latentops.cli import main
from latentops.storage import Store


def _run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_help_lists_commands_with_examples(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    for command in ("demo", "train", "encode", "import", "directions", "sql", "tables", "models"):
        assert command in out
    assert "Examples" in out


def test_subcommand_help_has_an_example(capsys):
    code, out, _ = _run(capsys, "directions", "fit", "--help")
    assert code == 0 and "Example" in out and "--label" in out


def test_usage_error_exits_2(capsys):
    code, _, err = _run(capsys, "encode", "--bogus-flag")
    assert code == 2
    assert "No such option" in err


def test_latentops_error_exits_1_with_one_line_and_no_traceback(capsys, tmp_path):
    Store.open(tmp_path / "s")
    code, _, err = _run(capsys, "directions", "show", "smile@3", "--store", str(tmp_path / "s"))
    assert code == 1
    assert "error:" in err and "smile" in err
    assert "Traceback" not in err


def test_store_path_that_is_a_file_exits_1(capsys, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    code, _, err = _run(capsys, "tables", "--store", str(f))
    assert code == 1 and "is a file" in err


def test_debug_shows_the_exception(tmp_path):
    from latentops.errors import NotFoundError

    with pytest.raises(NotFoundError):
        main(["--debug", "directions", "show", "smile", "--store", str(tmp_path / "s")])


def test_ok_command_exits_0(capsys, tmp_path):
    Store.open(tmp_path / "s")
    code, out, _ = _run(capsys, "models", "list", "--store", str(tmp_path / "s"))
    assert code == 0


def test_unknown_runner_exits_1(capsys, tmp_path):
    code, _, err = _run(
        capsys, "encode", "--model", "vae", "--runner", "spark", "--store", str(tmp_path / "s")
    )
    assert code == 1 and "spark" in err


def test_judges_group_lists_its_commands_and_an_empty_registry(capsys, tmp_path):
    code, out, _ = _run(capsys, "judges", "--help")
    assert code == 0 and all(c in out for c in ("train", "list", "show"))
    code, out, _ = _run(capsys, "judges", "train", "--help")
    assert code == 0 and "Example" in out and "--image-size" in out
    Store.open(tmp_path / "s")
    code, out, _ = _run(capsys, "judges", "list", "--store", str(tmp_path / "s"))
    assert code == 0 and "judges" in out
    code, _, err = _run(capsys, "judges", "show", "nope@1", "--store", str(tmp_path / "s"))
    assert code == 1 and "nope" in err and "Traceback" not in err


def test_evaluate_and_serve_take_runner_and_judge_options(capsys, tmp_path):
    code, out, _ = _run(capsys, "evaluate", "--help")
    assert code == 0 and all(o in out for o in ("--runner", "--dask-address", "--dask-workers"))
    code, out, _ = _run(capsys, "serve", "--help")
    assert code == 0 and all(o in out for o in ("--judge", "--eval-strengths", "--eval-sample"))
    code, _, err = _run(
        capsys,
        "evaluate",
        *("-t", "t", "-d", "v", "-j", "j", "--runner", "spark", "--store", str(tmp_path / "s")),
    )
    assert code == 1 and "spark" in err and "thread, dask" in err


def test_directions_list_shows_the_knn_probe_beside_the_linear_one(capsys, tmp_path, monkeypatch):
    import numpy as np

    from latentops.cli._common import console
    from latentops.directions import fit_direction
    from latentops.storage import Store
    from latentops.storage.catalog import DirectionLineage

    rng = np.random.default_rng(0)
    theta = rng.uniform(0, 1.9 * np.pi, 2000)  # a label laid on an arc: curved, not linear
    z = np.c_[np.cos(theta), np.sin(theta), 0.3 * rng.standard_normal((2000, 2))]
    arc = fit_direction(z.astype(np.float32), theta, "ridge", label="angle")
    store = Store.open(tmp_path / "s")
    store.directions.register("angle", arc, DirectionLineage())
    monkeypatch.setattr(console, "width", 240)  # a wide terminal: one line per direction
    code, out, _ = _run(capsys, "directions", "list", "--store", str(store.root))
    assert code == 0
    row = next(line for line in out.splitlines() if "angle@1" in line)
    assert f"{arc.metrics['linear_r2']:.3f}" in row and f"{arc.metrics['knn_r2']:.3f}" in row
    assert "encoded, but not linearly" in row


def test_show_scorecard_prints_the_weak_semantics_flag(capsys):
    import pyarrow as pa

    from latentops.cli._edit import show_scorecard

    def rows(ref, weak):
        base = {"direction": ref, "target": "scale", "judge": "judge@1", "n_items": 8}
        per = [{**base, "metric": "target.mean", "strength": s, "value": s} for s in (-1.0, 1.0)]
        summary = {"semantics.weak": weak, "semantics.judged_change": 0.04}
        summary["semantics.item_spearman_median"] = 0.1
        return per + [
            {**base, "metric": m, "strength": None, "value": v} for m, v in summary.items()
        ]

    show_scorecard(pa.Table.from_pylist(rows("scale@1", 1.0) + rows("posx@1", 0.0)))
    out = capsys.readouterr().out
    assert out.count("weak semantics") == 1 and "judged change 0.04" in out
    assert out.index("weak semantics") > out.index("scale@1") > out.index("posx@1")


def test_train_recipe_plans_its_grid_and_says_it_is_meant_for_a_gpu(capsys):
    code, out, _ = _run(capsys, "train", "--help")
    assert code == 0 and "--recipe" in out and "GPU" in out
    code, out, _ = _run(capsys, "train", "--recipe", "dsprites-reference", "--plan")
    assert code == 0 and "18 run(s), at least 300000 steps each" in out
    assert "Locatello" in out
    code, _, err = _run(capsys, "train", "--recipe", "dsprites-reference", "--beta", "3", "--plan")
    assert code == 1 and "beta [3.0] is not in recipe" in err
    code, _, err = _run(capsys, "train", "--max-steps", "5")
    assert code == 2 and "--recipe" in err


def test_train_recipe_run_stores_the_recipe_and_its_schedule_in_the_card(cli_env, tmp_path):
    """One (beta, seed) of the reference recipe, cut to 2 steps on 64 items, as a user runs it."""
    import json
    import subprocess
    import sys

    root = tmp_path / "store"
    argv = ["train", "--recipe", "dsprites-reference", "--beta", "4", "--seed", "1"]
    argv += ["--max-steps", "2", "--n-items", "64", "--device", "cpu", "--store", str(root)]
    done = subprocess.run(
        [sys.executable, "-m", "latentops", *argv],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "registered dsprites-reference-beta4-seed1@1" in done.stdout
    card = Store.open(root).models.card("dsprites-reference-beta4-seed1")
    recipe = card["train"]["recipe"]
    assert recipe["name"] == "dsprites-reference" and recipe["protocol"]["steps"] == 2
    assert recipe["protocol"]["betas"] == [1, 2, 4, 6, 8, 16]
    config = card["train"]["config"]
    # the recipe's optimiser and schedule reached the training loop: 64 items / batch 64 = 1
    # step per epoch, so 2 epochs for the 2 steps
    assert (config["schedule"], config["lr"], config["batch_size"]) == ("constant", 1e-4, 64)
    assert config["epochs"] == 2 and config["warmup_steps"] == 0 and config["seed"] == 1
    assert card["train"]["dataset_options"] == {"image_size": 64, "n_items": 64}
    assert json.dumps(recipe) and len(Store.open(root).models.list()) == 1

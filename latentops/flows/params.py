"""Typed parameters of the deployed flows (pydantic, so the Prefect UI renders them as forms)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from latentops.errors import InvalidInputError


class DatasetOptions(BaseModel):
    """Dataset options; unset fields keep the values the model was trained with."""

    model_config = ConfigDict(extra="forbid")

    image_size: int | None = Field(
        None, ge=8, description="dSprites resolution: 64, or 32 for fast CPU runs."
    )
    n_items: int | None = Field(
        None, ge=1, description="dSprites: a deterministic subset of this size."
    )
    upsample: int | None = Field(
        None, ge=1, description="digits: integer upsampling of the 8x8 images."
    )
    path: str | None = Field(None, description="file: a Parquet or .npy file of vectors/images.")
    vector_column: str | None = Field(None, description="file: the Parquet list<float> column.")
    image_column: str | None = Field(None, description="file: the Parquet image column.")
    id_column: str | None = Field(
        None, description="file: a stable integer id column (new rows get new ids)."
    )
    label_columns: list[str] | None = Field(None, description="file: label columns to keep.")

    def as_dict(self) -> dict[str, Any]:
        """The options that are set, as dataset keyword arguments."""
        return self.model_dump(exclude_none=True)


class RunnerOptions(BaseModel):
    """Where tasks run: threads in the flow's process, or a Dask cluster."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["thread", "dask"] = Field(
        "thread", description="thread, or dask (needs latentops[dask])."
    )
    address: str | None = Field(
        None,
        description="dask: scheduler address, e.g. tcp://scheduler:8786 (unset: a LocalCluster).",
    )
    n_workers: int = Field(
        2, ge=1, description="dask LocalCluster: worker processes (one thread each)."
    )


RUNNER_KINDS: tuple[str, ...] = get_args(RunnerOptions.model_fields["kind"].annotation)


def check_runner(kind: str, address: str | None = None) -> None:
    """A runner kind and Dask address that go together (no Prefect: the CLI checks up front)."""
    if kind not in RUNNER_KINDS:
        raise InvalidInputError(f"runner {kind!r} is unknown; use one of {', '.join(RUNNER_KINDS)}")
    if address is not None and kind != "dask":
        raise InvalidInputError("--dask-address needs --runner dask")


class EncodeSpec(BaseModel):
    """What a scheduled encode run encodes; each run adds only the items not yet in the table."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        ..., description="Registered model, NAME (latest version at each run) or NAME@VERSION."
    )
    dataset: str | None = Field(
        None, description="dsprites, digits or file (default: the model's training dataset)."
    )
    table: str | None = Field(None, description="Latent table (default DATASET_MODEL_vN).")
    options: DatasetOptions = Field(default_factory=DatasetOptions)
    chunk_size: int = Field(8192, ge=1, description="Items per committed chunk.")
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        512, description="Items per forward pass, or auto: the largest that fits device memory."
    )
    device: str | None = Field(None, description="torch device (default: cuda when present).")
    runner: RunnerOptions = Field(default_factory=RunnerOptions)


class ReevaluateSpec(BaseModel):
    """How a re-evaluate run scores each new direction version (the evaluate flow's settings)."""

    model_config = ConfigDict(extra="forbid")

    judge: str = Field(..., description="Judge NAME (latest version at each run) or NAME@VERSION.")
    strengths: list[float] | None = Field(
        None, min_length=2, description="Strength grid (default -3, -1.5, 0, 1.5, 3)."
    )
    sample: int | None = Field(512, ge=2, description="Items per scorecard (seeded sample).")
    seed: int = Field(0, description="Seed of the item sample and of the path-length strengths.")
    calibrate: float | None = Field(
        1.0, description="Find the strength that moves the judged target by this much."
    )
    chunk_size: int = Field(2048, ge=1, description="Items per scoring task.")
    batch_size: int = Field(256, ge=1, description="Items per decode + judge batch.")
    device: str | None = Field(None, description="torch device (default: cuda when present).")
    runner: RunnerOptions = Field(default_factory=RunnerOptions)

"""Plan one ``grokcheck train`` run before it trains: grokking or ungrokking, its config, its folders.

A run either groks (Sections 3 and 5, Figure 1a: :class:`~grokcheck.transformer.training.train.TrainConfig`)
or ungroks (Section 5.2, Figure 1b: :class:`~grokcheck.transformer.training.ungrok.UngrokConfig`, asked
for by a reduced dataset size ``ungrok``). :func:`plan_train` decides which, from the options given
or, on resume, from the kind stored in the run folder (never from the saved fields); refuses
options of the other kind; merges a resumed run's saved config with the options given; and
checks the device and every folder before it creates the run folder, so bad input leaves
nothing behind.

Options are named as on the command line (``task``, ``pretrain_steps``, ``ungrok``, ...); a value
of ``None`` means "not given", and the configs' own defaults apply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grokcheck.errors import InputError, RunError

if TYPE_CHECKING:
    from grokcheck.transformer.training.train import TrainConfig
    from grokcheck.transformer.training.ungrok import UngrokConfig

#: options of grokking runs only, each with the option an ungrokking run takes instead (or None)
TRAIN_ONLY = {
    "train_frac": None,
    "train_size": None,
    "steps": "ungrok_steps",
    "max_steps": "ungrok_max_steps",
    "random_labels": None,
    "until": None,
    "data_seed": "subset_seed",
}
#: options of ungrokking runs only
UNGROK_ONLY = ("ungrok_steps", "ungrok_max_steps", "pretrain_steps", "subset_seed", "cache_dir")
#: options that set an ungrokking run's pretrained network, and the PretrainConfig field each sets
PRETRAIN_FIELDS = {"task": "task", "p": "p", "seed": "seed", "pretrain_steps": "max_steps"}
#: the option that asks for ungrokking: the reduced dataset size D' (UngrokConfig's field)
UNGROK = "ungrok"
REDUCED_FIELD = "reduced_size"


@dataclass(frozen=True)
class TrainPlan:
    """What :func:`~grokcheck.transformer.training.train.train` or
    :func:`~grokcheck.transformer.training.ungrok.ungrok` is called with.

    Attributes:
        kind: ``"train"`` (grokking) or ``"ungrok"``
            (:data:`~grokcheck.transformer.training.run_folder.RUN_KINDS`).
        config: a ``TrainConfig`` (kind "train") or an ``UngrokConfig`` (kind "ungrok").
        run_dir: the run folder, created (or, on resume, the existing one).
        device: where it trains, resolved (``"cpu"`` or ``"cuda"``).
        resume: continue the run in ``run_dir`` from its checkpoint.
        cache_dir: where pretrained networks are cached (ungrokking runs).
    """

    kind: str
    config: TrainConfig | UngrokConfig
    run_dir: Path
    device: str
    resume: bool
    cache_dir: Path


def plan_train(
    options: Mapping[str, Any],
    *,
    out: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    threads: int | None = None,
) -> TrainPlan:
    """Check everything about a run, then create its folder and return its :class:`TrainPlan`.

    Args:
        options: the run's options by name (``None``: not given). Grokking runs take
            ``TrainConfig``'s fields; ungrokking runs take ``ungrok`` (D'), ``pretrain_steps``,
            ``cache_dir`` and ``UngrokConfig``'s fields, with ``task``, ``p`` and ``seed`` naming
            the pretrained network.
        out: the run folder (``None``: a new folder under ``runs/``).
        resume: continue the run in ``out``; its kind and config are read from its ``config.json``.
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: CPU threads for torch, set process-wide here (``None`` or 0: torch's default).

    Raises:
        InputError: an option of the other kind of run, a value the config refuses, a change
            to a resumed run other than where it stops, CUDA without a GPU.
        FolderError, RunError: a folder that cannot be used; no run to resume in ``out``.
    """
    from grokcheck.runs import preflight_writable, prepare_run_dir
    from grokcheck.transformer.model.runtime import configure, resolve_device
    from grokcheck.transformer.training.pretrain import DEFAULT_CACHE

    given = {k: v for k, v in options.items() if v is not None}
    if resume and out is None:
        raise InputError("resume", "needs --out DIR naming the run to continue")
    saved_kind, saved = _saved(Path(out)) if resume else (None, None)
    kind = saved_kind if saved_kind is not None else ("ungrok" if UNGROK in given else "train")
    if saved_kind == "train" and UNGROK in given:
        raise InputError(UNGROK, f"the run in {out} is a grokking run, not an ungrokking run")
    _check_applies(given, kind)
    if "p" in given and _is_s5(given.get("task", _default_task())):
        raise InputError("p", "the S5 tasks have no modulus")
    dev = resolve_device(device)  # before any folder is made: a bad device leaves nothing
    cache = Path(given.get("cache_dir", DEFAULT_CACHE))
    cfg = _ungrok_config(given, saved) if kind == "ungrok" else _train_config(given, saved)
    if out is not None and not resume:
        preflight_writable(out, "--out")
    if kind == "ungrok":
        preflight_writable(cache, "--cache-dir")
    configure(dev, threads=threads or None)
    run_dir = prepare_run_dir(kind, out, resume=resume)
    return TrainPlan(kind, cfg, run_dir, dev.type, resume, cache)


def _saved(out: Path) -> tuple[str, dict[str, Any]]:
    """The kind and config fields stored in the run folder ``out``."""
    from grokcheck.transformer.training.checkpoint import read_saved_config
    from grokcheck.transformer.training.run_folder import split_kind

    if not out.is_dir():
        raise RunError(f"--resume: no run to continue in {out} (no such folder)")
    return split_kind(read_saved_config(out), out / "config.json")


def _check_applies(given: Mapping[str, Any], kind: str) -> None:
    """Refuse an option of the other kind of run, naming the option to use instead if any."""
    other = TRAIN_ONLY if kind == "ungrok" else dict.fromkeys(UNGROK_ONLY)
    for name, instead in other.items():
        if name in given:
            hint = f"; use {_flag(instead)}" if instead else ""
            where = "with" if kind == "ungrok" else "without"
            raise InputError(name, f"does not apply {where} {_flag(UNGROK)}{hint}")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")  # as InputError names an option


def _default_task() -> str:
    from grokcheck.transformer.training.train import TrainConfig

    return _defaults(TrainConfig)["task"]


def _is_s5(task: str) -> bool:
    from grokcheck.transformer.model import tasks

    return task in tasks.TASKS and tasks.TASKS[task].s5


def _train_config(given: Mapping[str, Any], saved: Mapping[str, Any] | None) -> TrainConfig:
    from grokcheck.configs import merge_resumed
    from grokcheck.transformer.training.run_folder import RESUMABLE_CHANGES
    from grokcheck.transformer.training.train import TrainConfig

    if saved is None:
        return TrainConfig(**given)
    return merge_resumed(TrainConfig, saved, given, RESUMABLE_CHANGES)


def _ungrok_config(given: Mapping[str, Any], saved: Mapping[str, Any] | None) -> UngrokConfig:
    """The pretrained network's options go to its PretrainConfig, D' to ``reduced_size``; on
    resume the saved pretrained network must be the one the options name."""
    from grokcheck.configs import from_jsonable, merge_resumed
    from grokcheck.transformer.training.pretrain import PretrainConfig
    from grokcheck.transformer.training.run_folder import RESUMABLE_CHANGES
    from grokcheck.transformer.training.ungrok import UngrokConfig

    pre = {PRETRAIN_FIELDS[k]: v for k, v in given.items() if k in PRETRAIN_FIELDS}
    own = {k: v for k, v in given.items() if k not in PRETRAIN_FIELDS and k != "cache_dir"}
    if UNGROK in own:
        own[REDUCED_FIELD] = own.pop(UNGROK)
    if saved is None:
        return UngrokConfig(pretrain=PretrainConfig(**pre), **own)
    base = from_jsonable(UngrokConfig, saved)
    for option, field in PRETRAIN_FIELDS.items():
        there = getattr(base.pretrain, field)
        if field in pre and pre[field] != there:
            raise InputError(option, f"differs from the run being resumed ({there!r} there)")
    try:
        cfg = merge_resumed(UngrokConfig, saved, own, RESUMABLE_CHANGES)
    except InputError as e:  # D' is the config's reduced_size, given as --ungrok
        if e.name != REDUCED_FIELD:
            raise
        raise InputError(REDUCED_FIELD, e.problem, flag=_flag(UNGROK)) from None
    return dataclasses.replace(cfg, pretrain=base.pretrain)


def option_defaults() -> dict[str, str]:
    """Each option's default as help text shows it, read from the configs' fields.

    An option of both kinds of run whose defaults differ shows both (``"100; with --ungrok:
    50"``). Options whose field defaults to ``None`` (decided by another field: ``data_seed``
    follows ``seed``), flags and nested configs are left out.
    """
    from grokcheck.transformer.training import train
    from grokcheck.transformer.training.pretrain import DEFAULT_CACHE, PretrainConfig
    from grokcheck.transformer.training.ungrok import UngrokConfig

    grok = _defaults(train.TrainConfig)
    grok["train_frac"] = train.DEFAULT_TRAIN_FRAC  # the fraction used when neither size is given
    ungrok = _defaults(UngrokConfig)
    pretrain = _defaults(PretrainConfig)
    ungrok.update({option: pretrain[field] for option, field in PRETRAIN_FIELDS.items()})
    ungrok["cache_dir"] = DEFAULT_CACHE
    out: dict[str, str] = {}
    for name in sorted({*grok, *ungrok}):
        a = None if name in UNGROK_ONLY else _shown(grok.get(name))
        b = None if name in TRAIN_ONLY else _shown(ungrok.get(name))
        text = f"{a}; with {_flag(UNGROK)}: {b}" if a is not None and b is not None and a != b else a or b
        if text is not None:
            out[name] = text
    return out


def _defaults(cls: type) -> dict[str, Any]:
    """A config's field defaults by name; a checkpoint is due every ``checkpoint_every`` steps
    and every ``checkpoint_every_s`` seconds, so the first says both."""
    out = {}
    for f in dataclasses.fields(cls):
        factory = f.default_factory
        out[f.name] = f.default if factory is dataclasses.MISSING else factory()
    if "checkpoint_every_s" in out:
        out["checkpoint_every"] = f"{out['checkpoint_every']}; also every {out['checkpoint_every_s']:g} s"
    return out


def _shown(value: Any) -> str | None:
    """A default as help shows it; ``None`` for what help leaves out (nested configs, flags)."""
    if value is None or value is dataclasses.MISSING or isinstance(value, bool):
        return None
    if dataclasses.is_dataclass(value):
        return None
    return str(value)

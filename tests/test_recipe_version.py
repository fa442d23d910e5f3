"""The recipe version: the train rule reruns when src/swaplib/train/recipe.json's "version" changes,
so a change to what training computes must bump it, and nothing else may. This test fails whenever
the code that computes a training step or its data (swaplib.train.recipe) moves without the file
being looked at; what a training shows, how it keeps its files and its log calls ask for nothing."""

from __future__ import annotations

import dataclasses
import json

from swaplib.config import train as declared
from swaplib.core.codehash import closure, module_name, substance
from swaplib.train.recipe import (
    DECLARATIONS,
    RECIPE_FILE,
    SHOWS_OR_KEEPS,
    training_code_hash,
    training_modules,
    watched_modules,
)


def test_recipe_json_knows_the_training_code():
    recipe = json.loads(RECIPE_FILE.read_text())
    assert isinstance(recipe["version"], int) and recipe["version"] >= 1
    now = training_code_hash()
    assert recipe["code_hash"] == now, (
        f"the training code changed (code_hash {recipe['code_hash']} -> {now}). If what training computes changed "
        f"(model, losses, optimizer, augmentation, face-set reading, defaults), bump \"version\" in {RECIPE_FILE} "
        f"(this reruns every user's train rule); if not (a refactor proven bit for bit by tests/test_train.py), "
        f"keep it. Either way set \"code_hash\" to \"{now}\".")


def test_the_guard_watches_what_computes_a_step_and_leaves_out_what_shows_it():
    watched = watched_modules()
    assert {"train.loop", "train.data", "train.losses", "train.optim", "train.adversarial", "train.ema",
            "train.settings", "model.df", "model.liae", "model.amp", "model.blocks", "model.base"} <= watched
    assert not watched & {"train.outputs", "train.state", "model.io", "train.threads", "config.train"}
    assert {module_name(file) for file in closure("train.loop")} <= training_modules()
    assert set(SHOWS_OR_KEEPS) | set(DECLARATIONS) <= training_modules()  # no stale name


def test_the_declaration_counts_by_the_values_training_reads(monkeypatch):
    before = training_code_hash()
    reworded = [dataclasses.replace(s, meaning=s.meaning + " (reworded)") for s in declared.TRAIN.settings]
    monkeypatch.setattr(declared, "TRAIN", dataclasses.replace(declared.TRAIN, settings=tuple(reworded)))
    assert training_code_hash() == before
    monkeypatch.setattr(declared, "PRESETS", {**declared.PRESETS, "tiny": {**declared.PRESETS["tiny"], "lr": 1e-3}})
    assert training_code_hash() != before


def test_log_calls_docstrings_and_error_messages_move_nothing_and_a_computation_does():
    step = '''
def step(self, x, log):
    """One step."""
    y = x * 2
    log.info("step %d", y)
    if y > 3:
        self.log.warning("large: %s", y)
    if y < 0:
        raise ValueError(f"negative: {y}")
    return y
'''
    said_otherwise = (step.replace('"step %d"', '"the step reached %d"').replace("large: %s", "big: %s")
                      .replace("negative: {y}", "below zero: {y}"))
    quiet = step.replace('    log.info("step %d", y)\n', "")
    computes_otherwise = step.replace("x * 2", "x * 3")
    assigns_from_log = step.replace('    log.info("step %d", y)', '    z = log.info("step %d", y)')
    raises_otherwise = step.replace("raise ValueError", "raise KeyError")
    base = substance(step, computation_only=True)
    assert substance(said_otherwise, computation_only=True) == base == substance(quiet, computation_only=True)
    for other in (computes_otherwise, assigns_from_log, raises_otherwise):  # only bare log statements go
        assert substance(other, computation_only=True) != base
    assert substance(said_otherwise) != substance(step)  # the other code hashes keep every statement

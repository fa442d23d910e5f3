"""The recipe version: the train rule reruns when src/swaplib/train/recipe.json's "version" changes,
so a change to what training computes must bump it, and nothing else may. This test fails whenever
the training code (its closure includes model/) moves without the file being looked at."""

from __future__ import annotations

import json

from swaplib.core.codehash import code_hash
from workflow_support import REPO

RECIPE = REPO / "src/swaplib/train/recipe.json"


def test_recipe_json_knows_the_training_code():
    recipe = json.loads(RECIPE.read_text())
    assert isinstance(recipe["version"], int) and recipe["version"] >= 1
    now = code_hash("train", extra=(REPO / "workflow/scripts/train.py",))
    assert recipe["code_hash"] == now, (
        f"the training code changed (code_hash {recipe['code_hash']} -> {now}). If what training computes changed "
        f"(model, losses, optimizer, augmentation, face-set reading, defaults), bump \"version\" in {RECIPE} "
        f"(this reruns every user's train rule); if not (a refactor proven bit for bit by tests/test_train.py), "
        f"keep it. Either way set \"code_hash\" to \"{now}\".")

"""What a worker of gateway.serve sets up for itself when it loads the application."""

import json
import os
import subprocess
import sys

from tests.live.conftest import ROOT

PROBE = "import gc, json, chargenet.asgi; print(json.dumps([gc.get_threshold(), gc.get_freeze_count()]))"


def collector_of(**env) -> tuple[list[int], int]:
    environ = {k: v for k, v in os.environ.items() if k != "CHARGENET_WORKER"}
    environ.update(DJANGO_SETTINGS_MODULE="chargenet.settings", PKI_EXI_WARMUP="false", **env)
    output = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=environ, capture_output=True, text=True,
                            check=True, timeout=60).stdout
    thresholds, frozen = json.loads(output.strip().splitlines()[-1])
    return thresholds, frozen


def test_a_worker_freezes_its_start_up_and_collects_less_often():
    thresholds, frozen = collector_of(CHARGENET_WORKER="0")
    assert thresholds == [50_000, 20, 100]
    assert frozen > 10_000  # Django, the apps and their modules


def test_other_processes_keep_the_default_collector():
    thresholds, frozen = collector_of()
    assert thresholds == [700, 10, 10] and frozen == 0

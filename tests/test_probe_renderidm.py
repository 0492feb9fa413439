"""The render-and-compare action reader (family E): exact on the true frames, silent on a frozen clip, and
mirrored turns read as the opposite turns."""

from __future__ import annotations

import numpy as np
import pytest

from worldmodel.probes import following
from worldmodel.probes.config import SuiteConfig
from worldmodel.probes.idm import ACTION_CLASSES
from worldmodel.probes.renderidm import RenderIDM, vocabulary
from worldmodel.probes.scenario import EnvPool, TruthRun, run_truth


@pytest.fixture(scope="module")
def tour() -> TruthRun:
    """One quick action-following tour (every action type) played in BlockWorld."""
    pool = EnvPool()
    scenario = following.build(SuiteConfig(quick=True, quick_scenarios=1), pool)[0]
    return run_truth(scenario, pool.get(64, 64))


def test_reads_every_action_of_the_truth(tour: TruthRun) -> None:
    idm = RenderIDM(64, 64)
    keep = following.took_effect(tour)
    got, want = idm.classes(tour, tour.script_frames)[keep], following.commanded(tour.scenario.script)[keep]
    assert keep.mean() > 0.8 and want.any(axis=0).all()  # every class is commanded and mostly takes effect
    wrong = {ACTION_CLASSES[k]: int((got[:, k] != want[:, k]).sum()) for k in range(len(ACTION_CLASSES))}
    assert not any(wrong.values()), wrong
    assert idm.renders < 20 * len(keep)  # exact matches end the search early


def test_frozen_and_mirrored_rows(tour: TruthRun) -> None:
    idm = RenderIDM(64, 64)
    frozen = np.repeat(tour.frames[tour.prompt_len - 1 : tour.prompt_len], len(tour.scenario.script), axis=0)
    assert not idm.classes(tour, frozen).any()  # nothing changes: nothing is read
    env = EnvPool().get(64, 64)
    from worldmodel.probes.adapters import mirror_script
    from worldmodel.probes.scenario import simulate

    mirrored = simulate(tour, env, mirror_script(tour.scenario.script))["frames"]
    got, want = idm.classes(tour, mirrored), following.commanded(tour.scenario.script)
    yaw = [ACTION_CLASSES.index("yaw_right"), ACTION_CLASSES.index("yaw_left")]
    assert (got[:, yaw] == want[:, yaw[::-1]]).all()  # mirrored turns are read as the opposite turns


def test_vocabulary_starts_with_the_noop() -> None:
    cands = vocabulary((5.0,))
    assert len(cands) == 1 + 6 + 4 and not any(v for k, v in cands[0].items() if k != "camera")
    assert not np.any(cands[0]["camera"]) and all(np.abs(c["camera"]).max() in (0.0, 5.0) for c in cands)

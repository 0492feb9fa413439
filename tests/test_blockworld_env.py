"""BlockWorldEnv: determinism, physics, attack/use, ground truth, save/restore, gymnasium checks, tasks, wrapper."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers BlockWorld-v0)
from envs.actions import noop_action
from envs.blockworld import physics
from envs.blockworld.blocks import AIR, GOLD, LOG, STONE, WATER
from envs.blockworld.env import BlockWorldEnv
from envs.blockworld.render import raycast
from envs.wrappers import DiscreteActions

SIZE = 33  # odd: the centre pixel's ray is exactly the view direction
CX, G, CZ = 32, 12, 32  # arena centre column and floor height (feet level)


def act(**keys: object) -> dict:
    """A noop action with some keys set."""
    action = noop_action()
    for key, value in keys.items():
        action[key] = np.asarray(value, dtype=np.float32) if key == "camera" else value
    return action


def arena(env: BlockWorldEnv) -> None:
    """Flat stone floor at y=G-1 with air above, 11 x 11 around (CX, CZ); player at the centre facing +z."""
    for x in range(CX - 5, CX + 6):
        for z in range(CZ - 5, CZ + 6):
            env.set_block((x, G - 1, z), STONE)
            for y in range(G, env.voxels.shape[1]):
                env.set_block((x, y, z), AIR)
    env.set_pose((CX + 0.5, G, CZ + 0.5), 0.0, 0.0)


def aim_at(env: BlockWorldEnv, cell: tuple[int, int, int]) -> None:
    """Turn the camera to look at a cell's centre from where the player stands."""
    d = np.asarray(cell) + 0.5 - env.player.eye()
    yaw = math.degrees(math.atan2(-d[0], d[2]))
    pitch = math.degrees(math.atan2(-d[1], math.hypot(d[0], d[2])))
    env.set_pose(env.player.position, yaw, pitch)


@pytest.fixture(scope="module")
def env() -> BlockWorldEnv:
    e = BlockWorldEnv(width=SIZE, height=SIZE)
    e.reset(seed=0)
    return e


def test_determinism_for_a_seed() -> None:
    a, b = BlockWorldEnv(width=24, height=24), BlockWorldEnv(width=24, height=24)
    obs_a, _ = a.reset(seed=7)
    obs_b, _ = b.reset(seed=7)
    assert np.array_equal(obs_a, obs_b)
    space = a.action_space
    space.seed(3)
    for _ in range(30):
        action = space.sample()
        out_a, out_b = a.step(action), b.step(action)
        assert np.array_equal(out_a[0], out_b[0]) and out_a[1:4] == out_b[1:4]
        assert np.array_equal(out_a[4]["pose"], out_b[4]["pose"])
    assert a.edits == b.edits
    assert not np.array_equal(a.reset(seed=8)[0], b.reset(seed=7)[0])


def test_walking_into_a_wall_stops(env: BlockWorldEnv) -> None:
    env.reset(seed=0)
    arena(env)
    for x in range(CX - 5, CX + 6):
        for y in (G, G + 1, G + 2):
            env.set_block((x, y, CZ + 3), STONE)
    for _ in range(40):
        env.step(act(forward=1, sprint=1))
        lo, hi = physics.box(env.player.position)
        assert not physics.box_hits(env.solid, lo, hi), "player inside a solid block"
    assert env.player.position[2] == pytest.approx(CZ + 3 - physics.HALF_WIDTH, abs=1e-6)
    assert env.player.position[1] == pytest.approx(G) and env.player.on_ground
    # strafing along the wall still works
    x0 = env.player.position[0]
    env.step(act(forward=1, left=1))
    assert env.player.position[0] != x0


def test_gravity_and_jump(env: BlockWorldEnv) -> None:
    env.reset(seed=0)
    arena(env)
    env.set_pose((CX + 0.5, G + 3, CZ + 0.5), 0.0, 0.0)
    for _ in range(20):
        env.step(act())
    assert env.player.position[1] == pytest.approx(G) and env.player.on_ground
    heights = []
    for _ in range(15):
        env.step(act(jump=1))
        heights.append(env.player.position[1] - G)
    assert 1.0 < max(heights) < 1.4  # clears one block
    assert heights[8] < heights[4]  # holding jump in the air does not jump again
    for _ in range(15):
        env.step(act())
    # a one-block step is climbed by walking and jumping
    for z in range(CZ + 2, CZ + 6):
        env.set_block((CX, G, z), STONE)
    for _ in range(12):
        env.step(act(forward=1, jump=1))
    for _ in range(10):
        env.step(act())
    assert env.player.position[1] == pytest.approx(G + 1) and env.player.position[2] > CZ + 2


def test_sneaking_does_not_walk_off_edges(env: BlockWorldEnv) -> None:
    env.reset(seed=0)
    arena(env)
    for x in range(CX - 5, CX + 6):
        for z in range(CZ + 2, CZ + 6):
            for y in range(G - 4, G):
                env.set_block((x, y, z), AIR)
    env.set_pose((CX + 0.5, G, CZ + 0.5), 0.0, 0.0)
    for _ in range(30):
        env.step(act(forward=1, sneak=1))
    assert env.player.position[1] == pytest.approx(G) and CZ + 1.8 < env.player.position[2] < CZ + 2 + 0.3
    for _ in range(10):
        env.step(act(forward=1))
    assert env.player.position[1] < G - 1  # without sneaking the player falls


def test_swimming_out_of_a_pool(env: BlockWorldEnv) -> None:
    env.reset(seed=0)
    arena(env)
    for x in range(CX - 5, CX + 6):
        for z in range(CZ - 5, CZ + 6):
            pool = max(abs(x - CX), abs(z - CZ)) <= 2
            for y in range(G - 3, G):
                env.set_block((x, y, z), WATER if pool else STONE)
            env.set_block((x, G, z), AIR if pool else STONE)  # the ledge is one block above the water
    env.set_pose((CX + 0.5, G - 1, CZ + 0.5), 0.0, 0.0)
    for _ in range(10):
        env.step(act())
    assert env.player.in_water and env.player.position[1] < G - 1.5  # sinks slowly
    for _ in range(40):
        env.step(act(forward=1, jump=1))
    for _ in range(15):
        env.step(act())
    assert not env.player.in_water and env.player.on_ground
    assert env.player.position[1] == pytest.approx(G + 1) and env.player.position[2] > CZ + 3


def test_attack_removes_exactly_the_target_and_it_persists(env: BlockWorldEnv) -> None:
    env.reset(seed=0)
    arena(env)
    target = (CX, G, CZ + 2)
    env.set_block(target, GOLD)
    aim_at(env, target)
    before = env.ground_truth()
    assert (before["block_ids"] == GOLD).sum() > 20
    voxels = env.voxels.copy()
    obs, *_ = env.step(act(attack=1))
    after = env.ground_truth()
    changed = np.argwhere(voxels != env.voxels)
    assert changed.tolist() == [list(target)]
    assert env.edits[-1] == (env.tick, *target, GOLD, AIR)
    assert not (after["block_ids"] == GOLD).any()
    diff = before["block_ids"] != after["block_ids"]
    assert np.all(before["block_ids"][diff] == GOLD)  # only the gold pixels changed
    assert after["inventory"] == {GOLD: 1}
    for _ in range(2):
        env.step(act(camera=[0.0, 90.0]))
    env.step(act(camera=[0.0, 180.0]))  # 360 degrees in all: back where we looked
    assert np.array_equal(env.ground_truth()["block_ids"], after["block_ids"])
    assert np.array_equal(env.ground_truth()["depth"], after["depth"])


def test_use_places_on_the_targeted_face(env: BlockWorldEnv) -> None:
    env.reset(seed=0)
    arena(env)
    env.set_block((CX, G, CZ + 2), GOLD)
    env.set_block((CX, G, CZ + 3), STONE)
    aim_at(env, (CX, G, CZ + 2))
    env.step(act(attack=1))  # collect the gold; the ray now hits the stone's -z face
    assert env.get_block((CX, G, CZ + 2)) == AIR
    env.step(act(use=1))
    assert env.get_block((CX, G, CZ + 2)) == GOLD
    assert env.edits[-1] == (env.tick, CX, G, CZ + 2, AIR, GOLD)
    assert env.ground_truth()["inventory"] == {}
    assert (env.ground_truth()["block_ids"] == GOLD).any()
    env.step(act(use=1))  # hotbar empty now: nothing happens
    assert env.edits[-1][0] == env.tick - 1


def test_no_placing_inside_the_player(env: BlockWorldEnv) -> None:
    env.reset(seed=0)
    arena(env)
    env.set_block((CX, G - 1, CZ + 1), GOLD)  # floor block in front of the feet
    aim_at(env, (CX, G - 1, CZ + 1))
    env.step(act(attack=1))
    env.set_pose(env.player.position, 0.0, 90.0)  # straight down at the floor under the feet
    n = len(env.edits)
    env.step(act(use=1))  # the cell above the floor is where the player stands
    assert len(env.edits) == n


def test_depth_at_centre_matches_crosshair_distance(env: BlockWorldEnv) -> None:
    env.reset(seed=0)
    arena(env)
    for y in (G, G + 1, G + 2):
        env.set_block((CX, y, CZ + 3), STONE)
    env.set_pose((CX + 0.5, G, CZ + 0.5), 0.0, 0.0)
    truth = env.ground_truth()
    c = SIZE // 2
    assert truth["depth"][c, c] == pytest.approx(2.5, abs=1e-4)
    assert truth["block_ids"][c, c] == STONE
    env.set_pose((CX + 0.5, G, CZ + 0.5), 20.0, 25.0)
    hit, cell, _, dist = raycast(env.voxels, env.player.eye(), env.player.forward(), 50.0)
    assert hit
    assert env.ground_truth()["depth"][c, c] == pytest.approx(dist, abs=1e-4)
    assert env.ground_truth()["block_ids"][c, c] == env.get_block(cell)


def test_save_restore_gives_identical_frames(env: BlockWorldEnv) -> None:
    env.reset(seed=1)
    space = env.action_space
    space.seed(0)
    for _ in range(10):
        env.step(space.sample())
    state = env.save_state()
    actions = [space.sample() for _ in range(15)]
    first = [env.step(a)[0] for a in actions]
    truth = env.ground_truth()
    for _ in range(2):  # a state can be restored more than once
        env.restore_state(state)
        again = [env.step(a)[0] for a in actions]
        assert all(np.array_equal(x, y) for x, y in zip(first, again))
        assert env.ground_truth()["edits"] == truth["edits"]
        assert np.array_equal(env.ground_truth()["pose"], truth["pose"])


def test_hud_only_on_rgb() -> None:
    with_hud, without = BlockWorldEnv(width=64, height=64), BlockWorldEnv(width=64, height=64, hud=False)
    a, _ = with_hud.reset(seed=2)
    b, _ = without.reset(seed=2)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a[-8:], b[-8:])  # hotbar at the bottom
    assert np.array_equal(with_hud.ground_truth()["block_ids"], without.ground_truth()["block_ids"])
    assert np.array_equal(with_hud.ground_truth()["depth"], without.ground_truth()["depth"])


def test_check_env_passes() -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make("BlockWorld-v0", width=32, height=32, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    assert env.observation_space.shape == (32, 32, 3)
    env.close()


@pytest.mark.parametrize(
    ("change", "key"),
    [({"forward": None}, "forward"), ({"camera": [1.0]}, "camera"), ({"camera": [float("nan"), 0.0]}, "camera"),
     ({"hotbar.3": 2}, "hotbar.3")],
)
def test_bad_actions_raise(env: BlockWorldEnv, change: dict, key: str) -> None:
    env.reset(seed=0)
    action = noop_action()
    for k, v in change.items():
        if v is None:
            del action[k]
        else:
            action[k] = v
    with pytest.raises(ValueError, match=key):
        env.step(action)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"colour": 1}, "colour"), ({"width": -3}, "width"), ({"world_size": (64, 32)}, "world_size"),
     ({"render_mode": "ascii"}, "render_mode"), ({"task": "fly"}, "task"), ({"task": "collect_logs:x"}, "n")],
)
def test_bad_config_raises(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        BlockWorldEnv(**kwargs)


def test_tasks_reward_and_terminate() -> None:
    gold = BlockWorldEnv(width=16, height=16, task="mine_gold")
    gold.reset(seed=0)
    arena(gold)
    gold.set_block((CX, G, CZ + 2), GOLD)
    aim_at(gold, (CX, G, CZ + 2))
    assert gold.step(act())[1:3] == (0.0, False)
    assert gold.step(act(attack=1))[1:3] == (1.0, True)

    logs = BlockWorldEnv(width=16, height=16, task="collect_logs", task_kwargs={"n": 2}, max_episode_steps=50)
    logs.reset(seed=0)
    arena(logs)
    logs.set_block((CX, G, CZ + 2), LOG)
    logs.set_block((CX, G, CZ + 3), LOG)
    aim_at(logs, (CX, G, CZ + 2))
    assert logs.step(act(attack=1))[1:4] == (1.0, False, False)
    assert logs.step(act())[1:4] == (0.0, False, False)
    assert logs.step(act(attack=1))[1:4] == (1.0, True, False)
    assert BlockWorldEnv(task="collect_logs:3").task.n == 3

    short = BlockWorldEnv(width=16, height=16, max_episode_steps=3)
    short.reset(seed=0)
    assert [short.step(act())[3] for _ in range(3)] == [False, False, True]


def test_discrete_wrapper(env: BlockWorldEnv) -> None:
    wrapped = DiscreteActions(BlockWorldEnv(width=16, height=16))
    assert isinstance(wrapped.action_space, gym.spaces.Discrete) and wrapped.action_space.n == len(wrapped.names)
    wrapped.reset(seed=0)
    inner = wrapped.unwrapped
    yaw = inner.player.yaw
    wrapped.step(wrapped.names.index("turn_right"))
    assert (inner.player.yaw - yaw) % 360 == pytest.approx(15.0)
    wrapped.step(wrapped.names.index("hotbar_4"))
    assert inner.inventory.selected == 3
    with pytest.raises(ValueError, match="action"):
        wrapped.step(len(wrapped.names))


def test_yaml_config_matches_dataclass() -> None:
    from pathlib import Path

    from omegaconf import OmegaConf

    from envs.blockworld.config import BlockWorldConfig

    path = Path(__file__).resolve().parents[1] / "configs" / "env" / "blockworld.yaml"
    assert BlockWorldConfig.from_kwargs(**OmegaConf.to_container(OmegaConf.load(path))) == BlockWorldConfig()


def test_human_render_mode_opens_a_window() -> None:
    env = BlockWorldEnv(width=16, height=16, render_mode="human", human_scale=2)
    env.reset(seed=0)
    env.step(act(forward=1))
    assert env.render() is None
    env.close()


def test_tasks_report_their_goal_cell_in_info() -> None:
    gold = BlockWorldEnv(width=16, height=16, task="mine_gold")
    for seed in range(3):
        _, info = gold.reset(seed=seed)
        cell = tuple(int(v) for v in info["goal_cell"])
        assert gold.get_block(cell) == GOLD
        x, y, z = cell
        assert gold.get_block((x, y + 1, z)) == AIR  # the surface landmark, not a buried ore
        assert np.linalg.norm(np.array(cell)[[0, 2]] + 0.5 - info["pose"][[0, 2]]) < 12.0
    logs = BlockWorldEnv(width=16, height=16, task="collect_logs")
    _, info = logs.reset(seed=0)
    first = tuple(int(v) for v in info["goal_cell"])
    assert logs.get_block(first) == LOG
    logs.remove_block(first)
    _, _, _, _, info = logs.step(act())
    assert tuple(int(v) for v in info["goal_cell"]) != first  # the next nearest exposed log
    assert "goal_cell" not in BlockWorldEnv(width=16, height=16).reset(seed=0)[1]

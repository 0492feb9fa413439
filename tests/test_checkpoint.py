"""Checkpoint files: safetensors/JSON round trips, atomic step dirs, and clear errors for bad files."""

import pytest
import torch
from torch import nn

from worldmodel.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_module,
    module_state,
    read_json,
    save_checkpoint,
    save_safetensors,
    write_json,
)


def make_net(hidden: int = 4) -> nn.Module:
    torch.manual_seed(hidden)
    return nn.Sequential(nn.Linear(3, hidden), nn.LayerNorm(hidden), nn.Linear(hidden, 2))


def test_safetensors_round_trip(tmp_path) -> None:
    net, other = make_net(), make_net()
    with torch.no_grad():
        other[0].weight.add_(1.0)
    save_safetensors(module_state(net), tmp_path / "m.safetensors")
    load_module(other, tmp_path / "m.safetensors")
    for a, b in zip(net.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


def test_shared_tensors_can_be_saved(tmp_path) -> None:
    tied = nn.Module()
    tied.a = nn.Linear(2, 2)
    tied.b = tied.a  # same module twice -> shared tensors in the state_dict
    save_safetensors(module_state(tied), tmp_path / "t.safetensors")
    load_module(tied, tmp_path / "t.safetensors")


def test_truncated_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(module_state(make_net()), path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="m.safetensors"):
        load_module(make_net(), path)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="m.safetensors"):
        load_module(make_net(), path)
    with pytest.raises(ValueError, match="missing.safetensors: file not found"):
        load_module(make_net(), tmp_path / "missing.safetensors")


def test_mismatched_weights_name_file_and_key(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    save_safetensors(module_state(make_net(4)), path)
    with pytest.raises(ValueError, match=r"m.safetensors: key '0.weight' has shape \(4, 3\).*\(5, 3\)"):
        load_module(make_net(5), path)
    with pytest.raises(ValueError, match="m.safetensors.*missing keys.*3.weight"):
        load_module(nn.Sequential(*make_net(4), nn.Linear(2, 2)), path)
    with pytest.raises(ValueError, match="m.safetensors.*unexpected keys.*2.weight"):
        load_module(nn.Sequential(*list(make_net(4))[:2]), path)


def test_json_round_trip_and_errors(tmp_path) -> None:
    write_json(tmp_path / "c.json", {"a": [1, 2]})
    assert read_json(tmp_path / "c.json") == {"a": [1, 2]}
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        read_json(tmp_path / "bad.json")


def test_step_dirs_keep_last_and_ignore_temporaries(tmp_path) -> None:
    net = make_net()
    opt = torch.optim.AdamW(net.parameters())
    for step in (10, 20, 30):
        save_checkpoint(tmp_path, step, net, {"optimizer": opt.state_dict()}, {"x": 1}, keep_last=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 30]
    (tmp_path / "checkpoints" / ".tmp-step_00000040").mkdir()  # a save killed halfway
    assert latest_checkpoint(tmp_path).name == "step_00000030"
    state = load_checkpoint(latest_checkpoint(tmp_path), make_net())
    assert state["step"] == 30 and "optimizer" in state
    assert latest_checkpoint(tmp_path / "nowhere") is None


def test_corrupt_step_dir_names_the_file(tmp_path) -> None:
    net = make_net()
    path = save_checkpoint(tmp_path, 1, net, {"optimizer": {}}, keep_last=1)
    (path / "trainer.pt").write_bytes(b"\x80\x02not a pickle")
    with pytest.raises(ValueError, match="trainer.pt"):
        load_checkpoint(path, make_net())
    model = path / "model.safetensors"
    model.write_bytes(model.read_bytes()[:50])
    with pytest.raises(ValueError, match="model.safetensors"):
        load_checkpoint(path, make_net())


def test_loading_never_runs_pickled_code(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))

    net = make_net()
    path = save_checkpoint(tmp_path, 1, net, {"optimizer": {}}, keep_last=1)
    torch.save({"step": 1, "optimizer": {}, "evil": Evil()}, path / "trainer.pt")
    with pytest.raises(ValueError, match="trainer.pt"):
        load_checkpoint(path, make_net())


def test_atomic_writes_get_normal_file_permissions(tmp_path) -> None:
    """Exports and reports are readable by others (umask 022 -> 0644), not mkstemp's private 0600."""
    import os

    from worldmodel.checkpoint import save_safetensors, write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "config.json", {"a": 1})
        save_safetensors({"w": torch.zeros(2)}, tmp_path / "w.safetensors")
    finally:
        os.umask(old)
    for name in ("config.json", "w.safetensors"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name

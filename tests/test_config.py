"""devlab.toml: found from the working folder upwards, validated with errors that name the file and the key/line."""

from __future__ import annotations

from pathlib import Path

import pytest

from devlab.config import DeviceAlias, find_config, load_config
from devlab.errors import ConfigError


def _write(folder: Path, text: str) -> Path:
    path = folder / "devlab.toml"
    path.write_text(text)
    return path


def test_config_is_found_in_a_parent_and_read(tmp_path):
    _write(tmp_path, '[devices.lab]\nmodel = "SM-S918*"\n[devices.mine]\nserial = "R5CW1"\n'
                     '[benchmark_model]\narm64-v8a = "tools/bm"\n[adb]\nservers = ["127.0.0.1:5038"]\n')
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config(nested) == tmp_path / "devlab.toml"
    config = load_config(start=nested)
    assert config.devices == (DeviceAlias("lab", "SM-S918*", None), DeviceAlias("mine", None, "R5CW1"))
    assert config.benchmark_model == {"arm64-v8a": str(tmp_path / "tools" / "bm")}
    assert config.adb_servers == ("127.0.0.1:5038",)


def test_no_config_is_an_empty_one(tmp_path):
    config = load_config(start=tmp_path)
    assert config.path is None and config.devices == () and config.benchmark_model is None


def test_bad_toml_names_the_file_and_line(tmp_path):
    path = _write(tmp_path, '[devices.lab]\nmodel = "SM-S918*"\nserial = \n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.problem and "line 3" in caught.value.problem


@pytest.mark.parametrize("text, key", [
    ('[devices.lab]\nmodle = "x"\n', "devices.lab.modle"),
    ('[devices.lab]\n', "devices.lab"),
    ('[devices.lab]\nmodel = 3\n', "devices.lab.model"),
    ('[benchmark_model]\narm64-v8a = 1\n', "benchmark_model.arm64-v8a"),
    ('[adb]\nservers = "127.0.0.1:5037"\n', "adb.servers"),
    ('[device.lab]\nmodel = "x"\n', "device"),
])
def test_bad_settings_name_the_key(tmp_path, text, key):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"[{key}]" in caught.value.problem and str(path) in caught.value.problem
    assert caught.value.exit_code == 2

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_FIXTURES = SHARED / "fixtures" / "real"


@pytest.fixture(scope="session")
def real_fixtures() -> Path:
    if not REAL_FIXTURES.is_dir():
        pytest.fail(f"real fixtures not found at {REAL_FIXTURES}: CI keeps shared/ beside the checkout")
    return REAL_FIXTURES


# The simulated phone and a real adb server on a private port, shared by the phone-path tests.
from sim_fixtures import adb_server, cli_env, sim_phone  # noqa: E402,F401
